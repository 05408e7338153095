//! Procedural macros for [`ioloop`](https://docs.rs/ioloop).
//!
//! Users do not depend on this crate directly: `ioloop` re-exports everything here.
//! The `#[ioloop::coroutine]` attribute arrives with the coroutine work; until then the
//! crate is an empty shell so the workspace layout is in place.
