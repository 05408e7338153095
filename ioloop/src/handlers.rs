//! The fd handler registry, and level-triggered delivery on top of mio's edge triggers.
//!
//! mio registers every fd edge-triggered: it reports an fd once when it *becomes* ready.
//! Tornado's handlers are level-triggered: a handler that leaves data unread is called
//! again. So every fd dispatched in one iteration is "carried" into the next, where a
//! single `poll(2)` with timeout 0 asks whether it is still ready; if so it is
//! dispatched again (and the loop's wait is zero). An fd that is no longer ready drops
//! out, and the next edge from epoll brings it back: nothing is missed, and an idle fd
//! costs nothing.
//!
//! Ownership: the registry never closes an fd by number. Each entry records who owns
//! its fd ([`Owner`]): the caller (a borrow), the loop (an [`OwnedFd`] it was given), or
//! one of the library's own objects (a stream, a server), which the loop asks to close
//! itself. The library's entries are reached by the [`HandlerKey`] their owner got, never
//! by fd number, so a user's `remove_handler` cannot take a stream's registration.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use mio::unix::SourceFd;
use mio::{Registry, Token};
use slab::Slab;

use crate::error::{Error, Result};
use crate::events::Events;

pub(crate) type Handler = Box<dyn FnMut(RawFd, Events)>;

/// How a handler is called.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Trigger {
    /// Again in the next iteration while the fd stays ready: Tornado's contract, for
    /// user handlers.
    Level,
    /// Once when the fd becomes ready: for the library's own streams, which read or
    /// write until `WouldBlock` anyway and so save the level re-check.
    Edge,
}

/// Who owns a registered fd, and so what `close(all_fds)` does with it.
pub(crate) enum Owner {
    /// The caller lent the fd: never closed by the loop.
    Borrowed,
    /// Given to the loop: closed when its handler goes (remove hands it back).
    Loop(OwnedFd),
    /// A stream's or server's: `close(all_fds)` runs this hook, which closes the object
    /// through its owner.
    Library(Option<Box<dyn FnOnce()>>),
}

/// An fd the caller passes to [`IOLoop::add_handler`](crate::IOLoop::add_handler):
/// lent (`&socket`, or a bare [`RawFd`]), or given to the loop (an [`OwnedFd`]).
///
/// A lent fd stays the caller's: the loop only watches it, and the caller closes it
/// (after [`remove_handler`](crate::IOLoop::remove_handler)). An [`OwnedFd`] becomes the
/// loop's: [`remove_handler`](crate::IOLoop::remove_handler) hands it back, and
/// [`close`](crate::IOLoop::close) closes it. Passing a socket by value does not
/// compile, because the loop would otherwise close it as soon as the call returned.
///
/// ```
/// use ioloop::{Events, IOLoop};
/// use std::os::fd::{AsRawFd, OwnedFd};
/// use std::os::unix::net::UnixStream;
///
/// let io = IOLoop::new();
/// let (lent, given) = UnixStream::pair()?;
/// io.add_handler(&lent, Events::READ, |_, _| {})?; // a borrow: still ours
/// let fd = given.as_raw_fd();
/// io.add_handler(OwnedFd::from(given), Events::READ, |_, _| {})?; // the loop's now
/// let back: Option<OwnedFd> = io.remove_handler(fd);
/// assert!(back.is_some());
/// assert!(io.remove_handler(lent.as_raw_fd()).is_none());
/// # Ok::<(), ioloop::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be given to `add_handler` by value",
    label = "the loop would close this when the call returns",
    note = "lend it with `&socket` (it stays yours to close), or give it to the loop with `OwnedFd::from(socket)`"
)]
pub trait HandlerFd: sealed::Sealed {
    #[doc(hidden)]
    fn into_parts(self) -> (RawFd, Option<OwnedFd>);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::os::fd::RawFd {}
    impl Sealed for std::os::fd::OwnedFd {}
    impl<T: std::os::fd::AsRawFd + ?Sized> Sealed for &T {}
}

impl HandlerFd for RawFd {
    fn into_parts(self) -> (RawFd, Option<OwnedFd>) {
        (self, None)
    }
}

impl<T: AsRawFd + ?Sized> HandlerFd for &T {
    fn into_parts(self) -> (RawFd, Option<OwnedFd>) {
        (self.as_raw_fd(), None)
    }
}

impl HandlerFd for OwnedFd {
    fn into_parts(self) -> (RawFd, Option<OwnedFd>) {
        (self.as_raw_fd(), Some(self))
    }
}

