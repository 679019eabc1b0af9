//! pflog: Postfix logs to Prometheus metrics.
//!
//! One way through: raw line -> [`envelope::LogLine`] -> [`event::Event`] (per-daemon parsers)
//! -> [`correlator::Correlator`] (pure, log time) -> [`metrics::Metrics`].
//! [`pipeline::Pipeline::process_line`] is that path, shared by `serve` and `replay`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod correlator;
pub mod envelope;
pub mod event;
pub mod exposition;
pub mod http;
pub mod metrics;
pub mod parsers;
pub mod pipeline;
pub mod reject_reason;
pub mod replay;
pub mod report;
pub mod scan;
pub mod serve;
pub mod source;
