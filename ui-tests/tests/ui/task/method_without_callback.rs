struct Db;

impl Db {
    fn count(&self) -> u64 {
        7
    }
}

fn main() {
    let db = Db;
    let count: ioloop::Future<u64> = ioloop::task!(db.count);
    let _ = count;
}
