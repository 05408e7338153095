#[ioloop::test]
fn returns_nothing() {
    assert_eq!(1 + 1, 2);
}

fn main() {}
