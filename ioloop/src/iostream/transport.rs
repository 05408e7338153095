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
//! ## Where TLS would go
//!
//! A TLS layer is a transport that transforms bytes: it would own the socket's transport
//! and a session, and answer the same three calls, `read` decrypting what `recv` brought
//! (and possibly returning `WouldBlock` when a whole record has not arrived yet), `write`
//! encrypting and keeping the ciphertext the socket did not take. Two things the plain
//! transports never need would come with it: a read may need the socket writable (a
//! handshake or key update), and a flush may need it readable, so the transport would
//! report which readiness it waits for (the stream registers both, edge-triggered,
//! already); and ciphertext buffered inside the transport counts as unflushed for
//! `writing()` and the keep-alive. The stream's buffer, reads and write futures stay as
//! they are: they only ever see plaintext.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use socket2::SockRef;

use crate::sys;

/// The fd under a stream, and which calls move its bytes.
pub(super) struct Transport {
    fd: OwnedFd,
    kind: Kind,
    readable: bool,
    writable: bool,
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
        })
    }

    /// One read into `buf` (uninitialised scratch space): the bytes that came, empty at
    /// end of file.
    pub(super) fn read<'b>(&self, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
        match self.kind {
            Kind::Socket => sys::recv(self.fd.as_fd(), buf),
            Kind::Other => sys::read(self.fd.as_fd(), buf),
        }
    }

    /// One read into a caller's buffer: how many bytes came, 0 at end of file.
    pub(super) fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.kind {
            Kind::Socket => sys::recv_into(self.fd.as_fd(), buf),
            Kind::Other => sys::read_into(self.fd.as_fd(), buf),
        }
    }

    /// One gathered write of `slices`, in order: how many bytes went. Never raises
    /// SIGPIPE: a reader (or peer) that is gone is an `EPIPE` error.
    pub(super) fn write(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.kind {
            Kind::Socket => sys::send(self.fd.as_fd(), slices),
            Kind::Other => sys::write_nosigpipe(self.fd.as_fd(), slices),
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
