#[ioloop::coroutine]
struct Server {
    port: u16,
}

fn main() {
    // The struct is kept as written, so using it is not a second error.
    let server = Server { port: 8888 };
    let _ = server.port;
}
