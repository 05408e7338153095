//! The write side: queued buffers, and the futures that complete as they are flushed
//! (through the stream's transport: `sendmsg` with `MSG_NOSIGNAL` on a socket, `writev`
//! on a pipe).

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::tail::{self, Tail};
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

/// Writes of at most this many bytes made behind others are copied into the queue's
/// tail buffer, so a burst of small replies leaves as one slice: the kernel's cost per
/// slice of a `sendmsg` (16 ten-byte replies as 16 slices cost more system time than
/// tokio's `BufWriter`, which copies them) is far above copying a few hundred bytes.
/// Larger writes are queued as they are, without copying.
const COPIED_MAX: usize = 1024;
/// A tail is sealed into a chunk at this size: copied small writes are held in pieces
/// this large behind a slow reader, not in one buffer reallocated as it grows.
const TAIL_MAX: usize = 64 * 1024;

/// Buffers waiting for the socket, written in order; each write's future completes
/// once every byte up to its end has been written.
///
/// Order: the chunks (`first`, then `rest`), then the tail. A write joins the tail when
/// it is small and something is queued already (a small first write alone in the queue
/// then moves into the tail with it); a write into an empty queue, and any larger one,
/// is a chunk of its own (not copied: a 64 KiB echo is written from the bytes it was
/// read into). A chunk queued behind a non-empty tail first seals the tail into a
/// chunk, so the order of the bytes is the order of the writes.
///
/// The first buffer is kept inline and the others in a deque whose storage is given
/// back once the queue drains, as is the tail (boxed: a stream holds 8 bytes for it),
/// so an idle stream holds no write storage (there are many idle streams), and a stream
/// that writes one buffer at a time allocates none.
#[derive(Default)]
pub(crate) struct WriteQueue {
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
    /// Small writes copied together, behind every chunk.
    tail: Option<Box<Tail>>,
    /// Bytes queued since the stream opened, and written since (their difference is
    /// what waits); a write's future waits for `written` to reach the `queued` total at
    /// the time of that write.
    total_queued: u64,
    total_written: u64,
    /// Where the last write reported done at once (coalesced) ends: until `written`
    /// reaches it, bytes the writer was told are written are still here.
    promised: u64,
    waiting: VecDeque<(u64, Future<()>)>,
}

impl WriteQueue {
    pub(crate) fn queued(&self) -> usize {
        (self.total_queued - self.total_written) as usize
    }

    /// Bytes of writes already reported done (coalesced) are still queued.
    pub(crate) fn promised_unwritten(&self) -> bool {
        self.total_written < self.promised
    }

