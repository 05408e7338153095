//! fd handlers: level-triggered delivery, removal during dispatch, bad input.

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ioloop::{ErrorKind, Events, IOLoop};
use tests::Trace;

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn a_handler_that_leaves_data_unread_is_called_again() {
    let io = IOLoop::new();
    let (mut writer, reader) = pair();
    writer.write_all(b"0123456789").unwrap();
    let got = Rc::new(std::cell::RefCell::new(Vec::new()));
    let g = got.clone();
    let mut reader_handle = reader.try_clone().unwrap();
    io.add_handler(reader.as_raw_fd(), Events::READ, move |_, events| {
        assert!(events.contains(Events::READ));
        let mut byte = [0u8; 1];
        // One byte per call: the rest stays in the socket.
        if reader_handle.read(&mut byte).unwrap() == 1 {
            g.borrow_mut().push(byte[0]);
        }
    })
    .unwrap();
    let stop = io.clone();
    let g = got.clone();
    // Stop once everything was read, after a few more idle iterations have had the
    // chance to (wrongly) call the handler again.
    let check = ioloop::PeriodicCallback::with_loop(
        &io,
        move || {
            if g.borrow().len() == 10 {
                stop.stop();
            }
        },
        Duration::from_millis(5),
    )
    .unwrap();
    check.start();
    io.start().unwrap();
    assert_eq!(&*got.borrow(), b"0123456789");
    // No data left, so no more calls: a real wait for new data.
    let stop = io.clone();
    io.call_later(Duration::from_millis(20), move || stop.stop());
    check.stop();
    io.start().unwrap();
    assert_eq!(got.borrow().len(), 10);
    // New data after the socket went idle arrives through a fresh edge.
    writer.write_all(b"x").unwrap();
    let (stop, g) = (io.clone(), got.clone());
    let poll = ioloop::PeriodicCallback::with_loop(
        &io,
        move || {
            if g.borrow().len() == 11 {
                stop.stop()
            }
        },
        Duration::from_millis(1),
    )
    .unwrap();
    poll.start();
    io.start().unwrap();
    assert_eq!(got.borrow().last(), Some(&b'x'));
}

#[test]
fn each_ready_handler_is_called_once_per_iteration() {
    let io = IOLoop::new();
    let (mut w, r) = pair();
    w.write_all(b"abc").unwrap();
    let calls = Rc::new(Cell::new(0));
    let iterations = Rc::new(Cell::new(0));
    let c = calls.clone();
    io.add_handler(r.as_raw_fd(), Events::READ, move |_, _| c.set(c.get() + 1))
        .unwrap();
    // A callback that re-adds itself counts iterations.
    fn tick(io: IOLoop, n: Rc<Cell<u32>>) {
        n.set(n.get() + 1);
        if n.get() == 5 {
            io.stop();
        } else {
            let again = io.clone();
            io.add_callback(move || tick(again, n));
        }
    }
    let (io2, n) = (io.clone(), iterations.clone());
    io.add_callback(move || tick(io2, n));
    io.start().unwrap();
    // Never read, so ready in every iteration's dispatch: 4 dispatches happen
    // between 5 ticks, one call each.
    assert_eq!(calls.get(), 4);
}

#[test]
fn a_handler_removed_during_dispatch_never_fires_in_that_dispatch() {
    let io = IOLoop::new();
    let (mut w1, r1) = pair();
    let (mut w2, r2) = pair();
    w1.write_all(b"1").unwrap();
    w2.write_all(b"2").unwrap();
    let trace = Trace::default();
    let fds = [r1.as_raw_fd(), r2.as_raw_fd()];
    for (i, fd) in fds.into_iter().enumerate() {
        let other = fds[1 - i];
        let (t, io2) = (trace.clone(), io.clone());
        io.add_handler(fd, Events::READ, move |fd, _| {
            t.push(format!("fd {fd}"));
            // Whichever runs first removes both handlers and stops the loop.
            io2.remove_handler(other);
            io2.remove_handler(fd);
            io2.stop();
        })
        .unwrap();
    }
    io.start().unwrap();
    assert_eq!(trace.take().len(), 1);
}

#[test]
fn registering_an_fd_twice_is_an_error() {
    let io = IOLoop::new();
    let (a, _b) = pair();
    io.add_handler(a.as_raw_fd(), Events::READ, |_, _| {})
        .unwrap();
    let err = io
        .add_handler(a.as_raw_fd(), Events::WRITE, |_, _| {})
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("already has a handler"), "{err}");
}

