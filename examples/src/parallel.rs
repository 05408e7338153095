//! Pattern 3: waiting for several futures in parallel, as a `Vec` and as a `HashMap`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ioloop::gen::sleep;
use ioloop::prelude::*;

/// A fake fetch: the page's "length", after a delay that depends on the page.
#[ioloop::coroutine]
fn fetch(url: &'static str) -> Result<usize> {
    yield_!(sleep(Duration::from_millis(10 * url.len() as u64 % 50)))?;
    Ok(url.len())
}

#[ioloop::coroutine]
fn fetch_all() -> Result<(Vec<usize>, HashMap<&'static str, usize>)> {
    let urls = [
        "http://a.example",
        "http://bb.example",
        "http://ccc.example",
    ];
    // Started together, waited for together: the total wait is the longest, not the sum.
    let lengths = yield_!(urls.iter().map(|u| fetch(u)).collect::<Vec<_>>())?;
    let by_url = yield_!(urls
        .iter()
        .map(|u| (*u, fetch(u)))
        .collect::<HashMap<_, _>>())?;
    Ok((lengths, by_url))
}

/// Fetches three pages in parallel twice (a `Vec`, then a `HashMap`) and prints them.
pub fn run() -> Result<()> {
    let began = Instant::now();
    let (lengths, by_url) = IOLoop::new().run_sync(fetch_all, Some(Duration::from_secs(5)))?;
    println!("as a Vec: {lengths:?}");
    let mut by_url: Vec<_> = by_url.into_iter().collect();
    by_url.sort();
    println!("as a HashMap: {by_url:?}");
    println!(
        "both rounds took {:?} (each round waits for its slowest fetch only)",
        began.elapsed()
    );
    Ok(())
}