/// A registration: its slot and the generation it was made in. A library object's
/// handle on its registration, and the registry's name for a ready one: a key can never
/// reach a later registration that reused the fd number or the slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct HandlerKey {
    slot: usize,
    generation: u64,
}

/// A ready handler, taken out of the registry to be called.
pub(crate) struct Dispatch {
    pub(crate) fd: RawFd,
    pub(crate) events: Events,
    pub(crate) handler: Handler,
    pub(crate) name: &'static str,
}

/// A handler let go of, for dropping (and an owned fd for handing back) outside any
/// borrow of the registry.
pub(crate) struct Removed {
    pub(crate) handler: Option<Handler>,
    pub(crate) owner: Owner,
}

/// One fd's registration: its handler, what it waits for, and who owns the fd.
struct Registration {
    fd: RawFd,
    interest: Events,
    /// Tells a re-registered fd that reused this slot from the one an event was for.
    generation: u64,
    /// `None` while the handler runs (it is taken out so it may touch the registry).
    handler: Option<Handler>,
    /// Events seen this iteration and not yet delivered.
    pending: Events,
    name: &'static str,
    trigger: Trigger,
    owner: Owner,
}

#[derive(Default)]
pub(crate) struct Handlers {
    entries: Slab<Registration>,
    by_fd: HashMap<RawFd, usize>,
    next_generation: u64,
    /// Registrations with events to deliver this iteration.
    ready: Vec<HandlerKey>,
    /// Level-triggered registrations dispatched last iteration, to re-check.
    carried: Vec<HandlerKey>,
    pollfds: Vec<libc::pollfd>,
    /// The slot of each entry of `pollfds`.
    poll_keys: Vec<usize>,
}

impl Handlers {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a level-triggered handler dispatched last iteration waits for its
    /// re-check (Tornado calls it again in every iteration while its fd stays ready).
    pub(crate) fn has_carried(&self) -> bool {
        !self.carried.is_empty()
    }

