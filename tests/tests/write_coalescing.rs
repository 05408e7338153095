//! Writes issued during one loop iteration leave together at its end: one `sendmsg`
//! over the queued chunks instead of one `send` per write (see `IOStream::write`).

use std::io::{ErrorKind as IoKind, Read};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;

use tests::stream_and_peer;

/// What the peer can read right now, without waiting.
fn available(peer: &mut TcpStream) -> Vec<u8> {
    peer.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == IoKind::WouldBlock => break,
            Err(e) => panic!("peer read failed: {e}"),
        }
    }
    peer.set_nonblocking(false).unwrap();
    got
}

/// Reads exactly `n` bytes, waiting for them.
fn read_n(peer: &mut TcpStream, n: usize) -> Vec<u8> {
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = vec![0u8; n];
    peer.read_exact(&mut got).unwrap();
    got
}

/// Everything the peer gets until the stream closes.
fn read_to_end(peer: &mut TcpStream) -> Vec<u8> {
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    got
}

/// Runs `f` on the current loop and waits (at most a minute) for the future it returns:
/// a failed assertion inside the loop fails the test instead of leaving it running.
fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

/// A future resolved in the next loop iteration, with what `check` returns then.
fn next_iteration<T: 'static>(check: impl FnOnce() -> T + 'static) -> Future<T> {
    let future = Future::new();
    let f = future.clone();
    IOLoop::current().add_callback(move || {
        let _ = f.set_result(check());
    });
    future
}

#[test]
fn writes_in_one_iteration_reach_the_socket_together_at_its_end() {
    let (stream, peer) = stream_and_peer();
    let peer = Rc::new(std::cell::RefCell::new(peer));
    let p = peer.clone();
    let (during, all_done, after) = run(move || {
        let mut during = Vec::new();
        let mut writes = Vec::new();
        for i in 0..16u8 {
            writes.push(stream.write(vec![b'a' + i; 10]));
            // Still in the iteration: nothing has left yet.
            during.extend(available(&mut p.borrow_mut()));
        }
        // Each write's future is done already: an awaiting coroutine goes on at once.
        let all_done = writes.iter().all(|w| w.done() && w.exception().is_none());
        next_iteration(move || {
            let after = available(&mut p.borrow_mut());
            drop(stream);
            (during, all_done, after)
        })
    })
    .unwrap();
    assert_eq!(during, b"", "bytes left during the iteration");
    assert!(all_done);
    let want: Vec<u8> = (0..16u8).flat_map(|i| vec![b'a' + i; 10]).collect();
    assert_eq!(after, want);
}

#[test]
fn an_awaited_write_per_reply_answers_a_whole_pipeline_in_one_iteration() {
    #[ioloop::coroutine]
    fn answer(
        stream: IOStream,
        n: usize,
        order: Rc<std::cell::RefCell<Vec<String>>>,
    ) -> Result<()> {
        for i in 0..n {
            let line = yield_!(stream.read_until("\n", Some(100)))?;
            yield_!(stream.write(line))?;
            order.borrow_mut().push(format!("reply {i}"));
        }
        Ok(())
    }
    let (stream, mut peer) = stream_and_peer();
    std::io::Write::write_all(&mut peer, b"1\n2\n3\n4\n5\n6\n7\n8\n").unwrap();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let o = order.clone();
    let done = run(move || {
        // A callback queued before the coroutine starts runs one iteration later:
        // if any reply had to wait for the socket, it would come before the last.
        let o2 = o.clone();
        IOLoop::current().add_callback(move || o2.borrow_mut().push("next iteration".into()));
        answer(stream, 8, o)
    });
    done.unwrap();
    assert_eq!(read_n(&mut peer, 16), b"1\n2\n3\n4\n5\n6\n7\n8\n");
    // Every reply came before the next iteration (which may not have run at all).
    let order = order.borrow();
    assert!(order.len() >= 8);
    assert_eq!(
        order[..8],
        (0..8).map(|i| format!("reply {i}")).collect::<Vec<_>>()[..]
    );
}

#[test]
fn a_write_with_no_loop_running_goes_out_at_once() {
    let (stream, mut peer) = stream_and_peer();
    let write = stream.write("now");
    assert!(write.done());
    assert_eq!(read_n(&mut peer, 3), b"now");
}

#[test]
fn closing_right_after_writing_still_sends_the_bytes() {
    let (stream, mut peer) = stream_and_peer();
    run(move || {
        drop(stream.write("last words"));
        stream.close();
        Future::ready(())
    })
    .unwrap();
    assert_eq!(read_to_end(&mut peer), b"last words");
}

