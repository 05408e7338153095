//! Runnable examples of ioloop's patterns; see `src/bin/`.
