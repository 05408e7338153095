//! The connections a [`TCPServer`](super::TCPServer) handed out, for its graceful
//! shutdown: weak handles (a closed or dropped stream is not kept), each untracked when
//! its stream tells the server it closed. A stream that closed with a reply still
//! leaving stays tracked by its lingering close (`iostream/linger.rs`) until the bytes
//! have gone: the shutdown waits for them, and lets go of them at its deadline.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use slab::Slab;

use crate::future::Future;
use crate::ioloop::{IOLoop, WeakLoop};
use crate::iostream::{CloseWatcher, IOStream, WeakLinger, WeakStream};
use crate::timeouts::{Deadline, Timeout};

/// A connection still open: its stream, or, once that closed with bytes still leaving,
/// its lingering close.
enum Open {
    Stream(WeakStream),
    Lingering(WeakLinger),
}

#[derive(Default)]
pub(super) struct Connections {
    open: RefCell<Slab<Open>>,
    /// Set once shutdown begins: resolves when the last connection has closed.
    drained: RefCell<Option<Future<()>>>,
    /// The shutdown's deadline, which closes what is still open.
    deadline: Cell<Option<(WeakLoop, Timeout)>>,
}

impl CloseWatcher for Connections {
    fn closed(&self, slot: usize) {
        self.untrack(slot);
    }

    fn lingering(&self, slot: usize, linger: WeakLinger) {
        if let Some(open) = self.open.borrow_mut().get_mut(slot) {
            *open = Open::Lingering(linger);
        }
    }
}

impl Connections {
    pub(super) fn track(self: &Rc<Self>, stream: &IOStream) {
        let slot = self
            .open
            .borrow_mut()
            .insert(Open::Stream(stream.downgrade()));
        let watcher: Weak<dyn CloseWatcher> = Rc::downgrade(self) as Weak<Connections>;
        stream.watch_close(watcher, slot);
    }

    pub(super) fn count(&self) -> usize {
        self.open.borrow().len()
    }

    pub(super) fn is_draining(&self) -> bool {
        self.drained.borrow().is_some()
    }

    fn untrack(&self, slot: usize) {
        let now_empty = {
            let mut open = self.open.borrow_mut();
            open.try_remove(slot);
            open.is_empty()
        };
        if now_empty {
            self.finish();
        }
    }

    /// Waits for the open connections to close, closing those still open at
    /// `deadline`; the future resolves once none is left. A second call joins the first.
    pub(super) fn drain(self: &Rc<Self>, io: Option<IOLoop>, deadline: Deadline) -> Future<()> {
        if let Some(drained) = self.drained.borrow().as_ref() {
            return drained.clone();
        }
        let drained = Future::new();
        *self.drained.borrow_mut() = Some(drained.clone());
        match io {
            Some(io) if self.count() > 0 => {
                // Strong: the server may be dropped meanwhile, and the future must
                // still resolve (the loop drops this timeout once it has run or gone).
                let connections = self.clone();
                let timeout = io.add_timeout(deadline, move || connections.close_all());
                self.deadline.set(Some((io.downgrade(), timeout)));
            }
            // Nothing open (or no loop left to wait on): done now.
            _ => self.finish(),
        }
        drained
    }

    /// The deadline passed: closes what is open (each close untracks its stream), and
    /// lets go of the bytes still leaving closed ones (which untracks them).
    fn close_all(&self) {
        self.deadline.set(None);
        let open: Vec<IOStream> = self
            .open
            .borrow()
            .iter()
            .filter_map(|(_, open)| match open {
                Open::Stream(weak) => weak.upgrade(),
                Open::Lingering(_) => None,
            })
            .collect();
        if !open.is_empty() {
            log::info!(
                "TCPServer: shutdown deadline passed, closing {} connection(s)",
                open.len()
            );
        }
        for stream in &open {
            stream.close();
        }
        drop(open);
        // (Those the closes just made linger too.)
        let lingering: Vec<WeakLinger> = self
            .open
            .borrow()
            .iter()
            .filter_map(|(_, open)| match open {
                Open::Lingering(linger) => Some(linger.clone()),
                Open::Stream(_) => None,
            })
            .collect();
        for linger in lingering {
            linger.let_go();
        }
        // Streams that were dropped without closing are gone from the count already.
        if self.count() == 0 {
            self.finish();
        }
    }

    /// Resolves the shutdown's future, if one is waiting, and drops its deadline.
    fn finish(&self) {
        let drained = self.drained.borrow().clone();
        let Some(drained) = drained else { return };
        if let Some((io, timeout)) = self.deadline.take() {
            if let Some(io) = io.upgrade() {
                io.remove_timeout(timeout);
            }
        }
        let _ = drained.set_result_unless_cancelled(());
    }
}