#[test]
fn dropping_the_stream_right_after_writing_still_sends_the_bytes() {
    let (stream, mut peer) = stream_and_peer();
    run(move || {
        drop(stream.write("parting"));
        drop(stream);
        next_iteration(|| ())
    })
    .unwrap();
    assert_eq!(read_to_end(&mut peer), b"parting");
}

#[test]
fn taking_a_coalesced_writes_result_leaves_every_other_writes_future_done_and_ok() {
    let (stream, mut peer) = stream_and_peer();
    let all_ok = run(move || {
        let first = stream.write(&b"one "[..]);
        // Taken (as `.await` and `yield_!` take it) before the next writes are made...
        assert!(first.take_result().is_ok());
        let later: Vec<Future<()>> = (0..3).map(|_| stream.write(&b"more "[..])).collect();
        assert!(
            first.take_result().is_ok(),
            "a unit has nothing to move out"
        );
        // ...and the later ones, and those made before, still hold their `Ok`.
        let ok = later.iter().all(|w| w.done() && w.take_result().is_ok())
            && later.iter().all(|w| w.take_result().is_ok());
        Future::ready(ok)
    })
    .unwrap();
    assert!(all_ok);
    assert_eq!(read_n(&mut peer, 19), b"one more more more ");
}

#[test]
fn past_the_coalescing_limit_a_write_goes_out_at_once_in_order() {
    let (stream, peer) = stream_and_peer();
    let mut reader = peer.try_clone().unwrap();
    let peer = Rc::new(std::cell::RefCell::new(peer));
    let (go, wait) = std::sync::mpsc::channel::<usize>();
    // Reads the rest once told how much came in the callback.
    let rest = std::thread::spawn(move || {
        let first = wait.recv().unwrap();
        read_n(&mut reader, 4 + 256 * 1024 - first)
    });
    let (p, s) = (peer.clone(), stream.clone());
    let done = run(move || {
        let small = s.write("head");
        assert!(small.done());
        // 64 KiB or more waiting: sent now, with the bytes queued before it.
        let write = s.write(vec![b'x'; 256 * 1024]);
        let now = available(&mut p.borrow_mut());
        assert!(now.starts_with(b"head"), "sent in the same callback");
        assert!(now[4..].iter().all(|&b| b == b'x'));
        go.send(now.len()).unwrap();
        write
    });
    done.unwrap();
    let rest = rest.join().unwrap();
    assert!(rest.iter().all(|&b| b == b'x'));
    drop(stream);
}

/// A stream whose socket holds only a few KiB (a peer slow to read, in miniature), and
/// its peer: a coalesced write of tens of KiB cannot all leave in one iteration.
fn stream_with_small_buffer_and_peer() -> (IOStream, std::os::unix::net::UnixStream) {
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(4096)
        .unwrap();
    (IOStream::from_unix(ours).unwrap(), peer)
}

/// Everything a Unix peer gets until the stream's fd closes.
fn read_all(peer: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    got
}

/// 60,000 bytes, under the coalescing limit and far over what the small socket holds.
fn sixty_thousand_bytes() -> Vec<u8> {
    (0..60_000u32).map(|i| (i % 251) as u8).collect()
}

/// Adds what a non-blocking peer can read now to `got`: true at the end of file (the
/// stream's fd is closed).
fn read_now(peer: &mut impl Read, got: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == IoKind::WouldBlock => return false,
            Err(e) => panic!("peer read failed: {e}"),
        }
    }
}

/// What `write_to_a_late_reader` does after its write.
#[derive(Clone, Copy, PartialEq)]
enum Close {
    No,
    /// `close()`, which hands the bytes left to the kernel.
    HandingOver,
    /// `close()` as when the kernel cannot take them: they linger in the stream.
    KeepingTheLastBytes,
}

/// Writes 60,000 bytes on a small-buffered stream through `run_sync`, and closes it
/// after if `close`, while its peer reads only from the loop's second iteration on
/// (never, if run_sync is over before it, unless closing: a closed stream's bytes must
/// reach the peer without the loop too): the first iteration's flush fills the socket
/// and stops there. Returns run_sync's result and what the peer read (to the end of
/// file, if closing).
fn write_to_a_late_reader(close: Close) -> (Result<()>, Vec<u8>) {
    let io = IOLoop::current();
    let (stream, mut peer) = stream_with_small_buffer_and_peer();
    let (start_reading, go) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || match go.recv() {
        _ if close != Close::No => read_all(&mut peer),
        Err(_) => Vec::new(),
        Ok(()) => {
            peer.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let mut got = vec![0u8; 60_000];
            peer.read_exact(&mut got).unwrap();
            got
        }
    });
    let result = io.run_sync(
        move || {
            let write = stream.write(sixty_thousand_bytes());
            assert!(write.done(), "coalesced: reported done at once");
            if close == Close::KeepingTheLastBytes {
                stream.keep_last_bytes_at_close();
            }
            if close != Close::No {
                stream.close();
                assert!(stream.closed());
            }
            IOLoop::current().add_callback(move || {
                let _ = start_reading.send(());
            });
            write
        },
        Some(Duration::from_secs(60)),
    );
    // (Drops the reader's signal if the second iteration never came: it then gives up.)
    io.close(false);
    (result, reader.join().unwrap())
}

