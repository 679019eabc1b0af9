//! policyd-weight: decisions and scores.

use super::family::{Counters, Registrar, label_set};
use super::histogram::Histogram;

label_set! {
    struct ActionCached { action, cached }
}

fn score_histogram() -> Histogram {
    Histogram::new((-10..=10).map(f64::from))
}

pub struct PolicydWeight {
    decisions: Counters<ActionCached>,
    score: Histogram,
}

impl PolicydWeight {
    pub fn new(r: &mut Registrar<'_>) -> PolicydWeight {
        let decisions = r.counters("policyd_weight_decisions", "policyd-weight decisions");
        let score = score_histogram();
        r.metric(
            "policyd_weight_score",
            "policyd-weight scores (rate:)",
            score.clone(),
        );
        PolicydWeight { decisions, score }
    }

    /// A fresh score (`weighted check: ... rate: X`).
    pub fn score(&mut self, rate: f64) {
        self.score.observe(rate);
    }

    /// `decided action=...`; a cached decision carries its score.
    pub fn decision(&mut self, action: &str, cached: bool, rate: Option<f64>) {
        self.decisions
            .get(ActionCached {
                action: action_class(action),
                cached: if cached { "true" } else { "false" },
            })
            .inc();
        if let Some(rate) = rate {
            self.score.observe(rate);
        }
    }
}

/// policyd-weight's action text in the contract's classes.
fn action_class(action: &str) -> &'static str {
    let upper = action.as_bytes();
    match upper.first() {
        Some(b'4') => "defer",
        Some(b'5') => "reject",
        _ if action.eq_ignore_ascii_case("PREPEND") => "prepend",
        _ if action.eq_ignore_ascii_case("DUNNO") || action.eq_ignore_ascii_case("OK") => "accept",
        _ if action.eq_ignore_ascii_case("REJECT") => "reject",
        // Bytes: the fifth byte of attacker-influenced text may be inside a character.
        _ if upper
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"DEFER")) =>
        {
            "defer"
        }
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_classes() {
        for (raw, want) in [
            ("PREPEND", "prepend"),
            ("DUNNO", "accept"),
            ("550", "reject"),
            ("450", "defer"),
            ("defer_if_permit", "defer"),
            ("REJECT", "reject"),
            ("FILTER", "other"),
            // Found by the `pipeline` fuzz target: a multi-byte character across byte 5
            // panicked slicing the action (a crash of the ingest thread on one log line).
            ("PREP\u{fffd}ND", "other"),
            ("DEFE\u{e9}", "other"),
        ] {
            assert_eq!(action_class(raw), want, "{raw}");
        }
    }
}
