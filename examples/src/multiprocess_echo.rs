//! One port, several processes: the socket is bound first, then `fork_processes`
//! forks the workers, and each builds its own loop and `TCPServer` over its copy of the
//! socket; the kernel hands each connection to one of them. Here one more task is a
//! client, so the example ends by itself: it sends lines, then asks every worker to quit
//! (each says goodbye, stops accepting and exits once its connections are done), and the
//! parent exits 0 once every child has exited cleanly.
//!
//! Not part of the tour: `run` forks, and its parent process never returns (it exits).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::locks::Event;
use ioloop::netutil::bind_sockets;
use ioloop::prelude::*;
use ioloop::process::fork_processes;
use ioloop::tcpserver::TCPServer;

const WORKERS: usize = 2;
/// How long a worker asked to quit gives its open connections.
const GRACE: Duration = Duration::from_secs(5);

/// Echoes lines prefixed by the worker's id; `QUIT` makes the worker say goodbye and
/// sets `quit`.
#[ioloop::coroutine]
fn echo(stream: IOStream, id: usize, quit: Event) -> Result<()> {
    while let Ok(line) = yield_!(stream.read_until("\n", Some(64 * 1024))) {
        if &line[..] == b"QUIT\n" {
            yield_!(stream.write(format!("bye from worker {id}\n")))?;
            stream.close();
            quit.set();
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        yield_!(stream.write(format!("worker {id}: {text}")))?;
    }
    Ok(())
}

/// A worker: a loop and a server over the sockets bound before the fork, until `QUIT`.
fn worker(id: usize, sockets: Vec<std::net::TcpListener>) -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let quit = Event::new();
    let asked = quit.clone();
    let server = TCPServer::new(move |stream, _| echo(stream, id, asked.clone()));
    server.add_sockets(sockets)?;
    let stop = io.clone();
    io.add_future(&quit.wait(None), move |_| {
        // No new connections here; the loop stops once the open ones are done.
        let done = server.shutdown(GRACE);
        stop.clone().add_future(&done, move |_| stop.stop());
    });
    io.start()?;
    Ok(())
}

/// One request on a new connection: `line` out, the answer back.
fn ask(addr: SocketAddr, line: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    Ok(answer.trim_end().to_string())
}

/// The client task: a few lines, then `QUIT` until every worker has said goodbye (a
/// worker that quit accepts no more, so the next `QUIT` reaches another).
fn client(addr: SocketAddr) -> std::io::Result<()> {
    for i in 0..4 {
        println!("{}", ask(addr, &format!("line {i}"))?);
    }
    let mut gone = BTreeSet::new();
    while gone.len() < WORKERS {
        let answer = ask(addr, "QUIT")?;
        println!("{answer}");
        gone.insert(answer);
    }
    Ok(())
}

/// Binds, forks `WORKERS` workers and a client; in the parent, exits the process (0)
/// once all have exited cleanly.
pub fn run() -> Result<()> {
    let sockets = bind_sockets(0, Some("127.0.0.1"), 128, false)?;
    let addr = sockets[0].local_addr()?;
    println!("{WORKERS} workers on {addr}");
    let id = fork_processes(WORKERS + 1, Some(0))?;
    let status = if id == WORKERS {
        drop(sockets); // the client does not serve
        client(addr).map_err(Error::from)
    } else {
        worker(id, sockets)
    };
    if let Err(e) = &status {
        eprintln!("task {id}: {e:#}");
    }
    // A child ends here: a non-zero status would make the parent restart it.
    std::process::exit(i32::from(status.is_err()));
}
