#[ioloop::test]
struct Fixture {
    port: u16,
}

fn main() {
    let _ = Fixture { port: 0 }.port;
}