#[test]
fn invalid_and_closed_fds_are_errors() {
    let io = IOLoop::new();
    assert!(io.add_handler(-1, Events::READ, |_, _| {}).is_err());
    // A number no descriptor has (above any fd limit). Closing a real fd to get one
    // would race with other tests' threads reusing the number.
    let fd = 1 << 24;
    let err = io.add_handler(fd, Events::READ, |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains(&format!("fd {fd}")), "{err}");
    // A regular file cannot be polled: epoll refuses it.
    let file = std::fs::File::open("/proc/self/status").unwrap();
    assert!(io
        .add_handler(file.as_raw_fd(), Events::READ, |_, _| {})
        .is_err());
    assert!(io.update_handler(fd, Events::READ).is_err());
}

#[test]
fn removing_an_unknown_fd_is_a_no_op() {
    let io = IOLoop::new();
    io.remove_handler(1_000_000);
    let (a, _b) = pair();
    io.remove_handler(a.as_raw_fd());
}

#[test]
fn write_interest_and_update_handler() {
    let io = IOLoop::new();
    let (a, _b) = pair();
    let trace = Trace::default();
    let (t, io2) = (trace.clone(), io.clone());
    io.add_handler(a.as_raw_fd(), Events::WRITE, move |fd, events| {
        t.push(format!("{events:?}"));
        // Writable is a level that stays high: switch to READ, which nobody triggers.
        io2.update_handler(fd, Events::READ).unwrap();
    })
    .unwrap();
    let stop = io.clone();
    io.call_later(Duration::from_millis(20), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["WRITE"]);
}

#[test]
fn a_closed_peer_reports_read_so_the_handler_sees_eof() {
    let io = IOLoop::new();
    let (a, b) = pair();
    drop(b);
    let (t, io2) = (Trace::default(), io.clone());
    let trace = t.clone();
    let mut stream = a.try_clone().unwrap();
    io.add_handler(a.as_raw_fd(), Events::READ, move |fd, events| {
        let mut buf = [0u8; 8];
        t.push(format!(
            "{} {}",
            events.contains(Events::READ),
            stream.read(&mut buf).unwrap()
        ));
        io2.remove_handler(fd);
        io2.stop();
    })
    .unwrap();
    io.start().unwrap();
    assert_eq!(trace.take(), ["true 0"]);
}

#[test]
fn a_panicking_handler_is_logged_and_stays_registered() {
    let io = IOLoop::new();
    let (mut w, r) = pair();
    w.write_all(b"x").unwrap();
    let calls = Rc::new(Cell::new(0));
    let (c, io2) = (calls.clone(), io.clone());
    let ((), logs) = tests::capture_logs(|| {
        io.add_handler(r.as_raw_fd(), Events::READ, move |_, _| {
            c.set(c.get() + 1);
            if c.get() == 2 {
                io2.stop();
            }
            let n = c.get();
            assert!(n > 99, "handler failure {n}");
        })
        .unwrap();
        io.start().unwrap();
    });
    assert_eq!(calls.get(), 2);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].contains("Exception in callback") && logs[0].contains("handler failure 1"));
}

#[test]
fn an_fd_that_becomes_ready_while_callbacks_keep_the_loop_busy_is_seen_within_61_callbacks() {
    // The loop asks the poller once per 61 callbacks while callbacks are queued (not in
    // every iteration): a handler must still come up within that many.
    let io = IOLoop::new();
    let (w, r) = pair();
    let ran = Rc::new(Cell::new(0u32));
    let seen_after = Rc::new(Cell::new(None));
    let (seen, count) = (seen_after.clone(), ran.clone());
    let io2 = io.clone();
    io.add_handler(r.as_raw_fd(), Events::READ, move |_, _| {
        seen.set(Some(count.get()));
        io2.stop();
    })
    .unwrap();
    fn tick(io: IOLoop, n: Rc<Cell<u32>>, w: Rc<std::os::unix::net::UnixStream>) {
        n.set(n.get() + 1);
        if n.get() == 100 {
            (&*w).write_all(b"x").unwrap(); // ready from here on
        }
        if n.get() < 10_000 {
            let again = io.clone();
            io.add_callback(move || tick(again, n, w));
        }
    }
    w.set_nonblocking(true).unwrap();
    let (io3, n, w) = (io.clone(), ran.clone(), Rc::new(w));
    io.add_callback(move || tick(io3, n, w));
    io.start().unwrap();
    let seen = seen_after.get().expect("the handler ran");
    assert!(
        (100..=100 + 61).contains(&seen),
        "seen after {seen} callbacks, the fd was ready after 100"
    );
}
