//! tokio's AsyncRead / AsyncBufRead / AsyncWrite on IOStream (feature `tokio`): driven
//! by ioloop's loop, with no tokio runtime, and sharing the stream's buffer with its
//! callback reads.
#![cfg(feature = "tokio")]

use std::io::{Read, Write};
use std::time::Duration;

use ioloop::prelude::*;
use tests::stream_and_peer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

fn run<T: 'static>(io: &IOLoop, task: Future<T>) -> T {
    io.run_sync(move || task, Some(Duration::from_secs(60)))
        .unwrap()
}

#[test]
fn tokio_reads_and_read_until_alternate_on_one_stream_without_a_tokio_runtime() {
    let io = IOLoop::current();
    let (stream, mut peer) = stream_and_peer();
    peer.write_all(b"first line\nsecond line\nthird line\nrest")
        .unwrap();
    let mut s = stream.clone();
    let lines = io.spawn(async move {
        let mut first = String::new();
        s.read_line(&mut first).await?;
        let second = s.read_until("\n", Some(100)).await?;
        let mut third = String::new();
        s.read_line(&mut third).await?;
        s.write_all(b"done").await?;
        s.flush().await?;
        Ok((first, second.to_vec(), third))
    });
    let (first, second, third) = run(&io, lines);
    assert_eq!(first, "first line\n");
    assert_eq!(second, b"second line\n");
    assert_eq!(third, "third line\n");
    let mut answer = [0u8; 4];
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    peer.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"done");

    // The end of file: what was buffered, then 0; reading it closes the stream, as in
    // Tornado, so a write after it fails (BrokenPipe through the traits).
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut s = stream.clone();
    let rest = io.spawn(async move {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await?;
        let late = s.write_all(b"late").await.unwrap_err().kind();
        Ok((rest, late))
    });
    let (rest, late) = run(&io, rest);
    assert_eq!(rest, b"rest");
    assert_eq!(late, std::io::ErrorKind::BrokenPipe);
    assert!(stream.closed());
}
