//! A closed stream's last bytes: those of writes it already reported written
//! (coalesced writes, done when queued) that the socket had no room for when the stream
//! closed, and TLS records its session still held. Tornado's write futures wait for the
//! send, so there `yield stream.write(reply); stream.close()` delivers the reply whole;
//! here the bytes would be lost at the close without this.
//!
//! The stream hands over its transport (the fd's one owner from then on) and those
//! bytes, and is closed to its users at once, as in Tornado. First they go to the
//! kernel, where Tornado's awaited writes would have put them: the socket's send buffer
//! (or the pipe's capacity) is raised to hold them, they are sent, and the fd closes at
//! once; the kernel delivers them as it does any closed socket's last bytes, within its
//! own limits on such sockets. So a peer that never reads costs no fd once its
//! connection is closed. Only what the kernel does not take (a buffer already at the
//! system's cap) stays: the `Linger` registers the fd again, for writes only, and lets
//! it go (closing it) once the bytes have left, the socket fails, [`LINGER_LIMIT`]
//! passes (a peer that never reads keeps no fd or buffer for longer), or the loop
//! closes. Until then it counts among the loop's streams with written bytes to leave,
//! which `run_sync` waits for, and a server still counts the connection open: its
//! graceful shutdown waits for the bytes, and lets go of them at its deadline
//! ([`WeakLinger::let_go`]).

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::transport::Transport;
use super::write::WriteQueue;
use super::{tell_close_watcher, CloseWatch};
use crate::events::Events;
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{IOLoop, WeakLoop};
use crate::Timeout;

/// How long a closed stream's last bytes may wait for the peer to read them (and
/// `run_sync` for written bytes to leave): as long as Linux keeps an orphaned
/// connection in FIN-WAIT-2 (`tcp_fin_timeout`).
pub(crate) const LINGER_LIMIT: Duration = Duration::from_secs(60);

struct Linger {
    transport: Transport,
    writes: RefCell<WriteQueue>,
    io: WeakLoop,
    key: Cell<Option<HandlerKey>>,
    deadline: Cell<Option<Timeout>>,
    /// The stream's watcher (its server), told once the fd is let go of.
    watch: Cell<Option<CloseWatch>>,
}

/// A lingering close, as its stream's watcher holds it: to let go of at once.
#[derive(Clone)]
pub(crate) struct WeakLinger(Weak<Linger>);

impl WeakLinger {
    /// Closes the fd now, with whatever has not left (a shutdown's deadline passed).
    pub(crate) fn let_go(&self) {
        if let Some(linger) = self.0.upgrade() {
            linger.let_go();
        }
    }
}

impl Drop for Linger {
    fn drop(&mut self) {
        tell_close_watcher(self.watch.take()); // the connection is over only now
    }
}

/// Sends `writes` (and what the transport holds) over `transport`, then closes it and
/// tells `watch` (the stream's watcher, which is told it lingers meanwhile, if the
/// kernel did not take them all at once). `hand_over`: raise the send buffer for them
/// first (false only for tests of the linger itself).
pub(super) fn start(
    io: &IOLoop,
    transport: Transport,
    writes: WriteQueue,
    watch: Option<CloseWatch>,
    hand_over: bool,
) {
    let fd = transport.as_raw_fd();
    let linger = Rc::new(Linger {
        transport,
        writes: RefCell::new(writes),
        io: io.downgrade(),
        key: Cell::new(None),
        deadline: Cell::new(None),
        watch: Cell::new(watch),
    });
    if hand_over && linger.hand_to_kernel() {
        return; // dropped here: the fd closes, and the watcher hears it is over
    }
    let watch = linger.watch.take();
    if let Some((watcher, token)) = &watch {
        if let Some(watcher) = watcher.upgrade() {
            watcher.lingering(*token, WeakLinger(Rc::downgrade(&linger)));
        }
    }
    linger.watch.set(watch);
    let on_writable = linger.clone();
    let registered = io.add_owned_handler(
        fd,
        Events::WRITE,
        Trigger::Edge,
        "IOStream (closed, sending its last bytes)",
        move |_, _| {
            on_writable.flush();
        },
        || {}, // the loop closing drops the handler, and with it the fd
    );
    let Ok(key) = registered else {
        return; // the loop is closed: nothing will run it, so the bytes cannot leave
    };
    linger.key.set(Some(key));
    io.count_writes_behind(true);
    let weak = Rc::downgrade(&linger);
    let deadline = io.call_later(LINGER_LIMIT, move || {
        if let Some(linger) = weak.upgrade() {
            linger.let_go();
        }
    });
    linger.deadline.set(Some(deadline));
    // (Adding the fd to epoll reports it writable at once if there is room already.)
}

impl Linger {
    /// Sends what the socket takes: true once it is over (all sent, close_notify too,
    /// or the connection failed), the fd then let go of.
    fn flush(&self) -> bool {
        let sent = self.writes.borrow_mut().flush_into(&self.transport);
        let over = match sent {
            Err(_) => true, // the connection failed: nothing more can leave
            Ok(()) if self.writes.borrow().queued() > 0 => false,
            Ok(()) => {
                // All written: an orderly close says so (TLS's close_notify, queued
                // once however often this runs), and is over once that has left too.
                self.transport.goodbye();
                !self.transport.unsent()
            }
        };
        if over {
            self.let_go();
        }
        over
    }

    /// Sends the bytes before any lingering: as they are (the socket may have room by
    /// now, and a raised buffer must not take away room an autotuned one had), then
    /// into a send buffer raised to hold them. True if none are left.
    fn hand_to_kernel(&self) -> bool {
        if self.flush() {
            return true;
        }
        self.transport.make_room(self.writes.borrow().queued());
        self.flush()
    }

    /// Unregisters the fd and cancels the deadline: the last handle then drops, and the
    /// transport with it, closing the fd.
    fn let_go(&self) {
        let Some(io) = self.io.upgrade() else {
            return;
        };
        if let Some(deadline) = self.deadline.take() {
            io.remove_timeout(deadline);
        }
        if let Some(key) = self.key.take() {
            io.count_writes_behind(false);
            io.remove_owned_handler(key);
        }
    }
}
