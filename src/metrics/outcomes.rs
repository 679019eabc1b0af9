//! What the correlator concludes: the final outcome of each recipient, with the TLS of the
//! session the message came in on, the rspamd action taken on it, its SPF/DKIM/DMARC results,
//! and the time end to end.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use prometheus_client::metrics::counter::Counter;

use super::auth::{check_label, result_label};
use super::family::{Counters, Durations, Registrar, label_set};
use super::rspamd::action_label;
use crate::correlator::{InboundTls, MessageAuth, Outcome};
use crate::event::{AuthCheck, RspamdAction};

label_set! {
    struct OutcomeLabels { postfix_instance, outcome, inbound_tls }
}
label_set! {
    struct OutcomeOnly { postfix_instance, outcome }
}
label_set! {
    struct RspamdOutcomeLabels { postfix_instance, outcome, rspamd_action }
}
label_set! {
    struct AuthOutcomeLabels { postfix_instance, outcome, check, result }
}

pub struct Outcomes {
    outcomes: Counters<OutcomeLabels>,
    by_rspamd: Counters<RspamdOutcomeLabels>,
    by_auth: Counters<AuthOutcomeLabels>,
    /// The three series of `by_auth` an outcome increments, by the identity of its instance
    /// label, its outcome and its three results: one lookup per outcome instead of three
    /// (bounded: instances are capped, the rest are small enums).
    by_auth_sets: HashMap<(usize, Outcome, MessageAuth), [Counter; 3], FixedState>,
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
            by_auth: r.counters(
                "postfix_message_auth_outcomes",
                "Final outcome per recipient by the SPF, DKIM and DMARC results joined to the message (unknown when none joined)",
            ),
            by_auth_sets: HashMap::with_hasher(FixedState::default()),
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
        auth: MessageAuth,
    ) {
        let by_auth = &mut self.by_auth;
        let series = self
            .by_auth_sets
            .entry((instance.as_ptr() as usize, outcome, auth))
            .or_insert_with(|| {
                [
                    (AuthCheck::Spf, auth.spf),
                    (AuthCheck::Dkim, auth.dkim),
                    (AuthCheck::Dmarc, auth.dmarc),
                ]
                .map(|(check, result)| {
                    by_auth
                        .get(AuthOutcomeLabels {
                            postfix_instance: instance,
                            outcome: outcome_label(outcome),
                            check: check_label(check),
                            result: result.map_or("unknown", result_label),
                        })
                        .clone()
                })
            });
        for counter in series.iter() {
            counter.inc();
        }
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
