//! hyper 1.x serving HTTP/1.1 on the loop: its I/O an [`IOStream`] (through [`LoopIo`],
//! an adapter from the stream's futures-io traits to hyper's `Read` / `Write`), its timer
//! the loop's timeouts ([`LoopTimer`]), its executor [`IOLoop::spawn_detached`]
//! ([`LoopExecutor`]); and a hyper client sending keep-alive requests on one connection.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_io::{AsyncBufRead, AsyncWrite};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::rt::{Executor, ReadBufCursor, Sleep, Timer};
use hyper::service::service_fn;
use hyper::{Request, Response};
use ioloop::iostream::{Bytes, IOStream};
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;
use ioloop::{Remote, Timeout};

/// An [`IOStream`] as hyper's I/O: reads lend the stream's buffer (`poll_fill_buf`) and
/// copy once into hyper's; writes go to the stream's write queue.
pub struct LoopIo(pub IOStream);

impl hyper::rt::Read for LoopIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let n = match Pin::new(&mut self.0).poll_fill_buf(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(chunk)) => {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                n
            }
        };
        Pin::new(&mut self.0).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for LoopIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// hyper's timer on the current loop's timeouts (its clock, so an injected clock rules).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopTimer;

impl Timer for LoopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(LoopSleep::new(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(LoopSleep::new(
            deadline.saturating_duration_since(Instant::now()),
        ))
    }
}

/// One of hyper's sleeps: a loop timeout that marks it done and wakes its task. hyper
/// wants a `Send + Sync` sleep, so what the timeout shares with it is behind a mutex
/// (never contended: both sides run on the loop's thread).
struct LoopSleep {
    state: Arc<Mutex<SleepState>>,
    timeout: Timeout,
    remote: Remote,
}

#[derive(Default)]
struct SleepState {
    fired: bool,
    waker: Option<Waker>,
}

impl LoopSleep {
    fn new(duration: Duration) -> LoopSleep {
        let io = IOLoop::current();
        let state = Arc::new(Mutex::new(SleepState::default()));
        let shared = state.clone();
        let timeout = io.call_later(duration, move || {
            let waker = {
                let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                state.fired = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        LoopSleep {
            state,
            timeout,
            remote: io.remote(),
        }
    }
}

impl std::future::Future for LoopSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.fired {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sleep for LoopSleep {}

impl Drop for LoopSleep {
    /// A sleep hyper drops early (a header-read timeout, once the headers came) takes
    /// its timeout off the loop, so a busy connection does not pile them up.
    fn drop(&mut self) {
        let fired = self.state.lock().map_or(true, |s| s.fired);
        if fired {
            return;
        }
        let timeout = self.timeout;
        match IOLoop::try_current() {
            Some(io) if io.remote().ptr_eq(&self.remote) => io.remove_timeout(timeout),
            _ => self
                .remote
                .add_callback(move || IOLoop::current().remove_timeout(timeout)),
        }
    }
}

/// hyper's executor: each future it starts becomes a detached task on the current loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopExecutor;

impl<F> Executor<F> for LoopExecutor
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        IOLoop::current().spawn_detached(async move {
            future.await;
        });
    }
}

/// The server's one service: `/echo` answers the request's body, any other path a
/// greeting naming it.
async fn hello(
    request: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_string();
    let body = if path == "/echo" {
        request.into_body().collect().await?.to_bytes()
    } else {
        Bytes::from(format!("hello from ioloop: {path}"))
    };
    Ok(Response::new(Full::new(body)))
}

/// Serves HTTP/1.1 with hyper on 127.0.0.1 (a free port: see `local_addrs`), counting
/// the connections accepted in `connections`; a request whose headers take longer than
/// 30 s to arrive closes its connection.
pub fn listen(connections: Rc<Cell<usize>>) -> Result<TCPServer> {
    listen_with(connections, Duration::from_secs(30))
}

/// [`listen`] with another header read timeout.
pub fn listen_with(
    connections: Rc<Cell<usize>>,
    header_read_timeout: Duration,
) -> Result<TCPServer> {
    let server = TCPServer::new(move |stream: IOStream, _| {
        connections.set(connections.get() + 1);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(LoopTimer)
            .header_read_timeout(header_read_timeout)
            .serve_connection(LoopIo(stream), service_fn(hello));
        LoopExecutor.execute(async move {
            if let Err(e) = connection.await {
                log::info!("HTTP connection ended with an error: {e}");
            }
        });
    });
    server.listen(0, Some("127.0.0.1"))?;
    Ok(server)
}

/// Sends `(path, body)` requests to `port` on one keep-alive connection with hyper's
/// client, and returns each answer's status and body.
pub async fn fetch(port: u16, requests: Vec<(String, String)>) -> Result<Vec<(u16, String)>> {
    let stream = IOStream::connect(([127, 0, 0, 1], port).into()).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(LoopIo(stream)).await?;
    LoopExecutor.execute(connection);
    let mut answers = Vec::new();
    for (path, body) in requests {
        let request = Request::post(path)
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        answers.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    Ok(answers)
}

/// Runs the server and a client sending three requests on one connection.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let connections = Rc::new(Cell::new(0));
    let server = listen(connections.clone())?;
    let port = server.local_addrs()[0].port();
    let requests = vec![
        ("/".to_string(), String::new()),
        ("/echo".to_string(), "ping".to_string()),
        ("/bye".to_string(), String::new()),
    ];
    let task = io.spawn(fetch(port, requests));
    let answers = io.run_sync(move || task, Some(Duration::from_secs(10)))?;
    for (status, body) in &answers {
        println!("hyper on ioloop answered {status}: {body}");
    }
    println!("over {} connection(s)", connections.get());
    server.stop();
    IOLoop::clear_current();
    Ok(())
}
