//! AsyncFd: any fd's readiness as futures on the loop, with a UnixStream pair and a
//! non-blocking TcpStream.

use std::cell::Cell;
use std::future::Future as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ioloop::prelude::*;
use ioloop::AsyncFd;

fn run<T: 'static>(io: &IOLoop, future: Future<T>) -> Result<T> {
    io.run_sync(move || future, Some(Duration::from_secs(60)))
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn read_with_waits_until_a_unix_stream_becomes_readable() {
    let io = IOLoop::current();
    let (a, mut b) = pair();
    let a = AsyncFd::new(a).unwrap();
    let tries = Rc::new(Cell::new(0));
    let t = tries.clone();
    let task = io.spawn(async move {
        let mut buf = [0u8; 16];
        let n = a
            .read_with(|mut s| {
                t.set(t.get() + 1);
                s.read(&mut buf)
            })
            .await?;
        Ok(buf[..n].to_vec())
    });
    tests::one_turn(&io);
    assert_eq!(tries.get(), 1, "tried once, would block, and waits");
    b.write_all(b"late").unwrap();
    assert_eq!(run(&io, task).unwrap(), b"late");
    assert_eq!(tries.get(), 2, "woken by the event, not polled in a loop");
}

#[test]
fn write_with_waits_while_a_full_socket_drains() {
    let io = IOLoop::current();
    let (a, mut b) = pair();
    let mut filled = 0;
    loop {
        match (&a).write(&[7u8; 4096]) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    let a = AsyncFd::new(a).unwrap();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let task = io.spawn(async move {
        let n = a.write_with(|mut s| s.write(b"!")).await?;
        d.set(true);
        Ok(n)
    });
    tests::one_turn(&io);
    assert!(!done.get(), "the socket is full: the write waits");
    let mut drained = vec![0u8; filled];
    b.read_exact(&mut drained).unwrap();
    assert_eq!(run(&io, task).unwrap(), 1);
    let mut last = [0u8; 1];
    b.read_exact(&mut last).unwrap();
    assert_eq!(&last, b"!");
}

#[test]
fn a_nonblocking_tcp_stream_round_trips_through_write_with_and_read_with() {
    let io = IOLoop::current();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let echo = std::thread::spawn(move || {
        let mut line = [0u8; 5];
        server.read_exact(&mut line).unwrap();
        server.write_all(&line).unwrap();
    });
    let client = AsyncFd::new(client).unwrap();
    let task = io.spawn(async move {
        client.writable().await?;
        client.write_with(|mut s| s.write_all(b"hello")).await?;
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut buf = [0u8; 8];
            let n = client.read_with(|mut s| s.read(&mut buf)).await?;
            got.extend_from_slice(&buf[..n]);
        }
        Ok(got)
    });
    assert_eq!(run(&io, task).unwrap(), b"hello");
    echo.join().unwrap();
}

#[test]
fn two_tasks_waiting_on_one_fd_are_both_woken() {
    let io = IOLoop::current();
    let (a, mut b) = pair();
    let a = Rc::new(AsyncFd::new(a).unwrap());
    let reader = |a: Rc<AsyncFd<UnixStream>>| async move {
        let mut buf = [0u8; 1];
        a.read_with(|mut s| s.read(&mut buf)).await?;
        Ok(buf[0])
    };
    let first = io.spawn(reader(a.clone()));
    let second = io.spawn(reader(a.clone()));
    tests::one_turn(&io); // both tried, would block, and wait
    b.write_all(b"xy").unwrap();
    let mut got = [run(&io, first).unwrap(), run(&io, second).unwrap()];
    got.sort();
    assert_eq!(&got, b"xy");
}

#[test]
fn into_inner_deregisters_the_fd_and_hands_it_back_open() {
    let io = IOLoop::current();
    let (a, mut b) = pair();
    let a = AsyncFd::new(a).unwrap().into_inner();
    io.add_handler(&a, Events::READ, |_, _| {}).unwrap(); // not registered any more
    io.remove_handler(std::os::fd::AsRawFd::as_raw_fd(&a));
    b.write_all(b"still open").unwrap();
}

#[test]
fn dropping_an_async_fd_deregisters_and_closes_the_fd() {
    let io = IOLoop::current();
    let (a, mut b) = pair();
    drop(AsyncFd::new(a).unwrap());
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap(); // end of file: closed
    assert!(rest.is_empty());
    // The number is free for a new registration.
    let (c, _d) = pair();
    io.add_handler(&c, Events::READ, |_, _| {}).unwrap();
}

#[test]
fn waiting_fails_once_the_loop_is_closed() {
    let io = IOLoop::new();
    io.make_current();
    let (a, _b) = pair();
    let a = AsyncFd::new(a).unwrap();
    let mut buf = [0u8; 1];
    io.close(true);
    let mut readable = pin!(a.read_with(|mut s| s.read(&mut buf)));
    let mut cx = Context::from_waker(Waker::noop());
    match readable.as_mut().poll(&mut cx) {
        Poll::Ready(Err(_)) => {}
        other => panic!("expected an error, got {other:?}"),
    }
    IOLoop::clear_current();
}

#[test]
fn a_regular_file_is_refused() {
    let _io = IOLoop::current();
    let file = std::fs::File::open("/proc/self/status").unwrap();
    assert!(AsyncFd::new(file).is_err());
}
