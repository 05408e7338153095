//! What a test logged: [`ExpectLog`] (Tornado's `tornado.testing.ExpectLog`) and
//! [`capture_logs`], over one process-wide logger that files each record with the
//! thread that logged it, so tests running in parallel threads see only their own.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Once;

use log::{Level, Log, Metadata, Record};
use regex::Regex;

/// The process's logger, installed by the first [`ExpectLog`] or [`capture_logs`].
struct ThreadLogger;

static LOGGER: ThreadLogger = ThreadLogger;

/// How many records an expectation keeps that matched its pattern at another level,
/// for its failure message.
const NEAR_MISSES: usize = 3;

/// What the thread is watching for: expectations oldest first, captures innermost last.
#[derive(Default)]
struct Watch {
    expectations: Vec<Rc<Expectation>>,
    captures: Vec<Vec<String>>,
}

thread_local! {
    static WATCH: RefCell<Watch> = RefCell::default();
}

struct Expectation {
    level: Level,
    pattern: Regex,
    matched: std::cell::Cell<usize>,
    near_misses: RefCell<Vec<String>>,
}

/// Installs [`ThreadLogger`] once. A process that installed another logger first cannot
/// have its records seen here: say so rather than pass a test that saw nothing.
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| match log::set_logger(&LOGGER) {
        Ok(()) => log::set_max_level(log::LevelFilter::Trace),
        Err(_) => panic!(
            "ioloop::testing's log capture (ExpectLog, capture_logs) needs to be the \
             process's logger, but another logger was installed first; do not install \
             one in tests that use them"
        ),
    });
}

impl Log for ThreadLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let message = record.args().to_string();
        // A record logged while the thread's watch is borrowed (from inside a Display
        // impl formatting another record), or while the thread ends, is just shown.
        let taken = WATCH
            .try_with(|watch| {
                watch
                    .try_borrow_mut()
                    .map(|mut watch| watch.take(record.level(), &message))
                    .unwrap_or(false)
            })
            .unwrap_or(false);
        // Shown as Tornado's unmatched records are (the test harness captures a test
        // thread's stderr and prints it only for a failing test). Below INFO is
        // dependencies' tracing (mio's registrations), not the program's report.
        if !taken && record.level() <= Level::Info {
            eprintln!("{} {}: {}", record.level(), record.target(), message);
        }
    }

    fn flush(&self) {}
}

impl Watch {
    /// Offers a record to the thread's expectations, then to its innermost capture;
    /// whether one took it.
    fn take(&mut self, level: Level, message: &str) -> bool {
        for expectation in &self.expectations {
            if !expectation.pattern.is_match(message) {
                continue;
            }
            if expectation.level == level {
                expectation.matched.set(expectation.matched.get() + 1);
                return true;
            }
            let mut misses = expectation.near_misses.borrow_mut();
            if misses.len() < NEAR_MISSES {
                misses.push(format!("{level} {message}"));
            }
        }
        match self.captures.last_mut() {
            Some(lines) if level <= Level::Info => {
                lines.push(format!("{level} {message}"));
                true
            }
            _ => false,
        }
    }
}

/// Asserts that a message matching a pattern is logged at a level on this thread while
/// the `ExpectLog` lives, and keeps those messages from being shown: Tornado's
/// `tornado.testing.ExpectLog`. Dropped without a match (and not while already
/// panicking), it panics, failing the test, with a message naming the level and the
/// pattern, and any message that matched at another level.
///
/// As Tornado's, the pattern must match at the start of the message (`re.match`); a
/// message that matches at another level is not taken, and shows as usual. Records
/// that match no expectation go on to [`capture_logs`] or are shown on stderr (which the
/// test harness prints only for a failing test).
///
/// The crate logs through the [`log`] crate, whose logger is one per process; the first
/// `ExpectLog` installs ioloop's, which files each record under the thread that logged
/// it. So an `ExpectLog` sees only its own thread's records (the loop's callbacks run on
/// the loop's thread; a job on an executor thread is not seen), and tests running in
/// parallel do not see each other's. A process that installed another logger first
/// panics here, saying so.
///
/// ```
/// use ioloop::prelude::*;
/// use ioloop::testing::ExpectLog;
///
/// fn explode() {
///     panic!("boom");
/// }
///
/// let io = IOLoop::new();
/// {
///     let _expected = ExpectLog::new(log::Level::Error, "Exception in callback");
///     io.add_callback(explode);
///     io.add_callback({
///         let io = io.clone();
///         move || io.stop()
///     });
///     io.start()?;
/// } // dropped here: a match was logged, so nothing is shown and the test goes on
///
/// let missing = std::panic::catch_unwind(|| {
///     let _expected = ExpectLog::new(log::Level::Warn, "never logged");
/// });
/// let message = missing.unwrap_err().downcast::<String>().unwrap();
/// assert!(message.contains(r#"no WARN message matching "never logged" was logged"#));
/// # Ok::<(), ioloop::Error>(())
/// ```
#[must_use = "an ExpectLog watches until it is dropped; bind it: `let _expected = ...`"]
pub struct ExpectLog {
    expectation: Rc<Expectation>,
    required: bool,
}

