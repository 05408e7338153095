//! What a read asks for, and how much of the buffer satisfies it: pure logic, apart
//! from the socket.
//!
//! While a read waits, the buffer only grows at its end, so each search resumes where
//! the last one stopped: the bytes a peer sends are examined a bounded number of times
//! each, however small the pieces they arrive in (a rescan from byte 0 after every
//! `recv` made a flood without the delimiter cost time quadratic in its size).

use std::cell::RefCell;
use std::rc::Rc;

use memchr::memmem::Finder;
use regex::bytes::Regex;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::util::start;
use regex_automata::{nfa::thompson, util::syntax, MatchKind};

use super::LimitExceeded;

/// One pending read's request.
pub(crate) enum Request {
    /// Up to and including the delimiter, within `max` bytes.
    Until(Until),
    /// Up to and including the end of the first match, within `max` bytes. Boxed: a
    /// regex search is several times the size of the other requests, and every read's
    /// request is moved a few times on its way into the stream (a regex read compiles
    /// its pattern anyway).
    Regex(Box<RegexSearch>),
    /// Exactly `n` bytes, or with `partial` whatever is there (at least one byte).
    Bytes { n: usize, partial: bool },
    /// Everything until the peer closes.
    UntilClose,
}

/// A byte-string delimiter, searched with `memmem` (which takes `memchr`'s path for a
/// one-byte delimiter); the finder is shared by the thread's reads of that delimiter
/// (see [`finder`]).
pub(crate) struct Until {
    finder: Rc<Finder<'static>>,
    max: Option<usize>,
    /// No match starts before this offset of the buffer: the next search starts here.
    resume: usize,
    /// Whether [`quick_find`] is tried before the finder.
    quick: bool,
    /// Bytes handed to the searcher so far (the linearity test reads it).
    examined: usize,
}

/// A regex, found without rescanning: after a first full search comes up empty, an
/// unanchored forward lazy DFA is fed each new byte once, keeping its state across
/// reads. Only when it says a match ends within the buffer does `Regex::find` run, once,
/// for the leftmost-first end the read returns.
pub(crate) struct RegexSearch {
    regex: Regex,
    max: Option<usize>,
    scan: Scan,
    examined: usize,
}

enum Scan {
    /// No search yet: the first is a plain `find` (most reads match at once).
    Fresh,
    /// The DFA's state after the first `fed` bytes of the buffer.
    Lazy(Box<Lazy>),
    /// The DFA cannot serve this pattern or input (a Unicode word boundary on non-ASCII
    /// input, say): a full `find` on every verdict, as before.
    Full,
}

impl Request {
    /// Up to and including `delimiter`, within `max` bytes.
    pub(crate) fn until(delimiter: &[u8], max: Option<usize>) -> Request {
        Request::Until(Until {
            finder: finder(delimiter),
            max,
            resume: 0,
            quick: quick_applies(delimiter),
            examined: 0,
        })
    }

    /// Up to and including the end of the first match of `regex`, within `max` bytes.
    pub(crate) fn regex(regex: Regex, max: Option<usize>) -> Request {
        Request::Regex(Box::new(RegexSearch {
            regex,
            max,
            scan: Scan::Fresh,
            examined: 0,
        }))
    }

    /// The limit an [`Unsatisfiable`](Verdict::Unsatisfiable) verdict on this request
    /// passed: its `max_bytes`, and the delimiter or pattern it searched for. `None`
    /// for the requests without a limit.
    pub(crate) fn exceeded(&self) -> Option<LimitExceeded> {
        let (max, delimiter, regex) = match self {
            Request::Until(until) => (until.max?, until.finder.needle(), false),
            Request::Regex(search) => (search.max?, search.regex.as_str().as_bytes(), true),
            Request::Bytes { .. } | Request::UntilClose => return None,
        };
        Some(LimitExceeded::max_bytes(max, delimiter, regex))
    }

