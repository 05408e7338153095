//! [`Error`] and [`Result`]: what went wrong, in words a user can act on.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// The `Result` alias used throughout ioloop.
///
/// ```
/// fn parse(s: &str) -> ioloop::Result<i32> {
///     Ok(s.parse::<i32>()?) // any std::error::Error converts with `?`
/// }
/// assert_eq!(parse("42").unwrap(), 42);
/// assert!(parse("x").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, so code can tell them apart without
/// matching on messages.
///
/// ```
/// use ioloop::{Error, ErrorKind};
/// assert_eq!(Error::timeout("too slow").kind(), ErrorKind::Timeout);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A deadline passed before the result arrived.
    Timeout,
    /// The operation was cancelled.
    Cancelled,
    /// A stream was closed; the source holds the real error, if there was one.
    StreamClosed,
    /// Code panicked; the message is the panic's.
    Panic,
    /// An operating-system I/O error; the source is the [`std::io::Error`].
    Io,
    /// An API was used in a state that does not allow it (a future set twice, a loop
    /// started twice, a closed loop).
    InvalidState,
    /// A queue was full (`put_nowait`).
    QueueFull,
    /// A queue was empty (`get_nowait`).
    QueueEmpty,
    /// Anything else, typically a user error converted with `?`.
    Other,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::StreamClosed => "stream closed",
            ErrorKind::Panic => "panic",
            ErrorKind::Io => "I/O error",
            ErrorKind::InvalidState => "invalid state",
            ErrorKind::QueueFull => "queue full",
            ErrorKind::QueueEmpty => "queue empty",
            ErrorKind::Other => "error",
        }
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

struct Inner {
    message: String,
    source: Option<Source>,
}

/// ioloop's error: a kind, a message, and the cause it came from.
///
/// `Error` is cheap to clone (futures hand the same error to every waiter) and is
/// `Send + Sync`, so results can cross threads. Like `anyhow::Error` it deliberately
/// does not implement [`std::error::Error`] itself: that is what lets `?` convert *any*
/// `std::error::Error` into it. Use [`Error::source`] to reach the cause, or convert it
/// into a `Box<dyn std::error::Error + Send + Sync>` where a trait object is wanted.
///
/// ```
/// use ioloop::{Error, ErrorKind};
///
/// let e: Error = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe gone").into();
/// assert_eq!(e.kind(), ErrorKind::Io);
/// assert!(e.to_string().contains("pipe gone"));
///
/// let e = Error::msg("the answer was not 42");
/// assert_eq!(e.kind(), ErrorKind::Other);
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    inner: Arc<Inner>,
}

