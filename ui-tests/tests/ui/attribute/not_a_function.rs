#[ioloop::coroutine]
struct Config {
    retries: u32,
}

fn main() {}
