fn lookup(id: u32) -> String {
    format!("user-{id}")
}

fn main() {
    let _ = ioloop::task!(lookup, 7);
}