    /// The bytes this request needs beyond `buffered` whatever they turn out to be: an
    /// exact `read_bytes`'s missing part, or 0 for the rest (a search or a partial read
    /// cannot know how much will do).
    pub(crate) fn known_need(&self, buffered: usize) -> usize {
        match self {
            Request::Bytes { n, partial: false } => n.saturating_sub(buffered),
            _ => 0,
        }
    }

    /// Whether an empty buffer of an open stream can only mean "read more" to this
    /// request, so that judging it can be skipped (a read waiting for its bytes is
    /// judged on every turn its stream has none yet). Not so for a regex, which may
    /// match the empty text, the empty delimiter, or zero bytes.
    pub(crate) fn waits_on_empty(&self) -> bool {
        match self {
            Request::Until(until) => !until.finder.needle().is_empty(),
            Request::Bytes { n, .. } => *n > 0,
            Request::UntilClose => true,
            Request::Regex(_) => false,
        }
    }

    /// Judges `buffer`; `closed` means no more data will come. Between calls for one
    /// request the buffer may only have grown at its end.
    pub(crate) fn verdict(&mut self, buffer: &[u8], closed: bool) -> Verdict {
        match self {
            Request::Until(until) => {
                let found = until.find(buffer);
                limited(found, buffer.len(), until.max, "delimiter")
            }
            Request::Regex(search) => {
                let found = search.find(buffer);
                limited(found, buffer.len(), search.max, "regex")
            }
            Request::Bytes { n, partial } => {
                if buffer.len() >= *n {
                    Verdict::Take(*n)
                } else if *partial && !buffer.is_empty() {
                    Verdict::Take(buffer.len())
                } else {
                    Verdict::More
                }
            }
            Request::UntilClose if closed => Verdict::Take(buffer.len()),
            Request::UntilClose => Verdict::More,
        }
    }
}

/// Delimiters whose finders a thread keeps, most recently used first: a server reads
/// with one or two (a line's, a header block's) over and over.
const KEPT_FINDERS: usize = 4;
/// Longer delimiters get a finder of their own per read (they are rare, and the cache
/// stays small).
const KEPT_DELIMITER_MAX: usize = 64;

thread_local! {
    /// The finders of the delimiters this thread's reads used last. Building one per
    /// read (its prefilter, a copy of the needle, a 32-byte aligned box for its vectors)
    /// cost more than a pipelined request's whole search and completion.
    static FINDERS: RefCell<Vec<Rc<Finder<'static>>>> = const { RefCell::new(Vec::new()) };
}

/// The searcher for `delimiter`: the thread's kept one, or a new one (then kept, in
/// place of the least recently used, when short enough).
fn finder(delimiter: &[u8]) -> Rc<Finder<'static>> {
    let build = || Rc::new(Finder::new(delimiter).into_owned());
    if delimiter.len() > KEPT_DELIMITER_MAX {
        return build();
    }
    // (`try_with`: a read started while the thread's locals are torn down goes uncached.)
    FINDERS
        .try_with(|kept| {
            let mut kept = kept.borrow_mut();
            // Most reads use the delimiter the last one did: checked first, inline.
            if let Some(last) = kept.first() {
                if same_bytes(last.needle(), delimiter) {
                    return last.clone();
                }
            }
            if let Some(at) = kept.iter().position(|f| same_bytes(f.needle(), delimiter)) {
                kept[..=at].rotate_right(1);
                return kept[0].clone();
            }
            let finder = build();
            kept.truncate(KEPT_FINDERS - 1);
            kept.insert(0, finder.clone());
            finder
        })
        .unwrap_or_else(|_| build())
}

/// `a == b`, compared in line: delimiters are a few bytes, for which a call to
/// `memcmp` costs more than the comparison.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Candidates for a delimiter's first byte [`quick_find`] tries before it leaves the
/// search to the finder: a peer sending that byte over and over gets the finder's
/// per-byte cost, not a `memchr` call per byte.
const QUICK_TRIES: usize = 4;

