//! The exported metric families (see METRICS.md) and how events and correlated observations
//! change them. Nothing here parses log text.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::correlator::Observation;
use crate::event::{Event, RejectKind};
use crate::histogram::Histogram;
use crate::labels::LabelCap;

/// Latency buckets in human time units (METRICS.md).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 7200.0, 21600.0, 86400.0,
];
pub const SIZE_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];
pub const RECIPIENT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 1000.0];

pub const DEFAULT_LABEL_CAP: usize = 64;

type Hist<L> = Cached<L, Histogram, fn() -> Histogram>;

/// A family together with a cache of its metric handles, keyed by the *identity* of the label
/// values (address and length of each `&'static str`) rather than their text.
///
/// `Family::get_or_create` takes the family's lock and SipHashes the text of every label on
/// every call: 13% of `pflog replay`'s instructions. The label values passed here are all
/// `&'static str` literals or values interned by [`LabelCap`] (one address per distinct value),
/// so their addresses identify the label set, the cache holds at most as many entries as there
/// are series (bounded by the label caps), and hashing a few addresses with foldhash is cheap.
/// Equal text at two addresses (a literal duplicated by the compiler) only means two cache
/// entries for the same series. A handle is an `Arc` onto the series the registry encodes, so
/// updating the cached handle updates the family.
pub(crate) struct Cached<L: LabelIds, M, C = fn() -> M> {
    family: Family<L, M, C>,
    handles: HashMap<L::Ids, M, FixedState>,
}

impl<L, M, C> Cached<L, M, C>
where
    L: LabelIds + Clone + Hash + Eq,
    M: Clone,
    C: MetricConstructor<M>,
{
    fn new(family: Family<L, M, C>) -> Self {
        Cached {
            family,
            handles: HashMap::with_hasher(FixedState::default()),
        }
    }

    /// The metric of `labels`, created in the family on first use.
    fn get(&mut self, labels: L) -> &M {
        let family = &self.family;
        self.handles
            .entry(labels.ids())
            .or_insert_with(|| family.get_or_create_owned(&labels))
    }
}

/// The identity of a label set whose values are `&'static str`: each value's address and length.
pub(crate) trait LabelIds {
    type Ids: Hash + Eq;
    fn ids(&self) -> Self::Ids;
}

/// Addresses and lengths of `N` label values; equal when all are, hashed by the addresses only
/// (one multiply each with foldhash, instead of hashing the whole array as bytes).
#[derive(PartialEq, Eq)]
pub(crate) struct Ids<const N: usize>([(usize, usize); N]);

impl<const N: usize> Hash for Ids<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (address, _) in &self.0 {
            state.write_usize(*address);
        }
    }
}

macro_rules! label_ids {
    ($($t:ident { $($f:ident),+ })*) => {$(
        impl LabelIds for $t {
            type Ids = Ids<{ label_ids!(@count $($f)+) }>;
            fn ids(&self) -> Self::Ids {
                Ids([$((self.$f.as_ptr() as usize, self.$f.len())),+])
            }
        }
    )*};
    (@count) => { 0 };
    (@count $h:ident $($rest:ident)*) => { 1 + label_ids!(@count $($rest)*) };
}

label_ids! {
    InstanceService { postfix_instance, service }
    Instance { postfix_instance }
    LostLabels { postfix_instance, service, after }
    TlsLabels { postfix_instance, service, direction, trust, protocol, cipher }
    SaslLabels { postfix_instance, service, method }
    RejectLabels { postfix_instance, service, stage, code, reason }
    MilterLabels { postfix_instance, service, stage, action }
    StatusLabels { postfix_instance, service, status }
    StageLabels { postfix_instance, service, stage }
    OutcomeLabels { postfix_instance, outcome, inbound_tls }
    OutcomeOnly { postfix_instance, outcome }
    RspamdOutcomeLabels { postfix_instance, outcome, rspamd_action }
    ActionReason { action, reason }
    ActionCached { action, cached }
    Action { action }
    LevelLabels { postfix_instance, service, level }
    PostscreenLabels { postfix_instance, service, action }
    LinesLabels { program, result }
    Reason { reason }
    OverflowLabels { metric, label }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}
