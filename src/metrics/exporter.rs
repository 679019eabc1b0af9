//! pflog's own health: lines read by program and result, correlation state, the newest log
//! time, the version.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::family::{Counters, Registrar, label_set};
use crate::correlator::Eviction;

label_set! {
    pub struct LinesLabels { program, result }
}
label_set! {
    struct Reason { reason }
}
label_set! {
    struct Version { version }
}

/// What became of a line, in `pflog_lines_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    Parsed,
    Unsupported,
    Ignored,
}

impl LineOutcome {
    fn label(self) -> &'static str {
        match self {
            LineOutcome::Parsed => "parsed",
            LineOutcome::Unsupported => "unsupported",
            LineOutcome::Ignored => "ignored",
        }
    }
}

pub struct Exporter {
    lines: Counters<LinesLabels>,
    tracked: Gauge,
    held: Gauge,
    evictions: Counters<Reason>,
    last_timestamp: Gauge<f64, AtomicU64>,
    last_ts_micros: i64,
}

impl Exporter {
    pub fn new(r: &mut Registrar<'_>) -> Exporter {
        let lines = r.counters("pflog_lines", "Log lines read, by program and result");
        let tracked = Gauge::default();
        r.metric(
            "pflog_tracked_messages",
            "Messages held by the correlator",
            tracked.clone(),
        );
        let held = Gauge::default();
        r.metric(
            "pflog_held_outcomes",
            "Final outcomes held back for their message's rspamd verdict (at most --join-window of log time)",
            held.clone(),
        );
        let mut evictions = r.counters(
            "pflog_correlation_evictions",
            "Correlation state dropped before completion (capacity: LRU full; expired: idle longer than the TTL in log time)",
        );
        // Both reasons exist from the start at 0, so that rate() and alerts work before the
        // first eviction.
        for reason in [Eviction::Capacity, Eviction::Expired] {
            let _ = evictions.get(Reason {
                reason: eviction_label(reason),
            });
        }
        let last_timestamp = Gauge::default();
        r.metric(
            "pflog_last_log_timestamp_seconds",
            "Timestamp of the newest log line read",
            last_timestamp.clone(),
        );
        Exporter {
            lines,
            tracked,
            held,
            evictions,
            last_timestamp,
            last_ts_micros: i64::MIN,
        }
    }

    /// `pflog_build_info`.
    pub fn register_build_info(r: &mut Registrar<'_>) {
        let build_info: Family<Version, Gauge> = Family::default();
        build_info
            .get_or_create(&Version {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.metric("pflog_build_info", "pflog's version", build_info);
    }

    pub fn count_line(&mut self, program: &'static str, result: LineOutcome) {
        self.line_counter(program, result).inc();
    }

    /// The counter of `pflog_lines_total{program, result}` (created now if new), for callers
    /// that keep it.
    pub fn line_counter(&mut self, program: &'static str, result: LineOutcome) -> &Counter {
        self.lines.get(LinesLabels {
            program,
            result: result.label(),
        })
    }

    pub fn log_timestamp(&mut self, micros: i64) {
        if micros > self.last_ts_micros {
            self.last_ts_micros = micros;
            self.last_timestamp.set(micros as f64 / 1e6);
        }
    }

    pub fn set_tracked(&self, n: usize) {
        self.tracked.set(n as i64);
    }

    pub fn set_held(&self, n: usize) {
        self.held.set(n as i64);
    }

    pub fn eviction(&mut self, reason: Eviction) {
        self.evictions
            .get(Reason {
                reason: eviction_label(reason),
            })
            .inc();
    }
}

fn eviction_label(e: Eviction) -> &'static str {
    match e {
        Eviction::Capacity => "capacity",
        Eviction::Expired => "expired",
    }
}