impl ExpectLog {
    /// Starts watching this thread's log for a `level` message matching `pattern` (a
    /// [`regex`](https://docs.rs/regex) matched at the start of the message).
    ///
    /// # Panics
    /// If `pattern` is not a valid regex, or another logger owns the process.
    ///
    /// ```
    /// let expected = ioloop::testing::ExpectLog::new(log::Level::Info, "hello");
    /// log::info!("hello, world");
    /// assert_eq!(expected.matched(), 1);
    /// ```
    pub fn new(level: Level, pattern: &str) -> ExpectLog {
        let pattern = match Regex::new(&format!("^(?:{pattern})")) {
            Ok(regex) => regex,
            Err(e) => panic!("ExpectLog: {pattern:?} is not a valid regex: {e}"),
        };
        install();
        let expectation = Rc::new(Expectation {
            level,
            pattern,
            matched: std::cell::Cell::new(0),
            near_misses: RefCell::new(Vec::new()),
        });
        WATCH.with(|watch| watch.borrow_mut().expectations.push(expectation.clone()));
        ExpectLog {
            expectation,
            required: true,
        }
    }

    /// This expectation, but not failing when nothing matched: Tornado's
    /// `required=False`. Matching messages are still kept from being shown.
    ///
    /// ```
    /// let quiet = ioloop::testing::ExpectLog::new(log::Level::Warn, "maybe").not_required();
    /// drop(quiet); // nothing logged, and no panic
    /// ```
    pub fn not_required(mut self) -> ExpectLog {
        self.required = false;
        self
    }

    /// How many messages matched so far: Tornado's `matched`.
    ///
    /// ```
    /// let expected = ioloop::testing::ExpectLog::new(log::Level::Warn, "disk");
    /// log::warn!("disk full");
    /// log::warn!("disk full again");
    /// log::warn!("not a match: the pattern is anchored at the start");
    /// assert_eq!(expected.matched(), 2);
    /// ```
    pub fn matched(&self) -> usize {
        self.expectation.matched.get()
    }
}

impl Drop for ExpectLog {
    fn drop(&mut self) {
        let _ = WATCH.try_with(|watch| {
            watch
                .borrow_mut()
                .expectations
                .retain(|e| !Rc::ptr_eq(e, &self.expectation));
        });
        if !self.required || self.matched() > 0 || std::thread::panicking() {
            return;
        }
        let expectation = &self.expectation;
        let pattern = expectation.pattern.as_str();
        // Shown as written: without the anchor added in `new`.
        let pattern = &pattern["^(?:".len()..pattern.len() - 1];
        let misses = expectation.near_misses.borrow();
        let elsewhere = if misses.is_empty() {
            String::new()
        } else {
            format!("; at other levels: {misses:?}")
        };
        panic!(
            "ExpectLog: no {} message matching {pattern:?} was logged on this thread{elsewhere}",
            expectation.level
        );
    }
}

impl fmt::Debug for ExpectLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectLog")
            .field("level", &self.expectation.level)
            .field("pattern", &self.expectation.pattern.as_str())
            .field("matched", &self.matched())
            .field("required", &self.required)
            .finish()
    }
}

/// Runs `f` and returns what it logged on this thread, one line per record as
/// `"LEVEL message"`, from level INFO up, besides what an [`ExpectLog`] took. Tests run
/// on many threads at once; each sees only its own lines. Installs ioloop's logger as
/// [`ExpectLog`] does.
///
/// ```
/// let ((), lines) = ioloop::testing::capture_logs(|| log::warn!("careful"));
/// assert_eq!(lines, vec!["WARN careful".to_string()]);
/// ```
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    install();
    WATCH.with(|watch| watch.borrow_mut().captures.push(Vec::new()));
    /// Pops the capture even if `f` panics, so the thread's next test starts clean.
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = WATCH.try_with(|watch| watch.borrow_mut().captures.pop());
        }
    }
    let pop = Pop;
    let result = f();
    let lines = WATCH
        .with(|watch| watch.borrow_mut().captures.last_mut().map(std::mem::take))
        .unwrap_or_default();
    drop(pop);
    (result, lines)
}