    /// Registers `fd`. A number that still has an entry is refused while that fd is
    /// registered with the poller; if the poller no longer knows it (the fd was closed
    /// without `remove_handler` and the number reused), the stale entry is evicted and
    /// handed back for dropping.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        interest: Events,
        handler: Handler,
        name: &'static str,
        trigger: Trigger,
        owner: Owner,
    ) -> Result<(HandlerKey, Option<Removed>)> {
        if fd < 0 {
            return Err(Error::invalid_state(format!("invalid fd {fd}")));
        }
        let slot = self.entries.vacant_entry();
        let key = slot.key();
        if let Err(e) = registry.register(&mut SourceFd(&fd), Token(key), interest.to_mio()) {
            if e.kind() == std::io::ErrorKind::AlreadyExists && self.by_fd.contains_key(&fd) {
                return Err(Error::invalid_state(format!(
                    "fd {fd} already has a handler; use update_handler to change its events"
                )));
            }
            return Err(Error::with_source(
                crate::ErrorKind::Io,
                format!("cannot watch fd {fd}"),
                e,
            ));
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        slot.insert(Registration {
            fd,
            interest,
            generation,
            handler: Some(handler),
            pending: Events::NONE,
            name,
            trigger,
            owner,
        });
        // The poller took the fd, so an entry still under this number is for an fd
        // closed without being removed: it is dead, and must not block the number.
        let stale = self
            .by_fd
            .insert(fd, key)
            .map(|old| Self::removed(self.entries.remove(old)));
        Ok((
            HandlerKey {
                slot: key,
                generation,
            },
            stale,
        ))
    }

    fn removed(entry: Registration) -> Removed {
        Removed {
            handler: entry.handler,
            owner: entry.owner,
        }
    }

    /// The slot of the user's (not the library's) entry for `fd`.
    fn user_slot(&self, fd: RawFd) -> Option<usize> {
        let key = *self.by_fd.get(&fd)?;
        match self.entries[key].owner {
            Owner::Library(_) => None,
            Owner::Borrowed | Owner::Loop(_) => Some(key),
        }
    }

    fn slot_of(&self, key: HandlerKey) -> Option<usize> {
        self.entries
            .get(key.slot)
            .filter(|e| e.generation == key.generation)
            .map(|_| key.slot)
    }

    fn entry_mut(&mut self, key: HandlerKey) -> Option<&mut Registration> {
        self.entries
            .get_mut(key.slot)
            .filter(|e| e.generation == key.generation)
    }

    /// Changes the events of the user's handler for `fd`.
    pub(crate) fn update(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        interest: Events,
    ) -> Result<()> {
        let slot = self
            .user_slot(fd)
            .ok_or_else(|| Error::invalid_state(format!("fd {fd} has no handler to update")))?;
        self.reregister(registry, slot, interest)
    }

    fn reregister(&mut self, registry: &Registry, slot: usize, interest: Events) -> Result<()> {
        let fd = self.entries[slot].fd;
        // Re-arming reports the fd's current readiness, so a level that is already
        // high is seen again.
        registry
            .reregister(&mut SourceFd(&fd), Token(slot), interest.to_mio())
            .map_err(|e| {
                Error::with_source(crate::ErrorKind::Io, format!("cannot update fd {fd}"), e)
            })?;
        self.entries[slot].interest = interest;
        Ok(())
    }

    /// Forgets the user's handler for `fd`, returning it so the caller drops it outside
    /// any borrow. An unknown fd, or one a library object registered, is a no-op.
    pub(crate) fn remove(&mut self, registry: &Registry, fd: RawFd) -> Option<Removed> {
        let slot = self.user_slot(fd)?;
        Some(self.remove_slot(registry, slot))
    }

    /// Forgets a library object's handler; a no-op once it is gone.
    pub(crate) fn remove_key(&mut self, registry: &Registry, key: HandlerKey) -> Option<Removed> {
        let slot = self.slot_of(key)?;
        Some(self.remove_slot(registry, slot))
    }

    fn remove_slot(&mut self, registry: &Registry, slot: usize) -> Removed {
        let entry = self.entries.remove(slot);
        self.by_fd.remove(&entry.fd);
        // The fd may have been closed already, which removed it from epoll; nothing to do.
        let _ = registry.deregister(&mut SourceFd(&entry.fd));
        Self::removed(entry)
    }

    /// Every registration, deregistered, for `close`; empties the registry.
    pub(crate) fn drain(&mut self, registry: &Registry) -> Vec<Removed> {
        self.by_fd.clear();
        self.ready.clear();
        self.carried.clear();
        self.entries
            .drain()
            .map(|e| {
                let _ = registry.deregister(&mut SourceFd(&e.fd));
                Self::removed(e)
            })
            .collect()
    }

    /// Notes `events` for the fd registered under `token`.
    pub(crate) fn mark(&mut self, token: usize, events: Events) {
        if let Some(entry) = self.entries.get_mut(token) {
            let fresh = entry.pending.is_empty();
            entry.pending |= events & (entry.interest | Events::ERROR);
            if fresh && !entry.pending.is_empty() {
                self.ready.push(HandlerKey {
                    slot: token,
                    generation: entry.generation,
                });
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
        for &key in &self.carried {
            if let Some(slot) = self.slot_of(key) {
                let e = &self.entries[slot];
                self.pollfds.push(libc::pollfd {
                    fd: e.fd,
                    events: e.interest.to_poll(),
                    revents: 0,
                });
                self.poll_keys.push(slot);
            }
        }
        self.carried.clear();
        if !matches!(crate::sys::poll_now(&mut self.pollfds), Ok(n) if n > 0) {
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

    pub(crate) fn take_ready(&mut self) -> Vec<HandlerKey> {
        std::mem::take(&mut self.ready)
    }

    /// Returns the list `take_ready` gave, of which the first `dispatched` were
    /// dispatched: the rest (the iteration's read budget ran out) stay ready, ahead of
    /// what becomes ready next, and the loop does not wait for them.
    pub(crate) fn give_back_ready(&mut self, mut ready: Vec<HandlerKey>, dispatched: usize) {
        ready.drain(..dispatched);
        ready.append(&mut self.ready);
        self.ready = ready;
    }

    /// Whether fds left ready by the last dispatch wait for the next one.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Takes the handler of a ready fd out for calling, unless it was removed (or the fd
    /// re-registered) since it became ready.
    pub(crate) fn begin_dispatch(&mut self, key: HandlerKey) -> Option<Dispatch> {
        let entry = self.entry_mut(key)?;
        let events = std::mem::take(&mut entry.pending) & (entry.interest | Events::ERROR);
        if events.is_empty() {
            return None;
        }
        let handler = entry.handler.take()?;
        Some(Dispatch {
            fd: entry.fd,
            events,
            handler,
            name: entry.name,
        })
    }

    /// Puts a called handler back, and carries the fd into the next iteration's
    /// level check. A handler that removed itself meanwhile is handed back, to drop.
    pub(crate) fn end_dispatch(&mut self, key: HandlerKey, handler: Handler) -> Option<Handler> {
        match self.entry_mut(key) {
            Some(entry) => {
                entry.handler = Some(handler);
                if entry.trigger == Trigger::Level {
                    self.carried.push(key);
                }
                None
            }
            None => Some(handler),
        }
    }
}
