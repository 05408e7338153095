//! The write side: queued buffers, and the futures that complete as they are flushed
//! (through the stream's transport: `sendmsg` with `MSG_NOSIGNAL` on a socket, `writev`
//! on a pipe).

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::transport::Transport;
use crate::future::Future;

/// At most this many buffers per `writev`: plenty to fill a socket buffer.
const MAX_SLICES: usize = 64;
/// A flush of at most this many buffers sets up only this many slices.
const FEW_SLICES: usize = 16;

/// While fewer bytes than this wait, a write made as the loop runs is done at once and
/// its bytes leave with the iteration's others; from this many on, they leave now and a
/// write waits for the socket, as a full `BufWriter` does.
pub(crate) const COALESCE_LIMIT: usize = 64 * 1024;

/// Buffers waiting for the socket, written in order without copying; each write's
/// future completes once every byte up to its end has been written.
///
/// The first buffer is kept inline and the others in a deque whose storage is given
/// back once the queue drains, so an idle stream holds no write storage (there are many
/// idle streams), and a stream that writes one buffer at a time allocates none.
#[derive(Default)]
pub(crate) struct WriteQueue {
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
    queued: usize,
    /// Bytes queued since the stream opened, and written since; a write's future waits
    /// for `written` to reach the `queued` total at the time of that write.
    total_queued: u64,
    total_written: u64,
    waiting: VecDeque<(u64, Future<()>)>,
}

impl WriteQueue {
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// No write is waiting to be flushed, and no byte.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.first.is_none()
    }

    /// Queues `data`; its future completes once it is written, or at once when
    /// `coalesced` (its bytes then leave with the iteration's other writes).
    pub(crate) fn push(&mut self, data: Bytes, coalesced: bool) -> Future<()> {
        self.queued += data.len();
        self.total_queued += data.len() as u64;
        if !data.is_empty() {
            match self.first {
                None => self.first = Some(data),
                Some(_) => self.rest.push_back(data),
            }
        }
        if coalesced {
            // (The thread's spare write future, when a coroutine gave one back.)
            return Future::ready_reusing(());
        }
        let future = Future::new();
        self.waiting.push_back((self.total_queued, future.clone()));
        future
    }

    /// Writes what the transport takes, until it would block or the queue is empty.
    pub(super) fn flush_into(&mut self, transport: &Transport) -> io::Result<()> {
        while let Some(first) = &self.first {
            // On the stack: a flush allocates nothing. Few chunks (the commonest case
            // is one) fill a small array: setting up all 64 slices cost more than the
            // rest of a one-reply flush.
            let written = match self.rest.len() {
                0 => transport.write(&[IoSlice::new(first)]),
                n if n < FEW_SLICES => self.write_slices::<FEW_SLICES>(transport),
                _ => self.write_slices::<MAX_SLICES>(transport),
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // What the transport itself holds (a TLS session's records) leaves too.
        transport.flush()
    }

    /// One gathered write of the first `N` chunks (or all, if fewer). Not inlined: the
    /// compiler set up the arrays on every flush, a single chunk's too.
    #[inline(never)]
    fn write_slices<const N: usize>(&self, transport: &Transport) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); N];
        let mut count = 0;
        let chunks = self.first.iter().chain(&self.rest);
        for (slot, chunk) in slices.iter_mut().zip(chunks) {
            *slot = IoSlice::new(chunk);
            count += 1;
        }
        transport.write(&slices[..count])
    }

    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        self.total_written += n as u64;
        while n > 0 {
            let front = self.first.as_mut().expect("written bytes were queued");
            let take = n.min(front.len());
            front.advance(take);
            n -= take;
            if front.is_empty() {
                self.first = self.rest.pop_front();
            }
        }
        if self.first.is_none() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new(); // drained: give the storage back
        }
    }

    /// The oldest write now fully flushed, if any: taken one at a time so the caller
    /// completes each outside any borrow without collecting them into a fresh `Vec`.
    pub(crate) fn pop_flushed(&mut self) -> Option<Future<()>> {
        let (end, _) = self.waiting.front()?;
        if *end > self.total_written {
            return None;
        }
        let flushed = self.waiting.pop_front().map(|(_, f)| f);
        if self.waiting.is_empty() {
            self.waiting = VecDeque::new(); // as `rest`: an idle stream holds none
        }
        flushed
    }

    /// Every write still waiting, for failing on close; the queue is emptied.
    pub(crate) fn abandon(&mut self) -> Vec<Future<()>> {
        self.first = None;
        self.rest = VecDeque::new();
        self.queued = 0;
        self.waiting.drain(..).map(|(_, f)| f).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use crate::iostream::reading::tests::stream_and_peer;

    #[test]
    fn writes_joining_an_iterations_queue_leave_even_if_the_stream_is_dropped_at_once() {
        let (io, stream, mut peer) = stream_and_peer();
        let i = io.clone();
        io.add_callback(move || {
            // An empty write first (nothing queued: the loop need not hold the
            // stream), then two that join it, and the last handle dropped at once.
            drop(stream.write(""));
            drop(stream.write("joined "));
            drop(stream.write("late\n"));
            drop(stream);
            let stop = i.clone();
            i.add_callback(move || stop.stop());
        });
        io.start().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut got = [0u8; 12];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"joined late\n");
    }
}