/// Whether [`quick_find`] suits `needle`: not a delimiter repeating its first byte (a
/// blank line's `\r\n\r\n`), which ends a block of lines whose every line end is a
/// false start for it; the finder searches for those from the start.
#[inline]
pub(crate) fn quick_applies(needle: &[u8]) -> bool {
    match needle.split_first() {
        // (A loop, not `contains`: that calls core's memchr, dearer on a few bytes.)
        Some((head, tail)) => !tail.iter().any(|b| b == head),
        None => true,
    }
}

/// Where `needle` starts in `haystack`, found with `memchr` on its first byte and a
/// comparison of the rest: `Ok` when that settles it (found, or absent), `Err(from)`
/// when `QUICK_TRIES` candidates were not it, the finder to search on from `from`. A
/// line's `\r\n` is its first `\r`; `memmem`'s vector searcher costs more to set up than
/// that `memchr` call on a pipeline's few dozen bytes.
/// Only for a delimiter [`quick_applies`] to.
pub(crate) fn quick_find(needle: &[u8], haystack: &[u8]) -> Result<Option<usize>, usize> {
    let Some((&head, tail)) = needle.split_first() else {
        return Ok(Some(0)); // (the empty delimiter is everywhere, as `memmem` says)
    };
    let mut from = 0;
    for _ in 0..QUICK_TRIES {
        let Some(at) = crate::sys::memchr(head, &haystack[from..]).map(|at| from + at) else {
            return Ok(None);
        };
        let Some(after) = haystack.get(at + 1..at + needle.len()) else {
            // Too near the end for the needle, and so is every later candidate.
            return Ok(None);
        };
        if same_bytes(after, tail) {
            return Ok(Some(at));
        }
        from = at + 1;
    }
    Err(from)
}

impl Until {
    /// The end of the first delimiter in `buffer`, searching only what the last search
    /// could not rule out (its last `len - 1` bytes may begin a delimiter).
    fn find(&mut self, buffer: &[u8]) -> Option<usize> {
        let from = self.resume.min(buffer.len());
        self.examined += buffer.len() - from;
        let needle = self.finder.needle();
        let len = needle.len();
        let quick = match self.quick {
            true => quick_find(needle, &buffer[from..]),
            false => Err(0),
        };
        let found = match quick {
            Ok(found) => found.map(|at| from + at),
            Err(rest) => self
                .finder
                .find(&buffer[from + rest..])
                .map(|at| from + rest + at),
        };
        match found {
            Some(at) => Some(at + len),
            None => {
                self.resume = buffer.len().saturating_sub(len.saturating_sub(1));
                None
            }
        }
    }
}

impl RegexSearch {
    /// The end of the leftmost-first match in `buffer`, as `Regex::find` on the whole
    /// buffer says, examining each byte a bounded number of times across calls.
    fn find(&mut self, buffer: &[u8]) -> Option<usize> {
        match &mut self.scan {
            Scan::Fresh => {
                self.examined += buffer.len();
                if let Some(m) = self.regex.find(buffer) {
                    return Some(m.end());
                }
                self.scan = match forward_dfa(self.regex.as_str()) {
                    Some((dfa, mut cache)) => {
                        // Unanchored, at the start of the text (the buffer's front).
                        match dfa.start_state(&mut cache, &start::Config::new()) {
                            Ok(state) => Scan::Lazy(Box::new(Lazy {
                                dfa,
                                cache,
                                state,
                                fed: 0,
                            })),
                            Err(_) => Scan::Full,
                        }
                    }
                    None => Scan::Full,
                };
                // The DFA starts from byte 0: it catches up on what `find` just read.
                self.feed(buffer)
            }
            Scan::Lazy(_) => self.feed(buffer),
            Scan::Full => {
                self.examined += buffer.len();
                self.regex.find(buffer).map(|m| m.end())
            }
        }
    }

