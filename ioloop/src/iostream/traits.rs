//! The Rust ecosystem's I/O traits on [`IOStream`]: futures-io's `AsyncRead`,
//! `AsyncBufRead` and `AsyncWrite` (feature `futures-io`, on by default) and tokio's
//! `AsyncRead`, `AsyncBufRead` and `AsyncWrite` (feature `tokio`).
//!
//! They share the stream's own buffer with its callback reads, so `read_until` and trait
//! reads can alternate on one stream: a trait read takes the front of what is buffered
//! (reading the socket into the buffer first when it is empty), and a callback read
//! starts from what the trait reads left. `poll_fill_buf` lends the front of the buffer
//! out (`TraitState::lent`, viewed by the handle so it can be returned by reference); a
//! callback read puts what was not consumed back in front before it starts.
//!
//! One reader at a time, as with callback reads: a trait read while a callback read is
//! pending fails with `ResourceBusy`, and a callback read started while a trait read
//! waits fails as a second read does. That refusal also wakes the waiting trait read,
//! so one that was abandoned (its future dropped while it waited) is forgotten, and
//! one still alive registers again when polled.
//!
//! Writes go into the stream's write queue (a written `poll_write` is queued, not yet
//! sent; the stream is held until it is); `poll_write` is `Pending` while the queue
//! holds `max_write_buffer_size` bytes, or `TRAIT_WRITE_HIGH_WATER` with no limit set,
//! so a trait writer is paced by its peer.

use std::io;
#[cfg(any(feature = "futures-io", feature = "tokio"))]
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{closed_error, BytesMut, IOStream, State};
use crate::error::Error;
use bytes::{Buf, Bytes};

/// What the traits keep in a stream's state, from their first use.
#[derive(Default)]
pub(super) struct TraitState {
    /// Bytes `poll_fill_buf` handed out and `consume` has not taken yet: the front of
    /// the stream's bytes, before its buffer.
    lent: Bytes,
    /// The task of a trait read (`poll_read`, `poll_fill_buf`) waiting for bytes.
    read_waker: Option<Waker>,
    /// The task of a trait write or flush waiting for the write queue to drain to at
    /// most this many bytes.
    write_waker: Option<(Waker, usize)>,
}

/// The bytes `poll_fill_buf` lent out (none before the traits are used).
fn lent(state: &State) -> &[u8] {
    state.traits.as_ref().map_or(&[], |t| &t.lent[..])
}

/// The traits' state, made on first use.
fn traits(state: &mut State) -> &mut TraitState {
    state.traits.get_or_insert_with(Box::default)
}

/// How many unwritten bytes a trait writer may queue when the stream sets no
/// `max_write_buffer_size`.
const TRAIT_WRITE_HIGH_WATER: usize = 256 * 1024;

/// The most unwritten bytes before `poll_write` waits.
fn write_limit(state: &State) -> usize {
    state
        .max_write_buffer_size
        .unwrap_or(TRAIT_WRITE_HIGH_WATER)
        .max(1)
}

/// A closed stream's error for a trait user: the kind of the real cause (a reset, say),
/// or `default` (an orderly close, a limit).
fn closed_io_error(cause: &Option<Error>, default: io::ErrorKind) -> io::Error {
    let kind = cause
        .as_ref()
        .and_then(Error::io_error)
        .map_or(default, io::Error::kind);
    let error: Box<dyn std::error::Error + Send + Sync> = closed_error(cause).into();
    io::Error::new(kind, error)
}

fn busy_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "already reading: a callback read (read_until, read_bytes, ...) is pending on this IOStream",
    )
}

/// Keeps one waker in `slot`, cloning only when it is another task's.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

// The hooks the read loop and the stream call.
impl IOStream {
    /// Before a callback read: what `poll_fill_buf` lent and nobody consumed goes back
    /// to the front of the buffer, so the callback read sees the bytes in order.
    pub(super) fn return_lent(&self) {
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        let Some(trait_state) = state.traits.as_mut() else {
            return;
        };
        if trait_state.lent.is_empty() {
            return;
        }
        let lent = std::mem::take(&mut trait_state.lent);
        let mut joined = BytesMut::with_capacity(lent.len() + state.buffer.len());
        joined.extend_from_slice(&lent);
        joined.extend_from_slice(&state.buffer);
        state.buffer = joined;
    }

