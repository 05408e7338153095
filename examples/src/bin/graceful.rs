//! Runs the `graceful` example: `cargo run -p examples --bin graceful` (a demonstration
//! that signals itself), or `-- --serve PORT` to serve until SIGTERM or Ctrl-C.
fn main() -> ioloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, port] if flag == "--serve" => {
            let port = port
                .parse()
                .map_err(|_| ioloop::Error::msg(format!("not a port: {port}")))?;
            examples::graceful::serve(port)
        }
        _ => examples::graceful::run(),
    }
}
