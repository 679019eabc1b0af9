//! What a line's program stands for, worked out once per program name instead of once per
//! line: its daemon (on the stager's side), and its `program` label, Postfix instance, metric
//! labels and `pflog_lines_total` counters (on the recording side).
//!
//! Program names are numbered alike for every copy of a stager ([`Slots`]): a staged line
//! carries its program's number, and recording finds what the program stands for by index,
//! without hashing the name or reading the line's text again. At most [`MAX_PROGRAMS`] names
//! of at most [`MAX_PROGRAM_BYTES`] are numbered; other names have no slot and are worked out
//! for each of their lines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::FixedState;
use prometheus_client::metrics::counter::Counter;

use crate::correlator::InstanceKey;
use crate::envelope::Program;
use crate::metrics::{LineOutcome, Metrics, Origin};
use crate::parsers::{self, Daemon};

pub(crate) const MAX_PROGRAMS: usize = 256;
pub(crate) const MAX_PROGRAM_BYTES: usize = 64;

/// The stager's side: program name -> daemon and slot. Copies (one per replay worker) share
/// the numbering.
#[derive(Clone, Default)]
pub(crate) struct StagerPrograms {
    names: Names<(Daemon, Option<u16>)>,
    slots: Arc<Slots>,
}

impl StagerPrograms {
    pub(crate) fn resolve(&mut self, program: &str) -> (Daemon, Option<u16>) {
        if let Some(known) = self.names.get(program) {
            return known;
        }
        let (daemon, _) = parsers::daemon_of(&Program::split(program));
        let slot = self.slots.of(program);
        self.names.insert(program, (daemon, slot));
        (daemon, slot)
    }
}

/// Program names numbered on their first use by any copy of a stager.
#[derive(Default)]
struct Slots(Mutex<Names<u16>>);

impl Slots {
    fn of(&self, name: &str) -> Option<u16> {
        let mut names = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = names.get(name) {
            return Some(slot);
        }
        let next = u16::try_from(names.len()).ok()?;
        names.insert(name, next).then_some(next)
    }
}

/// The recording side: what each numbered program stands for, filled as lines are recorded.
#[derive(Default)]
pub(crate) struct KnownPrograms {
    known: Vec<Option<KnownProgram>>,
    /// The program of a line without a slot, worked out afresh for each such line.
    scratch: Option<KnownProgram>,
}

impl KnownPrograms {
    /// What `program` (numbered `slot` by the stager) stands for.
    pub(crate) fn resolve(&mut self, program: &str, slot: Option<u16>) -> &mut KnownProgram {
        let Some(i) = slot.map(usize::from) else {
            return self.scratch.insert(KnownProgram::new(program));
        };
        if i >= self.known.len() {
            self.known.resize_with(i + 1, || None);
        }
        self.known[i].get_or_insert_with(|| KnownProgram::new(program))
    }
}

pub(crate) struct KnownProgram {
    /// The `program` label of `pflog_lines_total`.
    pub(crate) label: &'static str,
    /// Its Postfix instance, as the correlator tells instances apart.
    pub(crate) instance: InstanceKey,
    /// Its instance and service labels, interned on its first line that is an event (lines of
    /// other programs never take up room under the label caps), and kept only when both were
    /// within their caps (asking again would count an overflow again).
    origin: Option<Origin>,
    /// `pflog_lines_total{program=label, result}`, indexed by [`LineOutcome`], created on
    /// first use.
    lines: [Option<Counter>; 3],
}

impl KnownProgram {
    fn new(program: &str) -> KnownProgram {
        let split = Program::split(program);
        KnownProgram {
            label: parsers::daemon_of(&split).1,
            instance: InstanceKey::of(split.instance),
            origin: None,
            lines: [None, None, None],
        }
    }

    /// The instance and service labels of `program` (this program's name).
    pub(crate) fn origin(&mut self, metrics: &mut Metrics, program: &str) -> Origin {
        if let Some(origin) = self.origin {
            return origin;
        }
        let split = Program::split(program);
        let (origin, within_caps) = metrics.origin(split.instance, split.service);
        if within_caps {
            self.origin = Some(origin);
        }
        origin
    }

    /// Counts a line of this program in `pflog_lines_total`.
    pub(crate) fn count(&mut self, metrics: &mut Metrics, result: LineOutcome) {
        self.lines[result as usize]
            .get_or_insert_with(|| metrics.line_counter(self.label, result))
            .inc();
    }
}

/// Program names with what each stands for: at most [`MAX_PROGRAMS`] names of at most
/// [`MAX_PROGRAM_BYTES`]. A name of up to 16 bytes (`postfix/smtpd`, nearly all) is looked up
/// as one integer and its length instead of being hashed and compared as a string, twice a
/// line (stager and pipeline).
#[derive(Clone)]
struct Names<V> {
    short: HashMap<(u128, u8), V, FixedState>,
    long: HashMap<Box<str>, V, FixedState>,
}