    /// Whether a trait read is waiting, which refuses a callback read; the waiting one is
    /// woken (see the module's docs).
    pub(super) fn refuse_beside_trait_read(&self) -> bool {
        let waker = {
            let mut state = self.inner.state.borrow_mut();
            state.traits.as_mut().and_then(|t| t.read_waker.take())
        };
        match waker {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes the trait reader once there are bytes (or the stream closed) and the trait
    /// writer once the queue drained far enough: after the stream's events, and on close.
    pub(super) fn wake_trait_tasks(&self) {
        let (reader, writer) = {
            let mut guard = self.inner.state.borrow_mut();
            let state = &mut *guard;
            let Some(waiting) = state.traits.as_mut() else {
                return; // no trait was ever used: nothing waits
            };
            let readable = state.closed || !state.buffer.is_empty() || !waiting.lent.is_empty();
            let reader = waiting.read_waker.take_if(|_| readable);
            let queued = state.writes.queued();
            let writer = (waiting.write_waker)
                .take_if(|(_, most)| state.closed || queued <= *most)
                .map(|(waker, _)| waker);
            (reader, writer)
        };
        // Woken outside the borrow: a waker may run code that uses the stream.
        for waker in [reader, writer].into_iter().flatten() {
            waker.wake();
        }
    }
}

// What the traits share, whichever crate's they are.
#[cfg_attr(not(any(feature = "futures-io", feature = "tokio")), allow(dead_code))]
impl IOStream {
    /// Ready with `true` once the stream has bytes for a trait read, `false` at a clean
    /// end (closed without an error); else registers the task.
    fn poll_available(&self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        self.drop_unobserved_read();
        let empty = {
            let state = self.inner.state.borrow();
            if state.pending.is_some() {
                return Poll::Ready(Err(busy_error()));
            }
            lent(&state).is_empty() && state.buffer.is_empty()
        };
        if empty {
            self.read_ahead(); // what the socket has now, into the buffer
        }
        let mut state = self.inner.state.borrow_mut();
        if !lent(&state).is_empty() || !state.buffer.is_empty() {
            return Poll::Ready(Ok(true));
        }
        if state.closed {
            return Poll::Ready(match &state.cause {
                None => Ok(false),
                cause => Err(closed_io_error(cause, io::ErrorKind::Other)),
            });
        }
        register(&mut traits(&mut state).read_waker, cx.waker());
        Poll::Pending
    }

    /// A trait read of at most `max` bytes from the front of the stream's bytes, which
    /// `put` copies out; `Ok(0)` at a clean end.
    fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        max: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        match self.poll_available(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(false)) => Poll::Ready(Ok(0)),
            Poll::Ready(Ok(true)) => {
                let mut guard = self.inner.state.borrow_mut();
                let state = &mut *guard;
                let n = match state.traits.as_mut().filter(|t| !t.lent.is_empty()) {
                    Some(waiting) => {
                        let n = max.min(waiting.lent.len());
                        put(&waiting.lent[..n]);
                        waiting.lent.advance(n);
                        n
                    }
                    None => {
                        let n = max.min(state.buffer.len());
                        put(&state.buffer[..n]);
                        state.buffer.advance(n);
                        if state.buffer.is_empty() {
                            state.buffer = BytesMut::new(); // an idle stream holds none
                        }
                        n
                    }
                };
                Poll::Ready(Ok(n))
            }
        }
    }

