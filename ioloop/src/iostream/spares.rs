//! A thread's spares of one kind: a bounded stack of values given back when done with
//! (a large read's buffer once its bytes are dropped, a write queue's tail once sent),
//! for the next read or write on any of the thread's streams to take instead of
//! allocating. Each kind keeps at most its own `max`, so what a thread holds is bounded
//! whatever the traffic.

use std::cell::RefCell;
use std::thread::LocalKey;

/// The spares of one kind, in a `thread_local!`.
pub(super) struct Spares<T> {
    kept: RefCell<Vec<T>>,
    max: usize,
}

impl<T: 'static> Spares<T> {
    /// None kept yet; at most `max` will be.
    pub(super) const fn new(max: usize) -> Spares<T> {
        Spares {
            kept: RefCell::new(Vec::new()),
            max,
        }
    }

    /// The last given back of the spares `fits` accepts, taken.
    pub(super) fn take(key: &'static LocalKey<Spares<T>>, fits: impl Fn(&T) -> bool) -> Option<T> {
        // (`try_with`: while the thread's locals are torn down there are none.)
        key.try_with(|spares| {
            let mut kept = spares.kept.try_borrow_mut().ok()?;
            let at = kept.iter().rposition(fits)?;
            Some(kept.swap_remove(at))
        })
        .ok()
        .flatten()
    }

    /// Keeps `value` for a later `take`, unless `max` are kept already (it is dropped).
    pub(super) fn give_back(key: &'static LocalKey<Spares<T>>, value: T) {
        // (While the thread's locals are torn down, it is just dropped.)
        let _ = key.try_with(|spares| {
            if let Ok(mut kept) = spares.kept.try_borrow_mut() {
                if kept.len() < spares.max {
                    kept.push(value);
                }
            }
        });
    }

    /// How many are kept (for tests).
    #[cfg(test)]
    pub(super) fn count(key: &'static LocalKey<Spares<T>>) -> usize {
        key.with(|spares| spares.kept.borrow().len())
    }
}
