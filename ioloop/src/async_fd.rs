//! [`AsyncFd`]: any fd's readiness on the loop's reactor, as futures: the async
//! counterpart of [`IOLoop::add_handler`].

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::error::Result;
use crate::events::Events;
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{IOLoop, WeakLoop};

/// An fd (a socket, a pipe, anything the poller takes) owned by value and registered
/// with the current loop, whose readiness is awaited: tokio's `AsyncFd`, smol's `Async`.
///
/// [`readable`](AsyncFd::readable) and [`writable`](AsyncFd::writable) wait until the fd
/// may be ready; [`read_with`](AsyncFd::read_with) and
/// [`write_with`](AsyncFd::write_with) run a non-blocking operation, waiting again each
/// time it fails with [`WouldBlock`](io::ErrorKind::WouldBlock). Readiness is
/// edge-triggered: it is assumed at first and after each event, and forgotten only when
/// an operation would block, so always try before waiting again.
///
/// `T` must already be in non-blocking mode (`set_nonblocking(true)`): a blocking call
/// would stop the whole loop. The `AsyncFd` owns `T`: dropping it deregisters the fd and
/// then drops `T` (closing it); [`into_inner`](AsyncFd::into_inner) deregisters and
/// hands `T` back. When the loop is closed, waiting fails.
///
/// ```
/// use ioloop::{AsyncFd, IOLoop};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let io = IOLoop::current();
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let a = AsyncFd::new(a)?;
/// let task = io.spawn(async move {
///     let mut buf = [0u8; 4];
///     let n = a.read_with(|mut s| s.read(&mut buf)).await?; // waits for the bytes
///     Ok(buf[..n].to_vec())
/// });
/// b.write_all(b"ping")?;
/// assert_eq!(io.run_sync(move || task, None)?, b"ping");
/// # Ok::<(), ioloop::Error>(())
/// ```
pub struct AsyncFd<T: AsRawFd> {
    /// `None` only inside `into_inner`.
    inner: Option<T>,
    readiness: Rc<Readiness>,
    io: WeakLoop,
    key: Option<HandlerKey>,
}

/// What the loop's events said, shared with the fd's handler (which holds it weakly).
struct Readiness {
    readable: Cell<bool>,
    writable: Cell<bool>,
    /// The loop closed (its handlers were dropped): no event will come.
    closed: Cell<bool>,
    read_wakers: RefCell<Vec<Waker>>,
    write_wakers: RefCell<Vec<Waker>>,
}

impl Readiness {
    fn mark(&self, events: Events) {
        // An error or hang-up wakes both sides: the next operation reports it.
        if events.intersects(Events::READ | Events::ERROR) {
            self.readable.set(true);
            wake_all(&self.read_wakers);
        }
        if events.intersects(Events::WRITE | Events::ERROR) {
            self.writable.set(true);
            wake_all(&self.write_wakers);
        }
    }

    fn close(&self) {
        self.closed.set(true);
        wake_all(&self.read_wakers);
        wake_all(&self.write_wakers);
    }
}

fn wake_all(wakers: &RefCell<Vec<Waker>>) {
    // Taken first: a woken task may register again.
    let woken = wakers.take();
    for waker in woken {
        waker.wake();
    }
}