    /// Feeds the DFA the bytes it has not seen; on a match (or a quit, or a cache that
    /// gives up) `Regex::find` on the whole buffer decides.
    fn feed(&mut self, buffer: &[u8]) -> Option<usize> {
        let Scan::Lazy(lazy) = &mut self.scan else {
            return None;
        };
        let Lazy {
            dfa,
            cache,
            state,
            fed,
        } = &mut **lazy;
        let new = &buffer[*fed..];
        self.examined += new.len();
        let mut decided = false;
        for &byte in new {
            match dfa.next_state(cache, *state, byte) {
                Ok(next) if next.is_match() || next.is_quit() => {
                    decided = true;
                    break;
                }
                Ok(next) => *state = next,
                Err(_) => {
                    decided = true;
                    break;
                }
            }
        }
        *fed = buffer.len();
        // Matches show one byte late: the end-of-input transition settles the last
        // byte (and `$`, `\b` at the current end, as a full search would see them).
        // Not kept: more bytes may follow.
        if !decided {
            decided = match dfa.next_eoi_state(cache, *state) {
                Ok(end) => end.is_match() || end.is_quit(),
                Err(_) => true,
            };
        }
        if !decided {
            return None;
        }
        self.examined += buffer.len();
        let found = self.regex.find(buffer).map(|m| m.end());
        if found.is_none() {
            // Only a quit or a cache that gave up gets here: search in full from now.
            self.scan = Scan::Full;
        }
        found
    }
}

/// The DFA's state after the first `fed` bytes of the buffer, none of them ending a
/// match.
struct Lazy {
    dfa: DFA,
    cache: Cache,
    state: LazyStateID,
    fed: usize,
}

/// An unanchored forward lazy DFA answering "does any match end here", configured as
/// `regex::bytes` compiles its patterns (any byte, not only UTF-8); `None` where it
/// cannot be built.
fn forward_dfa(pattern: &str) -> Option<(DFA, Cache)> {
    let dfa = DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .unicode_word_boundary(true),
        )
        .syntax(syntax::Config::new().utf8(false))
        .thompson(thompson::Config::new().utf8(false))
        .build(pattern)
        .ok()?;
    let cache = dfa.create_cache();
    Some((dfa, cache))
}

/// What the buffer says about a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Take this many bytes from the front of the buffer.
    Take(usize),
    /// Read more from the socket.
    More,
    /// It can never be satisfied: the limit was passed without a match.
    Unsatisfiable(String),
}

