//! [`Events`]: the `READ | WRITE | ERROR` flags of fd handlers.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of I/O events, as bit flags: [`Events::READ`], [`Events::WRITE`],
/// [`Events::ERROR`] (also reachable as `IOLoop::READ` and so on, as in Tornado).
///
/// A handler registers the events it wants; it is called with the ones that happened.
/// `ERROR` is always reported, whether asked for or not, as with epoll.
///
/// ```
/// use ioloop::Events;
/// let e = Events::READ | Events::ERROR;
/// assert!(e.contains(Events::READ));
/// assert!(!e.contains(Events::WRITE));
/// assert_eq!(format!("{e:?}"), "READ | ERROR");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Events(u8);

impl Events {
    /// No events.
    ///
    /// ```
    /// assert!(ioloop::Events::NONE.contains(ioloop::Events::NONE));
    /// ```
    pub const NONE: Events = Events(0);
    /// The fd is readable (or its peer closed, so a read returns end of file).
    ///
    /// ```
    /// assert!(ioloop::Events::READ.contains(ioloop::Events::READ));
    /// ```
    pub const READ: Events = Events(0x1);
    /// The fd is writable.
    ///
    /// ```
    /// assert!(ioloop::Events::WRITE.contains(ioloop::Events::WRITE));
    /// ```
    pub const WRITE: Events = Events(0x4);
    /// An error or hang-up on the fd.
    ///
    /// ```
    /// assert!(ioloop::Events::ERROR.contains(ioloop::Events::ERROR));
    /// ```
    pub const ERROR: Events = Events(0x18);
    /// The peer closed its side (`EPOLLRDHUP`): a read that comes up short has not
    /// necessarily drained the socket, an end of file may still wait behind the data.
    /// Only the loop's own handlers ask for it.
    pub(crate) const PEER_CLOSED: Events = Events(0x40);

    /// Whether every flag of `other` is set in `self`.
    ///
    /// ```
    /// use ioloop::Events;
    /// assert!((Events::READ | Events::WRITE).contains(Events::WRITE));
    /// ```
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set in `self`.
    ///
    /// ```
    /// use ioloop::Events;
    /// assert!(Events::READ.intersects(Events::READ | Events::WRITE));
    /// ```
    pub const fn intersects(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    ///
    /// ```
    /// assert!(ioloop::Events::NONE.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bits (Tornado's values: READ = 0x1, WRITE = 0x4, ERROR = 0x18).
    ///
    /// ```
    /// assert_eq!(ioloop::Events::WRITE.bits(), 0x4);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The events of a mio readiness event. mio reports a hang-up as "read closed" and
    /// "write closed" together; that maps to `ERROR`, as epoll's `EPOLLHUP` does.
    pub(crate) fn from_mio(event: &mio::event::Event) -> Events {
        let mut e = Events::NONE;
        if event.is_readable() {
            e |= Events::READ;
        }
        if event.is_read_closed() {
            e |= Events::READ | Events::PEER_CLOSED;
        }
        if event.is_writable() || event.is_write_closed() {
            e |= Events::WRITE;
        }
        if event.is_error() || (event.is_read_closed() && event.is_write_closed()) {
            e |= Events::ERROR;
        }
        e
    }

    /// The events of a `poll(2)` result, mapped the same way as [`Events::from_mio`].
    pub(crate) fn from_poll(revents: libc::c_short) -> Events {
        let mut e = Events::NONE;
        if revents & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0 {
            e |= Events::READ;
        }
        if revents & (libc::POLLRDHUP | libc::POLLHUP) != 0 {
            e |= Events::PEER_CLOSED;
        }
        if revents & libc::POLLOUT != 0 {
            e |= Events::WRITE;
        }
        if revents & libc::POLLERR != 0 {
            e |= Events::ERROR;
        }
        if revents & libc::POLLHUP != 0 {
            e |= Events::READ | Events::WRITE | Events::ERROR;
        }
        e
    }

    /// The `poll(2)` request for these events.
    pub(crate) fn to_poll(self) -> libc::c_short {
        let mut p = 0;
        if self.intersects(Events::READ) {
            p |= libc::POLLIN | libc::POLLRDHUP;
        }
        if self.intersects(Events::WRITE) {
            p |= libc::POLLOUT;
        }
        p
    }

    /// The mio interest for these events. mio needs at least one of readable and
    /// writable; an `ERROR`-only registration asks for readable and filters it out on
    /// delivery, because errors arrive whatever was asked.
    pub(crate) fn to_mio(self) -> mio::Interest {
        match (
            self.intersects(Events::READ),
            self.intersects(Events::WRITE),
        ) {
            (_, false) => mio::Interest::READABLE,
            (false, true) => mio::Interest::WRITABLE,
            (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
        }
    }
}

impl BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Events {
    type Output = Events;
    fn bitand(self, rhs: Events) -> Events {
        Events(self.0 & rhs.0)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Events::READ, "READ"),
            (Events::WRITE, "WRITE"),
            (Events::ERROR, "ERROR"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}
