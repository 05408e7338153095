// `spawn` of a block returning neither `ioloop::Result<T>` nor `()`: the error says
// what `spawn` takes, and to use `spawn_value`.
fn main() {
    let io = ioloop::IOLoop::new();
    let _n = io.spawn(async { 42u32 });
}
