//! The read loop: how bytes move from the fd (through the stream's transport: a socket
//! or a pipe), through the stream's buffer, to the pending read (what each read asks for, and how much of the buffer satisfies it, is
//! `request.rs`, apart from the socket).
//!
//! A read starts by being served from the buffer; while the buffer does not satisfy
//! it, the socket is read into the thread's scratch chunk and what came is appended to
//! the buffer (or it is read straight into a `read_into` caller's buffer), at most
//! `READ_BUDGET` bytes a turn, until the socket would block and the next edge brings
//! more. A drained buffer lets go of its allocation, so an idle stream holds none. With no read pending, what arrives is read ahead
//! into the buffer, so an edge is not lost and a close is noticed.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::rc::{Rc, Weak};

use super::read_buffers;
use super::request::{self, Request, Verdict};
use super::transport::Transport;
use super::{closed_error, Bytes, BytesMut, IOStream, Inner, LimitExceeded};
use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::future::{CancelHook, Future};

/// Bytes asked of the kernel per read, into the thread's scratch space.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where every stream of this thread's loop reads into: one chunk per thread
    /// instead of one per stream, so an idle stream holds no read chunk (10,000 idle
    /// connections held 64 KiB each). What a read brings is then copied into the
    /// stream's own buffer, sized to what it holds; the chunk stays hot in cache.
    static SCRATCH: RefCell<Box<[MaybeUninit<u8>]>> =
        RefCell::new(vec![MaybeUninit::uninit(); READ_CHUNK].into_boxed_slice());
}
/// A read known to need at least this many more bytes (an exact `read_bytes`) reads
/// them from the socket straight into the stream's buffer, reserved for them, instead
/// of through the scratch chunk: a 64 KiB message was copied once more, after growing
/// the buffer piece by piece. Smaller reads go through the scratch chunk, which asks
/// the kernel for everything there is in one call.
const DIRECT_READ_MIN: usize = 4 * 1024;
/// Room asked beyond a direct read's need, so that a read bringing exactly the message
/// comes up short of what was asked, which says the socket is drained (no `recv` that
/// is sure to fail before the next message), and the start of a next one fits.
const DIRECT_READ_SLACK: usize = 1024;
/// The most bytes one stream reads in one loop turn before it lets the others run (and
/// picks up in the next turn): a peer flooding bytes cannot hold up the loop's other
/// connections for longer than reading this much takes.
const READ_BUDGET: usize = READ_CHUNK;

/// The read the stream serves: what it asks for, and the future its result goes to.
pub(super) enum PendingRead {
    Data(Request, Future<Bytes>),
    /// `read_into`: the caller's buffer, how much of it is filled, whether a partial
    /// fill will do.
    Into {
        buf: Vec<u8>,
        filled: usize,
        partial: bool,
        future: Future<(Vec<u8>, usize)>,
    },
}

impl IOStream {
    pub(super) fn start_data_read(&self, mut request: Request) -> Future<Bytes> {
        let at_once = self.take_at_once(request.known_need(0), |buffer| {
            match request.verdict(buffer, false) {
                Verdict::Take(n) => Some(n),
                _ => None,
            }
        });
        if let Some(data) = at_once {
            return Future::ready(data);
        }
        let future = Future::new();
        self.start_read(PendingRead::Data(request, future.clone()));
        future
    }

    /// `read_until`: a delimiter the buffer holds within `max` is found and taken
    /// without building a request (the thread's finder, a search state), which a
    /// pipeline's later requests, read one after the other from one `recv`, never need.
    pub(super) fn read_until_now(&self, delimiter: &[u8], max: Option<usize>) -> Future<Bytes> {
        if !request::quick_applies(delimiter) {
            return self.start_data_read(Request::until(delimiter, max));
        }
        let at_once = self.take_at_once(0, |buffer| {
            let end = request::quick_find(delimiter, buffer).ok()?? + delimiter.len();
            (end <= max.unwrap_or(usize::MAX)).then_some(end)
        });
        match at_once {
            Some(data) => Future::ready(data),
            None => self.start_data_read(Request::until(delimiter, max)),
        }
    }

