//! The one way through: raw line -> envelope -> event -> correlator -> metrics.
//! `pflog serve` and `pflog replay` both feed lines to [`Pipeline::process_line`].

use prometheus_client::registry::Registry;

use crate::classify::Classifier;
use crate::correlator::{Correlator, CorrelatorConfig, Observation, Session};
use crate::envelope::{self, Clock, Program};
use crate::event::Event;
use crate::metrics::{DEFAULT_LABEL_CAP, Metrics};
use crate::parsers::{self, Daemon, Parsed};

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

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineResult {
    Parsed(&'static str),
    Ignored(&'static str),
    /// No rule understood it; the program label says whose it was.
    Unsupported(&'static str),
}

pub struct Pipeline {
    clock: Clock,
    classifier: Classifier,
    correlator: Correlator,
    metrics: Metrics,
    observations: Vec<Observation>,
}

impl Pipeline {
    /// Builds the pipeline and registers its metric families in `registry`.
    pub fn new(config: PipelineConfig, registry: &mut Registry) -> Result<Pipeline, String> {
        let mut clock = Clock::local(config.year);
        if let Some(off) = config.utc_offset {
            clock = clock.with_fixed_offset(off);
        }
        Ok(Pipeline {
            clock,
            classifier: Classifier::new(&config.reject_rules)?,
            correlator: Correlator::new(config.correlator),
            metrics: Metrics::new(registry, config.label_cap),
            observations: Vec::with_capacity(8),
        })
    }

    /// Replaces the clock (tests pin the year and offset).
    pub fn with_clock(mut self, clock: Clock) -> Pipeline {
        self.clock = clock;
        self
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
        let text = String::from_utf8_lossy(raw);
        envelope::parse(text.trim_end(), &mut self.clock).map(|l| l.timestamp)
    }

    /// Processes one line (without or with its trailing newline). Never panics on any input.
    pub fn process_line(&mut self, raw: &[u8]) -> LineResult {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        let Some(line) = envelope::parse(&text, &mut self.clock) else {
            self.metrics.count_line("other", "unsupported");
            return LineResult::Unsupported("other");
        };
        self.metrics.log_timestamp(line.timestamp);
        let program = Program::split(line.program);
        let (daemon, label) = parsers::classify(&program);
        match parsers::parse(daemon, line.message) {
            Parsed::Event(event) => {
                self.metrics.count_line(label, "parsed");
                let origin = self.metrics.origin(program.instance, program.service);
                let reason = match &event {
                    Event::Reject(r) => self.classifier.reason(r),
                    _ => "",
                };
                self.metrics.record_event(origin, &event, reason);
                let session = match (daemon, line.pid) {
                    (Daemon::Postscreen, _) => Session::Plaintext,
                    (_, Some(pid)) => Session::Pid(pid),
                    (_, None) => Session::Unknown,
                };
                self.correlator.handle(
                    line.timestamp,
                    origin.instance,
                    session,
                    &event,
                    &mut self.observations,
                );
                for obs in self.observations.drain(..) {
                    self.metrics.record_observation(&obs);
                }
                self.metrics.set_tracked(self.correlator.tracked());
                LineResult::Parsed(label)
            }
            Parsed::Unsupported => {
                self.metrics.count_line(label, "unsupported");
                LineResult::Unsupported(label)
            }
            Parsed::Ignored => {
                self.metrics.count_line(label, "ignored");
                LineResult::Ignored(label)
            }
        }
    }
}
