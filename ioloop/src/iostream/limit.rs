//! [`LimitExceeded`]: the cause of a stream that closed itself because a read passed a
//! limit, as Tornado's `UnsatisfiableReadError` and `StreamBufferFullError` are.

use std::fmt::{self, Write};

use crate::error::{Error, ErrorKind};

/// Which read limit the peer's bytes passed: the source of the
/// [`ErrorKind::StreamClosed`] error a stream closes with when a read can never be
/// satisfied, found on the failed read's error and on [`IOStream::error`] alike, so code
/// can tell a limit from an orderly close (whose error has no source) or a reset (an
/// [`io::Error`](std::io::Error)).
///
/// Tornado raises `UnsatisfiableReadError` (for `max_bytes`) or `StreamBufferFullError`
/// (for `max_buffer_size`); match on the variant instead.
///
/// ```
/// use std::io::Write;
/// use ioloop::iostream::{IOStream, LimitExceeded};
/// use ioloop::prelude::*;
///
/// let io = IOLoop::current();
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let stream = IOStream::new(listener.accept()?.0)?;
/// peer.write_all(b"a line far too long for its limit\n")?;
/// let s = stream.clone();
/// let err = io.run_sync(move || s.read_until("\n", Some(8)), None).unwrap_err();
/// assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed);
/// assert_eq!(
///     LimitExceeded::of(&err),
///     Some(&LimitExceeded::MaxBytes { max_bytes: 8, delimiter: "b'\\n'".into() })
/// );
/// assert_eq!(LimitExceeded::of(&stream.error().unwrap()), LimitExceeded::of(&err));
/// # Ok::<(), ioloop::Error>(())
/// ```
///
/// [`IOStream::error`]: super::IOStream::error
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// A `read_until` or `read_until_regex` found no match within its `max_bytes`.
    MaxBytes {
        /// The read's `max_bytes`.
        max_bytes: usize,
        /// The delimiter as Tornado prints it: `b'\r\n'`, or `re.compile(b'\\d+;')` for
        /// a regex.
        delimiter: String,
    },
    /// The unread bytes reached the stream's
    /// [`set_max_buffer_size`](super::IOStream::set_max_buffer_size).
    MaxBufferSize {
        /// The stream's limit.
        max_buffer_size: usize,
    },
}

impl LimitExceeded {
    /// The limit that closed the stream `error` is about, if a limit did: `None` for an
    /// orderly close, a reset, or any other error.
    ///
    /// ```
    /// use ioloop::iostream::LimitExceeded;
    /// use ioloop::{Error, ErrorKind};
    ///
    /// assert_eq!(LimitExceeded::of(&Error::new(ErrorKind::StreamClosed, "closed")), None);
    /// ```
    pub fn of(error: &Error) -> Option<&LimitExceeded> {
        error.source()?.downcast_ref()
    }

    /// The `max_bytes` limit of a search for `delimiter`, printed as Tornado prints it.
    pub(crate) fn max_bytes(max_bytes: usize, delimiter: &[u8], regex: bool) -> LimitExceeded {
        let repr = py_bytes_repr(delimiter);
        LimitExceeded::MaxBytes {
            max_bytes,
            delimiter: if regex {
                format!("re.compile({repr})")
            } else {
                repr
            },
        }
    }

    /// The stream's error for this limit: [`ErrorKind::StreamClosed`], saying `message`,
    /// with the limit as its source.
    pub(crate) fn into_error(self, message: String) -> Error {
        Error::with_source(ErrorKind::StreamClosed, message, self)
    }
}

/// Tornado's words: the text of its `UnsatisfiableReadError` and the message it logs for
/// a full buffer.
impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::MaxBytes {
                max_bytes,
                delimiter,
            } => write!(
                f,
                "delimiter {delimiter} not found within {max_bytes} bytes"
            ),
            LimitExceeded::MaxBufferSize { max_buffer_size } => {
                write!(
                    f,
                    "Reached maximum read buffer size ({max_buffer_size} bytes)"
                )
            }
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// `bytes` as Python's `repr` prints a `bytes` object (Tornado logs delimiters so).
fn py_bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(byte) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_print_as_python_prints_bytes() {
        assert_eq!(py_bytes_repr(b"\r\n"), r"b'\r\n'");
        assert_eq!(py_bytes_repr(b"a'b"), r#"b"a'b""#);
        assert_eq!(py_bytes_repr(b"a'b\""), r#"b'a\'b"'"#);
        assert_eq!(py_bytes_repr(b"\\d+\x00\xff"), r"b'\\d+\x00\xff'");
        assert_eq!(
            LimitExceeded::max_bytes(8, br"\d+;", true).to_string(),
            r"delimiter re.compile(b'\\d+;') not found within 8 bytes"
        );
    }
}