    /// The bytes a read takes from the buffer at once, when nothing else is going on
    /// (no read pending, no trait reader, the stream open) and `judge` says how many:
    /// what `start_read` would hand its future before returning, without the pending
    /// read, its hook and the keep-alive (none of which the read changes). A pipeline's
    /// second and later requests are all read so. `None`: the read goes the whole way
    /// (a request keeps what its search has ruled out). `known_need` is the read's
    /// [`Request::known_need`] of an empty buffer.
    fn take_at_once(
        &self,
        known_need: usize,
        judge: impl FnOnce(&[u8]) -> Option<usize>,
    ) -> Option<Bytes> {
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        if state.pending.is_some()
            || state.closed
            || state.traits.is_some()
            || state.buffer.is_empty()
        {
            return None;
        }
        let n = judge(&state.buffer)?;
        state.read_id += 1; // (numbered as every read is)
        Some(take_front(&mut state.buffer, n, known_need))
    }

    pub(super) fn start_read(&self, pending: PendingRead) {
        if let Some(error) = self.one_way_error(true) {
            return pending.future().fail(error);
        }
        self.drop_unobserved_read();
        self.return_lent();
        if self.refuse_beside_trait_read() {
            let error = "already reading: a trait read (AsyncRead) is waiting on this IOStream";
            return pending.future().fail(Error::invalid_state(error));
        }
        let refused = {
            let mut state = self.inner.state.borrow_mut();
            if state.pending.is_some() {
                Some(pending)
            } else {
                state.read_id += 1;
                state.pending = Some(pending);
                None
            }
        };
        match refused {
            Some(pending) => pending.future().fail(Error::invalid_state(
                "already reading: one read at a time on an IOStream",
            )),
            None => {
                let id = self.inner.state.borrow().read_id;
                self.advance_read();
                self.arm_cancel(id);
                self.settle_keepalive();
            }
        }
    }

    /// Lets cancelling read `id` withdraw it, if it is still pending: most reads a
    /// buffer already satisfies complete inside `advance_read`, and need no hook (one
    /// allocation fewer per such read).
    fn arm_cancel(&self, id: u64) {
        {
            let state = self.inner.state.borrow();
            if state.read_id != id {
                return; // it completed, and its callbacks started another read
            }
            let Some(pending) = &state.pending else {
                return;
            };
            if pending.future().done() {
                // Cancelled before its hook was armed (by a callback `advance_read` ran):
                // end it now, as the hook would have, before it can take any byte.
                drop(state);
                self.withdraw_read(Some(id));
                return;
            }
        }
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        let hook = state.read_hook.get_or_insert_with(|| {
            Rc::new(CancelRead {
                stream: Rc::downgrade(&self.inner),
            })
        });
        if let Some(pending) = &state.pending {
            pending.future().set_cancel_hook(hook.clone());
        }
    }

    /// Ends the pending read without completing it (numbered `only`, if given): it was
    /// cancelled, or nobody can see its result any more. What it took from the stream
    /// goes back: bytes already copied into a `read_into` buffer return to the front of
    /// the stream's buffer, for the next read.
    fn withdraw_read(&self, only: Option<u64>) {
        let withdrawn = {
            let mut state = self.inner.state.borrow_mut();
            if only.is_some_and(|id| id != state.read_id) {
                return; // that read is over already; another may be pending
            }
            let withdrawn = state.pending.take();
            if let Some(PendingRead::Into { buf, filled, .. }) = &withdrawn {
                if *filled > 0 {
                    let mut restored = BytesMut::with_capacity(filled + state.buffer.len());
                    restored.extend_from_slice(&buf[..*filled]);
                    restored.extend_from_slice(&state.buffer);
                    state.buffer = restored;
                }
            }
            withdrawn
        };
        // Dropped outside the borrow: it may hold the last handle to its future.
        drop(withdrawn);
    }

