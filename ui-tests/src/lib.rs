//! trybuild cases for ioloop's macros live in `tests/`.
