//! The one way through: raw line -> envelope -> event -> correlator -> metrics.
//!
//! A line is first *staged* ([`Stager`]: its envelope, its program's daemon, its event, the
//! reason class of a reject), which needs no shared state, then *recorded*
//! ([`Pipeline::record`]: counted, correlated, turned into metrics), in log order.
//! `pflog serve` does both for each line ([`Pipeline::process_line`]); `pflog replay` stages
//! whole chunks on every core and records them in turn.

mod programs;

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::correlator::{Correlator, CorrelatorConfig, InstanceKey, Observation, Session};
use crate::envelope::{self, Clock, Micros, YearState};
use crate::event::{Event, Level};
use crate::metrics::{DEFAULT_LABEL_CAP, LineOutcome, Metrics, Origin};
use crate::parsers::{self, Daemon};
use crate::reject_reason::Classifier;
use programs::{KnownPrograms, StagerPrograms};

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
/// invalid sequence. The same result as `String::from_utf8_lossy`, with the valid case checked
/// by simdutf8 (`from_utf8_lossy`'s own check is far slower on the hot path).
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

/// The stage of a line that needs no shared state. [`Pipeline::process_text`] runs it and then
/// [`Pipeline::record`]; `pflog replay` runs copies of it on other threads for whole chunks of
/// lines (see [`Pipeline::stager`]) and hands the results to `record` in order.
#[derive(Clone)]
pub struct Stager {
    clock: Clock,
    classifier: Arc<Classifier>,
    programs: StagerPrograms,
}

/// A line after [`Stager::stage`] (`None`: no syslog envelope could be read).
pub type Staged<'a> = Option<StagedLine<'a>>;

#[derive(Debug, Clone, Copy)]
pub struct StagedLine<'a> {
    timestamp: Micros,
    program: &'a str,
    pid: Option<u32>,
    daemon: Daemon,
    /// The program's number (see `programs`).
    slot: Option<u16>,
    /// What the message says (`None`: not understood).
    event: Option<Event<'a>>,
    /// The level the message says it is written at (`warning: ...`), whatever else it is.
    level: Option<Level>,
    /// Whether pflog follows the program (else its lines are ignored).
    followed: bool,
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
        let (daemon, slot) = self.programs.resolve(line.program);
        let staged = out.insert(StagedLine {
            timestamp: line.timestamp,
            program: line.program,
            pid: line.pid,
            daemon,
            slot,
            event: None,
            level: None,
            followed: false,
        });
        staged.followed = parsers::parse_into(daemon, line.message, &mut staged.event);
        if staged.followed {
            // The message's own word, else what the parser read as a diagnostic (opendkim's
            // and opendmarc's errors carry no `error:` word; their level is in the text).
            staged.level = parsers::misc::level(line.message).or(match &staged.event {
                Some(Event::Diagnostic(level)) => Some(*level),
                _ => None,
            });
        }
        if let Some(Event::Reject(r)) = &mut staged.event {
            r.reason = self.classifier.reason(r);
        }
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
    programs: KnownPrograms,
    instances: InstanceLabels,
}

/// The `postfix_instance` label of each Postfix instance the correlator tells apart, for the
/// outcomes it reports on a later line than the one that concluded them (held outcomes).
#[derive(Default)]
struct InstanceLabels {
    known: Vec<(InstanceKey, &'static str)>,
}

/// Instances remembered; past them, an instance's held outcomes are labelled `other` (as past
/// `--label-cap`).
const MAX_INSTANCES: usize = 64;

impl InstanceLabels {
    /// Remembers the label of `key` (called with every line's: a handful of instances at most,
    /// nearly always one).
    fn note(&mut self, key: InstanceKey, label: &'static str) {
        if key != InstanceKey::NONE
            && !self.known.iter().any(|(k, _)| *k == key)
            && self.known.len() < MAX_INSTANCES
        {
            self.known.push((key, label));
        }
    }

    fn label(&self, key: InstanceKey) -> &'static str {
        if key == InstanceKey::NONE {
            return "";
        }
        self.known
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("other", |(_, label)| label)
    }
}

