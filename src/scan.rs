//! Substring search for the parsers' hot path.
//!
//! `str::find(&str)` builds a Two-Way searcher on every call (`StrSearcher::new`): for the short
//! lines and short needles of a log that set-up costs more than the search. These methods give the same results (byte
//! offsets of the first or last occurrence) by scanning with the `memchr` crate (SIMD) for one
//! byte of the needle and comparing the rest where it is found.
//!
//! The byte searched for is the needle's first byte that is not a space, since spaces are the
//! commonest byte of a log line. Worst case (a hostile line full of that byte) is one short
//! comparison per byte of the line: linear in the line length for the fixed needles used here.

use memchr::{memchr2, memchr3, memrchr};

/// How many bytes [`find_byte`] checks eight at a time before calling `memchr`: the crate's
/// SIMD search costs a dispatch and set-up per call, more than it saves on the short distances
/// typical of a log line (the first space, the next `[`).
const SHORT: usize = 32;

pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The lowest byte flagged (`0x80`) is the lowest zero byte of `x` (higher flags may be
/// borrows, but the lowest one never is).
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// Byte offset of the first `needle` in `hay` (as `memchr`).
#[inline]
pub fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut i = 0;
    while i + 8 <= hay.len().min(SHORT) {
        let word = u64::from_le_bytes(hay[i..i + 8].try_into().expect("eight bytes"));
        let zero = zero_bytes(word ^ pattern);
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i >= SHORT {
        return memchr::memchr(needle, &hay[i..]).map(|at| i + at);
    }
    hay[i..].iter().position(|&b| b == needle).map(|at| i + at)
}

/// Byte offset of the first `a` or `b` in `hay` (as `memchr2`), short distances eight bytes
/// at a time like [`find_byte`].
#[inline]
pub fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb) = (LO.wrapping_mul(u64::from(a)), LO.wrapping_mul(u64::from(b)));
    let mut i = 0;
    while i + 8 <= hay.len().min(SHORT) {
        let word = u64::from_le_bytes(hay[i..i + 8].try_into().expect("eight bytes"));
        // The lowest flag of each mask is a true match, so the lowest of both is the first.
        let zero = zero_bytes(word ^ pa) | zero_bytes(word ^ pb);
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i >= SHORT {
        return memchr2(a, b, &hay[i..]).map(|at| i + at);
    }
    hay[i..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|at| i + at)
}

/// The needle's byte to scan for and its index in the needle.
fn anchor(needle: &[u8]) -> (usize, u8) {
    let k = needle.iter().position(|&b| b != b' ').unwrap_or(0);
    (k, needle[k])
}

/// `a == b` for two slices of the same length, compared byte by byte: for the short needles
/// of the parsers this costs less than the call to `memcmp` that slice equality makes.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

pub trait Scan {
    /// Byte offset of the first `needle` (as `str::find`).
    fn find_fast(&self, needle: &str) -> Option<usize>;
    /// Byte offset of the last `needle` (as `str::rfind`).
    fn rfind_fast(&self, needle: &str) -> Option<usize>;
    /// Whether `needle` occurs (as `str::contains`).
    fn contains_fast(&self, needle: &str) -> bool {
        self.find_fast(needle).is_some()
    }
    /// The text before and after the first `needle` (as `str::split_once`).
    fn split_once_fast(&self, needle: &str) -> Option<(&str, &str)>;
    /// Byte offset of the first of two ASCII bytes (as `str::find([a, b])`).
    fn find_any2(&self, a: u8, b: u8) -> Option<usize>;
    /// Byte offset of the first of three ASCII bytes (as `str::find([a, b, c])`).
    fn find_any3(&self, a: u8, b: u8, c: u8) -> Option<usize>;
}

impl Scan for str {
    #[inline]
    fn find_fast(&self, needle: &str) -> Option<usize> {
        let (h, n) = (self.as_bytes(), needle.as_bytes());
        match n.len() {
            0 => return Some(0),
            1 => return find_byte(n[0], h),
            _ if n.len() > h.len() => return None,
            _ => {}
        }
        let (k, byte) = anchor(n);
        // Candidates: positions of `byte` at index >= k whose needle would fit.
        let last = h.len() - n.len() + k;
        let mut from = k;
        while from <= last {
            let at = from + find_byte(byte, &h[from..=last])?;
            let start = at - k;
            // The last byte first: most candidates fail there. The needles are a few bytes
            // long, so the rest is compared inline rather than with a call to memcmp.
            if h[start + n.len() - 1] == n[n.len() - 1] && same(&h[start..start + n.len()], n) {
                return Some(start);
            }
            from = at + 1;
        }
        None
    }

