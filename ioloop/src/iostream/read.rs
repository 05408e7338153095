//! What a read asks for, and how much of the buffer satisfies it: pure logic, apart
//! from the socket.

use regex::bytes::Regex;

/// One pending read's request.
pub(crate) enum Request {
    /// Up to and including `delimiter`, within `max` bytes.
    Until {
        delimiter: Vec<u8>,
        max: Option<usize>,
    },
    /// Up to and including the end of the first match, within `max` bytes.
    Regex { regex: Regex, max: Option<usize> },
    /// Exactly `n` bytes, or with `partial` whatever is there (at least one byte).
    Bytes { n: usize, partial: bool },
    /// Everything until the peer closes.
    UntilClose,
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

impl Request {
    /// Judges `buffer`; `closed` means no more data will come.
    pub(crate) fn verdict(&self, buffer: &[u8], closed: bool) -> Verdict {
        match self {
            Request::Until { delimiter, max } => {
                let found = find(buffer, delimiter).map(|at| at + delimiter.len());
                limited(found, buffer.len(), *max, "delimiter")
            }
            Request::Regex { regex, max } => {
                let found = regex.find(buffer).map(|m| m.end());
                limited(found, buffer.len(), *max, "regex")
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

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until(d: &str, max: Option<usize>) -> Request {
        Request::Until {
            delimiter: d.as_bytes().to_vec(),
            max,
        }
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

    #[test]
    fn bytes_exact_and_partial() {
        let exact = Request::Bytes {
            n: 3,
            partial: false,
        };
        assert_eq!(exact.verdict(b"ab", false), Verdict::More);
        assert_eq!(exact.verdict(b"abcd", false), Verdict::Take(3));
        let partial = Request::Bytes {
            n: 3,
            partial: true,
        };
        assert_eq!(partial.verdict(b"ab", false), Verdict::Take(2));
        assert_eq!(partial.verdict(b"", false), Verdict::More);
    }

    #[test]
    fn regex_ends_at_the_match() {
        let r = Request::Regex {
            regex: Regex::new(r"\d+;").unwrap(),
            max: None,
        };
        assert_eq!(r.verdict(b"ab12;cd", false), Verdict::Take(5));
    }

    #[test]
    fn until_close_waits_for_the_close() {
        assert_eq!(Request::UntilClose.verdict(b"abc", false), Verdict::More);
        assert_eq!(Request::UntilClose.verdict(b"abc", true), Verdict::Take(3));
    }
}
