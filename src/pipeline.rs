//! The one way through: raw line -> envelope -> event -> correlator -> metrics.
//! `pflog serve` and `pflog replay` both feed lines to [`Pipeline::process_line`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::FixedState;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::classify::Classifier;
use crate::correlator::{Correlator, CorrelatorConfig, Observation, Session};
use crate::envelope::{self, Clock, Micros, Program, YearState};
use crate::event::Event;
use crate::metrics::{DEFAULT_LABEL_CAP, Metrics, Origin};
use crate::parsers::{self, Daemon};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `--year`: the year of BSD timestamps (inferred when `None`).
    pub year: Option<i32>,
    /// Interpret BSD timestamps at this UTC offset instead of the local time zone.
    pub utc_offset: Option<i32>,
    pub correlator: CorrelatorConfig,
    pub label_cap: usize,
    /// User reject rules (reason, regex), tried before the built-in table.
    pub reject_rules: Vec<(String, String)>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            year: None,
            utc_offset: None,
            correlator: CorrelatorConfig::default(),
            label_cap: DEFAULT_LABEL_CAP,
            reject_rules: Vec::new(),
        }
    }
}

/// A line as text: borrowed when it is valid UTF-8 (nearly always), else with U+FFFD for each
/// invalid sequence. The same result as `String::from_utf8_lossy`, but the valid case is
/// checked with simdutf8 (SIMD; `from_utf8_lossy`'s chunked scan was 15% of all instructions
/// in `pflog replay`, and `str::from_utf8` still 5% of its time).
pub fn text_of(raw: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineResult {
    Parsed(&'static str),
    Ignored(&'static str),
    /// No rule understood it; the program label says whose it was.
    Unsupported(&'static str),
}

/// The stage of a line that needs no shared state: its envelope, its event and the reason of
/// a reject. [`Pipeline::process_text`] runs it and then [`Pipeline::record`]; `pflog replay`
/// runs it on other threads for whole chunks of lines (see [`Pipeline::stager`]) and hands the
/// results to `record` in order.
#[derive(Clone)]
pub struct Stager {
    clock: Clock,
    classifier: Arc<Classifier>,
    /// Program name -> daemon and slot, bounded like the slots.
    programs: Names<(Daemon, Option<u16>)>,
    /// Shared by every copy of this stager.
    slots: Arc<Slots>,
}

/// Program names numbered alike for every copy of a stager: a staged line carries its
/// program's number, and recording finds what the program stands for by index. Looking the
/// name up again while recording (hashing it, reading the line's text once more on the
/// recording core) held up `Pipeline::record` more than anything else in it; without it, one
/// CPU, 15 rounds: median 369 -> 348 ms (`benches/README.md`, "Sixth round"). At most
/// [`MAX_PROGRAMS`] names of at most [`MAX_PROGRAM_BYTES`]; other names have no slot and take
/// the uncached path.
#[derive(Default)]
struct Slots(Mutex<Names<u16>>);

impl Slots {
    /// The slot of `name`, numbered on its first use by any stager.
    fn of(&self, name: &str) -> Option<u16> {
        let mut names = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = names.get(name) {
            return Some(slot);
        }
        let next = u16::try_from(names.len()).ok()?;
        names.insert(name, next).then_some(next)
    }
}

/// A line after [`Stager::stage`] (`None`: no syslog envelope could be read).
pub type Staged<'a> = Option<StagedLine<'a>>;

#[derive(Debug, Clone, Copy)]
pub struct StagedLine<'a> {
    timestamp: Micros,
    program: &'a str,
    pid: Option<u32>,
    daemon: Daemon,
    /// The program's [`Slots`] number.
    slot: Option<u16>,
    /// What the message says (`None`: not understood).
    event: Option<Event<'a>>,
    /// Whether pflog follows the program (else its lines are ignored).
    followed: bool,
    /// The reason of a reject event (else empty).
    reason: &'static str,
}

impl Stager {
    /// Reads one line (without or with its line end).
    pub fn stage<'a>(&mut self, text: &'a str) -> Staged<'a> {
        let mut staged = None;
        self.stage_into(text, &mut staged);
        staged
    }

    /// [`Stager::stage`] into `out`, where the line is to stay (`pflog replay`'s chunks): the
    /// event is built in place instead of being built and copied twice more.
    pub fn stage_into<'a>(&mut self, text: &'a str, out: &mut Staged<'a>) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let Some(line) = envelope::parse(text, &mut self.clock) else {
            *out = None;
            return;
        };
        let (daemon, slot) = self.program(line.program);
        let staged = out.insert(StagedLine {
            timestamp: line.timestamp,
            program: line.program,
            pid: line.pid,
            daemon,
            slot,
            event: None,
            followed: false,
            reason: "",
        });
        staged.followed = parsers::parse_into(daemon, line.message, &mut staged.event);
        if let Some(Event::Reject(r)) = &staged.event {
            staged.reason = self.classifier.reason(r);
        }
    }

    fn program(&mut self, program: &str) -> (Daemon, Option<u16>) {
        if let Some(known) = self.programs.get(program) {
            return known;
        }
        let (daemon, _) = parsers::classify(&Program::split(program));
        let slot = self.slots.of(program);
        self.programs.insert(program, (daemon, slot));
        (daemon, slot)
    }

    /// The part of the clock's state that lines depend on (BSD timestamps' year).
    pub fn year_state(&self) -> YearState {
        self.clock.year_state()
    }
}