    /// A pending read whose future nobody holds or waits on (its coroutine was
    /// dropped, say) ends here, before it can swallow bytes or keep the stream busy.
    pub(super) fn drop_unobserved_read(&self) {
        let unobserved = match &self.inner.state.borrow().pending {
            Some(pending) => !pending.future().is_observed(),
            None => false,
        };
        if unobserved {
            self.withdraw_read(None);
        }
    }

    /// Serves the pending read from the buffer, reading from the socket as needed,
    /// until it completes or the socket would block.
    pub(super) fn advance_read(&self) {
        self.advance(false);
    }

    /// `advance_read` on a readable edge: the socket is read first. The pending read
    /// was judged on the buffer as it is (every change to the buffer or the stream's
    /// state is followed by a judgment, and a read is left pending only when it needed
    /// more), so judging it again before reading would say the same.
    pub(super) fn advance_read_after_edge(&self) {
        self.advance(true);
    }

    fn advance(&self, mut judged: bool) {
        let mut budget = READ_BUDGET;
        loop {
            let step = if std::mem::take(&mut judged) {
                Step::NeedMore
            } else {
                self.serve_from_buffer()
            };
            match step {
                Step::Done => return,
                Step::Unsatisfiable(error) => {
                    self.close_with(Some(error));
                    return;
                }
                Step::NeedMore => {}
            }
            if budget == 0 {
                self.read_next_turn();
                return;
            }
            match self.read_socket() {
                Received::Bytes(n) => budget = budget.saturating_sub(n),
                Received::Nothing => return, // the next edge brings more
                Received::Closed(cause) => {
                    self.close_with(cause);
                    // A read the remaining buffer satisfies still completes.
                }
            }
        }
    }

    /// Completes the pending read if the buffer (or the closed state) decides it.
    pub(super) fn serve_from_buffer(&self) -> Step {
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        // Judged in place (a read still waiting, the commonest verdict, stays put), then
        // taken out to be completed or failed outside the borrow: the future's callbacks
        // may use the stream.
        let verdict = match state.pending.as_mut() {
            // (The commonest case: a read waiting for bytes that have not come.)
            Some(PendingRead::Data(request, _))
                if state.buffer.is_empty() && !state.closed && request.waits_on_empty() =>
            {
                return Step::NeedMore;
            }
            Some(pending) => pending.verdict(&mut state.buffer, state.closed),
            None => return Step::Done,
        };
        if matches!(verdict, Verdict::More) && !state.closed {
            return Step::NeedMore;
        }
        let Some(pending) = state.pending.take() else {
            return Step::Done; // (not so: it was judged just above)
        };
        match verdict {
            Verdict::Take(n) => {
                let completion = pending.take(&mut state.buffer, n);
                if state.buffer.is_empty() {
                    // Drained (a `read_into` copied it all): let go of the allocation,
                    // as `take_front` does, so an idle stream holds no buffer.
                    state.buffer = BytesMut::new();
                }
                drop(guard);
                completion.complete();
                Step::Done
            }
            Verdict::Unsatisfiable(why) if !state.closed => {
                drop(guard);
                let error = pending.unsatisfiable(why);
                pending.future().fail(error.clone());
                Step::Unsatisfiable(error)
            }
            // Closed (a read still waiting was kept above): for this or another reason
            // first, that reason is the read's, as in Tornado's `close`, which ignores
            // an unsatisfiable read.
            Verdict::More | Verdict::Unsatisfiable(_) => {
                let error = closed_error(&state.cause);
                drop(guard);
                pending.future().fail_observed(error);
                Step::Done
            }
        }
    }

