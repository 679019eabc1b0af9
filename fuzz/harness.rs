//! What each fuzz target does with one input, shared by the libFuzzer targets in
//! `fuzz/fuzz_targets/` and by `tests/fuzz_corpus.rs`, which replays the committed corpora and
//! regressions on stable in CI (`#[path]`-included from both, so they cannot drift apart).
//!
//! Every function checks invariants beyond "does not panic" (a panic is the fuzzer's crash).

// Each includer uses only some of these.
#![allow(dead_code)]

use pflog::correlator::CorrelatorConfig;
use pflog::envelope::{self, Clock, Program};
use pflog::exposition::{self, Format};
use pflog::parsers::{self, Daemon, common};
use pflog::pipeline::{Pipeline, PipelineConfig};
use prometheus_client::registry::Registry;

/// The targets, by the name of their corpus directory.
pub const TARGETS: [&str; 3] = ["envelope", "parsers", "pipeline"];

/// Every parser (pflog's daemon table, then `Foreign`); the `parsers` target picks one with
/// its first byte.
pub const DAEMONS: [Daemon; Daemon::ALL.len()] = Daemon::ALL;

/// The selector byte of the `parsers` target for a daemon.
pub fn selector(daemon: Daemon) -> u8 {
    DAEMONS.iter().position(|d| *d == daemon).expect("listed") as u8
}

fn utc_clock() -> Clock {
    Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0)
}

fn is_within(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

/// `envelope`: each line through the envelope parser and the program split, with one clock
/// (so that a line meets what the lines before it left remembered: the hour, the date).
pub fn envelope(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut clock = utc_clock();
    for text in text.split('\n') {
        let Some(line) = envelope::parse(text, &mut clock) else {
            continue;
        };
        assert!(is_within(text, line.message) || line.message.is_empty());
        assert!(is_within(text, line.program) || line.program == "rspamd");
        let program = Program::split(line.program);
        let (daemon, label) = parsers::daemon_of(&program);
        assert!(!label.is_empty());
        let _ = parsers::parse(daemon, line.message);
    }
}

/// `parsers`: the first byte picks a daemon, the rest is its message; the shared scanners get
/// the same text.
pub fn parsers(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let daemon = DAEMONS[usize::from(sel) % DAEMONS.len()];
    let text = String::from_utf8_lossy(rest);
    let _ = parsers::parse(daemon, &text);
    for key in [
        "from", "to", "helo", "relay", "status", "orig_to", "size", "nrcpt",
    ] {
        if let Some(v) = common::field(&text, key) {
            assert!(is_within(&text, v));
        }
    }
    let (code, _, reply_text) = common::reply(&text);
    assert!(code.is_empty() || code.len() == 3);
    assert!(is_within(&text, reply_text) || reply_text.is_empty());
    if let Some(i) = common::fields_start(&text) {
        assert_eq!(text.as_bytes()[i], b';');
    }
    let _ = common::smtp_reject(None, &text);
    let _ = common::peer(&text);
    if let Some((id, _)) = common::split_queue_id(&text) {
        assert!(common::is_queue_id(id));
    }
}

/// The correlator configuration of the `pipeline` target: tiny, so that eviction and expiry
/// paths run on short inputs.
pub fn small_config() -> PipelineConfig {
    PipelineConfig {
        year: Some(2026),
        utc_offset: Some(0),
        correlator: CorrelatorConfig {
            capacity: 16,
            message_ttl: 3_600_000_000,
            incoming_ttl: 1_200_000_000,
            session_capacity: 8,
            session_ttl: 600_000_000,
            greylist_window: 300_000_000,
            triplet_capacity: 8,
            // Short, so that held outcomes are released on short inputs too.
            join_window: 30_000_000,
        },
        label_cap: 4,
        reject_rules: Vec::new(),
    }
}

/// `pipeline`: every `\n`-separated line of the input through one [`Pipeline`] (so correlation
/// state carries from line to line), then the exposition is rendered and checked.
/// Returns the exposition.
pub fn pipeline(data: &[u8]) -> String {
    let config = small_config();
    let caps = config.correlator.clone();
    let mut registry = Registry::default();
    let mut p = Pipeline::new(config, &mut registry)
        .expect("the configuration is valid")
        .with_clock(utc_clock());
    for line in data.split(|&b| b == b'\n') {
        p.process_line(line);
        let c = p.correlator();
        assert!(c.tracked() <= caps.capacity);
        assert!(c.sessions() <= caps.session_capacity);
        assert!(c.triplets() <= caps.triplet_capacity);
        assert!(c.early_verdicts() <= caps.capacity.div_ceil(10).max(1));
    }
    let text = exposition::render(&registry, Format::Prometheus);
    check_exposition(&text);
    text
}

/// Each sample line is `name{labels} value` with a number as value and balanced quoting, so a
/// label value from the log cannot break the exposition.
pub fn check_exposition(text: &str) {
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "NaN"),
            "bad value in {line:?}"
        );
        if let Some(open) = series.find('{') {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
            let labels = &series[open + 1..series.len() - 1];
            let mut in_quotes = false;
            let mut escaped = false;
            for c in labels.chars() {
                assert!(c != '\n', "newline in {line:?}");
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_quotes = !in_quotes;
                }
            }
            assert!(!in_quotes && !escaped, "unbalanced quotes in {line:?}");
        } else {
            assert!(!series.contains(' '), "bad series in {line:?}");
        }
    }
}