    /// `poll_fill_buf`: lends everything buffered (without copying) and returns this
    /// handle's view of it.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self.poll_available(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(false)) => Poll::Ready(Ok(&[])),
            Poll::Ready(Ok(true)) => {
                let lent = {
                    let mut guard = self.inner.state.borrow_mut();
                    let state = &mut *guard;
                    let buffer = &mut state.buffer;
                    let waiting = state.traits.get_or_insert_with(Box::default);
                    if waiting.lent.is_empty() {
                        waiting.lent = std::mem::take(buffer).freeze();
                    }
                    waiting.lent.clone()
                };
                // The handle's box is kept from one fill to the next.
                let fill = self.fill.get_or_insert_with(Box::default);
                **fill = lent;
                Poll::Ready(Ok(&fill[..]))
            }
        }
    }

    /// `consume`: `amt` bytes of what `poll_fill_buf` lent are read.
    fn consume_lent(&mut self, amt: usize) {
        if let Some(fill) = self.fill.as_mut() {
            **fill = Bytes::new(); // lets go of the lent bytes' storage
        }
        let mut state = self.inner.state.borrow_mut();
        if let Some(waiting) = state.traits.as_mut() {
            let n = amt.min(waiting.lent.len());
            waiting.lent.advance(n);
        }
    }

    /// Queues what fits of `buf` under the write limit; `Pending` while the queue is full.
    fn poll_write_queued(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                let error = closed_io_error(&state.cause, io::ErrorKind::BrokenPipe);
                return Poll::Ready(Err(error));
            }
            let limit = write_limit(&state);
            let room = limit.saturating_sub(state.writes.queued());
            if room == 0 {
                traits(&mut state).write_waker = Some((cx.waker().clone(), limit - 1));
                return Poll::Pending;
            }
            room.min(buf.len())
        };
        // The stream holds itself until this is flushed, and a failure (marked seen)
        // closes it, which the next trait call reports: the future is not needed.
        drop(self.write(Bytes::copy_from_slice(&buf[..n])));
        Poll::Ready(Ok(n))
    }

    /// Ready once everything queued has been written to the socket.
    fn poll_flush_queued(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.inner.state.borrow_mut();
        if state.closed {
            let error = closed_io_error(&state.cause, io::ErrorKind::BrokenPipe);
            return Poll::Ready(Err(error));
        }
        if state.writes.queued() == 0 {
            return Poll::Ready(Ok(()));
        }
        traits(&mut state).write_waker = Some((cx.waker().clone(), 0));
        Poll::Pending
    }

    /// Flushes, then closes; closing a closed stream is done at once.
    fn poll_close_flushed(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed() {
            return Poll::Ready(Ok(()));
        }
        match self.poll_flush_queued(cx) {
            Poll::Ready(Ok(())) => {
                self.close();
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// futures-io's traits. Reads and `read_until` alternate on one stream without losing or
/// reordering a byte; a read returns 0 at a clean end of file.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use ioloop::iostream::IOStream;
/// use ioloop::IOLoop;
/// use std::future::poll_fn;
/// use std::io::Write;
/// use std::pin::Pin;
///
/// let io = IOLoop::new();
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let mut stream = IOStream::new(listener.accept()?.0)?;
/// peer.write_all(b"line\nrest")?;
/// let task = io.spawn(async move {
///     let line = stream.read_until("\n", None).await?; // a callback read ...
///     let mut rest = [0u8; 4];
///     let n = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut rest)).await?; // ... then a trait read
///     poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, b"ok")).await?;
///     poll_fn(|cx| Pin::new(&mut stream).poll_flush(cx)).await?;
///     Ok((line, rest[..n].to_vec()))
/// });
/// let (line, rest) = io.run_sync(move || task, None)?;
/// assert_eq!((&line[..], &rest[..]), (&b"line\n"[..], &b"rest"[..]));
/// # Ok::<(), ioloop::Error>(())
/// ```
#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for IOStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let max = buf.len();
        self.poll_read_with(cx, max, |bytes| buf[..bytes.len()].copy_from_slice(bytes))
    }
}

/// tokio's traits, the same as futures-io's (`poll_shutdown` flushes and closes).
///
/// ```
/// use ioloop::iostream::IOStream;
/// use ioloop::IOLoop;
/// use std::io::Write;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let io = IOLoop::new();
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let mut stream = IOStream::new(listener.accept()?.0)?;
/// peer.write_all(b"ping")?;
/// let task = io.spawn(async move {
///     let mut got = [0u8; 4];
///     stream.read_exact(&mut got).await?;
///     stream.write_all(b"pong").await?;
///     stream.shutdown().await?;
///     Ok(got)
/// });
/// assert_eq!(&io.run_sync(move || task, None)?, b"ping");
/// # Ok::<(), ioloop::Error>(())
/// ```
#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for IOStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        self.poll_read_with(cx, max, |bytes| buf.put_slice(bytes))
            .map(|read| read.map(drop))
    }
}

/// futures-io's and tokio's `AsyncBufRead` and `AsyncWrite` have the same methods
/// (tokio calls `poll_close` `poll_shutdown`): one definition serves both.
#[cfg(any(feature = "futures-io", feature = "tokio"))]
macro_rules! buf_read_and_write {
    ($($krate:ident)::+, $close:ident) => {
        impl $($krate)::+::AsyncBufRead for IOStream {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                self.get_mut().poll_fill(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().consume_lent(amt)
            }
        }

        impl $($krate)::+::AsyncWrite for IOStream {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_queued(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_flush_queued(cx)
            }

            fn $close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_close_flushed(cx)
            }
        }
    };
}

#[cfg(feature = "futures-io")]
buf_read_and_write!(futures_io, poll_close);

#[cfg(feature = "tokio")]
buf_read_and_write!(tokio::io, poll_shutdown);