    /// One read from the socket: into the caller's buffer for `read_into` (when our
    /// buffer is empty), else into ours.
    fn read_socket(&self) -> Received {
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        if state.closed || state.connecting.is_some() {
            return Received::Nothing; // (a read waits for the connection: the edge brings it)
        }
        // Checked before `readable`: a read still unsatisfied with the buffer full can
        // never be satisfied, whether or not the socket has more.
        if state.buffer.len() >= state.max_buffer_size {
            // As Tornado logs it; once, as the stream closes.
            log::error!("Reached maximum read buffer size");
            let max_buffer_size = state.max_buffer_size;
            let limit = LimitExceeded::MaxBufferSize { max_buffer_size };
            let message = format!("reached the maximum read buffer size ({max_buffer_size})");
            return Received::Closed(Some(limit.into_error(message)));
        }
        if !state.readable {
            return Received::Nothing;
        }
        let transport = self.inner.transport.borrow();
        let Some(transport) = transport.as_ref() else {
            return Received::Nothing;
        };
        let buffer_empty = state.buffer.is_empty();
        let need = match &state.pending {
            Some(PendingRead::Data(request, _)) => request.known_need(state.buffer.len()),
            _ => 0,
        };
        let (result, asked) = match &mut state.pending {
            Some(PendingRead::Into { buf, filled, .. }) if buffer_empty => {
                let room = (buf.len() - *filled).min(READ_BUDGET);
                let n = transport.read_into(&mut buf[*filled..*filled + room]);
                if let Ok(n) = n {
                    *filled += n;
                }
                (n, room)
            }
            _ if need >= DIRECT_READ_MIN => {
                let room = need.min(READ_BUDGET) + DIRECT_READ_SLACK;
                (read_appending(transport, &mut state.buffer, room), room)
            }
            _ => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let room = scratch.len().min(READ_BUDGET);
                let n = transport.read(&mut scratch[..room]).map(|got| {
                    // Into an empty buffer: a fresh allocation of just this size, rather
                    // than keeping whatever the last message grew it to (made straight
                    // from the bytes: growing an empty buffer took twice the
                    // instructions).
                    if state.buffer.is_empty() {
                        state.buffer = BytesMut::from(got);
                    } else {
                        state.buffer.extend_from_slice(got);
                    }
                    got.len()
                });
                (n, room)
            }),
        };
        match result {
            Ok(0) => Received::Closed(None),
            Ok(n) => {
                if let Some(io) = self.inner.io.upgrade() {
                    io.note_read(n);
                }
                // A read that came up short emptied the socket: more will raise an
                // edge (as tokio reasons too), unless the peer has closed, or the
                // transport met an end it reports next (TLS's close_notify).
                if n < asked && !state.peer_closed && !transport.holds_more() {
                    state.readable = false;
                }
                Received::Bytes(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                state.readable = false;
                Received::Nothing
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Received::Bytes(0),
            Err(e) => Received::Closed(Some(super::transport::closing_error(e))),
        }
    }

    /// The turn's read budget is spent and the socket may hold more, which no new edge
    /// will announce: read on in the next turn, after the loop's other work.
    fn read_next_turn(&self) {
        let Some(io) = self.inner.io.upgrade() else {
            return;
        };
        if std::mem::replace(&mut self.inner.state.borrow_mut().read_later, true) {
            return; // queued already
        }
        let weak = Rc::downgrade(&self.inner);
        io.add_callback(move || {
            if let Some(inner) = weak.upgrade() {
                let stream = IOStream::from(inner);
                stream.inner.state.borrow_mut().read_later = false;
                stream.handle_events(Events::READ);
            }
        });
    }

    /// No read is pending: buffer what arrives (up to the limit) so an edge is not lost
    /// and a close is noticed.
    pub(super) fn read_ahead(&self) {
        let mut budget = READ_BUDGET;
        loop {
            if budget == 0 {
                self.read_next_turn();
                return;
            }
            match self.read_socket() {
                Received::Bytes(n) => budget = budget.saturating_sub(n),
                Received::Nothing => return,
                Received::Closed(cause) => {
                    self.close_with(cause);
                    return;
                }
            }
        }
    }
}

