//! Where a queue keeps its items: the order is the only difference between [`Queue`],
//! [`LifoQueue`] and [`PriorityQueue`].
//!
//! [`Queue`]: crate::queues::Queue
//! [`LifoQueue`]: crate::queues::LifoQueue
//! [`PriorityQueue`]: crate::queues::PriorityQueue

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The storage of a [`QueueOf`](crate::queues::QueueOf): it decides which item `get`
/// returns next.
///
/// ```
/// use ioloop::queues::{Lifo, Store};
/// let mut s = Lifo::default();
/// s.push(1);
/// s.push(2);
/// assert_eq!(s.pop(), Some(2));
/// ```
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Removes the next item.
    fn pop(&mut self) -> Option<T>;
    /// How many items are stored.
    fn len(&self) -> usize;
    /// Whether no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out.
///
/// ```
/// use ioloop::queues::{Fifo, Store};
/// let mut s = Fifo::default();
/// s.push('a');
/// s.push('b');
/// assert_eq!(s.pop(), Some('a'));
/// ```
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out.
///
/// ```
/// use ioloop::queues::{Lifo, Store};
/// let mut s = Lifo::default();
/// s.push('a');
/// assert_eq!(s.len(), 1);
/// ```
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

/// Lowest first (as Python's `heapq`, and Tornado's `PriorityQueue`).
///
/// ```
/// use ioloop::queues::{Priority, Store};
/// let mut s = Priority::default();
/// s.push(3);
/// s.push(1);
/// assert_eq!(s.pop(), Some(1));
/// ```
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
