//! What the correlator concludes: the final outcome of each recipient, with the TLS of the
//! session the message came in on, the rspamd action taken on it, and the time end to end.

use super::family::{Counters, Durations, Registrar, label_set};
use super::rspamd::action_label;
use crate::correlator::{InboundTls, Outcome};
use crate::event::RspamdAction;

label_set! {
    struct OutcomeLabels { postfix_instance, outcome, inbound_tls }
}
label_set! {
    struct OutcomeOnly { postfix_instance, outcome }
}
label_set! {
    struct RspamdOutcomeLabels { postfix_instance, outcome, rspamd_action }
}

pub struct Outcomes {
    outcomes: Counters<OutcomeLabels>,
    by_rspamd: Counters<RspamdOutcomeLabels>,
    end_to_end: Durations<OutcomeOnly>,
}

impl Outcomes {
    pub fn new(r: &mut Registrar<'_>) -> Outcomes {
        Outcomes {
            outcomes: r.counters(
                "postfix_message_outcomes",
                "Final outcome per recipient, with the TLS protocol of the session that received the message",
            ),
            by_rspamd: r.counters(
                "postfix_message_rspamd_outcomes",
                "Final outcome per recipient by the rspamd action taken on the message (none when rspamd did not scan it)",
            ),
            end_to_end: r.durations(
                "postfix_message_end_to_end_seconds",
                "Time from the first log line of a message to its final outcome, per recipient",
            ),
        }
    }

    /// The extremes of `postfix_message_end_to_end_seconds`, series by series, with their
    /// outcome.
    pub fn end_to_end_extremes(&self, mut f: impl FnMut(&str, super::Range)) {
        self.end_to_end.each(|labels, h| {
            if let Some(range) = h.extremes() {
                f(labels.outcome, range);
            }
        });
    }

    pub fn outcome(
        &mut self,
        instance: &'static str,
        outcome: Outcome,
        tls: InboundTls,
        end_to_end: Option<f64>,
        rspamd: Option<RspamdAction>,
    ) {
        let outcome = outcome_label(outcome);
        self.outcomes
            .get(OutcomeLabels {
                postfix_instance: instance,
                outcome,
                inbound_tls: tls_label(tls),
            })
            .inc();
        self.by_rspamd
            .get(RspamdOutcomeLabels {
                postfix_instance: instance,
                outcome,
                rspamd_action: rspamd.map_or("none", action_label),
            })
            .inc();
        if let Some(secs) = end_to_end {
            self.end_to_end.observe(
                OutcomeOnly {
                    postfix_instance: instance,
                    outcome,
                },
                secs,
            );
        }
    }
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Delivered => "delivered",
        Outcome::Bounced => "bounced",
        Outcome::Expired => "expired",
        Outcome::Rejected => "rejected",
        Outcome::Discarded => "discarded",
    }
}

fn tls_label(t: InboundTls) -> &'static str {
    match t {
        InboundTls::Unknown => "unknown",
        InboundTls::Plaintext => "none",
        InboundTls::Local => "local",
        InboundTls::TlsV1_3 => "TLSv1.3",
        InboundTls::TlsV1_2 => "TLSv1.2",
        InboundTls::TlsV1_1 => "TLSv1.1",
        InboundTls::TlsV1 => "TLSv1",
        InboundTls::SslV3 => "SSLv3",
        InboundTls::Other => "other",
    }
}