/// A match ending at `found` counts only within `max` bytes; without a match, a buffer
/// already past `max` can never produce one.
fn limited(found: Option<usize>, buffered: usize, max: Option<usize>, what: &str) -> Verdict {
    match (found, max) {
        (Some(end), Some(max)) if end > max => {
            Verdict::Unsatisfiable(format!("the {what} was not found within max_bytes ({max})"))
        }
        (Some(end), _) => Verdict::Take(end),
        (None, Some(max)) if buffered >= max => {
            Verdict::Unsatisfiable(format!("the {what} was not found within max_bytes ({max})"))
        }
        (None, _) => Verdict::More,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until(d: &str, max: Option<usize>) -> Request {
        Request::until(d.as_bytes(), max)
    }

    #[test]
    fn delimiters_are_included_and_limits_apply() {
        assert_eq!(
            until("\r\n", None).verdict(b"ab\r\ncd", false),
            Verdict::Take(4)
        );
        assert_eq!(until("\r\n", None).verdict(b"ab\r", false), Verdict::More);
        assert_eq!(
            until("\n", Some(3)).verdict(b"abc\n", false),
            Verdict::Unsatisfiable("the delimiter was not found within max_bytes (3)".into())
        );
        assert_eq!(
            until("\n", Some(4)).verdict(b"abc\n", false),
            Verdict::Take(4)
        );
        assert!(matches!(
            until("\n", Some(3)).verdict(b"abcd", false),
            Verdict::Unsatisfiable(_)
        ));
    }

    fn finder_of(request: &Request) -> &Rc<Finder<'static>> {
        match request {
            Request::Until(until) => &until.finder,
            _ => unreachable!("a delimiter read"),
        }
    }

    #[test]
    fn reads_of_one_delimiter_share_the_threads_finder_and_few_are_kept() {
        let first = until("\r\n", Some(10));
        let again = until("\r\n", None);
        assert!(Rc::ptr_eq(finder_of(&first), finder_of(&again)));
        // More delimiters than are kept push the oldest out: it is built anew.
        for d in ["a", "b", "c", "d", "e"] {
            assert_eq!(until(d, None).verdict(b"xyz", false), Verdict::More);
        }
        let rebuilt = until("\r\n", None);
        assert!(!Rc::ptr_eq(finder_of(&first), finder_of(&rebuilt)));
        let mut rebuilt = rebuilt;
        assert_eq!(rebuilt.verdict(b"ab\r\n", false), Verdict::Take(4));
        FINDERS.with(|kept| assert!(kept.borrow().len() <= KEPT_FINDERS));
        // A long delimiter is never kept.
        let long = "-".repeat(KEPT_DELIMITER_MAX + 1);
        let (one, two) = (until(&long, None), until(&long, None));
        assert!(!Rc::ptr_eq(finder_of(&one), finder_of(&two)));
    }

    #[test]
    fn the_quick_search_settles_or_hands_on_without_passing_a_match() {
        let naive = |n: &[u8], h: &[u8]| h.windows(n.len()).position(|w| w == n);
        let haystacks: [&[u8]; 7] = [
            b"GET key\r\nGET key\r\n",
            b"no delimiter here",
            b"\r\r\r\r\r\r\r\r\r\n",
            b"ab\r",
            b"\r\n",
            b"",
            b"x\ry\rz\rw\r\n",
        ];
        for haystack in haystacks {
            for needle in [&b"\r\n"[..], b"\n", b"\r\n\r\n", b"y\rz"] {
                let want = naive(needle, haystack);
                match quick_find(needle, haystack) {
                    Ok(got) => assert_eq!(got, want, "{needle:?} in {haystack:?}"),
                    // Handed on: nothing before `from` is a match, and a few first
                    // bytes were tried.
                    Err(from) => {
                        assert!(
                            want.is_none_or(|at| at >= from),
                            "{needle:?} in {haystack:?}"
                        );
                        assert!(from >= QUICK_TRIES);
                    }
                }
            }
        }
        assert_eq!(quick_find(b"", b"abc"), Ok(Some(0)));
        assert!(quick_applies(b"\r\n") && quick_applies(b"END"));
        assert!(!quick_applies(b"\r\n\r\n") && !quick_applies(b"--boundary"));
    }

    #[test]
    fn an_empty_buffer_is_skipped_only_where_it_can_only_mean_more() {
        let requests = [
            (until("\r\n", None), true),
            (until("", None), false),
            (
                Request::Bytes {
                    n: 3,
                    partial: true,
                },
                true,
            ),
            (
                Request::Bytes {
                    n: 0,
                    partial: false,
                },
                false,
            ),
            (Request::UntilClose, true),
            (Request::regex(Regex::new(r"\d*").unwrap(), None), false),
        ];
        for (mut request, skipped) in requests {
            assert_eq!(request.waits_on_empty(), skipped);
            if skipped {
                assert_eq!(request.verdict(b"", false), Verdict::More);
            }
        }
    }

    #[test]
    fn bytes_exact_and_partial() {
        let mut exact = Request::Bytes {
            n: 3,
            partial: false,
        };
        assert_eq!(exact.verdict(b"ab", false), Verdict::More);
        assert_eq!(exact.verdict(b"abcd", false), Verdict::Take(3));
        let mut partial = Request::Bytes {
            n: 3,
            partial: true,
        };
        assert_eq!(partial.verdict(b"ab", false), Verdict::Take(2));
        assert_eq!(partial.verdict(b"", false), Verdict::More);
    }

    #[test]
    fn only_an_exact_byte_count_knows_what_it_needs() {
        let exact = Request::Bytes {
            n: 100,
            partial: false,
        };
        assert_eq!(exact.known_need(30), 70);
        assert_eq!(exact.known_need(150), 0);
        let partial = Request::Bytes {
            n: 100,
            partial: true,
        };
        assert_eq!(partial.known_need(0), 0);
        assert_eq!(until("\n", Some(100)).known_need(0), 0);
        assert_eq!(Request::UntilClose.known_need(0), 0);
    }

    #[test]
    fn regex_ends_at_the_match() {
        let mut r = Request::regex(Regex::new(r"\d+;").unwrap(), None);
        assert_eq!(r.verdict(b"ab12;cd", false), Verdict::Take(5));
    }

    #[test]
    fn until_close_waits_for_the_close() {
        assert_eq!(Request::UntilClose.verdict(b"abc", false), Verdict::More);
        assert_eq!(Request::UntilClose.verdict(b"abc", true), Verdict::Take(3));
    }

    /// Feeds `total` bytes of `byte` to `request` in pieces of `piece`, as a peer
    /// trickling them would, and returns the bytes it examined.
    fn trickle(request: &mut Request, byte: u8, total: usize, piece: usize) -> usize {
        let mut buffer = Vec::new();
        while buffer.len() < total {
            buffer.extend(std::iter::repeat_n(byte, piece));
            assert_eq!(request.verdict(&buffer, false), Verdict::More);
        }
        match request {
            Request::Until(until) => until.examined,
            Request::Regex(search) => search.examined,
            _ => unreachable!("only searches count"),
        }
    }

    #[test]
    fn a_search_examines_each_appended_byte_a_bounded_number_of_times() {
        // 1 MiB in 7-byte pieces: a rescan from byte 0 would examine ~75 GB. A
        // delimiter search re-reads the last `len - 1` bytes (they may begin one); a
        // regex's first full search is read again by the DFA.
        let total = 1 << 20;
        let delimiters = ["\n", "\r\n", "--boundary--"].map(|d| (d, until(d, None)));
        let patterns = [r"\r?\n", r"\d+;", r"(?m)^end$", r"[a-z]{3}\b"]
            .map(|p| (p, Request::regex(Regex::new(p).unwrap(), None)));
        for (what, mut request) in delimiters.into_iter().chain(patterns) {
            let examined = trickle(&mut request, b'-', total, 7);
            assert!(
                examined <= 3 * total,
                "{what:?}: {examined} bytes examined for {total} appended"
            );
        }
    }

    #[test]
    fn a_resumed_search_finds_what_a_full_search_of_each_buffer_finds() {
        // Delimiters and matches split across pieces at every offset; a regex match
        // counts as soon as the buffer holds one, as a full `find` would say.
        let text = b"ab\r\ncd--x--y--boundary--tail 12; end\nz";
        let delimiters = ["\r\n", "--boundary--", "--", "\n", "absent"];
        let patterns = [
            r"\d+;",
            r"y-+b",
            r"end$",
            r"(?m)end$",
            r"\bta",
            r"[0-9]+",
            r"x",
        ];
        for piece in 1..8 {
            let buffers: Vec<&[u8]> = (piece..text.len() + piece)
                .step_by(piece)
                .map(|end| &text[..end.min(text.len())])
                .collect();
            let first_take = |mut request: Request| {
                buffers
                    .iter()
                    .find_map(|b| match request.verdict(b, false) {
                        Verdict::Take(n) => Some(n),
                        _ => None,
                    })
            };
            for d in delimiters {
                let full = buffers.iter().find_map(|b| {
                    b.windows(d.len())
                        .position(|w| w == d.as_bytes())
                        .map(|at| at + d.len())
                });
                assert_eq!(
                    first_take(until(d, None)),
                    full,
                    "{d:?} in pieces of {piece}"
                );
            }
            for p in patterns {
                let regex = Regex::new(p).unwrap();
                let full = buffers.iter().find_map(|b| regex.find(b).map(|m| m.end()));
                let got = first_take(Request::regex(regex, None));
                assert_eq!(got, full, "{p:?} in pieces of {piece}");
            }
        }
    }
}
