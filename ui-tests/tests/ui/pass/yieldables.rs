//! Everything `yield_!` accepts.
#![deny(warnings)]

use std::collections::{BTreeMap, HashMap};

use ioloop::gen::{moment, native, Yieldable, Yielded};
use ioloop::prelude::*;

#[ioloop::coroutine]
fn inner(n: u32) -> Result<u32> {
    yield_!(moment())?;
    Ok(n)
}

/// A user type made yieldable.
struct Query {
    answer: u32,
}

impl Yieldable for Query {
    type Output = u32;
    fn into_yielded(self) -> Yielded<u32> {
        Future::ready(self.answer).into()
    }
}

#[ioloop::coroutine]
fn every_kind(shared: Future<String>) -> Result<u32> {
    let one: u32 = yield_!(Future::ready(1))?;
    let copy: String = yield_!(&shared)?;
    let list: Vec<u32> = yield_!(vec![Future::ready(2), inner(3)])?;
    let mut hash = HashMap::new();
    hash.insert("four", Future::ready(4u32));
    let hash: HashMap<&str, u32> = yield_!(hash)?;
    let mut tree = BTreeMap::new();
    tree.insert(5u8, inner(5));
    let tree: BTreeMap<u8, u32> = yield_!(tree)?;
    let (six, seven): (u8, String) = yield_!((Future::ready(6u8), Future::ready("7".to_string())))?;
    let (): () = yield_!(moment())?;
    let eight: u32 = yield_!(native(async { Ok(8u32) }))?;
    let nine: u32 = yield_!(inner(9))?;
    let ten: u32 = yield_!(Query { answer: 10 })?;
    Ok(one
        + copy.len() as u32
        + list.iter().sum::<u32>()
        + hash["four"]
        + tree[&5]
        + u32::from(six)
        + seven.parse::<u32>().unwrap()
        + eight
        + nine
        + ten)
}

fn main() {
    let shared = Future::ready("xyz".to_string());
    let all = IOLoop::new().run_sync(move || every_kind(shared), None);
    assert_eq!(all.unwrap(), 1 + 3 + 5 + 4 + 5 + 6 + 7 + 8 + 9 + 10);
}
