//! The transport under a stream: the one fd it owns, and how bytes cross it.
//!
//! The read loop (`reading.rs`) and the write queue (`write.rs`) see only
//! [`Transport::read`], [`Transport::read_into`] and [`Transport::write`]; everything
//! they do around those calls (the per-turn budget, the scratch chunk, edge-triggered
//! readiness, cancellation, the buffer limits) is the same whatever is underneath. A
//! socket (TCP or Unix) is read with `recv` and written with `send`/`sendmsg` and
//! `MSG_NOSIGNAL`; any other fd (a pipe, a FIFO, a tty) with `read` and `writev`, with
//! SIGPIPE held off for the call (see `sys::write_nosigpipe`).
//!
//! ## TLS
//!
//! With the `tls` feature a socket's transport may carry a TLS session (`tls.rs`): the
//! same three calls then move plaintext, `read` decrypting what `recv` brought (until
//! its buffer is full or the socket would block, so a short read still means drained)
//! and `write` encrypting into the session and sending what the socket takes. What the
//! plain transports never need comes with it: the handshake, which the stream drives on
//! its edges before any read or write moves data (`Session::handshake`; reads and writes
//! meanwhile would block); records buffered inside the session, which count as
//! unflushed ([`Transport::unsent`], for `writing()` and the keep-alive) and leave on the
//! next flush ([`Transport::flush`]); an end or failure met after the plaintext a read
//! returned, which the next read reports with no edge to announce it
//! ([`Transport::holds_more`]); and close_notify on an orderly close
//! ([`Transport::goodbye`]). The stream's buffer, reads and write futures stay as they
//! are: they only ever see plaintext.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use socket2::SockRef;

use crate::error::Error;
use crate::sys;

/// The fd under a stream, and which calls move its bytes.
pub(super) struct Transport {
    fd: OwnedFd,
    kind: Kind,
    readable: bool,
    writable: bool,
    /// The TLS session the bytes pass through, if any.
    #[cfg(feature = "tls")]
    tls: Option<Box<super::tls::Session>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `recv` and `send`/`sendmsg` with `MSG_NOSIGNAL`.
    Socket,
    /// `read` and `writev`: pipes, FIFOs, ttys.
    Other,
}

impl Transport {
    /// A connected socket (TCP or Unix), made non-blocking.
    pub(super) fn socket(fd: OwnedFd) -> io::Result<Transport> {
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Transport {
            fd,
            kind: Kind::Socket,
            readable: true,
            writable: true,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Any fd, made non-blocking: a socket is used as one; otherwise it is read and
    /// written as a file, in the directions its access mode allows.
    pub(super) fn any(fd: OwnedFd) -> io::Result<Transport> {
        if sys::is_socket(fd.as_fd())? {
            return Transport::socket(fd);
        }
        let (readable, writable) = sys::access_mode(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Transport {
            fd,
            kind: Kind::Other,
            readable,
            writable,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// One read into `buf` (uninitialised scratch space): the bytes that came, empty at
    /// end of file.
    pub(super) fn read<'b>(&self, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.read_uninit(self.wire(), buf);
        }
        match self.kind {
            Kind::Socket => sys::recv(self.fd.as_fd(), buf),
            Kind::Other => sys::read(self.fd.as_fd(), buf),
        }
    }

    /// One read into a caller's buffer: how many bytes came, 0 at end of file.
    pub(super) fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.read(self.wire(), buf);
        }
        self.read_fd(buf)
    }

    /// `read_into` on the fd itself, under any TLS.
    fn read_fd(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.kind {
            Kind::Socket => sys::recv_into(self.fd.as_fd(), buf),
            Kind::Other => sys::read_into(self.fd.as_fd(), buf),
        }
    }

    /// One gathered write of `slices`, in order: how many bytes went. Never raises
    /// SIGPIPE: a reader (or peer) that is gone is an `EPIPE` error.
    pub(super) fn write(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.write(self.wire(), slices);
        }
        self.write_fd(slices)
    }

    /// `write` on the fd itself, under any TLS.
    fn write_fd(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.kind {
            Kind::Socket => sys::send(self.fd.as_fd(), slices),
            Kind::Other => sys::write_nosigpipe(self.fd.as_fd(), slices),
        }
    }