pub struct Pipeline {
    stager: Stager,
    correlator: Correlator,
    metrics: Metrics,
    observations: Vec<Observation>,
    /// What each program of the log stands for, by its slot (see [`Slots`]), so that
    /// splitting it, classifying it, interning its labels and finding its `pflog_lines_total`
    /// counters happen once per name instead of once per line. Filled as lines are recorded;
    /// lines of names without a slot take the uncached path.
    known: Vec<Option<KnownProgram>>,
}

const MAX_PROGRAMS: usize = 256;
const MAX_PROGRAM_BYTES: usize = 64;

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
    /// byte: no call to `memcpy` for a copy of variable length (1.4% of replay's samples in a
    /// profile).
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

struct KnownProgram {
    /// The `program` label of `pflog_lines_total`.
    label: &'static str,
    /// Its instance and service labels, interned on its first line that is an event (as
    /// before: lines of other programs never take up room under the label caps), and kept
    /// only when both were within their caps (asking again would count an overflow again).
    origin: Option<Origin>,
    /// `pflog_lines_total{program=label, result=RESULTS[i]}`, created on first use.
    lines: [Option<Counter>; 3],
}

/// What the program remembered at `known` stands for (a function of the list alone, so that
/// the metrics stay free to borrow meanwhile).
fn known_at(list: &mut [Option<KnownProgram>], known: Option<usize>) -> Option<&mut KnownProgram> {
    list.get_mut(known?)?.as_mut()
}

const PARSED: usize = 0;
const UNSUPPORTED: usize = 1;
const IGNORED: usize = 2;
const RESULTS: [&str; 3] = ["parsed", "unsupported", "ignored"];

impl Pipeline {
    /// Builds the pipeline and registers its metric families in `registry`.
    pub fn new(config: PipelineConfig, registry: &mut Registry) -> Result<Pipeline, String> {
        let mut clock = Clock::local(config.year);
        if let Some(off) = config.utc_offset {
            clock = clock.with_fixed_offset(off);
        }
        Ok(Pipeline {
            stager: Stager {
                clock,
                classifier: Arc::new(Classifier::new(&config.reject_rules)?),
                programs: Names::default(),
                slots: Arc::default(),
            },
            correlator: Correlator::new(config.correlator),
            metrics: Metrics::new(registry, config.label_cap),
            observations: Vec::with_capacity(8),
            known: Vec::new(),
        })
    }

    /// Replaces the clock (tests pin the year and offset).
    pub fn with_clock(mut self, clock: Clock) -> Pipeline {
        self.stager.clock = clock;
        self
    }

