//! [`WaitIterator`]: results in the order they complete.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::future::Future;

struct State<K, T> {
    keys: Vec<Option<K>>,
    children: Vec<Future<T>>,
    /// Children done but not yet handed out, in completion order.
    finished: VecDeque<usize>,
    /// The `next()` future waiting for a completion, if any.
    waiting: Option<Future<(K, Result<T>)>>,
    /// The key handed out last.
    current: Option<K>,
}

/// Hands out the results of several futures in the order they complete, each with its
/// index (or key): Tornado's `gen.WaitIterator`.
///
/// ```
/// use ioloop::gen::WaitIterator;
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn first_come() -> Result<Vec<usize>> {
///     let slow = ioloop::gen::sleep(Duration::from_millis(20));
///     let fast = ioloop::gen::sleep(Duration::from_millis(1));
///     let mut waiter = WaitIterator::new(vec![slow, fast]);
///     let mut order = Vec::new();
///     while !waiter.done() {
///         let (index, result) = yield_!(waiter.next())?;
///         result?;
///         order.push(index);
///     }
///     Ok(order)
/// }
/// assert_eq!(IOLoop::new().run_sync(first_come, None).unwrap(), vec![1, 0]);
/// ```
pub struct WaitIterator<K, T> {
    state: Rc<RefCell<State<K, T>>>,
}

impl<T: 'static> WaitIterator<usize, T> {
    /// Waits on `futures`; each result comes with its index in the vector.
    ///
    /// ```
    /// let w = ioloop::gen::WaitIterator::new(vec![ioloop::Future::ready(1)]);
    /// assert!(!w.done());
    /// ```
    pub fn new(futures: Vec<Future<T>>) -> WaitIterator<usize, T> {
        WaitIterator::with_keys(futures.into_iter().enumerate())
    }
}

impl<K: Clone + 'static, T: 'static> WaitIterator<K, T> {
    /// Waits on keyed futures (from a map, or any `(key, future)` pairs); each result
    /// comes with its key.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let mut map = HashMap::new();
    /// map.insert("a", ioloop::Future::ready(1));
    /// let w = ioloop::gen::WaitIterator::with_keys(map);
    /// assert!(!w.done());
    /// ```
    pub fn with_keys(futures: impl IntoIterator<Item = (K, Future<T>)>) -> WaitIterator<K, T> {
        let (keys, children): (Vec<K>, Vec<Future<T>>) = futures.into_iter().unzip();
        let state = Rc::new(RefCell::new(State {
            keys: keys.into_iter().map(Some).collect(),
            children: children.clone(),
            finished: VecDeque::new(),
            waiting: None,
            current: None,
        }));
        for (index, child) in children.iter().enumerate() {
            let state = Rc::downgrade(&state);
            child.add_done_callback(move |_| {
                if let Some(state) = state.upgrade() {
                    state.borrow_mut().finished.push_back(index);
                    let waiting = state.borrow_mut().waiting.take();
                    if let Some(waiting) = waiting {
                        let handed = Self::hand_out(&state);
                        if let Some(handed) = handed {
                            waiting.set_result_unless_cancelled(handed);
                        }
                    }
                }
            });
        }
        WaitIterator { state }
    }

    /// Whether every result has been handed out. As in Tornado, once it says so there is
    /// no current key any more ([`current_key`](WaitIterator::current_key) is `None`).
    ///
    /// ```
    /// let w = ioloop::gen::WaitIterator::<usize, u8>::new(Vec::new());
    /// assert!(w.done());
    /// ```
    pub fn done(&self) -> bool {
        let mut state = self.state.borrow_mut();
        let done = state.finished.is_empty() && state.keys.iter().all(Option::is_none);
        if done {
            state.current = None;
        }
        done
    }

    /// A future of the next child to complete: its key and its result (a failure of the
    /// child arrives here as an `Err`, so the iteration can go on). Asking again before
    /// that future completes, or after [`done`](WaitIterator::done), gives a failed
    /// future.
    ///
    /// ```
    /// let mut w = ioloop::gen::WaitIterator::new(vec![ioloop::Future::ready("x")]);
    /// let (index, result) = w.next().result().unwrap_or((9, Ok("?")));
    /// # let _ = (index, result);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Future<(K, Result<T>)> {
        if self.done() {
            return Future::failed(Error::invalid_state("the WaitIterator is exhausted"));
        }
        if self.state.borrow().waiting.is_some() {
            return Future::failed(Error::invalid_state(
                "WaitIterator::next called again before the previous result arrived",
            ));
        }
        match Self::hand_out(&self.state) {
            Some(handed) => Future::ready(handed),
            None => {
                let future = Future::new();
                self.state.borrow_mut().waiting = Some(future.clone());
                future
            }
        }
    }

    /// The key (index) of the result handed out last: Tornado's `current_index`. `None`
    /// before the first and once [`done`](WaitIterator::done) has returned `true`.
    ///
    /// ```
    /// let w = ioloop::gen::WaitIterator::new(vec![ioloop::Future::ready(1)]);
    /// assert_eq!(w.current_key(), None);
    /// ```
    pub fn current_key(&self) -> Option<K> {
        self.state.borrow().current.clone()
    }

    fn hand_out(state: &Rc<RefCell<State<K, T>>>) -> Option<(K, Result<T>)> {
        let mut s = state.borrow_mut();
        let index = s.finished.pop_front()?;
        let key = s.keys[index].take()?;
        s.current = Some(key.clone());
        let child = s.children[index].clone();
        drop(s);
        Some((key, child.take_result()))
    }
}
