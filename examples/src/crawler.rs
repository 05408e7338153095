//! A crawler-style worker pool: URLs flow through a `Queue`, a fixed number of worker
//! coroutines fetch them, a `Semaphore` caps how many fetches run at once, and
//! `join` tells when everything found has been processed (Tornado's web-spider
//! example, with a fake fetch).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use ioloop::gen::sleep;
use ioloop::locks::Semaphore;
use ioloop::prelude::*;
use ioloop::queues::Queue;

const WORKERS: usize = 4;
const CONCURRENT_FETCHES: usize = 2;

/// The fake web: each page links to a few others, up to a depth.
fn links_of(url: &str) -> Vec<String> {
    let depth = url.matches('/').count();
    if depth >= 4 {
        return Vec::new();
    }
    (0..3).map(|i| format!("{url}/{i}")).collect()
}

/// State shared by the workers.
struct Crawl {
    queue: Queue<String>,
    seen: RefCell<HashSet<String>>,
    fetching: Semaphore,
    /// The most fetches ever in flight at once, to show the semaphore's cap.
    in_flight: RefCell<(usize, usize)>,
}

#[ioloop::coroutine]
fn fetch(crawl: Rc<Crawl>, url: String) -> Result<Vec<String>> {
    let _slot = yield_!(crawl.fetching.acquire(None))?;
    {
        let mut f = crawl.in_flight.borrow_mut();
        f.0 += 1;
        f.1 = f.1.max(f.0);
    }
    yield_!(sleep(Duration::from_millis(1)))?;
    crawl.in_flight.borrow_mut().0 -= 1;
    Ok(links_of(&url))
}

#[ioloop::coroutine]
fn worker(crawl: Rc<Crawl>) -> Result<()> {
    loop {
        let url = yield_!(crawl.queue.get(None))?;
        let links = yield_!(fetch(crawl.clone(), url))?;
        for link in links {
            if crawl.seen.borrow_mut().insert(link.clone()) {
                crawl.queue.put_nowait(link)?;
            }
        }
        crawl.queue.task_done()?;
    }
}

#[ioloop::coroutine]
fn crawl_site(root: String) -> Result<(usize, usize)> {
    let crawl = Rc::new(Crawl {
        queue: Queue::new(0),
        seen: RefCell::new(HashSet::from([root.clone()])),
        fetching: Semaphore::new(CONCURRENT_FETCHES),
        in_flight: RefCell::new((0, 0)),
    });
    crawl.queue.put_nowait(root)?;
    let workers: Vec<_> = (0..WORKERS).map(|_| worker(crawl.clone())).collect();
    yield_!(crawl.queue.join(Duration::from_secs(5)))?;
    // The workers wait for more URLs forever: dropping their futures drops them.
    drop(workers);
    let pages = crawl.seen.borrow().len();
    let peak = crawl.in_flight.borrow().1;
    Ok((pages, peak))
}

/// Crawls the fake site with 4 workers and at most 2 fetches at once.
pub fn run() -> Result<()> {
    let (pages, peak) = IOLoop::new().run_sync(
        || crawl_site("http://site".to_string()),
        Some(Duration::from_secs(5)),
    )?;
    println!(
        "crawled {pages} pages with {WORKERS} workers; at most {peak} fetches at once \
         (the semaphore allows {CONCURRENT_FETCHES})"
    );
    Ok(())
}
