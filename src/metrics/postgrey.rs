//! postgrey: decisions, time to pass, triplets that never passed.

use prometheus_client::metrics::counter::Counter;

use super::family::{Capped, Counters, Duration, Registrar, label_set};
use crate::event::{PostgreyAction, PostgreyVerdict};

label_set! {
    struct ActionReason { action, reason }
}

pub struct Postgrey {
    pass_delay: Duration,
    abandoned: Counter,
    actions: Counters<ActionReason>,
    reason: Capped,
}

impl Postgrey {
    pub fn new(r: &mut Registrar<'_>) -> Postgrey {
        let pass_delay = r.duration(
            "postgrey_pass_delay_seconds",
            "postgrey's delay= on action=pass after an earlier greylist",
        );
        let abandoned = Counter::default();
        r.metric(
            "postgrey_abandoned_triplets",
            "Greylisted triplets that never passed within the greylist window",
            abandoned.clone(),
        );
        Postgrey {
            pass_delay,
            abandoned,
            actions: r.counters(
                "postgrey_actions",
                "postgrey decisions by action and reason",
            ),
            reason: r.cap("postgrey_actions_total", "reason"),
        }
    }

    pub fn action(&mut self, p: &PostgreyAction<'_>) {
        let action = match p.action {
            PostgreyVerdict::Greylist => "greylist",
            PostgreyVerdict::Pass => "pass",
            PostgreyVerdict::Other => "other",
        };
        let reason = match known_reason(p.reason) {
            Some(r) => r,
            None => self.reason.get(p.reason),
        };
        self.actions.get(ActionReason { action, reason }).inc();
        if p.action == PostgreyVerdict::Pass
            && let Some(delay) = p.delay
        {
            self.pass_delay.observe(delay);
        }
    }

    /// The extremes of `postgrey_pass_delay_seconds`.
    pub fn pass_delay_extremes(&self) -> Option<super::Range> {
        self.pass_delay.extremes()
    }

    /// A greylisted triplet that did not pass within the window (the correlator's verdict).
    pub fn abandoned(&mut self) {
        self.abandoned.inc();
    }
}

/// postgrey reasons in their label form; `None` for reasons to cap as they come.
fn known_reason(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "new" => "new",
        "triplet found" => "triplet_found",
        "client whitelist" => "client_whitelist",
        "recipient whitelist" => "recipient_whitelist",
        "client AWL" => "client_awl",
        _ if reason.starts_with("early-retry") => "early_retry",
        _ => return None,
    })
}
