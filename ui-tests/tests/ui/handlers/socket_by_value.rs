// A socket passed to add_handler by value would be closed when the call returns.
use ioloop::{Events, IOLoop};
use std::os::unix::net::UnixStream;

fn main() {
    let io = IOLoop::new();
    let (socket, _peer) = UnixStream::pair().unwrap();
    io.add_handler(socket, Events::READ, |_, _| {}).unwrap();
}
