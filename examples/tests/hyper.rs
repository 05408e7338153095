//! hyper 1.x on the loop (examples/src/hyper_server.rs): real HTTP/1.1 requests with
//! keep-alive on one connection, from hyper's client and as raw bytes, a hostile
//! request, and the header read timeout on the loop's timer.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use examples::hyper_server::{fetch, listen, listen_with};
use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

fn run<T: 'static>(io: &IOLoop, future: Future<T>) -> Result<T> {
    io.run_sync(move || future, Some(Duration::from_secs(60)))
}

fn server() -> (IOLoop, TCPServer, u16, Rc<Cell<usize>>) {
    let io = IOLoop::current();
    let connections = Rc::new(Cell::new(0));
    let server = listen(connections.clone()).unwrap();
    let port = server.local_addrs()[0].port();
    (io, server, port, connections)
}

/// One response: the status line, and the body by its Content-Length.
async fn response(stream: &IOStream) -> Result<(String, String)> {
    let head = stream.read_until("\r\n\r\n", Some(16 * 1024)).await?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let body = stream.read_bytes(length, false).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn hyper_answers_keep_alive_requests_from_its_client_on_one_connection() {
    let (io, _server, port, connections) = server();
    let requests = vec![
        ("/first".to_string(), String::new()),
        ("/echo".to_string(), "a body".to_string()),
        ("/echo".to_string(), "x".repeat(200_000)),
        ("/last".to_string(), String::new()),
    ];
    let answers = run(&io, io.spawn(fetch(port, requests))).unwrap();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0], (200, "hello from ioloop: /first".to_string()));
    assert_eq!(answers[1], (200, "a body".to_string()));
    assert_eq!(answers[2], (200, "x".repeat(200_000)));
    assert_eq!(answers[3], (200, "hello from ioloop: /last".to_string()));
    assert_eq!(connections.get(), 1, "every request on one connection");
}

#[test]
fn hyper_answers_raw_http11_requests_on_one_socket_and_closes_when_asked() {
    let (io, _server, port, connections) = server();
    let task = io.spawn(async move {
        let stream = IOStream::connect(([127, 0, 0, 1], port).into()).await?;
        let mut answers = Vec::new();
        stream.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        answers.push(response(&stream).await?);
        // Two requests written at once (pipelined), answered in order.
        stream
            .write(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                 GET /three HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await?;
        answers.push(response(&stream).await?);
        answers.push(response(&stream).await?);
        stream
            .write("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        answers.push(response(&stream).await?);
        let rest = stream.read_until_close().await?; // the server closed it
        Ok((answers, rest.len()))
    });
    let (answers, rest) = run(&io, task).unwrap();
    let expected = [
        ("HTTP/1.1 200 OK", "hello from ioloop: /one"),
        ("HTTP/1.1 200 OK", "hello"),
        ("HTTP/1.1 200 OK", "hello from ioloop: /three"),
        ("HTTP/1.1 200 OK", "hello from ioloop: /bye"),
    ];
    let answers: Vec<(&str, &str)> = answers.iter().map(|(s, b)| (&s[..], &b[..])).collect();
    assert_eq!(answers, expected);
    assert_eq!(rest, 0);
    assert_eq!(connections.get(), 1);
}

#[test]
fn a_garbage_request_gets_a_400_and_the_server_serves_the_next_connection() {
    let (io, _server, port, _) = server();
    let task = io.spawn(async move {
        let hostile = IOStream::connect(([127, 0, 0, 1], port).into()).await?;
        hostile
            .write(&b"\x00\xffNOT HTTP AT ALL\r\n\r\n"[..])
            .await?;
        let refused = hostile.read_until_close().await?;
        let next = IOStream::connect(([127, 0, 0, 1], port).into()).await?;
        next.write("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        Ok((refused, response(&next).await?))
    });
    let (refused, after) = run(&io, task).unwrap();
    assert!(refused.starts_with(b"HTTP/1.1 400"), "{refused:?}");
    assert_eq!(after.1, "hello from ioloop: /after");
}

#[test]
fn the_header_read_timeout_on_the_loops_timer_closes_a_stalled_request() {
    let io = IOLoop::current();
    let server = listen_with(Rc::new(Cell::new(0)), Duration::from_millis(50)).unwrap();
    let port = server.local_addrs()[0].port();
    let task = io.spawn(async move {
        let stalled = IOStream::connect(([127, 0, 0, 1], port).into()).await?;
        stalled.write("GET / HTTP/1.1\r\nHost: x\r\n").await?; // and never the end
        stalled.read_until_close().await
    });
    let answer = run(&io, task).unwrap();
    // Closed by the timer, with hyper's 408 or with nothing: never served.
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{answer:?}"
    );
}