impl Error {
    /// An error of `kind` with a message.
    ///
    /// ```
    /// use ioloop::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::InvalidState, "not yet");
    /// assert_eq!(e.message(), "not yet");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            inner: Arc::new(Inner {
                message: message.into(),
                source: None,
            }),
        }
    }

    /// An error of `kind` with a message and the error that caused it.
    ///
    /// ```
    /// use ioloop::{Error, ErrorKind};
    /// let cause = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    /// let e = Error::with_source(ErrorKind::StreamClosed, "peer went away", cause);
    /// assert!(e.source().is_some());
    /// ```
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Error {
        Error {
            kind,
            inner: Arc::new(Inner {
                message: message.into(),
                source: Some(source.into()),
            }),
        }
    }

    /// A user error from a message ([`ErrorKind::Other`]).
    ///
    /// ```
    /// let e = ioloop::Error::msg("no such user");
    /// assert_eq!(e.to_string(), "no such user");
    /// ```
    pub fn msg(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Other, message)
    }

    /// A [`ErrorKind::Timeout`] error.
    ///
    /// ```
    /// assert!(ioloop::Error::timeout("slow").is_timeout());
    /// ```
    pub fn timeout(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Timeout, message)
    }

    /// A [`ErrorKind::Cancelled`] error.
    ///
    /// ```
    /// assert!(ioloop::Error::cancelled().is_cancelled());
    /// ```
    pub fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the operation was cancelled")
    }

    /// A [`ErrorKind::InvalidState`] error.
    ///
    /// ```
    /// use ioloop::ErrorKind;
    /// assert_eq!(ioloop::Error::invalid_state("closed").kind(), ErrorKind::InvalidState);
    /// ```
    pub fn invalid_state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidState, message)
    }

    /// A [`ErrorKind::Panic`] error from the payload `catch_unwind` returned.
    ///
    /// ```
    /// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// let e = ioloop::Error::from_panic(payload);
    /// assert!(e.is_panic());
    /// assert_eq!(e.to_string(), "panic: boom");
    /// ```
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
        Error::new(ErrorKind::Panic, take_panic_message(payload))
    }

    /// The kind of failure.
    ///
    /// ```
    /// use ioloop::ErrorKind;
    /// assert_eq!(ioloop::Error::msg("x").kind(), ErrorKind::Other);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix that `Display` adds.
    ///
    /// ```
    /// assert_eq!(ioloop::Error::timeout("slow").message(), "slow");
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The error this one was caused by, if any.
    ///
    /// ```
    /// let e: ioloop::Error = "7x".parse::<u8>().unwrap_err().into();
    /// assert!(e.source().is_some());
    /// ```
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.inner.source.as_deref()
    }

    /// The underlying [`io::Error`], when this error came from one.
    ///
    /// ```
    /// let e: ioloop::Error = std::io::Error::from(std::io::ErrorKind::WouldBlock).into();
    /// assert_eq!(e.io_error().unwrap().kind(), std::io::ErrorKind::WouldBlock);
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        // Walk the chain: a closed stream's error wraps the I/O error that closed it.
        let mut cause: Option<&(dyn StdError + 'static)> = self.source().map(|s| s as _);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Some(io);
            }
            cause = e.source();
        }
        None
    }

    /// Whether this is a [`ErrorKind::Timeout`].
    ///
    /// ```
    /// assert!(!ioloop::Error::msg("x").is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Whether this is a [`ErrorKind::Cancelled`].
    ///
    /// ```
    /// assert!(!ioloop::Error::msg("x").is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// Whether this is a [`ErrorKind::Panic`].
    ///
    /// ```
    /// assert!(!ioloop::Error::msg("x").is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panic
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
/// The message of a caught panic, the payload dropped under a guard of its own: a
/// payload whose destructor panics too must not unwind out of the code that caught it.
/// Every `catch_unwind` in the crate disposes of its payload here.
pub(crate) fn take_panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = panic_message(&*payload);
    drop_panic_payload(payload);
    message
}

/// How many payloads-of-payloads to drop before giving up on a destructor that panics
/// every time.
const NESTED_PAYLOADS: usize = 8;

fn drop_panic_payload(mut payload: Box<dyn std::any::Any + Send>) {
    for _ in 0..NESTED_PAYLOADS {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(nested) => payload = nested,
        }
    }
    // Leaked rather than dropped: dropping it would only panic again.
    std::mem::forget(payload);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = match self.kind {
            ErrorKind::Other => self.inner.message.clone(),
            kind => format!("{}: {}", kind.describe(), self.inner.message),
        };
        f.write_str(&line)?;
        if f.alternate() {
            // Each cause once: an error converted with `?` keeps the original's text as
            // its message and the original as its source, so a link whose text the line
            // already ends with is not written again.
            let mut cause = self.source().map(|s| s as &dyn StdError);
            while let Some(c) = cause {
                let text = c.to_string();
                if !line.ends_with(&text) {
                    write!(f, ": {text}")?;
                    line.push_str(": ");
                    line.push_str(&text);
                }
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind)
            .field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl<E> From<E> for Error
where
    E: StdError + Send + Sync + 'static,
{
    fn from(err: E) -> Error {
        let boxed: Source = Box::new(err);
        let kind = if boxed.is::<io::Error>() {
            ErrorKind::Io
        } else {
            ErrorKind::Other
        };
        Error {
            kind,
            inner: Arc::new(Inner {
                message: boxed.to_string(),
                source: Some(boxed),
            }),
        }
    }
}

/// A standalone error type wrapping [`Error`], for places that need a real
/// `std::error::Error` (a `Box<dyn Error>` return from `main`, other libraries).
#[derive(Debug)]
struct StdAdapter(Error);

impl fmt::Display for StdAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for StdAdapter {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source().map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(err: Error) -> Self {
        Box::new(StdAdapter(err))
    }
}

impl From<Error> for Box<dyn StdError + 'static> {
    fn from(err: Error) -> Self {
        Box::new(StdAdapter(err))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::StreamClosed => io::ErrorKind::BrokenPipe,
            _ => err.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, StdAdapter(err))
    }
}