#[test]
fn run_sync_returns_only_once_the_bytes_of_writes_reported_done_have_left() {
    let (result, got) = write_to_a_late_reader(Close::No);
    result.unwrap();
    assert!(
        got == sixty_thousand_bytes(),
        "run_sync returned with written bytes still in the stream, and they never left"
    );
}

#[test]
fn run_sync_times_out_when_written_bytes_cannot_leave_in_time() {
    let io = IOLoop::current();
    let (stream, peer) = stream_with_small_buffer_and_peer();
    // The peer never reads: the bytes reported written stay in the stream.
    let result = io.run_sync(
        move || stream.write(sixty_thousand_bytes()),
        Some(Duration::from_millis(20)),
    );
    assert!(result.unwrap_err().is_timeout());
    drop(peer);
}

#[test]
fn closing_after_a_write_reported_done_still_delivers_all_its_bytes() {
    let (result, got) = write_to_a_late_reader(Close::HandingOver);
    result.unwrap();
    assert!(
        got == sixty_thousand_bytes(),
        "the bytes of a write reported done were lost at close"
    );
}

#[test]
fn a_close_whose_last_bytes_the_kernel_cannot_take_sends_them_as_the_peer_reads() {
    let (result, got) = write_to_a_late_reader(Close::KeepingTheLastBytes);
    result.unwrap();
    assert!(
        got == sixty_thousand_bytes(),
        "the lingering close lost bytes of a write reported done"
    );
}

#[test]
fn closing_hands_the_last_bytes_to_the_kernel_and_lets_go_of_the_fd_at_once() {
    let io = IOLoop::new();
    io.make_current();
    let (stream, mut peer) = stream_with_small_buffer_and_peer();
    io.add_callback(move || {
        assert!(stream.write(sixty_thousand_bytes()).done());
        stream.close();
    });
    tests::polling_turn(&io);
    peer.set_nonblocking(true).unwrap();
    // Nothing runs the loop from here on. As after Tornado's awaited write and close,
    // the kernel holds the bytes and the fd is closed: the peer reads them all, then
    // the end of file. (Held in the stream instead, they would wait for the loop, and
    // the fd with them, for up to the linger limit.)
    let mut got = Vec::new();
    assert!(
        read_now(&mut peer, &mut got),
        "the fd is still open after the close ({} bytes came)",
        got.len()
    );
    assert!(got == sixty_thousand_bytes());
    io.close(false);
}

#[test]
fn closing_a_pipe_hands_its_last_bytes_to_the_kernel_too() {
    use std::io::Write;
    let io = IOLoop::new();
    io.make_current();
    let (reader, writer) = std::io::pipe().unwrap();
    let (mut filler, mut peer) = (writer.try_clone().unwrap(), reader.try_clone().unwrap());
    // (Non-blocking from here on, the filler and the peer too: one file description
    // each.)
    let stream = IOStream::from_pipe(writer).unwrap();
    drop(IOStream::from_pipe(reader).unwrap());
    // A full pipe, as a child slow to read its stdin leaves it: nothing more fits.
    let mut filled = 0;
    while let Ok(n) = filler.write(&[b'f'; 4096]) {
        filled += n;
    }
    drop(filler);
    io.add_callback(move || {
        assert!(stream.write(sixty_thousand_bytes()).done());
        stream.close();
    });
    tests::polling_turn(&io);
    // Nothing runs the loop from here on: the pipe, raised to hold them, has the
    // bytes, and the fd is closed, so the reader gets them all and then the end.
    let mut got = Vec::new();
    assert!(
        read_now(&mut peer, &mut got),
        "the fd is still open after the close ({} bytes came)",
        got.len()
    );
    assert_eq!(got.len(), filled + 60_000);
    assert!(got[filled..] == sixty_thousand_bytes()[..]);
    io.close(false);
}