/// One read through `transport` into `buffer`'s spare capacity, `room` bytes of it
/// reserved first: how many bytes came (0 at end of file), now at the buffer's end.
fn read_appending(transport: &Transport, buffer: &mut BytesMut, room: usize) -> io::Result<usize> {
    if buffer.capacity() == 0 && room >= read_buffers::POOLED_MIN {
        *buffer = read_buffers::buffer(room); // (a spare one, when the thread has one)
    }
    buffer.reserve(room);
    let filled = buffer.len();
    let n = transport
        .read(&mut buffer.spare_capacity_mut()[..room])?
        .len();
    // SAFETY: the read initialised the first `n` bytes of the spare capacity, which
    // follow the buffer's `filled` initialised ones.
    unsafe { buffer.set_len(filled + n) };
    Ok(n)
}

/// What one read from the socket brought.
enum Received {
    /// `n` bytes (0 after an interrupted call: try again).
    Bytes(usize),
    /// Nothing now: the socket would block, is known drained, or is not connected yet;
    /// the next edge brings more.
    Nothing,
    /// The stream must close: end of file (`None`), or the error.
    Closed(Option<Error>),
}

/// What serving the pending read from the buffer decided.
pub(super) enum Step {
    Done,
    NeedMore,
    /// The read can never be satisfied: the stream closes with this error.
    Unsatisfiable(Error),
}

impl PendingRead {
    /// What `buffer` does for this read; `closed`: no more bytes will come. A
    /// `read_into` first moves what fits of the buffer into its own, and is judged on
    /// what that holds: its `Take(n)` has been taken already.
    fn verdict(&mut self, buffer: &mut BytesMut, closed: bool) -> Verdict {
        match self {
            PendingRead::Data(request, _) => request.verdict(buffer, closed),
            PendingRead::Into {
                buf,
                filled,
                partial,
                ..
            } => {
                let n = (buf.len() - *filled).min(buffer.len());
                if n > 0 {
                    buf[*filled..*filled + n].copy_from_slice(&buffer.split_to(n));
                    *filled += n;
                }
                if *filled == buf.len() || (*partial && *filled > 0) {
                    Verdict::Take(*filled)
                } else {
                    Verdict::More
                }
            }
        }
    }

    /// The read with its result: the first `n` bytes of `buffer`, as its `Take(n)`
    /// verdict said (a `read_into`'s own buffer, which holds them).
    fn take(self, buffer: &mut BytesMut, n: usize) -> Completion {
        match self {
            PendingRead::Data(request, future) => {
                Completion::Data(future, take_front(buffer, n, request.known_need(0)))
            }
            PendingRead::Into { buf, future, .. } => Completion::Into(future, (buf, n)),
        }
    }

    /// The error an `Unsatisfiable(why)` verdict closes the stream with: the limit the
    /// read passed, logged as Tornado logs it, is its source.
    fn unsatisfiable(&self, why: String) -> Error {
        let limit = match self {
            PendingRead::Data(request, _) => request.exceeded(),
            PendingRead::Into { .. } => None,
        };
        match limit {
            Some(limit) => {
                log::info!("Unsatisfiable read, closing connection: {limit}");
                limit.into_error(why)
            }
            None => Error::new(ErrorKind::StreamClosed, why),
        }
    }

    /// Its future, whatever the read's result type: what the read loop does to it other
    /// than completing it.
    fn future(&self) -> &dyn ReadFuture {
        match self {
            PendingRead::Data(_, future) => future,
            PendingRead::Into { future, .. } => future,
        }
    }
}

