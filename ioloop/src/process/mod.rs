//! Child processes, as Tornado's `tornado.process`: [`Subprocess`], a child whose pipes
//! are streams on the loop and whose exit is a future.

mod subprocess;

pub use subprocess::{CalledProcessError, Subprocess};
