//! Shared helpers for ioloop's behaviour tests (the tests live in `tests/`).
