//! futures-io's AsyncRead / AsyncBufRead / AsyncWrite on IOStream: sharing the stream's
//! buffer with its callback reads, woken by the loop, one reader at a time, paced
//! writes, and the io::ErrorKind a trait user expects.

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::ErrorKind;
use tests::stream_and_peer;

fn run<T: 'static>(io: &IOLoop, future: Future<T>) -> Result<T> {
    io.run_sync(move || future, Some(Duration::from_secs(60)))
}

async fn read_some(stream: &mut IOStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    let got = poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, &mut buf)).await?;
    buf.truncate(got);
    Ok(buf)
}

async fn fill_buf(stream: &mut IOStream) -> io::Result<Vec<u8>> {
    poll_fn(|cx| {
        Pin::new(&mut *stream)
            .poll_fill_buf(cx)
            .map(|r| r.map(<[u8]>::to_vec))
    })
    .await
}

async fn write_all(stream: &mut IOStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

/// A stream, its peer, and a trait read of it started in a task (which has not run
/// yet).
fn trait_read_of_a_clone(io: &IOLoop) -> (IOStream, TcpStream, Future<Vec<u8>>) {
    let (stream, peer) = stream_and_peer();
    let mut reader = stream.clone();
    let read = io.spawn(async move { Ok(read_some(&mut reader, 16).await?) });
    (stream, peer, read)
}

/// A stream whose peer sent `data` and closed.
fn stream_after(data: &[u8]) -> IOStream {
    let (stream, mut peer) = stream_and_peer();
    peer.write_all(data).unwrap();
    stream
}

#[test]
fn read_until_and_trait_reads_alternate_without_losing_or_reordering_bytes() {
    let io = IOLoop::current();
    let mut stream = stream_after(b"one\ntwo three\nfour five\nsix");
    let task = io.spawn(async move {
        let mut got: Vec<Vec<u8>> = Vec::new();
        got.push(stream.read_until("\n", None).await?.to_vec());
        got.push(read_some(&mut stream, 3).await?);
        let lent = fill_buf(&mut stream).await?; // lends all that is buffered
        got.push(lent[..1].to_vec());
        Pin::new(&mut stream).consume(1);
        got.push(stream.read_until("\n", None).await?.to_vec()); // the unconsumed rest
        got.push(read_some(&mut stream, 4).await?);
        got.push(stream.read_bytes(1, false).await?.to_vec());
        got.push(read_some(&mut stream, 100).await?);
        got.push(read_some(&mut stream, 100).await?); // end of file
        Ok(got)
    });
    let got = run(&io, task).unwrap();
    let expected: Vec<&[u8]> = vec![
        b"one\n",
        b"two",
        b" ",
        b"three\n",
        b"four",
        b" ",
        b"five\nsix",
        b"",
    ];
    assert_eq!(got, expected);
}

#[test]
fn a_trait_read_waits_for_bytes_and_is_woken_by_the_loop() {
    let io = IOLoop::current();
    let (mut stream, peer) = stream_and_peer();
    let waiting = Rc::new(Cell::new(false));
    let w = waiting.clone();
    let task = io.spawn(async move {
        w.set(true);
        Ok(read_some(&mut stream, 16).await?)
    });
    // Sent only once the read is waiting (its task has run and is suspended).
    let peer = Rc::new(std::cell::RefCell::new(peer));
    let (check, p) = (waiting.clone(), peer.clone());
    io.add_callback(move || {
        assert!(check.get());
        p.borrow_mut().write_all(b"late").unwrap();
    });
    assert_eq!(run(&io, task).unwrap(), b"late");
}

#[test]
fn a_trait_read_while_a_callback_read_is_pending_is_an_error_and_loses_nothing() {
    let io = IOLoop::current();
    let (mut stream, mut peer) = stream_and_peer();
    let line = stream.read_until("\n", None);
    let task = io.spawn(async move {
        let refused = read_some(&mut stream, 4).await.unwrap_err();
        Ok(refused.kind())
    });
    assert_eq!(run(&io, task).unwrap(), io::ErrorKind::ResourceBusy);
    peer.write_all(b"all of it\n").unwrap();
    assert_eq!(&run(&io, line).unwrap()[..], b"all of it\n");
}

#[test]
fn a_callback_read_while_a_trait_read_waits_fails_and_loses_nothing() {
    let io = IOLoop::current();
    let (stream, mut peer, trait_read) = trait_read_of_a_clone(&io);
    let refused = Future::<ErrorKind>::new();
    let r = refused.clone();
    // Runs after the task's first poll, which left the trait read waiting.
    io.add_callback(move || {
        let second = stream.read_until("\n", None);
        r.set_result(second.result().unwrap_err().kind()).unwrap();
    });
    assert_eq!(run(&io, refused).unwrap(), ErrorKind::InvalidState);
    peer.write_all(b"kept\n").unwrap();
    assert_eq!(run(&io, trait_read).unwrap(), b"kept\n");
}

#[test]
fn a_callback_read_after_an_abandoned_trait_read_is_refused_once_then_served() {
    let io = IOLoop::current();
    let (stream, mut peer, abandoned) = trait_read_of_a_clone(&io);
    tests::one_turn(&io); // the trait read is waiting now
    abandoned.cancel();
    assert!(stream.read_until("\n", None).result().is_err());
    peer.write_all(b"line\n").unwrap();
    assert_eq!(
        &run(&io, stream.read_until("\n", None)).unwrap()[..],
        b"line\n"
    );
}

#[test]
fn a_trait_read_returns_zero_at_a_clean_end_of_file() {
    let io = IOLoop::current();
    let mut stream = stream_after(b"x");
    let task = io.spawn(async move {
        let first = read_some(&mut stream, 8).await?;
        let second = read_some(&mut stream, 8).await?;
        let lent = fill_buf(&mut stream).await?;
        Ok((first, second, lent))
    });
    let (first, second, lent) = run(&io, task).unwrap();
    assert_eq!(
        (&first[..], &second[..], &lent[..]),
        (&b"x"[..], &b""[..], &b""[..])
    );
}

#[test]
fn a_trait_read_after_a_reset_fails_as_connection_reset() {
    let io = IOLoop::current();
    let (mut stream, peer) = stream_and_peer();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer); // an RST, not a FIN
    let task = io.spawn(async move { Ok(read_some(&mut stream, 8).await.unwrap_err().kind()) });
    assert_eq!(run(&io, task).unwrap(), io::ErrorKind::ConnectionReset);
}