fn size_histogram() -> Histogram {
    Histogram::new(SIZE_BUCKETS.iter().copied())
}
fn recipient_histogram() -> Histogram {
    Histogram::new(RECIPIENT_BUCKETS.iter().copied())
}
fn policyd_histogram() -> Histogram {
    Histogram::new((-10..=10).map(f64::from))
}
fn rspamd_score_histogram() -> Histogram {
    Histogram::new((0..=16).map(|i| -10.0 + 2.5 * f64::from(i)))
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceService {
    pub postfix_instance: &'static str,
    pub service: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Instance {
    pub postfix_instance: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LostLabels {
    postfix_instance: &'static str,
    service: &'static str,
    after: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    postfix_instance: &'static str,
    service: &'static str,
    direction: &'static str,
    trust: &'static str,
    protocol: &'static str,
    cipher: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SaslLabels {
    postfix_instance: &'static str,
    service: &'static str,
    method: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    postfix_instance: &'static str,
    service: &'static str,
    stage: &'static str,
    code: &'static str,
    reason: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MilterLabels {
    postfix_instance: &'static str,
    service: &'static str,
    stage: &'static str,
    action: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    postfix_instance: &'static str,
    service: &'static str,
    status: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    postfix_instance: &'static str,
    service: &'static str,
    stage: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    postfix_instance: &'static str,
    outcome: &'static str,
    inbound_tls: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeOnly {
    postfix_instance: &'static str,
    outcome: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RspamdOutcomeLabels {
    postfix_instance: &'static str,
    outcome: &'static str,
    rspamd_action: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionReason {
    action: &'static str,
    reason: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionCached {
    action: &'static str,
    cached: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Action {
    action: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    postfix_instance: &'static str,
    service: &'static str,
    level: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PostscreenLabels {
    postfix_instance: &'static str,
    service: &'static str,
    action: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinesLabels {
    pub program: &'static str,
    pub result: &'static str,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OverflowLabels {
    metric: &'static str,
    label: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: &'static str,
}

/// The instance and service labels of a line; `None` instance for non-Postfix programs.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub instance: &'static str,
    pub service: &'static str,
}

/// Which capped label a value is for.
#[derive(Clone, Copy, Debug)]
enum Cap {
    Instance = 0,
    Service,
    TlsProtocol,
    TlsCipher,
    SaslMethod,
    RejectStage,
    RejectCode,
    MilterStage,
    DeliveryStatus,
    PostgreyReason,
    RspamdAction,
}

const CAP_NAMES: &[(&str, &str)] = &[
    ("postfix_*", "postfix_instance"),
    ("postfix_*", "service"),
    ("postfix_tls_connections_total", "protocol"),
    ("postfix_tls_connections_total", "cipher"),
    ("postfix_smtpd_sasl_auth_failures_total", "method"),
    ("postfix_rejects_total", "stage"),
    ("postfix_rejects_total", "code"),
    ("postfix_milter_actions_total", "stage"),
    ("postfix_deliveries_total", "status"),
    ("postgrey_actions_total", "reason"),
    ("rspamd_actions_total", "action"),
];

/// Every family pflog exports. Families are cheap handles onto shared state: the registry (for
/// encoding) and this struct (for updates) see the same series.
pub struct Metrics {
    smtpd_connections: Cached<InstanceService, Counter>,
    lost_connections: Cached<LostLabels, Counter>,
    tls_connections: Cached<TlsLabels, Counter>,
    sasl_failures: Cached<SaslLabels, Counter>,
    rejects: Cached<RejectLabels, Counter>,
    milter_actions: Cached<MilterLabels, Counter>,
    messages_received: Cached<InstanceService, Counter>,
    message_size: Hist<Instance>,
    message_recipients: Hist<Instance>,
    deliveries: Cached<StatusLabels, Counter>,
    delivery_delay: Hist<StatusLabels>,
    delivery_stage_delay: Hist<StageLabels>,
    bounces: Cached<Instance, Counter>,
    qmgr_expired: Cached<Instance, Counter>,
    outcomes: Cached<OutcomeLabels, Counter>,
    outcomes_by_rspamd: Cached<RspamdOutcomeLabels, Counter>,
    end_to_end: Hist<OutcomeOnly>,
    log_messages: Cached<LevelLabels, Counter>,
    postscreen_actions: Cached<PostscreenLabels, Counter>,
    postgrey_pass_delay: Histogram,
    postgrey_abandoned: Counter,
    postgrey_actions: Cached<ActionReason, Counter>,
    policyd_decisions: Cached<ActionCached, Counter>,
    policyd_score: Histogram,
    rspamd_actions: Cached<Action, Counter>,
    rspamd_score: Hist<Action>,
    rspamd_scan: Histogram,
    lines: Cached<LinesLabels, Counter>,
    tracked: Gauge,
    evictions: Cached<Reason, Counter>,
    last_timestamp: Gauge<f64, AtomicU64>,
    rotations: Family<SourceLabel, Counter>,
    source_errors: Family<SourceLabel, Counter>,
    long_lines: Family<SourceLabel, Counter>,
    overflow: Cached<OverflowLabels, Counter>,
    caps: Vec<LabelCap>,
    last_ts_micros: i64,
}

impl Metrics {
    /// Creates every family and registers it in `registry`.
    pub fn new(registry: &mut Registry, label_cap: usize) -> Metrics {
        let m = Metrics {
            smtpd_connections: Cached::new(Family::default()),
            lost_connections: Cached::new(Family::default()),
            tls_connections: Cached::new(Family::default()),
            sasl_failures: Cached::new(Family::default()),
            rejects: Cached::new(Family::default()),
            milter_actions: Cached::new(Family::default()),
            messages_received: Cached::new(Family::default()),
            message_size: Cached::new(Family::new_with_constructor(size_histogram)),
            message_recipients: Cached::new(Family::new_with_constructor(recipient_histogram)),
            deliveries: Cached::new(Family::default()),
            delivery_delay: Cached::new(Family::new_with_constructor(latency_histogram)),
            delivery_stage_delay: Cached::new(Family::new_with_constructor(latency_histogram)),
            bounces: Cached::new(Family::default()),
            qmgr_expired: Cached::new(Family::default()),
            outcomes: Cached::new(Family::default()),
            outcomes_by_rspamd: Cached::new(Family::default()),
            end_to_end: Cached::new(Family::new_with_constructor(latency_histogram)),
            log_messages: Cached::new(Family::default()),
            postscreen_actions: Cached::new(Family::default()),
            postgrey_pass_delay: latency_histogram(),
            postgrey_abandoned: Counter::default(),
            postgrey_actions: Cached::new(Family::default()),
            policyd_decisions: Cached::new(Family::default()),
            policyd_score: policyd_histogram(),
            rspamd_actions: Cached::new(Family::default()),
            rspamd_score: Cached::new(Family::new_with_constructor(rspamd_score_histogram)),
            rspamd_scan: latency_histogram(),
            lines: Cached::new(Family::default()),
            tracked: Gauge::default(),
            evictions: Cached::new(Family::default()),
            last_timestamp: Gauge::default(),
            rotations: Family::default(),
            source_errors: Family::default(),
            long_lines: Family::default(),
            overflow: Cached::new(Family::default()),
            caps: CAP_NAMES
                .iter()
                .map(|(m, l)| LabelCap::new(m, l, label_cap))
                .collect(),
            last_ts_micros: i64::MIN,
        };
        let r = registry;
        r.register(
            "postfix_smtpd_connections",
            "Connections accepted by smtpd (connect from)",
            m.smtpd_connections.family.clone(),
        );
        r.register(
            "postfix_smtpd_lost_connections",
            "Sessions that ended without QUIT, by the last command (lost connection / timeout / too many errors after X)",
            m.lost_connections.family.clone(),
        );
        r.register(
            "postfix_tls_connections",
            "TLS connections established, inbound (smtpd) and outbound (smtp, lmtp)",
            m.tls_connections.family.clone(),
        );
        r.register(
            "postfix_smtpd_sasl_auth_failures",
            "SASL authentication failures",
            m.sasl_failures.family.clone(),
        );
        r.register(
            "postfix_rejects",
            "Reject lines of any Postfix service, by SMTP stage, reply code and reason class",
            m.rejects.family.clone(),
        );
        r.register(
            "postfix_milter_actions",
            "Milter verdicts (milter-reject, milter-discard, milter-hold)",
            m.milter_actions.family.clone(),
        );
        r.register(
            "postfix_messages_received",
            "New queue IDs from smtpd client= or pickup",
            m.messages_received.family.clone(),
        );
        r.register(
            "postfix_message_size_bytes",
            "Message sizes as qmgr reports them (size=)",
            m.message_size.family.clone(),
        );
        r.register(
            "postfix_message_recipients",
            "Recipients per message as qmgr reports them (nrcpt=)",
            m.message_recipients.family.clone(),
        );
        r.register(
            "postfix_deliveries",
            "Delivery attempts by delivery agent and status",
            m.deliveries.family.clone(),
        );
        r.register(
            "postfix_delivery_delay_seconds",
            "Total delay of delivery attempts (delay=)",
            m.delivery_delay.family.clone(),
        );
        r.register(
            "postfix_delivery_stage_delay_seconds",
            "Delays of successful deliveries by stage (delays=a/b/c/d)",
            m.delivery_stage_delay.family.clone(),
        );
        r.register(
            "postfix_bounces",
            "Sender non-delivery notifications created by bounce",
            m.bounces.family.clone(),
        );
        r.register(
            "postfix_qmgr_expired",
            "Messages returned to sender after the maximal queue lifetime",
            m.qmgr_expired.family.clone(),
        );
        r.register(
            "postfix_message_outcomes",
            "Final outcome per recipient, with the TLS protocol of the session that received the message",
            m.outcomes.family.clone(),
        );
        r.register(
            "postfix_message_rspamd_outcomes",
            "Final outcome per recipient by the rspamd action taken on the message (none when rspamd did not scan it)",
            m.outcomes_by_rspamd.family.clone(),
        );
        r.register(
            "postfix_message_end_to_end_seconds",
            "Time from the first log line of a message to its final outcome, per recipient",
            m.end_to_end.family.clone(),
        );
        r.register(
            "postfix_log_messages",
            "Diagnostics written by Postfix programs (warning, error, fatal, panic)",
            m.log_messages.family.clone(),
        );
        r.register(
            "postfix_postscreen_actions",
            "postscreen connections and verdicts (connect, pass_new, pass_old, dnsbl, pregreet, hangup, allowlisted, denylisted)",
            m.postscreen_actions.family.clone(),
        );
        r.register(
            "postgrey_pass_delay_seconds",
            "postgrey's delay= on action=pass after an earlier greylist",
            m.postgrey_pass_delay.clone(),
        );
        r.register(
            "postgrey_abandoned_triplets",
            "Greylisted triplets that never passed within the greylist window",
            m.postgrey_abandoned.clone(),
        );
        r.register(
            "postgrey_actions",
            "postgrey decisions by action and reason",
            m.postgrey_actions.family.clone(),
        );
        r.register(
            "policyd_weight_decisions",
            "policyd-weight decisions",
            m.policyd_decisions.family.clone(),
        );
        r.register(
            "policyd_weight_score",
            "policyd-weight scores (rate:)",
            m.policyd_score.clone(),
        );
        r.register(
            "rspamd_actions",
            "rspamd scan results by action",
            m.rspamd_actions.family.clone(),
        );
        r.register(
            "rspamd_score",
            "rspamd scores by action",
            m.rspamd_score.family.clone(),
        );
        r.register(
            "rspamd_scan_duration_seconds",
            "rspamd scan time (time:)",
            m.rspamd_scan.clone(),
        );
        r.register(
            "pflog_lines",
            "Log lines read, by program and result",
            m.lines.family.clone(),
        );
        r.register(
            "pflog_tracked_messages",
            "Messages held by the correlator",
            m.tracked.clone(),
        );
        r.register(
            "pflog_correlation_evictions",
            "Correlation state dropped before completion (capacity: LRU full; expired: idle longer than the TTL in log time)",
            m.evictions.family.clone(),
        );
        r.register(
            "pflog_last_log_timestamp_seconds",
            "Timestamp of the newest log line read",
            m.last_timestamp.clone(),
        );
        r.register(
            "pflog_source_rotations",
            "Rotations (rename, truncate, recreate) seen per log source",
            m.rotations.clone(),
        );
        r.register(
            "pflog_source_errors",
            "Errors reading a log source",
            m.source_errors.clone(),
        );
        r.register(
            "pflog_source_long_lines",
            "Lines longer than --max-line-bytes; their first bytes were processed, the rest skipped",
            m.long_lines.clone(),
        );
        r.register(
            "pflog_label_overflow",
            "Label values reported as other because the label reached its cap",
            m.overflow.family.clone(),
        );
        // Series with a known, bounded label set exist from the start at 0, so that rate()
        // and alerts work before the first event.
        for reason in ["capacity", "expired"] {
            let _ = m.evictions.family.get_or_create(&Reason { reason });
        }
        for (metric, label) in CAP_NAMES {
            let _ = m
                .overflow
                .family
                .get_or_create(&OverflowLabels { metric, label });
        }
        let build_info: Family<Version, Gauge> = Family::default();
        build_info
            .get_or_create(&Version {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("pflog_build_info", "pflog's version", build_info);
        m
    }

    fn cap(&mut self, cap: Cap, value: &str) -> &'static str {
        let c = &mut self.caps[cap as usize];
        match c.intern(value) {
            Some(v) => v,
            None => {
                self.overflow
                    .get(OverflowLabels {
                        metric: c.metric,
                        label: c.label,
                    })
                    .inc();
                "other"
            }
        }
    }

    /// The interned instance/service labels of a program (`postfix`, `submission/smtpd`).
    pub fn origin(&mut self, instance: Option<&str>, service: &str) -> Origin {
        self.origin_checked(instance, service).0
    }

    /// [`Metrics::origin`], and whether both values were within their caps: only then does
    /// asking again give the same labels without counting an overflow, so only then may the
    /// caller remember the answer.
    pub fn origin_checked(&mut self, instance: Option<&str>, service: &str) -> (Origin, bool) {
        let mut within = true;
        let mut cap =
            |m: &mut Metrics, cap: Cap, value: &str| match m.caps[cap as usize].intern(value) {
                Some(v) => v,
                None => {
                    within = false;
                    m.cap(cap, value)
                }
            };
        let instance = instance.map_or("", |i| cap(self, Cap::Instance, i));
        let service = cap(self, Cap::Service, service);
        (Origin { instance, service }, within)
    }

    pub fn count_line(&mut self, program: &'static str, result: &'static str) {
        self.lines.get(LinesLabels { program, result }).inc();
    }

    /// The counter of `pflog_lines_total{program, result}` (created now if new), for callers
    /// that keep it.
    pub fn line_counter(&mut self, program: &'static str, result: &'static str) -> Counter {
        self.lines.get(LinesLabels { program, result }).clone()
    }

    pub fn log_timestamp(&mut self, micros: i64) {
        if micros > self.last_ts_micros {
            self.last_ts_micros = micros;
            self.last_timestamp.set(micros as f64 / 1e6);
        }
    }

    pub fn set_tracked(&self, n: usize) {
        self.tracked.set(n as i64);
    }

    /// Creates a source's series at 0 (serve calls this for every log it follows).
    pub fn register_source(&self, source: &str) {
        let label = SourceLabel {
            source: source.to_string(),
        };
        let _ = self.rotations.get_or_create(&label);
        let _ = self.source_errors.get_or_create(&label);
        let _ = self.long_lines.get_or_create(&label);
    }

    pub fn source_rotated(&self, source: &str) {
        self.rotations
            .get_or_create(&SourceLabel {
                source: source.to_string(),
            })
            .inc();
    }

    pub fn source_error(&self, source: &str) {
        self.source_errors
            .get_or_create(&SourceLabel {
                source: source.to_string(),
            })
            .inc();
    }

    pub fn source_long_line(&self, source: &str) {
        self.long_lines
            .get_or_create(&SourceLabel {
                source: source.to_string(),
            })
            .inc();
    }

    /// The counters a single event changes on its own (no correlation needed).
    pub fn record_event(&mut self, o: Origin, event: &Event<'_>, reject_reason: &'static str) {
        let is = InstanceService {
            postfix_instance: o.instance,
            service: o.service,
        };
        match event {
            Event::Connect { .. } => {
                self.smtpd_connections.get(is).inc();
            }
            // `timeout after X` and `too many errors after X` end a session as abruptly as
            // `lost connection after X`, so all three count here.
            Event::LostConnection { after, .. } => {
                let after = lost_after(after).unwrap_or("other");
                self.lost_connections
                    .get(LostLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        after,
                    })
                    .inc();
            }
            Event::Tls(tls) => {
                let protocol = self.cap(Cap::TlsProtocol, tls.protocol);
                let cipher = self.cap(Cap::TlsCipher, tls.cipher);
                self.tls_connections
                    .get(TlsLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        direction: tls.direction.as_str(),
                        trust: tls.trust.as_str(),
                        protocol,
                        cipher,
                    })
                    .inc();
            }
            Event::SaslFailure { method, .. } => {
                let method = self.cap(Cap::SaslMethod, method);
                self.sasl_failures
                    .get(SaslLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        method,
                    })
                    .inc();
            }
            Event::Reject(r) => {
                let stage = self.cap(Cap::RejectStage, r.stage);
                match r.kind {
                    RejectKind::Reject | RejectKind::MilterReject => {
                        let code = if r.code.is_empty() {
                            "other"
                        } else {
                            self.cap(Cap::RejectCode, r.code)
                        };
                        self.rejects
                            .get(RejectLabels {
                                postfix_instance: o.instance,
                                service: o.service,
                                stage,
                                code,
                                reason: reject_reason,
                            })
                            .inc();
                    }
                    _ => {}
                }
                let milter_action = match r.kind {
                    RejectKind::MilterReject if r.code.starts_with('4') => Some("tempfail"),
                    RejectKind::MilterReject => Some("reject"),
                    RejectKind::MilterDiscard => Some("discard"),
                    RejectKind::MilterHold => Some("hold"),
                    _ => None,
                };
                if let Some(action) = milter_action {
                    let stage = self.cap(Cap::MilterStage, r.stage);
                    self.milter_actions
                        .get(MilterLabels {
                            postfix_instance: o.instance,
                            service: o.service,
                            stage,
                            action,
                        })
                        .inc();
                }
            }
            Event::Client { .. } | Event::Pickup { .. } => {
                self.messages_received.get(is).inc();
            }
            Event::QueueActive { size, nrcpt, .. } => {
                let i = Instance {
                    postfix_instance: o.instance,
                };
                self.message_size.get(i).observe(*size as f64);
                self.message_recipients.get(i).observe(f64::from(*nrcpt));
            }
            Event::Delivery(d) => {
                let status = self.cap(Cap::DeliveryStatus, d.status);
                let labels = StatusLabels {
                    postfix_instance: o.instance,
                    service: o.service,
                    status,
                };
                self.deliveries.get(labels).inc();
                if let Some(delay) = d.delay {
                    self.delivery_delay.get(labels).observe(delay);
                }
                if let (Some(delays), "sent") = (d.delays, d.status) {
                    for (stage, v) in ["before_qmgr", "in_qmgr", "conn_setup", "transmission"]
                        .into_iter()
                        .zip(delays)
                    {
                        self.delivery_stage_delay
                            .get(StageLabels {
                                postfix_instance: o.instance,
                                service: o.service,
                                stage,
                            })
                            .observe(v);
                    }
                }
            }
            Event::Bounce {
                kind: crate::event::BounceKind::NonDelivery,
                ..
            } => {
                self.bounces
                    .get(Instance {
                        postfix_instance: o.instance,
                    })
                    .inc();
            }
            Event::Expired { .. } => {
                self.qmgr_expired
                    .get(Instance {
                        postfix_instance: o.instance,
                    })
                    .inc();
            }
            Event::PostscreenPass { new, .. } => {
                self.postscreen(o, if *new { "pass_new" } else { "pass_old" })
            }
            Event::PostscreenConnect { .. } => self.postscreen(o, "connect"),
            Event::PostscreenDnsbl { .. } => self.postscreen(o, "dnsbl"),
            Event::PostscreenPregreet { .. } => self.postscreen(o, "pregreet"),
            Event::PostscreenHangup { .. } => self.postscreen(o, "hangup"),
            Event::PostscreenList { allowed, .. } => self.postscreen(
                o,
                if *allowed {
                    "allowlisted"
                } else {
                    "denylisted"
                },
            ),
            Event::Postgrey(p) => {
                let action = match p.action {
                    "greylist" => "greylist",
                    "pass" => "pass",
                    _ => "other",
                };
                let reason = postgrey_reason(p.reason);
                let reason = match reason {
                    Some(r) => r,
                    None => self.cap(Cap::PostgreyReason, p.reason),
                };
                self.postgrey_actions
                    .get(ActionReason { action, reason })
                    .inc();
                if action == "pass"
                    && let Some(delay) = p.delay
                {
                    self.postgrey_pass_delay.observe(delay);
                }
            }
            Event::PolicydWeightScore { rate } => self.policyd_score.observe(*rate),
            Event::PolicydWeightDecision {
                action,
                cached,
                rate,
            } => {
                self.policyd_decisions
                    .get(ActionCached {
                        action: policyd_action(action),
                        cached: if *cached { "true" } else { "false" },
                    })
                    .inc();
                if let Some(rate) = rate {
                    self.policyd_score.observe(*rate);
                }
            }
            Event::Rspamd(t) => {
                let action = rspamd_action(t.action);
                let action = match action {
                    Some(a) => a,
                    None => self.cap(Cap::RspamdAction, t.action),
                };
                self.rspamd_actions.get(Action { action }).inc();
                self.rspamd_score.get(Action { action }).observe(t.score);
                if let Some(s) = t.scan_seconds {
                    self.rspamd_scan.observe(s);
                }
            }
            Event::Other(level @ ("warning" | "error" | "fatal" | "panic")) => {
                self.log_messages
                    .get(LevelLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        level,
                    })
                    .inc();
            }
            _ => {}
        }
    }

    fn postscreen(&mut self, o: Origin, action: &'static str) {
        self.postscreen_actions
            .get(PostscreenLabels {
                postfix_instance: o.instance,
                service: o.service,
                action,
            })
            .inc();
    }

    /// What the correlator concluded from a line.
    pub fn record_observation(&mut self, obs: &Observation) {
        match *obs {
            Observation::Outcome {
                instance,
                outcome,
                inbound_tls,
                end_to_end,
                rspamd_action,
            } => {
                self.outcomes
                    .get(OutcomeLabels {
                        postfix_instance: instance,
                        outcome,
                        inbound_tls,
                    })
                    .inc();
                self.outcomes_by_rspamd
                    .get(RspamdOutcomeLabels {
                        postfix_instance: instance,
                        outcome,
                        rspamd_action,
                    })
                    .inc();
                if let Some(secs) = end_to_end {
                    self.end_to_end
                        .get(OutcomeOnly {
                            postfix_instance: instance,
                            outcome,
                        })
                        .observe(secs);
                }
            }
            Observation::AbandonedTriplet => {
                self.postgrey_abandoned.inc();
            }
            Observation::Eviction { reason } => {
                self.evictions.get(Reason { reason }).inc();
            }
        }
    }
}

/// The bounded set of `after` values of lost connections.
fn lost_after(after: &str) -> Option<&'static str> {
    Some(match after {
        "CONNECT" => "CONNECT",
        "EHLO" => "EHLO",
        "HELO" => "HELO",
        "STARTTLS" => "STARTTLS",
        "AUTH" => "AUTH",
        "MAIL" => "MAIL",
        "RCPT" => "RCPT",
        "DATA" => "DATA",
        "BDAT" => "BDAT",
        "END-OF-MESSAGE" => "END-OF-MESSAGE",
        "RSET" => "RSET",
        "QUIT" => "QUIT",
        "NOOP" => "NOOP",
        "VRFY" => "VRFY",
        "ETRN" => "ETRN",
        "UNKNOWN" => "UNKNOWN",
        _ => {
            // `DATA (0 bytes)` and `AUTH (SASL authentication failed)` carry details.
            let word = after.split([' ', '(']).next().unwrap_or("");
            if word.len() == after.len() {
                return None;
            }
            return lost_after(word);
        }
    })
}

/// postgrey reasons in their label form; `None` for reasons to cap as they come.
fn postgrey_reason(reason: &str) -> Option<&'static str> {
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

/// policyd-weight's action text in the contract's classes.
fn policyd_action(action: &str) -> &'static str {
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

fn rspamd_action(action: &str) -> Option<&'static str> {
    Some(match action {
        "no action" => "no_action",
        "greylist" => "greylist",
        "add header" => "add_header",
        "rewrite subject" => "rewrite_subject",
        "soft reject" => "soft_reject",
        "reject" => "reject",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_after_is_bounded() {
        assert_eq!(lost_after("DATA (0 bytes)"), Some("DATA"));
        assert_eq!(
            lost_after("AUTH (SASL authentication failed)"),
            Some("AUTH")
        );
        assert_eq!(lost_after("attacker-text"), None);
    }

    #[test]
    fn policyd_actions() {
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
            assert_eq!(policyd_action(raw), want, "{raw}");
        }
    }

    #[test]
    fn overflow_reports_other_and_counts() {
        let mut registry = Registry::default();
        let mut m = Metrics::new(&mut registry, 2);
        assert_eq!(m.cap(Cap::TlsCipher, "A"), "A");
        assert_eq!(m.cap(Cap::TlsCipher, "B"), "B");
        assert_eq!(m.cap(Cap::TlsCipher, "C"), "other");
        assert_eq!(m.cap(Cap::TlsCipher, "D"), "other");
        let n = m
            .overflow
            .family
            .get_or_create(&OverflowLabels {
                metric: "postfix_tls_connections_total",
                label: "cipher",
            })
            .get();
        assert_eq!(n, 2);
    }
}