impl Pipeline {
    /// Builds the pipeline and registers its metric families in `registry`.
    pub fn new(config: PipelineConfig, registry: &mut Registry) -> Result<Pipeline, String> {
        Ok(Pipeline {
            stager: Stager {
                clock: Clock::for_logs(config.year, config.utc_offset),
                classifier: Arc::new(Classifier::new(&config.reject_rules)?),
                programs: StagerPrograms::default(),
            },
            correlator: Correlator::new(config.correlator),
            metrics: Metrics::new(registry, config.label_cap),
            observations: Vec::with_capacity(8),
            programs: KnownPrograms::default(),
            instances: InstanceLabels::default(),
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
        let metrics = &mut self.metrics;
        let Some(line) = staged else {
            metrics.count_line("other", LineOutcome::Unsupported);
            return LineResult::Unsupported("other");
        };
        metrics.log_timestamp(line.timestamp);
        let program = self.programs.resolve(line.program, line.slot);
        // Counted apart from the event: a warning is a warning whatever a parser made of it.
        if let Some(level) = line.level {
            let origin = program.origin(metrics, line.program);
            metrics.diagnostic(origin, level);
        }
        let Some(event) = &line.event else {
            return if line.followed {
                program.count(metrics, LineOutcome::Unsupported);
                LineResult::Unsupported(program.label)
            } else {
                program.count(metrics, LineOutcome::Ignored);
                LineResult::Ignored(program.label)
            };
        };
        program.count(metrics, LineOutcome::Parsed);
        let origin = program.origin(metrics, line.program);
        self.instances.note(program.instance, origin.instance);
        metrics.record_event(origin, event);
        let session = match (line.daemon, line.pid) {
            (Daemon::Postscreen, _) => Session::Plaintext,
            (_, Some(pid)) => Session::Pid(pid),
            (_, None) => Session::Unknown,
        };
        self.correlator.handle(
            line.timestamp,
            program.instance,
            session,
            event,
            &mut self.observations,
        );
        for obs in self.observations.drain(..) {
            let origin = match obs {
                // Held, then reported on another instance's line.
                Observation::Outcome { instance, .. } if instance != program.instance => Origin {
                    instance: self.instances.label(instance),
                    ..origin
                },
                _ => origin,
            };
            metrics.record_observation(origin, &obs);
        }
        metrics.set_tracked(self.correlator.tracked(), self.correlator.held());
        LineResult::Parsed(program.label)
    }

    /// Reports the outcomes the correlator holds back for late annotations (an rspamd verdict
    /// read after the delivery): at the end of input, or when the log has been quiet for
    /// longer than the join window.
    pub fn release_held(&mut self) {
        self.correlator.release_held(&mut self.observations);
        for obs in self.observations.drain(..) {
            let instance = match obs {
                Observation::Outcome { instance, .. } => self.instances.label(instance),
                _ => "",
            };
            let origin = Origin {
                instance,
                service: "",
            };
            self.metrics.record_observation(origin, &obs);
        }
        self.metrics
            .set_tracked(self.correlator.tracked(), self.correlator.held());
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
        // The end of input, as in replay.
        p.release_held();
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

        #[test]
        fn text_of_valid_text(text in "\\PC{0,80}") {
            proptest::prop_assert_eq!(text_of(text.as_bytes()), Cow::Borrowed(text.as_str()));
        }
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

    /// Two instances whose labels overflowed into `other` are still two instances to the
    /// correlator: `postfix-c` removing its queue ID does not end `postfix-b`'s message of the
    /// same ID (it did when the correlator keyed messages by the capped label: end to end 0).
    #[test]
    fn instances_past_the_label_cap_stay_apart() {
        let lines = [
            "Nov 23 00:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
            "Nov 23 00:00:01 mx postfix-b/qmgr[2]: 4A1B2C3D4E: from=<s@x>, size=100, nrcpt=1 (queue active)",
            "Nov 23 00:00:02 mx postfix-c/qmgr[3]: 4A1B2C3D4E: removed",
            "Nov 23 00:00:11 mx postfix-b/smtp[4]: 4A1B2C3D4E: to=<u@y>, relay=r[192.0.2.2]:25, delay=10, delays=0/0/0/10, dsn=2.0.0, status=sent (250 ok)",
        ];
        let out = run(1, &lines);
        let e2e = r#"postfix_message_end_to_end_seconds_sum{postfix_instance="other",outcome="delivered"}"#;
        assert_eq!(value(&out, e2e).as_deref(), Some("10.0"), "{out}");
    }
}