/// The first `n` bytes of `buffer`, which a read whose [`Request::known_need`] of an
/// empty buffer is `known_need` takes, split off without copying; a drained buffer lets
/// go of its allocation (the bytes handed out keep it), so an idle stream holds none.
fn take_front(buffer: &mut BytesMut, n: usize, known_need: usize) -> Bytes {
    // All of it (the common case: one message, one read): the buffer's own allocation
    // becomes the `Bytes`, with no shared header to allocate; a large exact read's
    // (read straight into it) goes back to the thread's spares once those bytes are
    // dropped, for the next such read.
    if n == buffer.len() {
        let whole = std::mem::take(buffer);
        if known_need >= DIRECT_READ_MIN {
            return read_buffers::freeze(whole);
        }
        return whole.freeze();
    }
    let data = buffer.split_to(n).freeze();
    if buffer.is_empty() {
        *buffer = BytesMut::new();
    }
    data
}

/// A satisfied read and its result, to complete once the stream's state is no longer
/// borrowed.
enum Completion {
    Data(Future<Bytes>, Bytes),
    Into(Future<(Vec<u8>, usize)>, (Vec<u8>, usize)),
}

impl Completion {
    fn complete(self) {
        match self {
            Completion::Data(future, data) => future.set_result_unless_cancelled(data),
            Completion::Into(future, filled) => future.set_result_unless_cancelled(filled),
        };
    }
}

/// A pending read's future with its result type left out.
trait ReadFuture {
    fn set_cancel_hook(&self, hook: Rc<dyn CancelHook>);
    fn done(&self) -> bool;
    fn is_observed(&self) -> bool;
    /// Fails it, unless it was cancelled.
    fn fail(&self, error: Error);
    /// Fails it because the stream closed, marked seen (see `super::fail_observed`).
    fn fail_observed(&self, error: Error);
}

impl<T: 'static> ReadFuture for Future<T> {
    fn set_cancel_hook(&self, hook: Rc<dyn CancelHook>) {
        Future::set_cancel_hook(self, hook);
    }

    fn done(&self) -> bool {
        Future::done(self)
    }

    fn is_observed(&self) -> bool {
        Future::is_observed(self)
    }

    fn fail(&self, error: Error) {
        self.set_exception_unless_cancelled(error);
    }

    fn fail_observed(&self, error: Error) {
        super::fail_observed(self, error);
    }
}

/// A pending read's cancel hook: cancelling the read ends it at once (see
/// `IOStream::withdraw_read`), so the next read may start and no byte is lost. One per
/// stream, made at its first read that has to wait, and hung on each such read's
/// future (one allocation per stream rather than per read). A future runs its hook only
/// while it is pending, and only the stream's pending read is, so the hook needs no
/// more than the stream to find its read.
pub(super) struct CancelRead {
    stream: Weak<Inner>,
}

