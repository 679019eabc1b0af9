//! Label values that come from the log, capped per label.
//!
//! Each distinct value is interned once as a `&'static str` (leaked on purpose: the cap bounds how
//! many there can ever be), so label sets are `Copy`, hash cheaply and never allocate per line.

use std::collections::HashSet;

use foldhash::fast::FixedState;

/// Longest label value kept; longer values (attacker-chosen text) are cut at a char boundary.
pub const MAX_VALUE_BYTES: usize = 128;

/// The distinct values seen for one label of one metric, up to `max`.
#[derive(Debug)]
pub struct LabelCap {
    max: usize,
    /// foldhash instead of SipHash (one lookup per capped label per line): the set never holds
    /// more than `max` values, so colliding values chosen by whoever writes the log cost at
    /// most `max` comparisons.
    values: HashSet<&'static str, FixedState>,
    /// The value given last: most lines repeat it (`TLSv1.3`, `sent`), and comparing it is
    /// cheaper than hashing.
    last: Option<&'static str>,
}

impl LabelCap {
    pub fn new(max: usize) -> LabelCap {
        LabelCap {
            max,
            values: HashSet::with_hasher(FixedState::default()),
            last: None,
        }
    }

    /// The interned value, or `None` when the cap is reached and `value` is new: the caller
    /// reports `other` and counts the overflow.
    pub fn intern(&mut self, value: &str) -> Option<&'static str> {
        let value = truncate(value);
        if let Some(last) = self.last
            && last == value
        {
            return Some(last);
        }
        if let Some(&v) = self.values.get(value) {
            self.last = Some(v);
            return Some(v);
        }
        if self.values.len() >= self.max {
            return None;
        }
        let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
        self.values.insert(leaked);
        self.last = Some(leaked);
        Some(leaked)
    }
}

fn truncate(value: &str) -> &str {
    if value.len() <= MAX_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_holds_and_reuses() {
        let mut cap = LabelCap::new(2);
        let a = cap.intern("a").unwrap();
        assert!(std::ptr::eq(a, cap.intern("a").unwrap()));
        assert_eq!(cap.intern("b"), Some("b"));
        assert_eq!(cap.intern("c"), None);
        assert_eq!(cap.intern("a"), Some("a"));
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary() {
        let mut cap = LabelCap::new(4);
        let long = "é".repeat(200);
        let v = cap.intern(&long).unwrap();
        assert!(v.len() <= MAX_VALUE_BYTES);
        assert!(long.starts_with(v));
    }
}
