//! The echo workload's servers: `echo_server ioloop` or `echo_server tokio`. Each reads
//! 64 bytes and writes them back, per connection, on one thread; prints `port N` once
//! listening.

use std::io::Write;

fn announce(port: u16) {
    println!("port {port}");
    let _ = std::io::stdout().flush();
}

fn ioloop_server() -> ioloop::Result<()> {
    use ioloop::iostream::IOStream;
    use ioloop::prelude::*;
    use ioloop::tcpserver::TCPServer;

    #[ioloop::coroutine]
    fn echo(stream: IOStream) -> Result<()> {
        stream.set_nodelay(true)?;
        loop {
            let Ok(data) = yield_!(stream.read_bytes(64, false)) else {
                return Ok(());
            };
            yield_!(stream.write(data))?;
        }
    }

    let io = IOLoop::current();
    let server = TCPServer::new(|stream, _| echo(stream));
    server.listen(0, Some("127.0.0.1"))?;
    announce(server.local_addrs()[0].port());
    io.start()
}

fn tokio_server() -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?.port());
        loop {
            let (mut socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::task::spawn_local(async move {
                let mut buf = [0u8; 64];
                while socket.read_exact(&mut buf).await.is_ok() {
                    if socket.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

fn main() {
    let side = std::env::args().nth(1).unwrap_or_default();
    let outcome = match side.as_str() {
        "ioloop" => ioloop_server().map_err(|e| e.to_string()),
        "tokio" => tokio_server().map_err(|e| e.to_string()),
        _ => Err("usage: echo_server ioloop|tokio".to_string()),
    };
    if let Err(e) = outcome {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