#[test]
fn a_trait_write_on_a_closed_stream_fails_as_broken_pipe() {
    let io = IOLoop::current();
    let (mut stream, _peer) = stream_and_peer();
    stream.close();
    let task =
        io.spawn(async move { Ok(write_all(&mut stream, b"late").await.unwrap_err().kind()) });
    assert_eq!(run(&io, task).unwrap(), io::ErrorKind::BrokenPipe);
}

#[test]
fn poll_write_is_pending_while_the_write_queue_is_full_and_flush_waits_for_the_peer() {
    const TOTAL: usize = 4 << 20;
    const LIMIT: usize = 64 * 1024;
    let io = IOLoop::current();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let socket = listener.accept().unwrap().0;
    socket2::SockRef::from(&socket)
        .set_send_buffer_size(64 * 1024)
        .unwrap();
    let mut stream = IOStream::new(socket).unwrap();
    // Small kernel buffers, so the queue fills long before TOTAL is written.
    socket2::SockRef::from(&peer)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    stream.set_max_write_buffer_size(Some(LIMIT));
    let (start_reading, go) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        go.recv().unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        all
    });
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let task = io.spawn(async move {
        let mut rest = &sent[..];
        let mut pendings = 0;
        while !rest.is_empty() {
            let n = poll_fn(|cx| match Pin::new(&mut stream).poll_write(cx, rest) {
                Poll::Pending => {
                    if pendings == 0 {
                        start_reading.send(()).unwrap(); // the peer reads from now on
                    }
                    pendings += 1;
                    Poll::Pending
                }
                ready => ready,
            })
            .await?;
            rest = &rest[n..];
        }
        poll_fn(|cx| Pin::new(&mut stream).poll_flush(cx)).await?;
        assert!(!stream.writing());
        poll_fn(|cx| Pin::new(&mut stream).poll_close(cx)).await?;
        Ok(pendings)
    });
    let pendings = run(&io, task).unwrap();
    assert!(pendings > 0);
    assert!(
        reader.join().unwrap() == data,
        "the peer got every byte, in order"
    );
}

#[test]
fn poll_close_flushes_then_closes() {
    let io = IOLoop::current();
    let (mut stream, mut peer) = stream_and_peer();
    let task = io.spawn(async move {
        poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, b"bye")).await?;
        poll_fn(|cx| Pin::new(&mut stream).poll_close(cx)).await?;
        Ok(stream.closed())
    });
    assert!(run(&io, task).unwrap());
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
}

#[test]
fn a_stream_whose_trait_read_waits_closes_when_its_task_and_handles_are_dropped() {
    let io = IOLoop::current();
    let (mut stream, mut peer) = stream_and_peer();
    let task = io.spawn(async move { Ok(read_some(&mut stream, 8).await?) });
    tests::one_turn(&io); // the read waits; the task holds the only handle
    task.cancel();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap(); // end of file: the socket was closed
    assert!(got.is_empty());
}

#[test]
fn a_trait_flush_of_coalesced_writes_completes_when_they_leave_at_the_iterations_end() {
    let io = IOLoop::current();
    let (stream, mut peer) = stream_and_peer();
    let mut writer = stream.clone();
    // Small writes as the loop runs coalesce: they leave at the end of the iteration,
    // and a flush waiting for them completes then.
    let flushed = io.spawn(async move {
        write_all(&mut writer, b"one ").await?;
        write_all(&mut writer, b"two").await?;
        Ok(())
    });
    run(&io, flushed).unwrap();
    let mut got = [0u8; 7];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"one two");
    drop(stream);
}