impl<V> Default for Names<V> {
    fn default() -> Self {
        Names {
            short: HashMap::with_hasher(FixedState::default()),
            long: HashMap::with_hasher(FixedState::default()),
        }
    }
}

impl<V: Copy> Names<V> {
    /// A name of up to 16 bytes as one integer and its length. The bytes are read as two
    /// overlapping words (the first and the last 8, or 4, bytes), which together hold every
    /// byte: no call to `memcpy` for a copy of variable length.
    fn short_key(name: &str) -> Option<(u128, u8)> {
        let b = name.as_bytes();
        let word = |at: usize, n: usize| -> u64 {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&b[at..at + n]);
            u64::from_le_bytes(w)
        };
        let (first, last) = match b.len() {
            0 => (0, 0),
            1..=3 => (
                u64::from(b[0]) | u64::from(b[b.len() / 2]) << 8,
                u64::from(b[b.len() - 1]),
            ),
            4..=7 => (word(0, 4), word(b.len() - 4, 4)),
            8..=16 => (word(0, 8), word(b.len() - 8, 8)),
            _ => return None,
        };
        Some((u128::from(first) | u128::from(last) << 64, b.len() as u8))
    }

    fn get(&self, name: &str) -> Option<V> {
        match Names::<V>::short_key(name) {
            Some(key) => self.short.get(&key).copied(),
            None => self.long.get(name).copied(),
        }
    }

    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Remembers `name` unless it is too long or the table is full; says whether it did.
    fn insert(&mut self, name: &str, value: V) -> bool {
        if name.len() > MAX_PROGRAM_BYTES || self.len() >= MAX_PROGRAMS {
            return false;
        }
        match Names::<V>::short_key(name) {
            Some(key) => self.short.insert(key, value),
            None => self.long.insert(name.into(), value),
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Two names have the same short key only when they are the same name: the key is the
        /// names' bytes, not a hash of them. `b` is `a` with one byte changed (anywhere: the
        /// middle, either end) and `a` cut short by one byte.
        #[test]
        fn short_keys_tell_names_apart(
            a in proptest::collection::vec(b'a'..=b'c', 1..=17),
            at in 0usize..17,
            byte in b'a'..=b'c',
        ) {
            let mut b = a.clone();
            let i = at % b.len();
            b[i] = byte;
            let cut = &a[..a.len() - 1];
            let key = |name: &[u8]| Names::<()>::short_key(std::str::from_utf8(name).unwrap());
            proptest::prop_assert_eq!(key(&a).is_some(), a.len() <= 16);
            if a.len() <= 16 {
                proptest::prop_assert_eq!(key(&a) == key(&b), a == b, "{:?} {:?}", a, b);
                proptest::prop_assert_ne!(key(&a), key(cut));
            }
        }

    }

    /// Names that differ only in trailing NUL bytes or past 16 bytes stay apart; the table
    /// keeps no name that is too long, nor more than it may.
    #[test]
    fn program_names_are_told_apart_and_bounded() {
        let mut names = Names::default();
        let sixteen = "postfix-out/smtp";
        let seventeen = "postfix-out/smtpd";
        let apart = ["ab", "ab\0", "ab\0\0", "", sixteen, seventeen];
        for (i, name) in apart.iter().enumerate() {
            assert!(names.insert(name, i), "{name:?}");
        }
        for (i, name) in apart.iter().enumerate() {
            assert_eq!(names.get(name), Some(i), "{name:?}");
        }
        assert_eq!(names.get("ab\0\0\0"), None);
        assert_eq!(names.get("postfix-out/smtpe"), None);
        assert!(!names.insert(&"x".repeat(MAX_PROGRAM_BYTES + 1), 9));
        for i in 6..MAX_PROGRAMS {
            assert!(names.insert(&format!("p{i}"), i));
        }
        assert!(!names.insert("one too many", 0));
        assert_eq!(names.get("one too many"), None);
        assert_eq!(names.get("p255"), Some(255));
    }

    /// Every copy of a stager numbers a program alike, whichever saw it first; names past the
    /// bound get no number.
    #[test]
    fn copies_of_a_stager_number_programs_alike() {
        let first = StagerPrograms::default();
        let (mut a, mut b) = (first.clone(), first.clone());
        let smtpd = a.resolve("postfix/smtpd");
        let qmgr = b.resolve("postfix/qmgr");
        assert_eq!(b.resolve("postfix/smtpd"), smtpd);
        assert_eq!(a.resolve("postfix/qmgr"), qmgr);
        assert!(smtpd.1.is_some() && qmgr.1.is_some() && smtpd.1 != qmgr.1);
        for i in 2..MAX_PROGRAMS {
            assert!(a.resolve(&format!("p{i}")).1.is_some());
        }
        assert_eq!(b.resolve("one too many").1, None);
        assert_eq!(b.resolve("p255"), a.resolve("p255"));
        assert_eq!(first.clone().resolve("postfix/smtpd"), smtpd);
    }
}
