//! pflog: Postfix logs to Prometheus metrics.
//!
//! One way through: raw line -> [`envelope::LogLine`] -> [`event::Event`] (per-daemon parsers)
//! -> correlator (pure, log time) -> metrics.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod event;
pub mod http;
pub mod parsers;
pub mod source;