/// Which readiness an operation waits for.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner`'s fd with the current loop, for reading and writing. Fails if
    /// the poller refuses the fd (a regular file), it is registered already, or the loop
    /// is closed.
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let _io = ioloop::IOLoop::new();
    /// let fd = ioloop::AsyncFd::new(a)?;
    /// assert!(fd.get_ref().peer_addr().is_ok());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn new(inner: T) -> Result<AsyncFd<T>> {
        let io = IOLoop::current();
        let readiness = Rc::new(Readiness {
            readable: Cell::new(true),
            writable: Cell::new(true),
            closed: Cell::new(false),
            read_wakers: RefCell::new(Vec::new()),
            write_wakers: RefCell::new(Vec::new()),
        });
        let (on_event, on_close) = (Rc::downgrade(&readiness), Rc::downgrade(&readiness));
        let key = io.add_owned_handler(
            inner.as_raw_fd(),
            Events::READ | Events::WRITE,
            Trigger::Edge,
            "AsyncFd",
            move |_, events| {
                if let Some(readiness) = on_event.upgrade() {
                    readiness.mark(events);
                }
            },
            move || {
                if let Some(readiness) = on_close.upgrade() {
                    readiness.close();
                }
            },
        )?;
        Ok(AsyncFd {
            inner: Some(inner),
            readiness,
            io: io.downgrade(),
            key: Some(key),
        })
    }

    /// The owned value.
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let _io = ioloop::IOLoop::new();
    /// let fd = ioloop::AsyncFd::new(a).unwrap();
    /// let _stream: &std::os::unix::net::UnixStream = fd.get_ref();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("present until into_inner")
    }

    /// The owned value, mutably.
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let _io = ioloop::IOLoop::new();
    /// let mut fd = ioloop::AsyncFd::new(a).unwrap();
    /// let _stream: &mut std::os::unix::net::UnixStream = fd.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("present until into_inner")
    }

    /// Deregisters the fd and hands back the value, open.
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let io = ioloop::IOLoop::new();
    /// let fd = ioloop::AsyncFd::new(a).unwrap();
    /// let a = fd.into_inner();
    /// // Registered no more: the loop takes it again.
    /// io.add_handler(&a, ioloop::Events::READ, |_, _| {}).unwrap();
    /// ```
    pub fn into_inner(mut self) -> T {
        self.deregister();
        self.inner.take().expect("present until into_inner")
    }

    /// Waits until the fd may be readable (at once unless an operation would have
    /// blocked since the last event).
    ///
    /// ```
    /// # use std::io::Write;
    /// let io = ioloop::IOLoop::current();
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = ioloop::AsyncFd::new(a)?;
    /// b.write_all(b"x")?;
    /// let task = io.spawn(async move { Ok(a.readable().await?) });
    /// io.run_sync(move || task, None)?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.ready(Direction::Read).await
    }

    /// Waits until the fd may be writable.
    ///
    /// ```
    /// let io = ioloop::IOLoop::current();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = ioloop::AsyncFd::new(a)?;
    /// let task = io.spawn(async move { Ok(a.writable().await?) });
    /// io.run_sync(move || task, None)?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.ready(Direction::Write).await
    }

    /// Runs `op` (a non-blocking read) until it does not fail with `WouldBlock`, waiting
    /// for readability before each try after the first; returns what it returned.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let io = ioloop::IOLoop::current();
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = ioloop::AsyncFd::new(a)?;
    /// b.write_all(b"hi")?;
    /// drop(b);
    /// let task = io.spawn(async move {
    ///     let mut all = Vec::new();
    ///     a.read_with(|mut s| s.read_to_end(&mut all)).await?;
    ///     Ok(all)
    /// });
    /// assert_eq!(io.run_sync(move || task, None)?, b"hi");
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.retry(Direction::Read, op).await
    }

    /// Runs `op` (a non-blocking write) until it does not fail with `WouldBlock`,
    /// waiting for writability before each try after the first.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let io = ioloop::IOLoop::current();
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = ioloop::AsyncFd::new(a)?;
    /// let task = io.spawn(async move { Ok(a.write_with(|mut s| s.write(b"hi")).await?) });
    /// assert_eq!(io.run_sync(move || task, None)?, 2);
    /// let mut got = [0u8; 2];
    /// b.read_exact(&mut got)?;
    /// assert_eq!(&got, b"hi");
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.retry(Direction::Write, op).await
    }

    async fn retry<R>(
        &self,
        direction: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.ready(direction).await?;
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Drained: only the next event says it may be ready again (the
                    // handler cannot run between the call and this line).
                    self.flag(direction).set(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    fn flag(&self, direction: Direction) -> &Cell<bool> {
        match direction {
            Direction::Read => &self.readiness.readable,
            Direction::Write => &self.readiness.writable,
        }
    }

    async fn ready(&self, direction: Direction) -> io::Result<()> {
        let wakers = match direction {
            Direction::Read => &self.readiness.read_wakers,
            Direction::Write => &self.readiness.write_wakers,
        };
        std::future::poll_fn(|cx| {
            if self.readiness.closed.get() || self.key.is_none() {
                return Poll::Ready(Err(io::Error::other(
                    "the IOLoop this AsyncFd was registered with is closed",
                )));
            }
            if self.flag(direction).get() {
                return Poll::Ready(Ok(()));
            }
            let mut wakers = wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    fn deregister(&mut self) {
        if let (Some(key), Some(io)) = (self.key.take(), self.io.upgrade()) {
            io.remove_owned_handler(key);
        }
    }
}

impl<T: AsRawFd> Drop for AsyncFd<T> {
    /// Deregisters the fd before `T` is dropped (and closes it).
    fn drop(&mut self) {
        self.deregister();
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .finish()
    }
}