impl CancelHook for CancelRead {
    fn cancel(self: Rc<Self>) {
        if let Some(inner) = self.stream.upgrade() {
            let stream = IOStream::from(inner);
            let cancelled = match &stream.inner.state.borrow().pending {
                Some(pending) => pending.future().done(),
                None => false,
            };
            if cancelled {
                stream.withdraw_read(None);
            }
            stream.settle_keepalive();
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::*;
    use crate::IOLoop;

    /// The current loop, a stream over one end of a Unix socket pair, and the other end.
    pub(in crate::iostream) fn stream_and_peer() -> (IOLoop, IOStream, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        (IOLoop::current(), IOStream::from_unix(ours).unwrap(), peer)
    }

    /// What `future` gives, the loop run until then (a minute at most).
    fn wait<T: 'static>(io: &IOLoop, future: Future<T>) -> crate::Result<T> {
        io.run_sync(move || future, Some(Duration::from_secs(60)))
    }

    #[test]
    fn streams_ready_past_an_iterations_read_budget_wait_for_the_callbacks_queued_so_far() {
        // Eight streams, each with 64 KiB waiting: once the iteration's handlers have
        // read 256 KiB, the others read in the next iteration, after the callbacks the
        // first reads queued (their coroutines' answers, while those bytes are in cache).
        const MESSAGE: usize = 64 * 1024;
        let io = IOLoop::current();
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut peers = Vec::new();
        let mut reads = Vec::new();
        for i in 0..8 {
            let (_, stream, peer) = stream_and_peer();
            peers.push(peer);
            let read = stream.read_bytes(MESSAGE, false); // waits: nothing sent yet
            let (seen, queue) = (order.clone(), io.clone());
            read.add_done_callback(move |_| {
                seen.borrow_mut().push(format!("read {i}"));
                let seen = seen.clone();
                queue.add_callback(move || seen.borrow_mut().push(format!("callback {i}")));
            });
            reads.push((stream, read));
        }
        // Every message arrives before the loop polls: one poll finds all eight ready.
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.write_all(&vec![i as u8; MESSAGE]).unwrap();
        }
        let futures: Vec<_> = reads.iter().map(|(_, read)| read.clone()).collect();
        let got = io
            .run_sync(
                move || crate::gen::multi(futures),
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, m)| m.len() == MESSAGE && m[0] == i as u8));
        let order = order.borrow();
        let first_callback = order
            .iter()
            .position(|e| e.starts_with("callback"))
            .unwrap();
        assert!(
            first_callback <= DISPATCH_BUDGET_READS,
            "{first_callback} reads before the first callback: {order:?}"
        );
        assert_eq!(order.iter().filter(|e| e.starts_with("read")).count(), 8);
    }

    /// Reads of 64 KiB that fill the loop's per-iteration read budget (256 KiB).
    const DISPATCH_BUDGET_READS: usize = 4;

    #[test]
    fn a_buffered_delimiter_past_max_bytes_fails_the_read_as_an_unbuffered_one_does() {
        // Both lines arrive in one recv: the second is found in the buffer at once (the
        // quick path), where its limit must hold just as on the way through the socket.
        let (io, stream, mut peer) = stream_and_peer();
        peer.write_all(b"ok\nmuch too long\r\n").unwrap();
        let first = wait(&io, stream.read_until("\n", None));
        assert_eq!(&first.unwrap()[..], b"ok\n");
        let long = stream.read_until("\r\n", Some(8));
        let err = wait(&io, long).unwrap_err();
        assert!(err.to_string().contains("max_bytes (8)"), "{err}");
        assert!(stream.closed());
    }

    #[test]
    fn buffered_lines_are_taken_at_once_with_their_delimiters() {
        let (io, stream, mut peer) = stream_and_peer();
        peer.write_all(b"a\r\nbb\r\r\nccc\r\n\r\r\r\r\r\nd")
            .unwrap();
        let first = wait(&io, stream.read_until("\r\n", None)).unwrap();
        assert_eq!(&first[..], b"a\r\n");
        // The rest is buffered: each read is done as it is made.
        let mut lines = Vec::new();
        for _ in 0..3 {
            let line = stream.read_until("\r\n", Some(64));
            assert!(line.done(), "served from the buffer");
            lines.push(line.result().unwrap());
        }
        assert_eq!(lines, [&b"bb\r\r\n"[..], b"ccc\r\n", b"\r\r\r\r\r\n"]);
        let last = stream.read_until("\r\n", None);
        assert!(!last.done(), "no delimiter left");
    }

    #[test]
    fn an_exact_read_past_the_budget_reads_into_room_reserved_for_it_and_leaves_the_rest() {
        let (io, stream, mut peer) = stream_and_peer();
        let message: Vec<u8> = (0..150 * 1024).map(|i| (i % 251) as u8).collect();
        peer.write_all(&message[..10 * 1024]).unwrap();
        let read = stream.read_bytes(message.len(), false);
        {
            // The first piece came at once, straight into room the read reserved in
            // the stream's buffer for a turn's worth (no scratch chunk, no copy).
            let state = stream.inner.state.borrow();
            assert_eq!(state.buffer.len(), 10 * 1024);
            assert!(state.buffer.capacity() >= READ_BUDGET);
        }
        let rest = message[10 * 1024..].to_vec();
        let writer = std::thread::spawn(move || {
            peer.write_all(&rest).unwrap();
            peer.write_all(b"tail\n").unwrap();
            peer
        });
        let got = wait(&io, read);
        assert!(
            got.unwrap() == message,
            "the message arrives whole, in order"
        );
        let tail = wait(&io, stream.read_until("\n", None));
        assert_eq!(&tail.unwrap()[..], b"tail\n");
        drop(writer.join().unwrap());
    }

    #[test]
    fn a_cancelled_read_ends_only_itself_and_later_reads_share_the_streams_hook() {
        let (io, stream, mut peer) = stream_and_peer();
        let hook = |s: &IOStream| s.inner.state.borrow().read_hook.clone().unwrap();
        let first = stream.read_until("\n", None);
        let made = hook(&stream);
        assert!(first.cancel());
        assert!(!stream.reading(), "the cancelled read withdrew itself");
        let second = stream.read_until("\n", None);
        assert!(Rc::ptr_eq(&made, &hook(&stream)), "one hook per stream");
        assert!(!first.cancel(), "done already");
        assert!(
            stream.reading(),
            "cancelling the old read again leaves the new one"
        );
        let third_try = stream.read_until("\n", None);
        assert!(third_try.exception().is_some(), "one read at a time");
        peer.write_all(b"line\n").unwrap();
        let got = wait(&io, second);
        assert_eq!(&got.unwrap()[..], b"line\n");
    }

    #[test]
    fn reads_the_buffer_satisfies_complete_at_once_in_order_and_leave_the_stream_as_it_was() {
        let (io, stream, mut peer) = stream_and_peer();
        peer.write_all(b"one\ntwo\nthree\nfour").unwrap();
        let first = wait(&io, stream.read_until("\n", None));
        assert_eq!(&first.unwrap()[..], b"one\n");
        // The rest is buffered: each read is done as it returns, with the next line.
        let id = stream.inner.state.borrow().read_id;
        let two = stream.read_until("\n", Some(64));
        let three = stream.read_bytes(6, false);
        assert_eq!(&two.result().unwrap()[..], b"two\n");
        assert_eq!(&three.result().unwrap()[..], b"three\n");
        assert_eq!(stream.inner.state.borrow().read_id, id + 2, "numbered");
        assert!(!stream.reading() && !stream.inner.holder.upgrade().unwrap().borrow().is_some());
        // What the buffer cannot satisfy waits, with what is buffered kept for it.
        let rest = stream.read_until("\n", None);
        assert!(!rest.done() && stream.reading());
        // One read at a time still holds for a read the buffer would satisfy.
        let beside = stream.read_bytes(1, false);
        assert!(beside.exception().is_some());
        peer.write_all(b"\n").unwrap();
        let got = wait(&io, rest);
        assert_eq!(&got.unwrap()[..], b"four\n");
    }

    #[test]
    fn a_large_exact_reads_buffer_serves_the_next_once_its_bytes_are_dropped() {
        let (io, stream, mut peer) = stream_and_peer();
        let size = 20 * 1024; // (the socket's buffer holds a message: written at once)
        let mut next = |byte: u8| {
            peer.write_all(&vec![byte; size]).unwrap();
            let got = wait(&io, stream.read_bytes(size, false)).unwrap();
            assert!(got.iter().all(|&b| b == byte));
            got
        };
        let first = next(1);
        let at = first.as_ptr();
        assert_eq!(read_buffers::spares(), 0);
        drop(first);
        assert_eq!(read_buffers::spares(), 1, "given back with its bytes");
        let second = next(2);
        assert_eq!(read_buffers::spares(), 0);
        assert_eq!(
            second.as_ptr(),
            at,
            "the first message's buffer, back from the spares"
        );
        // Still lent out: the third message gets a buffer of its own.
        let third = next(3);
        assert_ne!(third.as_ptr(), second.as_ptr());
    }
}
