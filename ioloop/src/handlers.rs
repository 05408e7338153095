//! The fd handler registry, and level-triggered delivery on top of mio's edge triggers.
//!
//! mio registers every fd edge-triggered: it reports an fd once when it *becomes* ready.
//! Tornado's handlers are level-triggered: a handler that leaves data unread is called
//! again. So every fd dispatched in one iteration is "carried" into the next, where a
//! single `poll(2)` with timeout 0 asks whether it is still ready; if so it is
//! dispatched again (and the loop's wait is zero). An fd that is no longer ready drops
//! out, and the next edge from epoll brings it back: nothing is missed, and an idle fd
//! costs nothing.

use std::collections::HashMap;
use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Registry, Token};
use slab::Slab;

use crate::error::{Error, Result};
use crate::events::Events;

pub(crate) type Handler = Box<dyn FnMut(RawFd, Events)>;

struct Entry {
    fd: RawFd,
    interest: Events,
    /// Tells a re-registered fd that reused this slot from the one an event was for.
    generation: u64,
    /// `None` while the handler runs (it is taken out so it may touch the registry).
    handler: Option<Handler>,
    /// Events seen this iteration and not yet delivered.
    pending: Events,
    name: &'static str,
    /// Level-triggered (Tornado's contract, for user handlers) or edge-triggered (the
    /// library's own streams, which drain to `WouldBlock` and need no re-check).
    level: bool,
}

/// A ready handler to call: slot key and generation.
type Ready = (usize, u64);

#[derive(Default)]
pub(crate) struct Handlers {
    entries: Slab<Entry>,
    by_fd: HashMap<RawFd, usize>,
    next_generation: u64,
    ready: Vec<Ready>,
    carried: Vec<Ready>,
    pollfds: Vec<libc::pollfd>,
    /// The slot of each entry of `pollfds`.
    poll_keys: Vec<usize>,
}

impl Handlers {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn add(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        interest: Events,
        handler: Handler,
        name: &'static str,
        level: bool,
    ) -> Result<()> {
        if fd < 0 {
            return Err(Error::invalid_state(format!("invalid fd {fd}")));
        }
        if self.by_fd.contains_key(&fd) {
            return Err(Error::invalid_state(format!(
                "fd {fd} already has a handler; use update_handler to change its events"
            )));
        }
        let slot = self.entries.vacant_entry();
        registry
            .register(&mut SourceFd(&fd), Token(slot.key()), interest.to_mio())
            .map_err(|e| {
                Error::with_source(
                    crate::ErrorKind::Io,
                    format!("cannot watch fd {fd}: {e}"),
                    e,
                )
            })?;
        self.next_generation += 1;
        let key = slot.key();
        slot.insert(Entry {
            fd,
            interest,
            generation: self.next_generation,
            handler: Some(handler),
            pending: Events::NONE,
            name,
            level,
        });
        self.by_fd.insert(fd, key);
        Ok(())
    }

    pub(crate) fn update(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        interest: Events,
    ) -> Result<()> {
        let key = *self
            .by_fd
            .get(&fd)
            .ok_or_else(|| Error::invalid_state(format!("fd {fd} has no handler to update")))?;
        // Re-arming reports the fd's current readiness, so a level that is already
        // high is seen again.
        registry
            .reregister(&mut SourceFd(&fd), Token(key), interest.to_mio())
            .map_err(|e| {
                Error::with_source(
                    crate::ErrorKind::Io,
                    format!("cannot update fd {fd}: {e}"),
                    e,
                )
            })?;
        self.entries[key].interest = interest;
        Ok(())
    }

    /// Forgets the fd's handler, returning it so the caller drops it outside any borrow.
    /// An unknown fd is a no-op, as in Tornado.
    pub(crate) fn remove(&mut self, registry: &Registry, fd: RawFd) -> Option<Handler> {
        let key = self.by_fd.remove(&fd)?;
        // The fd may have been closed already, which removed it from epoll; nothing to do.
        let _ = registry.deregister(&mut SourceFd(&fd));
        self.entries.remove(key).handler
    }

    /// Every registered fd, for `close(all_fds)`; empties the registry.
    pub(crate) fn drain(&mut self) -> Vec<(RawFd, Option<Handler>)> {
        self.by_fd.clear();
        self.ready.clear();
        self.carried.clear();
        self.entries.drain().map(|e| (e.fd, e.handler)).collect()
    }

    /// Notes `events` for the fd registered under `token`.
    pub(crate) fn mark(&mut self, token: usize, events: Events) {
        if let Some(entry) = self.entries.get_mut(token) {
            let fresh = entry.pending.is_empty();
            entry.pending |= events & (entry.interest | Events::ERROR);
            if fresh && !entry.pending.is_empty() {
                self.ready.push((token, entry.generation));
            }
        }
    }

    /// Asks `poll(2)` whether the fds dispatched last iteration are still ready, and
    /// marks those that are. Returns whether any is.
    pub(crate) fn recheck_carried(&mut self) -> bool {
        if self.carried.is_empty() {
            return false;
        }
        self.pollfds.clear();
        self.poll_keys.clear();
        for &(key, generation) in &self.carried {
            if let Some(e) = self.entries.get(key).filter(|e| e.generation == generation) {
                self.pollfds.push(libc::pollfd {
                    fd: e.fd,
                    events: e.interest.to_poll(),
                    revents: 0,
                });
                self.poll_keys.push(key);
            }
        }
        self.carried.clear();
        let n = self.pollfds.len() as libc::nfds_t;
        // SAFETY: `pollfds` is a valid, initialised buffer of `n` entries for the call.
        let rc = unsafe { libc::poll(self.pollfds.as_mut_ptr(), n, 0) };
        if rc <= 0 {
            return false;
        }
        let mut any = false;
        for i in 0..self.pollfds.len() {
            let revents = self.pollfds[i].revents;
            if revents != 0 && revents & libc::POLLNVAL == 0 {
                self.mark(self.poll_keys[i], Events::from_poll(revents));
                any = true;
            }
        }
        any
    }

    pub(crate) fn take_ready(&mut self) -> Vec<Ready> {
        std::mem::take(&mut self.ready)
    }

    pub(crate) fn give_back_ready(&mut self, mut ready: Vec<Ready>) {
        ready.clear();
        if self.ready.is_empty() {
            self.ready = ready;
        }
    }

    /// Takes the handler of a ready fd out for calling, unless it was removed (or the fd
    /// re-registered) since it became ready.
    pub(crate) fn begin_dispatch(
        &mut self,
        (key, generation): Ready,
    ) -> Option<(RawFd, Events, Handler, &'static str)> {
        let entry = self
            .entries
            .get_mut(key)
            .filter(|e| e.generation == generation)?;
        let events = std::mem::take(&mut entry.pending) & (entry.interest | Events::ERROR);
        if events.is_empty() {
            return None;
        }
        let handler = entry.handler.take()?;
        Some((entry.fd, events, handler, entry.name))
    }

    /// Puts a called handler back, and carries the fd into the next iteration's
    /// level check. A handler that removed itself meanwhile is dropped.
    pub(crate) fn end_dispatch(
        &mut self,
        (key, generation): Ready,
        handler: Handler,
    ) -> Option<Handler> {
        match self
            .entries
            .get_mut(key)
            .filter(|e| e.generation == generation)
        {
            Some(entry) => {
                entry.handler = Some(handler);
                if entry.level {
                    self.carried.push((key, generation));
                }
                None
            }
            None => Some(handler),
        }
    }
}