    /// No write is waiting to be flushed, and no byte.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.first.is_none() && self.tail.is_none()
    }

    /// Queues `data`; its future completes once it is written, or at once when
    /// `coalesced` (its bytes then leave with the iteration's other writes).
    pub(crate) fn push(&mut self, data: Bytes, coalesced: bool) -> Future<()> {
        self.total_queued += data.len() as u64;
        let behind_others = self.first.is_some() || self.tail.is_some();
        if behind_others && data.len() <= COPIED_MAX {
            // A tail partly written, or full, is sealed and a new one begun: a tail only
            // grows from its start, so its written front is never kept behind a backlog.
            let spent = |t: &Tail| t.sent > 0 || t.bytes.len() + data.len() > TAIL_MAX;
            if self.tail.as_deref().is_some_and(spent) {
                self.seal_tail();
            }
            let tail = match &mut self.tail {
                Some(tail) => tail,
                None => {
                    // (The thread's spare tail, when a burst sent gave one back.)
                    let mut tail = tail::take();
                    // A small first write alone in the queue joins the tail too: the
                    // burst is then one buffer, for one `send` (not a `sendmsg` of two).
                    if self.rest.is_empty()
                        && self.first.as_ref().is_some_and(|f| f.len() <= COPIED_MAX)
                    {
                        let first = self.first.take().expect("checked");
                        tail.bytes.extend_from_slice(&first);
                    }
                    self.tail.insert(tail)
                }
            };
            tail.bytes.extend_from_slice(&data);
        } else if !data.is_empty() {
            self.seal_tail();
            self.push_chunk(data);
        }
        if coalesced {
            self.promised = self.total_queued;
            // (The thread's one done future, shared: no future to make per write.)
            return Future::done_unit();
        }
        let future = Future::new();
        self.waiting.push_back((self.total_queued, future.clone()));
        future
    }

    /// Queues `data` behind every chunk (the tail is empty).
    fn push_chunk(&mut self, data: Bytes) {
        match self.first {
            None => self.first = Some(data),
            Some(_) => self.rest.push_back(data),
        }
    }

    /// Turns the tail's unsent bytes into a chunk (without copying), so that a chunk
    /// queued next goes behind them.
    fn seal_tail(&mut self) {
        let Some(tail) = self.tail.take() else {
            return;
        };
        let mut sealed = Bytes::from(tail.bytes);
        sealed.advance(tail.sent);
        self.push_chunk(sealed);
    }

    /// The slices the next write hands the transport, in order: how many there are.
    fn pieces(&self) -> usize {
        self.first.iter().len() + self.rest.len() + self.tail.iter().len()
    }

    /// Writes what the transport takes, until it would block or the queue is empty.
    pub(super) fn flush_into(&mut self, transport: &Transport) -> io::Result<()> {
        loop {
            // On the stack: a flush allocates nothing. Few pieces (the commonest case is
            // one) fill a small array: setting up all 64 slices cost more than the rest
            // of a one-reply flush.
            let written = match (self.pieces(), &self.first) {
                (0, _) => break,
                (1, Some(first)) => transport.write(&[IoSlice::new(first)]),
                (n, _) if n <= FEW_SLICES => self.write_slices::<FEW_SLICES>(transport),
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

    /// One gathered write of the first `N` pieces (or all, if fewer). Not inlined: the
    /// compiler set up the arrays on every flush, a single chunk's too.
    #[inline(never)]
    fn write_slices<const N: usize>(&self, transport: &Transport) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); N];
        let mut count = 0;
        let tail = self.tail.as_ref().map(|tail| &tail.bytes[tail.sent..]);
        let chunks = self.first.iter().chain(&self.rest).map(|c| &c[..]);
        for (slot, piece) in slices.iter_mut().zip(chunks.chain(tail)) {
            *slot = IoSlice::new(piece);
            count += 1;
        }
        transport.write(&slices[..count])
    }

    fn advance(&mut self, mut n: usize) {
        self.total_written += n as u64;
        while n > 0 {
            let Some(front) = self.first.as_mut() else {
                // Past every chunk: the rest came from the tail.
                let tail = self.tail.as_mut().expect("written bytes were queued");
                tail.sent += n;
                debug_assert!(tail.sent <= tail.bytes.len(), "written bytes were queued");
                break;
            };
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
        if let Some(sent) = self.tail.take_if(|tail| tail.sent == tail.bytes.len()) {
            tail::give_back(sent); // as `rest`: to the thread's spares
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

    /// The unwritten bytes of the writes already reported done (coalesced), for a
    /// closing stream to send still (see `linger.rs`): the queue is cut after the last
    /// of them and its bytes move to the queue returned, which has no waiting futures.
    /// What followed them (writes whose futures wait) stays for `abandon` to fail.
    pub(crate) fn split_off_promised(&mut self) -> WriteQueue {
        let mut cut = self.total_queued.saturating_sub(self.promised) as usize;
        self.total_queued -= cut as u64;
        // From the back: the tail's unsent end, then whole or partial chunks.
        if let Some(tail) = self.tail.as_mut() {
            let unsent = tail.bytes.len() - tail.sent;
            let keep = unsent.saturating_sub(cut);
            tail.bytes.truncate(tail.sent + keep);
            cut -= unsent - keep;
            if keep == 0 {
                self.tail = None;
            }
        }
        while cut > 0 {
            let last = match self.rest.back_mut() {
                Some(last) => last,
                None => self.first.as_mut().expect("cut bytes were queued"),
            };
            let keep = last.len().saturating_sub(cut);
            cut -= last.len() - keep;
            last.truncate(keep);
            if keep == 0 && self.rest.pop_back().is_none() {
                self.first = None;
            }
        }
        WriteQueue {
            first: self.first.take(),
            rest: std::mem::take(&mut self.rest),
            tail: self.tail.take(),
            total_queued: self.total_queued,
            total_written: self.total_written,
            promised: self.promised,
            waiting: VecDeque::new(),
        }
    }

    /// Every write still waiting, for failing on close; the queue is emptied.
    pub(crate) fn abandon(&mut self) -> Vec<Future<()>> {
        self.first = None;
        self.rest = VecDeque::new();
        self.tail = None;
        self.total_written = self.total_queued;
        self.waiting.drain(..).map(|(_, f)| f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn a_write_joining_the_iterations_batch_still_meets_the_limit_and_a_close() {
        let (io, stream, mut peer) = stream_and_peer();
        stream.set_max_write_buffer_size(Some(10));
        let i = io.clone();
        let outcomes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = outcomes.clone();
        io.add_callback(move || {
            let first = stream.write("123456");
            let over = stream.write("789012"); // 12 queued: past the limit
            let fits = stream.write("7890");
            stream.close(); // flushes what was queued, then closes
            let late = stream.write("x");
            let results = [first, over, fits, late].map(|f| f.result().map_err(|e| e.kind()));
            seen.borrow_mut().extend(results);
            let stop = i.clone();
            i.add_callback(move || stop.stop());
        });
        io.start().unwrap();
        use crate::ErrorKind;
        assert_eq!(
            *outcomes.borrow(),
            [
                Ok(()),
                Err(ErrorKind::InvalidState),
                Ok(()),
                Err(ErrorKind::StreamClosed)
            ]
        );
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(&got, b"1234567890");
    }

    #[test]
    fn splitting_off_the_promised_bytes_keeps_exactly_those_in_order() {
        // Coalesced, then waiting writes behind them: into a chunk, the tail, both.
        let coalesced = [&b"first chunk"[..], b"tail a", b"tail b"];
        for waiting in [
            &[&b"x"[..], b"yz"][..],
            &[&vec![7; COPIED_MAX + 1][..]],
            &[],
        ] {
            let mut queue = WriteQueue::default();
            for bytes in coalesced {
                drop(queue.push(Bytes::copy_from_slice(bytes), true));
            }
            let futures: Vec<_> = waiting
                .iter()
                .map(|w| queue.push(Bytes::copy_from_slice(w), false))
                .collect();
            let kept = queue.split_off_promised();
            let mut bytes = Vec::new();
            let mut rest = kept;
            while rest.pieces() > 0 {
                let piece = match (&rest.first, &rest.tail) {
                    (Some(first), _) => first.to_vec(),
                    (None, Some(tail)) => tail.bytes[tail.sent..].to_vec(),
                    (None, None) => unreachable!(),
                };
                bytes.extend_from_slice(&piece);
                rest.advance(piece.len());
            }
            assert_eq!(bytes, b"first chunktail atail b");
            assert!(!rest.promised_unwritten());
            assert_eq!(queue.abandon().len(), futures.len());
        }
    }

    #[test]
    fn a_burst_of_small_writes_leaves_as_one_slice_behind_the_first() {
        let mut queue = WriteQueue::default();
        for _ in 0..16 {
            drop(queue.push(Bytes::from_static(b"VALUE 42\r\n"), true));
        }
        // All sixteen copied together: one buffer, one `send`.
        assert_eq!(queue.pieces(), 1);
        assert_eq!(queue.queued(), 160);
        // A large write is not copied; small ones behind it start a new tail.
        drop(queue.push(Bytes::from(vec![1; COPIED_MAX + 1]), true));
        drop(queue.push(Bytes::from_static(b"a"), true));
        drop(queue.push(Bytes::from_static(b"b"), true));
        assert_eq!(queue.pieces(), 3);
        // A large first write stays a chunk of its own, uncopied.
        let mut queue = WriteQueue::default();
        drop(queue.push(Bytes::from(vec![1; COPIED_MAX + 1]), true));
        drop(queue.push(Bytes::from_static(b"a"), true));
        assert_eq!(queue.pieces(), 2);
    }

    #[test]
    fn copied_and_queued_writes_reach_the_peer_in_order_through_a_backlog() {
        // Writes of every size around the copy limit, far more than the socket holds, so
        // flushes stop part-way through chunks and tails and resume behind new writes.
        let (io, stream, mut peer) = stream_and_peer();
        let mut expected = Vec::new();
        let mut writes = Vec::new();
        let mut seed = 7u32;
        for i in 0..3000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = match seed >> 29 {
                0 => 0,
                1..=5 => (seed >> 8) as usize % (COPIED_MAX + 1),
                _ => COPIED_MAX + (seed >> 8) as usize % (8 * COPIED_MAX),
            };
            let chunk: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
            expected.extend_from_slice(&chunk);
            writes.push(chunk);
        }
        let total = expected.len();
        let reader = std::thread::spawn(move || {
            peer.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let mut got = vec![0; total];
            peer.read_exact(&mut got).unwrap();
            got
        });
        let written = io
            .run_sync(
                move || {
                    let futures: Vec<_> = writes.into_iter().map(|w| stream.write(w)).collect();
                    crate::gen::multi(futures)
                },
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(written.len(), 3000);
        assert!(
            reader.join().unwrap() == expected,
            "bytes out of order or lost"
        );
    }
}
