//! The sources' own metrics: rotations, read errors and long lines, per followed log.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::health::SourceHealth;
use crate::metrics::Registrar;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

/// Families labelled by the source's name (a path, or `journal`): a handful of series, created
/// when a source is registered, so they are not cached like the per-line families.
pub struct SourceMetrics {
    rotations: Family<SourceLabel, Counter>,
    errors: Family<SourceLabel, Counter>,
    long_lines: Family<SourceLabel, Counter>,
    health: SourceHealth,
}

impl SourceMetrics {
    pub fn new(r: &mut Registrar<'_>) -> SourceMetrics {
        let m = SourceMetrics {
            rotations: Family::default(),
            errors: Family::default(),
            long_lines: Family::default(),
            health: SourceHealth::default(),
        };
        r.metric(
            "pflog_source_rotations",
            "Rotations (rename, truncate, recreate) seen per log source",
            m.rotations.clone(),
        );
        r.metric(
            "pflog_source_errors",
            "Errors reading a log source",
            m.errors.clone(),
        );
        r.metric(
            "pflog_source_long_lines",
            "Lines longer than --max-line-bytes; their first bytes were processed, the rest skipped",
            m.long_lines.clone(),
        );
        m
    }

    fn label(source: &str) -> SourceLabel {
        SourceLabel {
            source: source.to_string(),
        }
    }

    /// Creates a source's series at 0 (serve calls this for every log it follows).
    pub fn register(&self, source: &str) {
        let label = Self::label(source);
        let _ = self.rotations.get_or_create(&label);
        let _ = self.errors.get_or_create(&label);
        let _ = self.long_lines.get_or_create(&label);
        self.health.register(source);
    }

    /// Tells the health state what a source reported.
    pub fn observe(&self, source: &str, msg: &super::SourceMsg) {
        self.health.observe(source, msg);
    }

    /// Whether each registered source is being read (for `/healthz`).
    pub fn health(&self) -> SourceHealth {
        self.health.clone()
    }

    pub fn rotated(&self, source: &str) {
        self.rotations.get_or_create(&Self::label(source)).inc();
    }

    pub fn error(&self, source: &str) {
        self.errors.get_or_create(&Self::label(source)).inc();
    }

    pub fn long_line(&self, source: &str) {
        self.long_lines.get_or_create(&Self::label(source)).inc();
    }
}
