//! [`multi`]: waiting for many futures in parallel.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::gen::yieldable::{copy_of, Yieldable, Yielded};

/// Waits for every child future, then returns their results in the same shape: a
/// `Vec` in the same order, a map with the same keys, a tuple of the same arity.
/// Tornado's `gen.multi`.
///
/// The values are moved out of the children; a future listed twice has one value to
/// give, so list references (`vec![&a, &b, &a]`, for `T: Clone`) to give every place a
/// copy, as Tornado's `multi([a, b, a])` does.
///
/// Every child is awaited, even after one fails. If any failed, the result fails with the
/// first failure in input order (iteration order for a `HashMap`), and each other failure
/// is logged once; [`multi_quiet`] does not log them. An empty collection completes at
/// once. Cancelling the result does not cancel the children.
///
/// `yield_!` on a collection or tuple of futures calls this for you.
///
/// ```
/// use ioloop::gen::multi;
/// use ioloop::Future;
///
/// let (a, b) = (Future::new(), Future::new());
/// let both = multi(vec![a.clone(), b.clone()]);
/// b.set_result(2).unwrap();
/// assert!(!both.done());
/// a.set_result(1).unwrap();
/// assert_eq!(both.result().unwrap(), vec![1, 2]);
/// ```
pub fn multi<C: Multi>(children: C) -> Future<C::Output> {
    children.join(OtherFailures::Logged)
}

/// [`multi`] without logging the failures after the first.
///
/// ```
/// use ioloop::gen::multi_quiet;
/// use ioloop::{Error, Future};
///
/// let all = multi_quiet(vec![
///     Future::<u8>::failed(Error::msg("first")),
///     Future::failed(Error::msg("second, not logged")),
/// ]);
/// assert_eq!(all.result().unwrap_err().message(), "first");
/// ```
pub fn multi_quiet<C: Multi>(children: C) -> Future<C::Output> {
    children.join(OtherFailures::Quiet)
}

/// What [`Multi::join`] does with the failures after the first (the first is the
/// result's): [`multi`] logs them, [`multi_quiet`] does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherFailures {
    /// Each is logged once ("Multiple exceptions in yield list").
    Logged,
    /// Dropped silently: Tornado's `quiet_exceptions`.
    Quiet,
}

/// A collection of futures [`multi`] can wait for.
///
/// ```
/// use ioloop::gen::{Multi, OtherFailures};
/// use ioloop::Future;
/// let joined = (Future::ready(1), Future::ready("two")).join(OtherFailures::Logged);
/// assert_eq!(joined.result().unwrap(), (1, "two"));
/// ```
pub trait Multi {
    /// The results, in the collection's shape.
    type Output: 'static;

    /// Waits for every child; `others` says whether failures after the first are logged.
    fn join(self, others: OtherFailures) -> Future<Self::Output>;
}

/// Counts children down and runs `then` when the last one is done. One extra count,
/// dropped by `arm`, keeps `then` from running before every child is watched (a child
/// that is already done reports at once).
struct AllDone {
    left: Cell<usize>,
    then: Cell<Option<Box<dyn FnOnce()>>>,
}

impl AllDone {
    fn new(children: usize) -> Rc<AllDone> {
        Rc::new(AllDone {
            left: Cell::new(children + 1),
            then: Cell::new(None),
        })
    }

    fn watch<T: 'static>(self: &Rc<Self>, child: &Future<T>) {
        let all = self.clone();
        child.add_done_callback(move |_| all.count_down());
    }

    /// Sets what to run once all children are done, and drops the extra count.
    fn arm(&self, then: Box<dyn FnOnce()>) {
        self.then.set(Some(then));
        self.count_down();
    }

    fn count_down(&self) {
        let left = self.left.get() - 1;
        self.left.set(left);
        if left == 0 {
            if let Some(then) = self.then.take() {
                then();
            }
        }
    }
}

/// Collects the outcome of one child: keeps the first failure, logs the others.
struct Failures {
    first: Option<Error>,
    others: OtherFailures,
}

impl Failures {
    fn new(others: OtherFailures) -> Failures {
        Failures {
            first: None,
            others,
        }
    }

    fn take<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) if self.first.is_none() => {
                self.first = Some(e);
                None
            }
            Err(e) => {
                if self.others == OtherFailures::Logged {
                    log::error!("Multiple exceptions in yield list: {e:#}");
                }
                None
            }
        }
    }

    /// Completes `result` with the first failure, or with `value` if there was none.
    fn finish<T: 'static>(self, result: &Future<T>, value: impl FnOnce() -> Option<T>) {
        let outcome = match self.first {
            Some(e) => Err(e),
            None => value().ok_or_else(|| Error::invalid_state("a child of multi lost its result")),
        };
        result.set_unless_cancelled(outcome);
    }
}

impl<T: 'static> Multi for Vec<Future<T>> {
    type Output = Vec<T>;

    fn join(self, others: OtherFailures) -> Future<Vec<T>> {
        let result = Future::new();
        let all = AllDone::new(self.len());
        for child in &self {
            all.watch(child);
        }
        let target = result.clone();
        all.arm(Box::new(move || {
            let mut failures = Failures::new(others);
            let values: Vec<Option<T>> = (0..self.len())
                .map(|i| failures.take(take_child(&self, i)))
                .collect();
            failures.finish(&target, || values.into_iter().collect());
        }));
        result
    }
}

