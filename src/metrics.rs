//! The exported metric families and how events and the correlator's observations change
//! them. Nothing here parses log text.
//!
//! One module per area, node_exporter style: each owns its label sets, its families (name,
//! help, buckets), their registration and the code that updates them, and is the only place
//! that turns its domain values (enums of [`crate::event`] and [`crate::correlator`]) into
//! label text. [`Metrics::record_event`] and [`Metrics::record_observation`] route every
//! event and observation to its module with exhaustive matches: a new `Event` does not
//! compile until it is given a metric here, or written out as having none.

mod auth;
mod delivery;
mod diagnostics;
mod exporter;
mod family;
mod histogram;
mod labels;
mod outcomes;
mod policyd_weight;
mod postgrey;
mod postscreen;
mod queue;
mod rejects;
mod rspamd;
mod smtpd;
mod tls;

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::correlator::Observation;
use crate::event::{AuthDaemon, BounceKind, Event, Level};
use crate::source::metrics::SourceMetrics;

pub use exporter::LineOutcome;
pub use family::Registrar;
use family::{Capped, Instance, InstanceService};
use postscreen::PostscreenAction;

pub const DEFAULT_LABEL_CAP: usize = 64;

/// The least and the greatest value observed (`min <= max`).
pub type Range = (f64, f64);

/// The exact extremes of the histograms the report summarises, which the exposition does not
/// carry (it has buckets, a sum and a count), keyed as the report groups their series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extremes {
    /// `postfix_delivery_delay_seconds{status="sent"}`, by service.
    pub delivery_delay: BTreeMap<String, Range>,
    /// `postfix_message_end_to_end_seconds`, by outcome.
    pub end_to_end: BTreeMap<String, Range>,
    /// `postgrey_pass_delay_seconds`.
    pub greylist_pass_delay: Option<Range>,
}

/// Widens `range` to take in `other`.
pub fn widen(range: &mut Option<Range>, other: Range) {
    *range = Some(match *range {
        Some((lo, hi)) => (lo.min(other.0), hi.max(other.1)),
        None => other,
    });
}

fn widen_entry(map: &mut BTreeMap<String, Range>, key: &str, other: Range) {
    let mut range = map.get(key).copied();
    widen(&mut range, other);
    if let Some(range) = range {
        map.insert(key.to_string(), range);
    }
}

/// The instance and service labels of a line's program (`postfix` and `smtpd` for
/// `postfix/smtpd`; an empty instance for programs outside Postfix).
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub instance: &'static str,
    pub service: &'static str,
}

impl Origin {
    fn labels(self) -> InstanceService {
        InstanceService {
            postfix_instance: self.instance,
            service: self.service,
        }
    }

    fn instance_labels(self) -> Instance {
        Instance {
            postfix_instance: self.instance,
        }
    }
}

/// Every family pflog exports. Families are cheap handles onto shared state: the registry (for
/// encoding) and these modules (for updates) see the same series.
pub struct Metrics {
    smtpd: smtpd::Smtpd,
    tls: tls::TlsMetrics,
    rejects: rejects::Rejects,
    queue: queue::Queue,
    deliveries: delivery::Deliveries,
    outcomes: outcomes::Outcomes,
    diagnostics: diagnostics::Diagnostics,
    postscreen: postscreen::Postscreen,
    postgrey: postgrey::Postgrey,
    policyd_weight: policyd_weight::PolicydWeight,
    rspamd: rspamd::Rspamd,
    auth: auth::Auth,
    exporter: exporter::Exporter,
    sources: SourceMetrics,
    instance: Capped,
    service: Capped,
}

impl Metrics {
    /// Creates every family and registers it in `registry`.
    pub fn new(registry: &mut Registry, label_cap: usize) -> Metrics {
        let mut r = Registrar::new(registry, label_cap);
        let m = Metrics {
            instance: r.cap("postfix_*", "postfix_instance"),
            service: r.cap("postfix_*", "service"),
            smtpd: smtpd::Smtpd::new(&mut r),
            tls: tls::TlsMetrics::new(&mut r),
            rejects: rejects::Rejects::new(&mut r),
            queue: queue::Queue::new(&mut r),
            deliveries: delivery::Deliveries::new(&mut r),
            outcomes: outcomes::Outcomes::new(&mut r),
            diagnostics: diagnostics::Diagnostics::new(&mut r),
            postscreen: postscreen::Postscreen::new(&mut r),
            postgrey: postgrey::Postgrey::new(&mut r),
            policyd_weight: policyd_weight::PolicydWeight::new(&mut r),
            rspamd: rspamd::Rspamd::new(&mut r),
            auth: auth::Auth::new(&mut r),
            exporter: exporter::Exporter::new(&mut r),
            sources: SourceMetrics::new(&mut r),
        };
        exporter::Exporter::register_build_info(&mut r);
        r.finish();
        m
    }

    /// The interned instance/service labels of a program (`postfix`, `submission/smtpd`), and
    /// whether both values were within their caps: only then does asking again give the same
    /// labels without counting an overflow, so only then may the caller remember the answer.
    pub fn origin(&mut self, instance: Option<&str>, service: &str) -> (Origin, bool) {
        let instance = instance.map_or(Some(""), |i| self.instance.within(i));
        let service = self.service.within(service);
        let within = instance.is_some() && service.is_some();
        let origin = Origin {
            instance: instance.unwrap_or("other"),
            service: service.unwrap_or("other"),
        };
        (origin, within)
    }

