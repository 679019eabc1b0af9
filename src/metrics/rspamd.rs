//! rspamd scans: actions, scores, scan time.

use super::family::{Capped, Counters, Duration, Histograms, Registrar, label_set};
use super::histogram::Histogram;
use crate::event::{RspamdAction, RspamdTask};

label_set! {
    struct Action { action }
}

fn score_histogram() -> Histogram {
    Histogram::new((0..=16).map(|i| -10.0 + 2.5 * f64::from(i)))
}

pub struct Rspamd {
    actions: Counters<Action>,
    score: Histograms<Action>,
    scan: Duration,
    /// Actions of custom configurations, by their text.
    other_action: Capped,
}

impl Rspamd {
    pub fn new(r: &mut Registrar<'_>) -> Rspamd {
        let actions = r.counters("rspamd_actions", "rspamd scan results by action");
        let score = r.histograms("rspamd_score", "rspamd scores by action", score_histogram);
        let scan = r.duration("rspamd_scan_duration_seconds", "rspamd scan time (time:)");
        Rspamd {
            actions,
            score,
            scan,
            other_action: r.cap("rspamd_actions_total", "action"),
        }
    }

    pub fn task(&mut self, t: &RspamdTask<'_>) {
        let action = match t.action {
            RspamdAction::Other => self.other_action.get(t.action_text),
            known => action_label(known),
        };
        self.actions.get(Action { action }).inc();
        self.score.get(Action { action }).observe(t.score);
        if let Some(s) = t.scan_seconds {
            self.scan.observe(s);
        }
    }
}

/// The label of an rspamd action, here and on the outcome families.
pub fn action_label(a: RspamdAction) -> &'static str {
    match a {
        RspamdAction::NoAction => "no_action",
        RspamdAction::Greylist => "greylist",
        RspamdAction::AddHeader => "add_header",
        RspamdAction::RewriteSubject => "rewrite_subject",
        RspamdAction::SoftReject => "soft_reject",
        RspamdAction::Reject => "reject",
        RspamdAction::Other => "other",
    }
}