    #[inline]
    fn rfind_fast(&self, needle: &str) -> Option<usize> {
        let (h, n) = (self.as_bytes(), needle.as_bytes());
        match n.len() {
            0 => return Some(h.len()),
            1 => return memrchr(n[0], h),
            _ if n.len() > h.len() => return None,
            _ => {}
        }
        let (k, byte) = anchor(n);
        let last = h.len() - n.len() + k;
        // Candidates in h[k..=last], searched from the right.
        let mut end = last + 1;
        while end > k {
            let at = k + memrchr(byte, &h[k..end])?;
            let start = at - k;
            if same(&h[start..start + n.len()], n) {
                return Some(start);
            }
            end = at;
        }
        None
    }

    #[inline]
    fn split_once_fast(&self, needle: &str) -> Option<(&str, &str)> {
        let at = self.find_fast(needle)?;
        Some((&self[..at], &self[at + needle.len()..]))
    }

    #[inline]
    fn find_any2(&self, a: u8, b: u8) -> Option<usize> {
        debug_assert!(a.is_ascii() && b.is_ascii());
        find_byte2(a, b, self.as_bytes())
    }

    #[inline]
    fn find_any3(&self, a: u8, b: u8, c: u8) -> Option<usize> {
        debug_assert!(a.is_ascii() && b.is_ascii() && c.is_ascii());
        memchr3(a, b, c, self.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEEDLES: &[&str] = &[
        ": ",
        " ",
        ":",
        ", ",
        " from ",
        "; from=<",
        ">, ",
        "queued as ",
        "  ",
        "é",
        "aé",
        " é ",
        "x",
        "rate: ",
        "; <client=",
    ];

    #[test]
    fn same_as_std_on_examples() {
        for h in [
            "",
            " ",
            "  ",
            "a: b",
            ": ",
            "connect from a[1.2.3.4]",
            "x; from=<a> to=<b>; from=<c>",
            "é: é, é ",
            "to=<a>, relay=b, status=sent (queued as ABC)",
            "aaaaaé",
        ] {
            for n in NEEDLES {
                assert_eq!(h.find_fast(n), h.find(n), "find {h:?} {n:?}");
                assert_eq!(h.rfind_fast(n), h.rfind(n), "rfind {h:?} {n:?}");
                assert_eq!(h.split_once_fast(n), h.split_once(n), "split {h:?} {n:?}");
            }
            assert_eq!(h.find_any2(b',', b' '), h.find([',', ' ']));
            assert_eq!(h.find_any3(b',', b' ', b';'), h.find([',', ' ', ';']));
        }
    }

    proptest! {
        #[test]
        fn find_byte_is_memchr(h in proptest::collection::vec(0u8..=255, 0..100), b in 0u8..=255, at in 0usize..100) {
            let mut h = h;
            if at < h.len() {
                h[at] = b;
            }
            prop_assert_eq!(find_byte(b, &h), memchr::memchr(b, &h));
            prop_assert_eq!(find_byte(b, &h[h.len().min(3)..]), memchr::memchr(b, &h[h.len().min(3)..]));
        }

        #[test]
        fn find_byte2_is_memchr2(h in proptest::collection::vec(0u8..=255, 0..100), a in 0u8..=255, b in 0u8..=255, at in 0usize..100) {
            let mut h = h;
            if at < h.len() {
                h[at] = b;
            }
            prop_assert_eq!(find_byte2(a, b, &h), memchr::memchr2(a, b, &h));
            prop_assert_eq!(find_byte2(a, b, &h[h.len().min(5)..]), memchr::memchr2(a, b, &h[h.len().min(5)..]));
        }

        #[test]
        fn same_as_std(h in "[ a:;,<>=é]{0,40}", n in "[ a:;,<>=é]{0,5}") {
            prop_assert_eq!(h.find_fast(&n), h.find(n.as_str()));
            prop_assert_eq!(h.rfind_fast(&n), h.rfind(n.as_str()));
            prop_assert_eq!(h.split_once_fast(&n), h.split_once(n.as_str()));
        }
    }
}