    /// A copy of the line stage as it stands, for another thread.
    pub fn stager(&self) -> Stager {
        self.stager.clone()
    }

    /// The year state that the next line will be read with.
    pub fn year_state(&self) -> YearState {
        self.stager.year_state()
    }

    /// Takes over the year state of a stager that read the lines just recorded.
    pub fn set_year_state(&mut self, state: YearState) {
        self.stager.clock.set_year_state(state);
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The correlation state (size getters for tests and soak runs).
    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    /// The timestamp of a line, read with the same clock as processing (used to merge logs).
    pub fn timestamp_of(&mut self, raw: &[u8]) -> Option<envelope::Micros> {
        let text = text_of(raw);
        envelope::parse(text.trim_end(), &mut self.stager.clock).map(|l| l.timestamp)
    }

    /// The `program` label of `program`, and where it is remembered (`None`: not remembered).
    fn program(&mut self, program: &str, slot: Option<u16>) -> (&'static str, Option<usize>) {
        let Some(i) = slot.map(usize::from) else {
            return (parsers::classify(&Program::split(program)).1, None);
        };
        if i >= self.known.len() {
            self.known.resize_with(i + 1, || None);
        }
        let known = self.known[i].get_or_insert_with(|| KnownProgram {
            label: parsers::classify(&Program::split(program)).1,
            origin: None,
            lines: [None, None, None],
        });
        (known.label, Some(i))
    }

    /// The instance and service labels of `program`.
    fn origin(&mut self, known: Option<usize>, program: &str) -> Origin {
        if let Some(origin) = known_at(&mut self.known, known).and_then(|k| k.origin) {
            return origin;
        }
        let split = Program::split(program);
        let (origin, within_caps) = self.metrics.origin_checked(split.instance, split.service);
        if let Some(k) = known_at(&mut self.known, known)
            && within_caps
        {
            k.origin = Some(origin);
        }
        origin
    }

    /// Counts a line in `pflog_lines_total`.
    fn count_line(&mut self, known: Option<usize>, label: &'static str, result: usize) {
        let Some(k) = known_at(&mut self.known, known) else {
            self.metrics.count_line(label, RESULTS[result]);
            return;
        };
        match &mut k.lines[result] {
            Some(counter) => {
                counter.inc();
            }
            slot @ None => {
                let counter = self.metrics.line_counter(label, RESULTS[result]);
                counter.inc();
                *slot = Some(counter);
            }
        }
    }

    /// Processes one line (without or with its trailing newline). Never panics on any input.
    pub fn process_line(&mut self, raw: &[u8]) -> LineResult {
        self.process_text(&text_of(raw))
    }

    /// [`Pipeline::process_line`] for a line already known to be UTF-8 (replay's reader thread
    /// checks whole chunks at once).
    pub fn process_text(&mut self, text: &str) -> LineResult {
        let staged = self.stager.stage(text);
        self.record(&staged)
    }

    /// Counts, correlates and records a staged line. Lines must come in log order, staged by
    /// this pipeline's stager or by a copy whose year state matched (see
    /// [`Pipeline::year_state`]).
    pub fn record(&mut self, staged: &Staged<'_>) -> LineResult {
        let Some(line) = staged else {
            self.metrics.count_line("other", "unsupported");
            return LineResult::Unsupported("other");
        };
        self.metrics.log_timestamp(line.timestamp);
        let (label, known) = self.program(line.program, line.slot);
        match &line.event {
            Some(event) => {
                self.count_line(known, label, PARSED);
                let origin = self.origin(known, line.program);
                self.metrics.record_event(origin, event, line.reason);
                let session = match (line.daemon, line.pid) {
                    (Daemon::Postscreen, _) => Session::Plaintext,
                    (_, Some(pid)) => Session::Pid(pid),
                    (_, None) => Session::Unknown,
                };
                self.correlator.handle(
                    line.timestamp,
                    origin.instance,
                    session,
                    event,
                    &mut self.observations,
                );
                for obs in self.observations.drain(..) {
                    self.metrics.record_observation(&obs);
                }
                self.metrics.set_tracked(self.correlator.tracked());
                LineResult::Parsed(label)
            }
            None if line.followed => {
                self.count_line(known, label, UNSUPPORTED);
                LineResult::Unsupported(label)
            }
            None => {
                self.count_line(known, label, IGNORED);
                LineResult::Ignored(label)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, render};

    fn run(label_cap: usize, lines: &[&str]) -> String {
        let mut registry = Registry::default();
        let config = PipelineConfig {
            label_cap,
            ..PipelineConfig::default()
        };
        let mut p = Pipeline::new(config, &mut registry)
            .unwrap()
            .with_clock(Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0));
        for line in lines {
            p.process_line(line.as_bytes());
        }
        render(&registry, Format::Prometheus)
    }

    fn value(exposition: &str, series: &str) -> Option<String> {
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_string)
    }

    proptest::proptest! {
        #[test]
        fn text_of_is_from_utf8_lossy(raw in proptest::collection::vec(0u8..=255, 0..80)) {
            proptest::prop_assert_eq!(text_of(&raw), String::from_utf8_lossy(&raw));
        }

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

        #[test]
        fn text_of_valid_text(text in "\\PC{0,80}") {
            proptest::prop_assert_eq!(text_of(text.as_bytes()), Cow::Borrowed(text.as_str()));
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
        let pipeline = Pipeline::new(PipelineConfig::default(), &mut Registry::default()).unwrap();
        let (mut a, mut b) = (pipeline.stager(), pipeline.stager());
        let smtpd = a.program("postfix/smtpd");
        let qmgr = b.program("postfix/qmgr");
        assert_eq!(b.program("postfix/smtpd"), smtpd);
        assert_eq!(a.program("postfix/qmgr"), qmgr);
        assert!(smtpd.1.is_some() && qmgr.1.is_some() && smtpd.1 != qmgr.1);
        for i in 2..MAX_PROGRAMS {
            assert!(a.program(&format!("p{i}")).1.is_some());
        }
        assert_eq!(b.program("one too many").1, None);
        assert_eq!(b.program("p255"), a.program("p255"));
        assert_eq!(pipeline.stager().program("postfix/smtpd"), smtpd);
    }

    /// Remembering programs changes nothing: labels of ignored programs never take up room
    /// under the caps, and each line of a program over the cap counts an overflow again.
    #[test]
    fn remembered_programs_count_as_before() {
        let lines = [
            "Nov 23 00:00:00 mx dovecot: imap-login: Login: user=<a@b>",
            "Nov 23 00:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
            "Nov 23 00:00:01 mx postfix/qmgr[2]: 4A1B2C3D4E: removed",
            "Nov 23 00:00:02 mx postfix/qmgr[2]: 4A1B2C3D4E: removed",
            "Nov 23 00:00:03 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
            "Nov 23 00:00:04 mx postfix/qmgr[2]: 4A1B2C3D4E: something new",
        ];
        let out = run(1, &lines);
        let overflow = r#"pflog_label_overflow_total{metric="postfix_*",label="service"}"#;
        assert_eq!(value(&out, overflow).as_deref(), Some("2"), "{out}");
        let connections =
            r#"postfix_smtpd_connections_total{postfix_instance="postfix",service="smtpd"}"#;
        assert_eq!(value(&out, connections).as_deref(), Some("2"), "{out}");
        for (program, result, n) in [
            ("other", "ignored", "1"),
            ("smtpd", "parsed", "2"),
            ("qmgr", "parsed", "2"),
            ("qmgr", "unsupported", "1"),
        ] {
            let series = format!(r#"pflog_lines_total{{program="{program}",result="{result}"}}"#);
            assert_eq!(value(&out, &series).as_deref(), Some(n), "{series}\n{out}");
        }
        assert!(
            !out.contains(r#"program="smtpd",result="ignored""#),
            "{out}"
        );
    }
}