    /// Sends what the transport holds unsent (a TLS session's records), as far as the
    /// socket takes it; nothing to do on a plain fd.
    pub(super) fn flush(&self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.flush(self.wire());
        }
        Ok(())
    }

    /// Whether bytes the stream handed over wait inside the transport (TLS records the
    /// socket did not take yet): the stream is not idle until they leave.
    pub(super) fn unsent(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.unsent();
        }
        false
    }

    /// Whether a read that came up short left something for the next read that no edge
    /// will announce: a TLS session's end (close_notify) or failure, met after the
    /// plaintext the read returned. A plain fd's short read always drained it.
    pub(super) fn holds_more(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.holds_more();
        }
        false
    }

    /// Ends the session in order, before the fd closes: a TLS close_notify, sent as far
    /// as the socket takes it now; nothing on a plain fd (closing it says it all).
    pub(super) fn goodbye(&self) {
        #[cfg(feature = "tls")]
        if let Some((tls, wire)) = self.tls() {
            tls.close_notify(wire);
        }
    }

    /// Raises a socket's send buffer, or a pipe's capacity, so that `queued` more bytes
    /// (and whatever a TLS session holds) fit in it beside what it holds already: what
    /// a closing stream does to hand its last bytes to the kernel instead of keeping
    /// its fd for them. Twice the bytes, for the kernel's bookkeeping per buffer (a
    /// pipe's is per page); the kernel caps a socket's at `net.core.wmem_max` (one
    /// autotuned past that is left as it is: asking would shrink it) and refuses a pipe
    /// past `fs.pipe-max-size` (only what is then written takes memory). Best effort:
    /// an fd that refuses (a tty, a pipe at its cap) keeps its own.
    pub(super) fn make_room(&self, queued: usize) {
        let room = queued.saturating_mul(2);
        let Some(socket) = self.socket_ref() else {
            if let Ok(current) = sys::pipe_size(self.fd.as_fd()) {
                let _ = sys::set_pipe_size(self.fd.as_fd(), current.saturating_add(room));
            }
            return;
        };
        #[cfg(feature = "tls")]
        let room = match self.tls {
            Some(_) => room.saturating_add(2 * super::tls::SESSION_BUFFER_LIMIT),
            None => room,
        };
        if let Ok(current) = socket.send_buffer_size() {
            if let Some(value) = raised_send_buffer(current, room, wmem_max()) {
                let _ = socket.set_send_buffer_size(value);
            }
        }
    }

    /// Whether the fd can be read (a pipe's write end cannot).
    pub(super) fn readable(&self) -> bool {
        self.readable
    }

    /// Whether the fd can be written (a pipe's read end cannot).
    pub(super) fn writable(&self) -> bool {
        self.writable
    }

    /// The socket, for its options and addresses; `None` for a pipe or other fd.
    pub(super) fn socket_ref(&self) -> Option<SockRef<'_>> {
        (self.kind == Kind::Socket).then(|| SockRef::from(&self.fd))
    }
}

/// The error a failed read or write through a transport closes its stream with: the OS
/// error, or, for a TLS session's failure, a closed stream whose source is the TLS error.
pub(super) fn closing_error(e: io::Error) -> Error {
    #[cfg(feature = "tls")]
    let e = match super::tls::session_error(e) {
        Ok(error) => return error,
        Err(e) => e,
    };
    Error::from(e)
}

#[cfg(feature = "tls")]
impl Transport {
    /// This socket's transport with its bytes passing through `session` from now on.
    pub(super) fn with_tls(mut self, session: super::tls::Session) -> Transport {
        self.tls = Some(Box::new(session));
        self
    }

    /// The TLS session, if any, and the fd under it.
    pub(super) fn tls(&self) -> Option<(&super::tls::Session, Wire<'_>)> {
        self.tls.as_deref().map(|tls| (tls, self.wire()))
    }

    /// The fd's own reads and writes, under the TLS session.
    fn wire(&self) -> Wire<'_> {
        Wire(self)
    }
}

/// The fd itself as `std::io` sees it: what a TLS session reads records from and writes
/// them to (the same calls a plain transport makes).
#[cfg(feature = "tls")]
#[derive(Clone, Copy)]
pub(super) struct Wire<'t>(&'t Transport);

#[cfg(feature = "tls")]
impl Wire<'_> {
    /// The fd's number and the peer's address, as a log line names the connection.
    pub(super) fn describe(&self) -> String {
        let peer = self.0.socket_ref().and_then(|s| s.peer_addr().ok());
        match peer.and_then(|p| p.as_socket()) {
            Some(peer) => format!("{} {peer}", self.0.fd.as_raw_fd()),
            None => format!("{}", self.0.fd.as_raw_fd()),
        }
    }
}

#[cfg(feature = "tls")]
impl io::Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_fd(buf)
    }
}

#[cfg(feature = "tls")]
impl io::Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_fd(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_fd(slices)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Transport {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Transport {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What to ask `SO_SNDBUF` for, to make `room` more bytes of space in a send buffer of
/// `current` bytes (as `getsockopt` reports it: the kernel doubles what it is asked,
/// up to twice `cap`, `net.core.wmem_max`); `None` when the kernel's answer would not
/// be larger than `current` (an autotuned buffer can be past the cap), since asking
/// then would shrink it, and with it the room the socket already had.
fn raised_send_buffer(current: usize, room: usize, cap: Option<usize>) -> Option<usize> {
    let wanted = current.saturating_add(room);
    let granted = wanted.min(cap?).saturating_mul(2);
    (granted > current).then_some(wanted)
}

/// `net.core.wmem_max`, read once per process; `None` where it cannot be read (no raise
/// is then risked).
fn wmem_max() -> Option<usize> {
    static WMEM_MAX: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *WMEM_MAX.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/sys/net/core/wmem_max").ok()?;
        text.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::raised_send_buffer;

    const CAP: Option<usize> = Some(212_992); // Linux's default wmem_max

    #[test]
    fn a_small_send_buffer_is_raised_by_the_room_asked() {
        assert_eq!(raised_send_buffer(4608, 120_000, CAP), Some(124_608));
        // Past the cap, the kernel grants twice the cap: still more than before.
        assert_eq!(raised_send_buffer(300_000, 400_000, CAP), Some(700_000));
    }

    #[test]
    fn a_send_buffer_autotuned_past_the_cap_is_never_shrunk() {
        assert_eq!(raised_send_buffer(4 << 20, 131_072, CAP), None);
        assert_eq!(raised_send_buffer(2 * 212_992, 1, CAP), None);
    }

    #[test]
    fn an_unknown_cap_risks_no_change() {
        assert_eq!(raised_send_buffer(4608, 120_000, None), None);
    }
}