#[test]
fn a_closed_stream_whose_peer_never_reads_lets_go_of_its_fd_after_the_linger_limit() {
    let now = Rc::new(std::cell::Cell::new(std::time::Instant::now()));
    let clock = now.clone();
    let io = IOLoop::with_clock(move || clock.get()).unwrap();
    io.make_current();
    let (stream, mut peer) = stream_with_small_buffer_and_peer();
    stream.keep_last_bytes_at_close(); // as if the kernel could take no more
    io.add_callback(move || {
        drop(stream.write(sixty_thousand_bytes()));
        stream.close();
    });
    tests::polling_turn(&io);
    peer.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    assert!(
        !read_now(&mut peer, &mut got),
        "closed at once, with bytes still to send"
    );
    // The peer took a few KiB and will take no more: past the limit, the fd goes.
    now.set(now.get() + Duration::from_secs(61));
    tests::polling_turn(&io);
    assert!(
        read_now(&mut peer, &mut got),
        "the fd is let go of after the linger limit"
    );
    assert!(got.len() < 60_000);
    assert!(got[..] == sixty_thousand_bytes()[..got.len()]);
    io.close(false);
}

#[test]
fn a_peer_that_half_closes_and_reads_on_still_gets_the_whole_reply() {
    // An HTTP/1.0-style client: its request, then its write side shut, then it reads.
    let io = IOLoop::current();
    let (stream, peer) = stream_with_small_buffer_and_peer();
    let (shut_and_read, go) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut peer = peer;
        if go.recv().is_err() {
            return Vec::new();
        }
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        read_all(&mut peer)
    });
    let result = io.run_sync(
        move || {
            // The reply, reported done; the socket takes a few KiB of it this iteration.
            assert!(stream.write(sixty_thousand_bytes()).done());
            // The peer's end of file closes the stream, with the reply's rest unsent.
            let closed = stream.read_until_close();
            IOLoop::current().add_callback(move || {
                let _ = shut_and_read.send(());
            });
            closed
        },
        Some(Duration::from_secs(60)),
    );
    io.close(false);
    assert!(result.unwrap().is_empty());
    assert!(
        reader.join().unwrap() == sixty_thousand_bytes(),
        "the reply's rest was lost when the peer's end of file closed the stream"
    );
}

#[test]
fn run_sync_waits_at_most_the_linger_limit_for_bytes_a_peer_never_reads() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    // A clock the test moves: a minute and a second on at each poke of the loop.
    let start = std::time::Instant::now();
    let seconds = Arc::new(AtomicU64::new(0));
    let read = seconds.clone();
    let io = IOLoop::with_clock(move || start + Duration::from_secs(read.load(Ordering::SeqCst)))
        .unwrap();
    io.make_current();
    let (stream, peer) = stream_with_small_buffer_and_peer();
    let (remote, over) = (io.remote(), Arc::new(AtomicBool::new(false)));
    let done = over.clone();
    let clock = std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            seconds.fetch_add(61, Ordering::SeqCst);
            remote.add_callback(|| ()); // wakes the loop to look at its timers
        }
    });
    // The peer never reads; the future is done at once; its bytes cannot leave. The
    // timeout (1,000 s) comes only well after the limit (60 s).
    let result = io.run_sync(
        move || stream.write(sixty_thousand_bytes()),
        Some(Duration::from_secs(1000)),
    );
    over.store(true, Ordering::SeqCst);
    clock.join().unwrap();
    assert!(
        result.is_ok(),
        "the future was done: past the limit, run_sync returns its result ({result:?})"
    );
    drop(peer);
    io.close(false);
}

#[test]
fn a_peer_that_goes_away_mid_linger_ends_it_at_once() {
    let io = IOLoop::current();
    let (stream, peer) = stream_with_small_buffer_and_peer();
    let peer = Rc::new(std::cell::RefCell::new(Some(peer)));
    let gone = peer.clone();
    // The peer takes nothing and leaves in the second iteration: the lingering close's
    // next send fails, and it lets go then, not at the limit a minute later (which the
    // timeout, well before it, would report).
    stream.keep_last_bytes_at_close(); // as if the kernel could take no more
    let result = io.run_sync(
        move || {
            let write = stream.write(sixty_thousand_bytes());
            stream.close();
            IOLoop::current().add_callback(move || drop(gone.borrow_mut().take()));
            write
        },
        Some(Duration::from_secs(30)),
    );
    assert!(
        result.is_ok(),
        "the linger waited on a peer gone: {result:?}"
    );
    assert!(peer.borrow().is_none());
    io.close(false);
}