/// The value of child `i`, moved out. A future listed twice has one value to give: the
/// second place gets an error that says how to give every place a copy.
fn take_child<T: 'static>(children: &[Future<T>], i: usize) -> Result<T> {
    let taken = children[i].take_result();
    if taken.is_err() && children[..i].iter().any(|c| c.ptr_eq(&children[i])) {
        return Err(Error::invalid_state(
            "a future listed twice in multi gives its value to one place only: list \
             references (`&future`, for a `T: Clone`) to give every place a copy",
        ));
    }
    taken
}

/// Futures listed by reference (`T: Clone`): each place gets a copy of its future's
/// value, so one future may be listed several times, as in Tornado
/// (`multi([f1, f2, f1])` gives `[1, 2, 1]`). The futures keep their values.
impl<T: Clone + 'static> Multi for Vec<&Future<T>> {
    type Output = Vec<T>;

    fn join(self, others: OtherFailures) -> Future<Vec<T>> {
        let copies: Vec<Future<T>> = self.into_iter().map(copy_of).collect();
        copies.join(others)
    }
}

impl<K: Eq + Hash + 'static, T: Clone + 'static> Multi for HashMap<K, &Future<T>> {
    type Output = HashMap<K, T>;

    fn join(self, others: OtherFailures) -> Future<HashMap<K, T>> {
        join_map(
            self.into_iter().map(|(k, f)| (k, copy_of(f))).collect(),
            others,
        )
    }
}

impl<K: Ord + 'static, T: Clone + 'static> Multi for BTreeMap<K, &Future<T>> {
    type Output = BTreeMap<K, T>;

    fn join(self, others: OtherFailures) -> Future<BTreeMap<K, T>> {
        join_map(
            self.into_iter().map(|(k, f)| (k, copy_of(f))).collect(),
            others,
        )
    }
}

/// Joins the values of a map, rebuilding it with the same keys.
fn join_map<K, T, M>(entries: Vec<(K, Future<T>)>, others: OtherFailures) -> Future<M>
where
    K: 'static,
    T: 'static,
    M: FromIterator<(K, T)> + 'static,
{
    let (keys, futures): (Vec<K>, Vec<Future<T>>) = entries.into_iter().unzip();
    let values = futures.join(others);
    let result = Future::new();
    let target = result.clone();
    values.add_done_callback(move |values| {
        target.set_unless_cancelled(
            values
                .take_result()
                .map(|values| keys.into_iter().zip(values).collect()),
        );
    });
    result
}

impl<K: Eq + Hash + 'static, T: 'static> Multi for HashMap<K, Future<T>> {
    type Output = HashMap<K, T>;

    fn join(self, others: OtherFailures) -> Future<HashMap<K, T>> {
        join_map(self.into_iter().collect(), others)
    }
}

impl<K: Ord + 'static, T: 'static> Multi for BTreeMap<K, Future<T>> {
    type Output = BTreeMap<K, T>;

    fn join(self, others: OtherFailures) -> Future<BTreeMap<K, T>> {
        join_map(self.into_iter().collect(), others)
    }
}

macro_rules! multi_tuple {
    ($count:expr; $($T:ident $v:ident $i:tt),+) => {
        impl<$($T: 'static),+> Multi for ($(Future<$T>,)+) {
            type Output = ($($T,)+);

            fn join(self, others: OtherFailures) -> Future<Self::Output> {
                let result = Future::new();
                let all = AllDone::new($count);
                $( all.watch(&self.$i); )+
                let target = result.clone();
                all.arm(Box::new(move || {
                    let mut failures = Failures::new(others);
                    $( let $v = failures.take(self.$i.take_result()); )+
                    failures.finish(&target, || Some(($($v?,)+)));
                }));
                result
            }
        }

        impl<$($T: 'static),+> Yieldable for ($(Future<$T>,)+) {
            type Output = ($($T,)+);

            fn into_yielded(self) -> Yielded<Self::Output> {
                multi(self).into()
            }
        }
    };
}

multi_tuple!(1; A a 0);
multi_tuple!(2; A a 0, B b 1);
multi_tuple!(3; A a 0, B b 1, C c 2);
multi_tuple!(4; A a 0, B b 1, C c 2, D d 3);
multi_tuple!(5; A a 0, B b 1, C c 2, D d 3, E e 4);
multi_tuple!(6; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
multi_tuple!(7; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
multi_tuple!(8; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);

impl<T: 'static> Yieldable for Vec<Future<T>> {
    type Output = Vec<T>;
    fn into_yielded(self) -> Yielded<Vec<T>> {
        multi(self).into()
    }
}

impl<T: Clone + 'static> Yieldable for Vec<&Future<T>> {
    type Output = Vec<T>;
    fn into_yielded(self) -> Yielded<Vec<T>> {
        multi(self).into()
    }
}

impl<K: Eq + Hash + 'static, T: Clone + 'static> Yieldable for HashMap<K, &Future<T>> {
    type Output = HashMap<K, T>;
    fn into_yielded(self) -> Yielded<HashMap<K, T>> {
        multi(self).into()
    }
}

impl<K: Ord + 'static, T: Clone + 'static> Yieldable for BTreeMap<K, &Future<T>> {
    type Output = BTreeMap<K, T>;
    fn into_yielded(self) -> Yielded<BTreeMap<K, T>> {
        multi(self).into()
    }
}

impl<K: Eq + Hash + 'static, T: 'static> Yieldable for HashMap<K, Future<T>> {
    type Output = HashMap<K, T>;
    fn into_yielded(self) -> Yielded<HashMap<K, T>> {
        multi(self).into()
    }
}

impl<K: Ord + 'static, T: 'static> Yieldable for BTreeMap<K, Future<T>> {
    type Output = BTreeMap<K, T>;
    fn into_yielded(self) -> Yielded<BTreeMap<K, T>> {
        multi(self).into()
    }
}