    /// The counters a single event changes on its own (no correlation needed).
    pub fn record_event(&mut self, o: Origin, event: &Event<'_>) {
        match event {
            Event::Connect { .. } => self.smtpd.connect(o),
            Event::LostConnection { after, .. } => self.smtpd.lost_connection(o, after),
            Event::SaslFailure { method, .. } => self.smtpd.sasl_failure(o, method),
            Event::Tls(tls) => self.tls.established(o, tls),
            Event::Reject(r) => self.rejects.reject(o, r),
            Event::Client { .. } | Event::Pickup { .. } => self.queue.received(o),
            Event::QueueActive { size, nrcpt, .. } => self.queue.active(o, *size, *nrcpt),
            Event::Bounce { kind, .. } => match kind {
                BounceKind::NonDelivery => self.queue.bounce(o),
                BounceKind::Delay | BounceKind::Success => {}
            },
            Event::Expired { .. } => self.queue.expired(o),
            Event::Delivery(d) => self.deliveries.attempt(o, d),
            Event::PostscreenConnect { .. } => self.postscreen.action(o, PostscreenAction::Connect),
            Event::PostscreenPass { new, .. } => self.postscreen.action(
                o,
                if *new {
                    PostscreenAction::PassNew
                } else {
                    PostscreenAction::PassOld
                },
            ),
            Event::PostscreenDnsbl { .. } => self.postscreen.action(o, PostscreenAction::Dnsbl),
            Event::PostscreenPregreet { .. } => {
                self.postscreen.action(o, PostscreenAction::Pregreet)
            }
            Event::PostscreenHangup { .. } => self.postscreen.action(o, PostscreenAction::Hangup),
            Event::PostscreenList { allowed, .. } => self.postscreen.action(
                o,
                if *allowed {
                    PostscreenAction::Allowlisted
                } else {
                    PostscreenAction::Denylisted
                },
            ),
            Event::Postgrey(p) => self.postgrey.action(p),
            Event::PolicydWeightScore { rate } => self.policyd_weight.score(*rate),
            Event::PolicydWeightDecision {
                action,
                cached,
                rate,
            } => self.policyd_weight.decision(action, *cached, *rate),
            Event::Rspamd(t) => {
                self.rspamd.task(t);
                self.auth.rspamd(&t.auth);
            }
            Event::Auth(v) => self.auth.verdict(v),
            Event::DkimSigned { domain, .. } => self.auth.signed(AuthDaemon::Opendkim, domain),
            // No metric of their own: they matter to the correlator (sessions, message-ids,
            // removals) or not at all; a diagnostic's level is counted for every line at a
            // level ([`Metrics::diagnostic`]), whatever its event.
            Event::Diagnostic(_)
            | Event::Disconnect { .. }
            | Event::HostnameUnresolved { .. }
            | Event::MessageId { .. }
            | Event::Removed { .. }
            | Event::Postsuper { .. }
            | Event::ConnectFailed { .. }
            | Event::Other(_) => {}
        }
    }

    /// What the correlator concluded; an outcome is about `o`'s instance.
    pub fn record_observation(&mut self, o: Origin, obs: &Observation) {
        match *obs {
            Observation::Outcome {
                instance: _,
                outcome,
                inbound_tls,
                end_to_end,
                rspamd,
                auth,
            } => self
                .outcomes
                .outcome(o.instance, outcome, inbound_tls, end_to_end, rspamd, auth),
            Observation::AbandonedTriplet => self.postgrey.abandoned(),
            Observation::Eviction(reason) => self.exporter.eviction(reason),
        }
    }

    /// A line written at a level (`warning: ...`), whatever else it is.
    pub fn diagnostic(&mut self, o: Origin, level: Level) {
        self.diagnostics.diagnostic(o, level);
    }

    pub fn count_line(&mut self, program: &'static str, result: LineOutcome) {
        self.exporter.count_line(program, result);
    }

    /// The counter of `pflog_lines_total{program, result}` (created now if new), for callers
    /// that keep it.
    pub fn line_counter(&mut self, program: &'static str, result: LineOutcome) -> Counter {
        self.exporter.line_counter(program, result).clone()
    }

    pub fn log_timestamp(&mut self, micros: i64) {
        self.exporter.log_timestamp(micros);
    }

    /// The correlator's state: messages tracked, outcomes held.
    pub fn set_tracked(&self, tracked: usize, held: usize) {
        self.exporter.set_tracked(tracked);
        self.exporter.set_held(held);
    }

    /// The exact extremes behind the report's percentiles.
    pub fn extremes(&self) -> Extremes {
        let mut e = Extremes::default();
        self.deliveries.sent_delay_extremes(|service, range| {
            widen_entry(&mut e.delivery_delay, service, range)
        });
        self.outcomes
            .end_to_end_extremes(|outcome, range| widen_entry(&mut e.end_to_end, outcome, range));
        e.greylist_pass_delay = self.postgrey.pass_delay_extremes();
        e
    }

    /// The metrics of the log sources (`serve` reports rotations, errors, long lines).
    pub fn sources(&self) -> &SourceMetrics {
        &self.sources
    }
}
