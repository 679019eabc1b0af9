//! Joins lines about the same message, session and greylist triplet.
//!
//! Pure: it sees events with their log timestamps and instance, never the wall clock or I/O, and
//! reports what it concludes as [`Observation`]s. All state has a capacity and an expiry in log
//! time (LRU maps; greylist triplets in the compact table of `triplets.rs`); everything dropped
//! before completion is reported as an eviction (or an abandoned triplet).
//!
//! Rules:
//! - A message is keyed by (instance, queue ID). It starts at smtpd `client=`, pickup, or the
//!   first line of any other kind (cleanup for mail Postfix makes itself, e.g. bounces); it ends
//!   at `removed` (so a reused queue ID starts afresh).
//! - Until qmgr (or a delivery agent) names it, a message is *incoming*: an SMTP transaction
//!   that may still be abandoned. When the client quits or resets after `client=`, Postfix
//!   deletes the queue file without logging anything, so such a message is dropped (counted as
//!   an `expired` eviction) once it has been idle for `incoming_ttl` (1 h; never longer than
//!   `message_ttl`), not kept for the week a deferred message may live. `hold:` moves a
//!   message to the long-lived side, as it may wait for days.
//!   Both sides share `capacity`; when full, the least recently seen incoming message goes
//!   first.
//! - Its inbound TLS comes from the smtpd session with the same PID as its `client=` line.
//! - Final outcomes per recipient: `sent` (delivered), `bounced`, `expired` (each recipient
//!   still deferred when qmgr expires the message, at least one), 5xx rejects with a recipient
//!   (rejected, also without a queue ID), milter/access discards (discarded). `deferred` is not
//!   final, so deferred-then-sent counts once.
//! - Content-filter re-injection: a `sent` whose reply says `queued as NEWID`, where NEWID is a
//!   message already tracked (its smtpd `client=` is logged before the filter answers) and no
//!   message-id says otherwise, hands the message on: NEWID inherits the first-seen time and
//!   inbound TLS, and only NEWID's deliveries count.
//! - rspamd verdicts are joined by queue ID, also when they arrive before the Postfix lines, and
//!   when they arrive after its final outcome but within `join_window` of log time: an outcome
//!   of a message that still lacks its verdict is held back (not reported) until a verdict
//!   joins it or a line `join_window` later in log time comes (or [`Correlator::release_held`]
//!   at the end of input), so that the order in which two logs are read does not change the
//!   numbers.
//! - SPF, DKIM and DMARC results join their message by the queue ID they name (opendkim's and
//!   opendmarc's job ID, rspamd's `qid`, policyd-spf's with `QueueID = Yes`), in any instance
//!   that tracks it ([`MessageAuth`]). The milters log at end of message, after smtpd's
//!   `client=`, so their message is tracked; a result for a queue ID not tracked is not kept.
//!   rspamd's come with its verdict, also when early or late (within the join window). A result
//!   that arrives after a recipient's outcome has been reported does not change that outcome:
//!   it counted `unknown`.
//! - postgrey triplets greylisted and never passed within the window are abandoned.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;

use lru::LruCache;

mod triplets;
use triplets::Triplets;

use crate::envelope::Micros;
use crate::event::{AuthCheck, AuthResult, Event, PostgreyVerdict, RejectKind, RspamdAction};

const MICROS: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct CorrelatorConfig {
    /// Messages tracked at once (`--capacity`).
    pub capacity: usize,
    /// A message idle for longer than this (log time) is dropped as expired.
    pub message_ttl: Micros,
    /// The same for a message qmgr has not named yet (an SMTP transaction in progress or
    /// abandoned).
    pub incoming_ttl: Micros,
    /// smtpd sessions tracked at once, and their idle expiry.
    pub session_capacity: usize,
    pub session_ttl: Micros,
    /// `--greylist-window`: a triplet not passed within this is abandoned.
    pub greylist_window: Micros,
    pub triplet_capacity: usize,
    /// `--join-window`: how long (log time) a final outcome waits for its message's late
    /// annotations (an rspamd verdict read after the delivery). 0: it does not wait.
    pub join_window: Micros,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            capacity: 100_000,
            message_ttl: 7 * 86_400 * MICROS,
            incoming_ttl: 3_600 * MICROS,
            session_capacity: 20_000,
            session_ttl: 3_600 * MICROS,
            greylist_window: 86_400 * MICROS,
            triplet_capacity: 100_000,
            join_window: 30 * MICROS,
        }
    }
}

/// How a line relates to an SMTP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// An smtpd line: its PID names the session (one process serves one client at a time).
    Pid(u32),
    /// A postscreen line: one process serves every client, and it never speaks TLS.
    Plaintext,
    /// No PID, or a daemon without SMTP sessions.
    Unknown,
}

impl Session {
    fn pid(self) -> Option<u32> {
        match self {
            Session::Pid(p) => Some(p),
            _ => None,
        }
    }
}

/// A Postfix instance, as the correlator tells instances apart: by the whole instance name
/// from the log (a hash of it), never by a label that `--label-cap` may have folded into
/// `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceKey(u64);

impl InstanceKey {
    /// The key of lines without an instance (policy daemons, rspamd).
    pub const NONE: InstanceKey = InstanceKey(0);

    /// The key of an instance name (`postfix`, `postfix-out`); `None` is [`InstanceKey::NONE`].
    pub fn of(instance: Option<&str>) -> InstanceKey {
        // Seeded per process, as instance names come from log text.
        static SEED: std::sync::OnceLock<HashSeed> = std::sync::OnceLock::new();
        match instance {
            None => InstanceKey::NONE,
            // Never NONE: an instance named in the log stays apart from lines without one.
            Some(name) => InstanceKey(SEED.get_or_init(HashSeed::default).hash_one(name) | 1),
        }
    }
}

/// The final outcome of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A delivery agent's `status=sent`.
    Delivered,
    Bounced,
    /// Still deferred when the message expired.
    Expired,
    /// A 5xx reject naming the recipient.
    Rejected,
    Discarded,
}

/// The TLS of the SMTP session a message came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboundTls {
    /// The session was not seen (the log started mid-session).
    Unknown,
    /// The session had no TLS (postscreen never has).
    Plaintext,
    /// Mail Postfix picked up or made itself.
    Local,
    TlsV1_3,
    TlsV1_2,
    TlsV1_1,
    TlsV1,
    SslV3,
    /// A protocol name of none of the above.
    Other,
}

impl InboundTls {
    fn of_protocol(protocol: &str) -> InboundTls {
        match protocol {
            "TLSv1.3" => InboundTls::TlsV1_3,
            "TLSv1.2" => InboundTls::TlsV1_2,
            "TLSv1.1" => InboundTls::TlsV1_1,
            "TLSv1" => InboundTls::TlsV1,
            "SSLv3" => InboundTls::SslV3,
            _ => InboundTls::Other,
        }
    }
}

/// Why correlation state was dropped before it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eviction {
    /// Its map was full.
    Capacity,
    /// Idle for longer than its TTL, in log time.
    Expired,
}

/// The SPF (envelope sender), DKIM and DMARC results joined to a message (`None`: none
/// joined). When a check is reported more than once (two DKIM signatures, rspamd and a milter),
/// a pass wins; otherwise the first result joined stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MessageAuth {
    pub spf: Option<AuthResult>,
    pub dkim: Option<AuthResult>,
    pub dmarc: Option<AuthResult>,
}

impl MessageAuth {
    /// The results of `check` alone (SPF of the HELO name and ARC are not kept).
    pub fn of(check: AuthCheck, result: AuthResult) -> MessageAuth {
        let mut a = MessageAuth::default();
        match check {
            AuthCheck::Spf => a.spf = Some(result),
            AuthCheck::Dkim => a.dkim = Some(result),
            AuthCheck::Dmarc => a.dmarc = Some(result),
            AuthCheck::SpfHelo | AuthCheck::Arc => {}
        }
        a
    }

    fn is_empty(&self) -> bool {
        *self == MessageAuth::default()
    }

    /// Joins `other` into these results.
    fn merge(&mut self, other: MessageAuth) {
        for (slot, new) in [
            (&mut self.spf, other.spf),
            (&mut self.dkim, other.dkim),
            (&mut self.dmarc, other.dmarc),
        ] {
            if let Some(r) = new
                && (slot.is_none() || r == AuthResult::Pass)
            {
                *slot = Some(r);
            }
        }
    }
}

/// What the correlator concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Outcome {
        /// The instance of the message (a held outcome is reported on a later line, which may
        /// be another instance's).
        instance: InstanceKey,
        outcome: Outcome,
        inbound_tls: InboundTls,
        end_to_end: Option<f64>,
        /// The rspamd action taken on the message (`None`: rspamd did not scan it).
        rspamd: Option<RspamdAction>,
        /// The authentication results joined to the message.
        auth: MessageAuth,
    },
    AbandonedTriplet,
    Eviction(Eviction),
}

/// A queue ID within its Postfix instance, stored inline (queue IDs are at most 24 bytes),
/// with its hash computed once: some lines look a message up more than once (on both sides,
/// or also the next hop's queue ID).
#[derive(Clone, Copy, Debug)]
struct QueueKey {
    hash: u64,
    instance: InstanceKey,
    len: u8,
    id: [u8; 24],
}

impl QueueKey {
    fn new(instance: InstanceKey, id: &str) -> QueueKey {
        // Seeded per process, as queue IDs come from log text.
        static SEED: std::sync::OnceLock<HashSeed> = std::sync::OnceLock::new();
        let mut buf = [0u8; 24];
        let n = id.len().min(24);
        buf[..n].copy_from_slice(&id.as_bytes()[..n]);
        QueueKey {
            hash: SEED
                .get_or_init(HashSeed::default)
                .hash_one((instance, &buf[..n])),
            instance,
            len: n as u8,
            id: buf,
        }
    }
}

impl PartialEq for QueueKey {
    fn eq(&self, other: &QueueKey) -> bool {
        self.hash == other.hash
            && self.len == other.len
            && self.id == other.id
            && self.instance == other.instance
    }
}

impl Eq for QueueKey {}

impl Hash for QueueKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// One tracked message (48 bytes, as up to `--capacity` of them are held).
#[derive(Debug)]
struct Message {
    first_seen: Micros,
    last_seen: Micros,
    message_id_hash: Option<u64>,
    /// Recipients whose last attempt was deferred (hashes; bounded per message).
    deferred: Deferred,
    tls: InboundTls,
    rspamd: Option<RspamdAction>,
    auth: MessageAuth,
}

impl Message {
    fn new(ts: Micros, early: Option<EarlyVerdict>) -> Message {
        Message {
            first_seen: ts,
            last_seen: ts,
            message_id_hash: None,
            deferred: Deferred::default(),
            tls: InboundTls::Unknown,
            rspamd: early.map(|e| e.0),
            auth: early.map_or_else(MessageAuth::default, |e| e.1),
        }
    }
}

/// An rspamd verdict (its action and its authentication results) waiting for its message.
type EarlyVerdict = (RspamdAction, MessageAuth);

/// Hashes of deferred recipients; no allocation (and 8 bytes) for the many messages with none.
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // On purpose: 8 bytes in every message instead of a 24-byte Vec.
struct Deferred(Option<Box<Vec<u64>>>);

impl Deferred {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }

    fn clear(&mut self) {
        self.0 = None;
    }

    fn contains(&self, recipient: &u64) -> bool {
        self.0.as_ref().is_some_and(|v| v.contains(recipient))
    }

    fn push(&mut self, recipient: u64) {
        self.0.get_or_insert_with(Default::default).push(recipient);
    }

    fn retain(&mut self, keep: impl FnMut(&u64) -> bool) {
        if let Some(v) = &mut self.0 {
            v.retain(keep);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }
}

/// What a message learns from lines that may come after its final outcome (rspamd's own log
/// is read beside the mail log, in whatever order the two are read).
#[derive(Debug, Clone, Copy, Default)]
struct Annotations {
    rspamd: Option<RspamdAction>,
    /// Results joined after the outcome was held (rspamd's come with its verdict).
    auth: MessageAuth,
}

/// A final outcome held back for its message's late annotations (see [`Annotations`]).
#[derive(Debug)]
struct Held {
    /// When (log time) it is reported whatever has come by then.
    due: Micros,
    key: QueueKey,
    outcome: Outcome,
    tls: InboundTls,
    end_to_end: Option<Micros>,
    /// The results its message had when the outcome was held.
    auth: MessageAuth,
}

/// The held outcomes of one message: how many, and the annotations that came meanwhile.
#[derive(Debug, Default)]
struct Pending {
    held: u32,
    annotations: Annotations,
}

#[derive(Debug)]
struct SessionState {
    last_seen: Micros,
    tls: InboundTls,
}

const MAX_DEFERRED_PER_MESSAGE: usize = 1_000;

pub struct Correlator {
    config: CorrelatorConfig,
    /// Messages qmgr or a delivery agent has named (or local mail).
    messages: LruCache<QueueKey, Message>,
    /// Messages still in their SMTP transaction, or abandoned in it.
    incoming: LruCache<QueueKey, Message>,
    sessions: LruCache<(InstanceKey, u32), SessionState>,
    /// rspamd verdicts whose queue ID has not been seen yet.
    early_rspamd: LruCache<QueueKey, EarlyVerdict>,
    /// Greylisted triplets waiting for their pass.
    triplets: Triplets,
    /// Final outcomes waiting for late annotations, in the order they are due (at most
    /// `capacity`), and the annotations of their messages.
    held: VecDeque<Held>,
    pending: HashMap<QueueKey, Pending, HashSeed>,
    /// Postfix instances seen (a handful), to join rspamd lines that name no instance.
    instances: Vec<InstanceKey>,
    now: Micros,
    seed: HashSeed,
}

const MAX_INSTANCES: usize = 64;

/// Hashes of recipients, message-ids and greylist triplets (text chosen by whoever sends mail):
/// foldhash (cheaper than SipHash on the hot path) with a seed drawn per process, so
/// collisions cannot be prepared in advance.
fn hash_of<T: Hash + ?Sized>(hasher: &HashSeed, value: &T) -> u64 {
    hasher.hash_one(value)
}

type HashSeed = foldhash::fast::RandomState;

/// An LRU map of at most `capacity` entries whose table grows with what it holds
/// (`LruCache::new` allocates the whole table up front, and resident memory then creeps up
/// toward it as entries land at random slots).
fn bounded<K: Hash + Eq, V>(capacity: usize) -> LruCache<K, V> {
    LruCache::sparse(nz(capacity))
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("max(1) is non-zero")
}

impl Correlator {
    pub fn new(config: CorrelatorConfig) -> Correlator {
        Correlator {
            messages: bounded(config.capacity),
            incoming: bounded(config.capacity),
            sessions: bounded(config.session_capacity),
            early_rspamd: bounded(config.capacity / 10),
            triplets: Triplets::new(config.greylist_window, config.triplet_capacity),
            held: VecDeque::new(),
            pending: HashMap::default(),
            instances: Vec::new(),
            config,
            now: i64::MIN,
            seed: HashSeed::default(),
        }
    }

    /// Messages currently tracked.
    pub fn tracked(&self) -> usize {
        self.messages.len() + self.incoming.len()
    }

    /// smtpd sessions currently tracked (connect seen, disconnect not yet).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Greylisted triplets waiting for their pass.
    pub fn triplets(&self) -> usize {
        self.triplets.len()
    }

    /// rspamd verdicts waiting for their queue ID's first Postfix line.
    pub fn early_verdicts(&self) -> usize {
        self.early_rspamd.len()
    }

    /// Final outcomes held back for late annotations.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Reports every held outcome now, with what joined it so far (at the end of input, or
    /// when the log has been quiet for longer than the join window).
    pub fn release_held(&mut self, out: &mut Vec<Observation>) {
        while let Some(h) = self.held.pop_front() {
            self.release(h, out);
        }
    }

    /// The configuration it was built with (capacities, TTLs).
    pub fn config(&self) -> &CorrelatorConfig {
        &self.config
    }

    /// Feeds one event. `session` says how the line relates to an SMTP session, `instance` is
    /// its Postfix instance ([`InstanceKey::NONE`] for policy daemons and rspamd). What it
    /// concludes goes to `out`: outcomes are about `instance`; evictions and abandoned
    /// triplets (state that expired as log time passed) are about no instance in particular.
    pub fn handle(
        &mut self,
        ts: Micros,
        instance: InstanceKey,
        session: Session,
        event: &Event<'_>,
        out: &mut Vec<Observation>,
    ) {
        let pid = session.pid();
        if ts > self.now {
            self.now = ts;
            self.expire(out);
        }
        match event {
            Event::Connect { .. } => {
                if let Some(pid) = pid {
                    self.put_session(instance, pid, InboundTls::Plaintext, out);
                }
            }
            Event::Tls(tls) => {
                // Outbound TLS (smtp, lmtp) says nothing about how mail came in.
                if tls.direction == crate::event::Direction::Inbound
                    && let Some(pid) = pid
                {
                    let tls = InboundTls::of_protocol(tls.protocol);
                    match self.sessions.get_mut(&(instance, pid)) {
                        Some(s) => {
                            s.tls = tls;
                            s.last_seen = ts;
                        }
                        None => self.put_session(instance, pid, tls, out),
                    }
                }
            }
            Event::Disconnect { .. } => {
                if let Some(pid) = pid {
                    self.sessions.pop(&(instance, pid));
                }
            }
            Event::Client { queue_id, .. } => {
                let tls = match session {
                    Session::Plaintext => InboundTls::Plaintext,
                    _ => pid
                        .and_then(|pid| self.sessions.get_mut(&(instance, pid)))
                        .map_or(InboundTls::Unknown, |s| {
                            s.last_seen = ts;
                            s.tls
                        }),
                };
                let key = QueueKey::new(instance, queue_id);
                let m = self.incoming_message(key, ts, out);
                m.tls = tls;
            }
            Event::Pickup { queue_id, .. } => {
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                if m.tls == InboundTls::Unknown {
                    m.tls = InboundTls::Local;
                }
            }
            Event::Bounce {
                queue_id,
                notification_id,
                ..
            } => {
                // The notification is mail Postfix makes itself.
                let key = QueueKey::new(instance, notification_id);
                let m = self.message(key, ts, out);
                m.tls = InboundTls::Local;
                self.touch(instance, Some(queue_id), ts, out);
            }
            Event::MessageId {
                queue_id,
                message_id,
            } => {
                let key = QueueKey::new(instance, queue_id);
                let hash = hash_of(&self.seed, *message_id);
                self.incoming_message(key, ts, out).message_id_hash = Some(hash);
            }
            Event::QueueActive { queue_id, .. } | Event::Postsuper { queue_id, .. } => {
                self.touch(instance, Some(queue_id), ts, out);
            }
            Event::Removed { queue_id } => {
                self.forget(&QueueKey::new(instance, queue_id));
            }
            Event::Expired { queue_id, .. } => {
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                let n = m.deferred.len().max(1);
                m.deferred.clear();
                let (tls, first, rspamd, auth) = (m.tls, m.first_seen, m.rspamd, m.auth);
                for _ in 0..n {
                    self.conclude(
                        key,
                        ts,
                        Outcome::Expired,
                        tls,
                        Some(ts - first),
                        rspamd,
                        auth,
                        out,
                    );
                }
            }
            Event::Delivery(d) => self.delivery(ts, instance, d, out),
            Event::Reject(r) => {
                let rejected_recipient =
                    r.kind == RejectKind::Reject && r.code.starts_with('5') && r.to.is_some();
                let discarded = matches!(r.kind, RejectKind::Discard | RejectKind::MilterDiscard);
                let milter_rejected =
                    r.kind == RejectKind::MilterReject && r.code.starts_with('5') && r.to.is_some();
                let final_outcome = if discarded {
                    Some(Outcome::Discarded)
                } else if rejected_recipient || milter_rejected {
                    Some(Outcome::Rejected)
                } else {
                    None
                };
                let Some(final_outcome) = final_outcome else {
                    if let Some(q) = r.queue_id {
                        let key = QueueKey::new(instance, q);
                        if matches!(r.kind, RejectKind::Hold | RejectKind::MilterHold) {
                            self.message(key, ts, out);
                        } else {
                            self.incoming_message(key, ts, out);
                        }
                    }
                    return;
                };
                match r.queue_id {
                    Some(q) => {
                        let key = QueueKey::new(instance, q);
                        let m = self.incoming_message(key, ts, out);
                        let (tls, e2e, rspamd, auth) =
                            (m.tls, Some(ts - m.first_seen), m.rspamd, m.auth);
                        // Refused as a whole (not one recipient of several): the message is gone.
                        if !matches!(r.stage, "CONNECT" | "HELO" | "EHLO" | "MAIL" | "RCPT") {
                            self.forget(&key);
                        }
                        self.conclude(key, ts, final_outcome, tls, e2e, rspamd, auth, out);
                    }
                    None => {
                        // No message: nothing can join it later.
                        let tls = match session {
                            Session::Plaintext => InboundTls::Plaintext,
                            _ => pid
                                .and_then(|pid| self.sessions.peek(&(instance, pid)))
                                .map_or(InboundTls::Unknown, |s| s.tls),
                        };
                        out.push(outcome(
                            instance,
                            final_outcome,
                            tls,
                            None,
                            None,
                            MessageAuth::default(),
                        ));
                    }
                }
            }
            Event::Rspamd(t) => {
                if let Some(q) = t.queue_id {
                    let auth = MessageAuth {
                        spf: t.auth.spf,
                        dkim: t.auth.dkim,
                        dmarc: t.auth.dmarc,
                    };
                    self.rspamd_verdict(q, (t.action, auth), out);
                }
            }
            Event::Auth(v) => {
                let auth = MessageAuth::of(v.check, v.result);
                if let Some(q) = v.queue_id
                    && !auth.is_empty()
                {
                    self.join_auth(q, auth);
                }
            }
            Event::Postgrey(p) => {
                let triplet = hash_of(
                    &self.seed,
                    &(
                        p.client_address.unwrap_or(""),
                        p.sender.unwrap_or(""),
                        p.recipient.unwrap_or(""),
                    ),
                );
                match p.action {
                    // Only the first greylisting of a triplet starts its window; a full table
                    // makes room by dropping its oldest.
                    PostgreyVerdict::Greylist => {
                        if self.triplets.greylisted(triplet, self.now) {
                            out.push(Observation::Eviction(Eviction::Capacity));
                        }
                    }
                    PostgreyVerdict::Pass => {
                        self.triplets.passed(triplet);
                    }
                    PostgreyVerdict::Other => {}
                }
            }
            // Nothing to join: session ends other than `disconnect`, outbound TLS, failed
            // logins, DNS and postscreen verdicts, policy scores, diagnostics, chatter.
            Event::LostConnection { .. }
            | Event::SaslFailure { .. }
            | Event::HostnameUnresolved { .. }
            | Event::PostscreenConnect { .. }
            | Event::PostscreenPass { .. }
            | Event::PostscreenDnsbl { .. }
            | Event::PostscreenPregreet { .. }
            | Event::PostscreenHangup { .. }
            | Event::PostscreenList { .. }
            | Event::ConnectFailed { .. }
            | Event::PolicydWeightScore { .. }
            | Event::PolicydWeightDecision { .. }
            | Event::DkimSigned { .. }
            | Event::Diagnostic(_)
            | Event::Other(_) => {}
        }
    }

    fn delivery(
        &mut self,
        ts: Micros,
        instance: InstanceKey,
        d: &crate::event::Delivery<'_>,
        out: &mut Vec<Observation>,
    ) {
        let key = QueueKey::new(instance, d.queue_id);
        let recipient = hash_of(&self.seed, d.to);
        let final_outcome = match d.status {
            "sent" => Outcome::Delivered,
            "bounced" => Outcome::Bounced,
            "expired" => Outcome::Expired,
            "deferred" => {
                let m = self.message(key, ts, out);
                if !m.deferred.contains(&recipient) && m.deferred.len() < MAX_DEFERRED_PER_MESSAGE {
                    m.deferred.push(recipient);
                }
                return;
            }
            _ => {
                self.touch(instance, Some(d.queue_id), ts, out);
                return;
            }
        };
        // Handed to a content filter that re-injected it as a message we already track?
        if final_outcome == Outcome::Delivered
            && let Some(next) = d.queued_as
        {
            let next_key = QueueKey::new(instance, next);
            if next_key != key && self.tracks(&next_key) {
                let (first, tls, mid, rspamd, auth) = {
                    let m = self.message(key, ts, out);
                    m.deferred.retain(|r| *r != recipient);
                    (m.first_seen, m.tls, m.message_id_hash, m.rspamd, m.auth)
                };
                let n = self.tracked_mut(&next_key).expect("checked above");
                let same_message = match (mid, n.message_id_hash) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                if same_message {
                    n.first_seen = n.first_seen.min(first);
                    if matches!(
                        n.tls,
                        InboundTls::Unknown | InboundTls::Plaintext | InboundTls::Local
                    ) || tls != InboundTls::Unknown
                    {
                        n.tls = tls;
                    }
                    if n.rspamd.is_none() {
                        n.rspamd = rspamd;
                    }
                    n.auth.merge(auth);
                    return;
                }
            }
        }
        let m = self.message(key, ts, out);
        m.deferred.retain(|r| *r != recipient);
        let (tls, e2e, rspamd, auth) = (m.tls, Some(ts - m.first_seen), m.rspamd, m.auth);
        self.conclude(key, ts, final_outcome, tls, e2e, rspamd, auth, out);
    }

    /// A final outcome of the message `key`: reported now when its message has its rspamd
    /// verdict (or nothing is to wait), else held until the verdict joins it or the join
    /// window has passed.
    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &mut self,
        key: QueueKey,
        ts: Micros,
        outcome_: Outcome,
        tls: InboundTls,
        end_to_end: Option<Micros>,
        rspamd: Option<RspamdAction>,
        auth: MessageAuth,
        out: &mut Vec<Observation>,
    ) {
        if rspamd.is_some() || self.config.join_window <= 0 {
            out.push(outcome(
                key.instance,
                outcome_,
                tls,
                end_to_end,
                rspamd,
                auth,
            ));
            return;
        }
        if self.held.len() >= self.config.capacity.max(1)
            && let Some(oldest) = self.held.pop_front()
        {
            // Full: the oldest is reported early rather than any state dropped.
            self.release(oldest, out);
        }
        self.held.push_back(Held {
            due: self.now.max(ts).saturating_add(self.config.join_window),
            key,
            outcome: outcome_,
            tls,
            end_to_end,
            auth,
        });
        self.pending.entry(key).or_default().held += 1;
    }

    /// Reports a held outcome with the annotations its message has by now.
    fn release(&mut self, h: Held, out: &mut Vec<Observation>) {
        let annotations = match self.pending.get_mut(&h.key) {
            Some(p) if p.held > 1 => {
                p.held -= 1;
                p.annotations
            }
            Some(_) => self
                .pending
                .remove(&h.key)
                .map(|p| p.annotations)
                .unwrap_or_default(),
            None => Annotations::default(),
        };
        let mut auth = h.auth;
        auth.merge(annotations.auth);
        out.push(outcome(
            h.key.instance,
            h.outcome,
            h.tls,
            h.end_to_end,
            annotations.rspamd,
            auth,
        ));
    }

    fn put_session(
        &mut self,
        instance: InstanceKey,
        pid: u32,
        tls: InboundTls,
        out: &mut Vec<Observation>,
    ) {
        let s = SessionState {
            last_seen: self.now,
            tls,
        };
        if let Some((k, _)) = self.sessions.push((instance, pid), s)
            && k != (instance, pid)
        {
            out.push(Observation::Eviction(Eviction::Capacity));
        }
    }

    fn touch(
        &mut self,
        instance: InstanceKey,
        queue_id: Option<&str>,
        ts: Micros,
        out: &mut Vec<Observation>,
    ) {
        if let Some(q) = queue_id {
            self.message(QueueKey::new(instance, q), ts, out);
        }
    }

    /// The queued message for `key` (moved over from the incoming side, or created, first seen
    /// now, when new).
    fn message(&mut self, key: QueueKey, ts: Micros, out: &mut Vec<Observation>) -> &mut Message {
        self.make_room(&key, out);
        let (instances, early_rspamd, incoming) = (
            &mut self.instances,
            &mut self.early_rspamd,
            &mut self.incoming,
        );
        // One lookup when the message is known (the common case: qmgr and delivery lines).
        let m = self.messages.get_or_insert_mut(key, || {
            incoming
                .pop(&key)
                .unwrap_or_else(|| new_message(key, ts, instances, early_rspamd))
        });
        m.last_seen = m.last_seen.max(ts);
        m
    }

    /// The message for `key` on whichever side it is; a new one starts on the incoming side.
    fn incoming_message(
        &mut self,
        key: QueueKey,
        ts: Micros,
        out: &mut Vec<Observation>,
    ) -> &mut Message {
        if self.messages.contains(&key) {
            return self.message(key, ts, out);
        }
        self.make_room(&key, out);
        let (instances, early_rspamd) = (&mut self.instances, &mut self.early_rspamd);
        let m = self
            .incoming
            .get_or_insert_mut(key, || new_message(key, ts, instances, early_rspamd));
        m.last_seen = m.last_seen.max(ts);
        m
    }

    /// rspamd lines carry no Postfix instance: the verdict joins the message of any instance
    /// that has the queue ID (tracked, or with outcomes held for it), else waits for it under
    /// the default instance.
    fn rspamd_verdict(
        &mut self,
        queue_id: &str,
        verdict: EarlyVerdict,
        out: &mut Vec<Observation>,
    ) {
        if self.annotate(queue_id, Some(verdict.0), verdict.1) {
            return;
        }
        let key = QueueKey::new(InstanceKey::NONE, queue_id);
        if let Some((k, _)) = self.early_rspamd.push(key, verdict)
            && k != key
        {
            out.push(Observation::Eviction(Eviction::Capacity));
        }
    }

    /// A result of policyd-spf, opendkim or opendmarc (lines without a Postfix instance, or
    /// `postfix/policyd-spf`'s): joins the message of any instance that has the queue ID.
    fn join_auth(&mut self, queue_id: &str, auth: MessageAuth) {
        self.annotate(queue_id, None, auth);
    }

    /// Gives an rspamd verdict and/or authentication results to the message of `queue_id` in
    /// the first instance that tracks it or holds outcomes for it (both, when its outcome is
    /// held while it is still tracked); `false` when none does.
    fn annotate(
        &mut self,
        queue_id: &str,
        rspamd: Option<RspamdAction>,
        auth: MessageAuth,
    ) -> bool {
        for i in 0..self.instances.len() {
            let key = QueueKey::new(self.instances[i], queue_id);
            let mut joined = false;
            if let Some(p) = self.pending.get_mut(&key) {
                // The latest verdict stands, as for a tracked message.
                p.annotations.rspamd = rspamd.or(p.annotations.rspamd);
                p.annotations.auth.merge(auth);
                joined = true;
            }
            if let Some(m) = self.tracked_mut(&key) {
                m.rspamd = rspamd.or(m.rspamd);
                m.auth.merge(auth);
                joined = true;
            }
            if joined {
                return true;
            }
        }
        false
    }

    fn tracks(&self, key: &QueueKey) -> bool {
        self.messages.contains(key) || self.incoming.contains(key)
    }

    fn tracked_mut(&mut self, key: &QueueKey) -> Option<&mut Message> {
        self.messages
            .get_mut(key)
            .or_else(|| self.incoming.get_mut(key))
    }

    fn forget(&mut self, key: &QueueKey) {
        if self.messages.pop(key).is_none() {
            self.incoming.pop(key);
        }
    }

    /// Before `key` may be added: when both sides together hold `capacity` messages, drops the
    /// least recently seen incoming message (most likely an abandoned transaction), else the
    /// least recently seen queued one. Nothing when `key` is already tracked.
    fn make_room(&mut self, key: &QueueKey, out: &mut Vec<Observation>) {
        if self.messages.len() + self.incoming.len() < self.config.capacity.max(1)
            || self.tracks(key)
        {
            return;
        }
        if self.incoming.pop_lru().is_none() {
            self.messages.pop_lru();
        }
        out.push(Observation::Eviction(Eviction::Capacity));
    }

    /// Reports held outcomes that are due, and drops what has been idle for longer than its
    /// TTL, oldest first.
    fn expire(&mut self, out: &mut Vec<Observation>) {
        let now = self.now;
        while self.held.front().is_some_and(|h| h.due <= now) {
            if let Some(h) = self.held.pop_front() {
                self.release(h, out);
            }
        }
        while let Some((_, m)) = self.messages.peek_lru() {
            if now - m.last_seen <= self.config.message_ttl {
                break;
            }
            self.messages.pop_lru();
            out.push(Observation::Eviction(Eviction::Expired));
        }
        let incoming_ttl = self.config.incoming_ttl.min(self.config.message_ttl);
        while let Some((_, m)) = self.incoming.peek_lru() {
            if now - m.last_seen <= incoming_ttl {
                break;
            }
            self.incoming.pop_lru();
            out.push(Observation::Eviction(Eviction::Expired));
        }
        while let Some((_, s)) = self.sessions.peek_lru() {
            if now - s.last_seen <= self.config.session_ttl {
                break;
            }
            self.sessions.pop_lru();
        }
        for _ in 0..self.triplets.expire(now) {
            out.push(Observation::AbandonedTriplet);
        }
    }
}

/// A message first seen now; an rspamd verdict that came before it is joined.
fn new_message(
    key: QueueKey,
    ts: Micros,
    instances: &mut Vec<InstanceKey>,
    early_rspamd: &mut LruCache<QueueKey, EarlyVerdict>,
) -> Message {
    if !instances.contains(&key.instance) && instances.len() < MAX_INSTANCES {
        instances.push(key.instance);
    }
    let early = early_rspamd.pop(&QueueKey::new(
        InstanceKey::NONE,
        std::str::from_utf8(&key.id[..key.len as usize]).unwrap_or(""),
    ));
    Message::new(ts, early)
}

fn outcome(
    instance: InstanceKey,
    outcome: Outcome,
    inbound_tls: InboundTls,
    end_to_end_micros: Option<Micros>,
    rspamd: Option<RspamdAction>,
    auth: MessageAuth,
) -> Observation {
    Observation::Outcome {
        instance,
        outcome,
        inbound_tls,
        end_to_end: end_to_end_micros.map(|m| m as f64 / 1e6),
        rspamd,
        auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        AuthDaemon, AuthVerdict, Delivery, Direction, Peer, PostgreyAction, Reject, RejectKind,
        RspamdAuth, RspamdTask, Tls, Trust,
    };

    /// Up to `--capacity` messages are held: a field added to `Message` must be worth it.
    #[test]
    fn a_message_stays_small() {
        assert_eq!(std::mem::size_of::<Message>(), 48);
    }

    const S: i64 = MICROS;
    fn p() -> InstanceKey {
        InstanceKey::of(Some("postfix"))
    }

    fn peer() -> Peer<'static> {
        Peer {
            host: "mx.example.org",
            ip: "192.0.2.1",
            port: None,
        }
    }

    fn tls(protocol: &'static str) -> Event<'static> {
        Event::Tls(Tls {
            direction: Direction::Inbound,
            trust: Trust::Anonymous,
            peer: peer(),
            protocol,
            cipher: "TLS_AES_256_GCM_SHA384",
            bits: Some(256),
        })
    }

    fn client(q: &'static str) -> Event<'static> {
        Event::Client {
            queue_id: q,
            peer: peer(),
            sasl_method: None,
            sasl_username: None,
        }
    }

    fn delivery(
        q: &'static str,
        to: &'static str,
        status: &'static str,
        queued_as: Option<&'static str>,
    ) -> Event<'static> {
        Event::Delivery(Delivery {
            queue_id: q,
            to,
            orig_to: None,
            relay: "x",
            delay: Some(1.0),
            delays: None,
            dsn: None,
            status,
            detail: "",
            queued_as,
        })
    }

    fn reject(
        queue_id: Option<&'static str>,
        kind: RejectKind,
        code: &'static str,
        stage: &'static str,
    ) -> Event<'static> {
        Event::Reject(Reject {
            queue_id,
            kind,
            stage,
            peer: Some(peer()),
            code,
            dsn: None,
            text: "",
            from: Some("a@b"),
            to: Some("c@d"),
            helo: None,
            reason: crate::event::RejectReason::Other,
        })
    }

    fn postgrey(action: &'static str, recipient: &'static str) -> Event<'static> {
        Event::Postgrey(PostgreyAction {
            queue_id: None,
            action: PostgreyVerdict::from_text(action),
            reason: "new",
            delay: None,
            client_name: None,
            client_address: Some("192.0.2.1"),
            sender: Some("a@b"),
            recipient: Some(recipient),
        })
    }

    /// Feeds (seconds, pid, event) and returns what it concluded, held outcomes included (as
    /// at the end of input).
    fn run(c: &mut Correlator, steps: &[(i64, u32, Event<'static>)]) -> Vec<Observation> {
        let mut out = Vec::new();
        for (t, pid, e) in steps {
            c.handle(t * S, p(), Session::Pid(*pid), e, &mut out);
        }
        c.release_held(&mut out);
        out
    }

    fn outcomes(obs: &[Observation]) -> Vec<(Outcome, InboundTls, Option<f64>)> {
        obs.iter()
            .filter_map(|o| match o {
                Observation::Outcome {
                    outcome,
                    inbound_tls,
                    end_to_end,
                    ..
                } => Some((*outcome, *inbound_tls, *end_to_end)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn message_inherits_session_tls_and_end_to_end_time() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, Event::Connect { peer: peer() }),
                (1, 10, tls("TLSv1.3")),
                (2, 10, client("AAAAAA1")),
                (
                    3,
                    10,
                    Event::Disconnect {
                        peer: peer(),
                        counters: "",
                    },
                ),
                (
                    4,
                    20,
                    Event::QueueActive {
                        queue_id: "AAAAAA1",
                        from: "a@b",
                        size: 10,
                        nrcpt: 1,
                    },
                ),
                (7, 30, delivery("AAAAAA1", "u@d", "sent", None)),
                (
                    7,
                    20,
                    Event::Removed {
                        queue_id: "AAAAAA1",
                    },
                ),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![(Outcome::Delivered, InboundTls::TlsV1_3, Some(5.0))]
        );
        assert_eq!(c.tracked(), 0);
    }

    #[test]
    fn plaintext_session_is_none_and_unknown_session_is_unknown() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, Event::Connect { peer: peer() }),
                (1, 10, client("AAAAAA1")),
                (1, 11, client("AAAAAA2")),
                (2, 30, delivery("AAAAAA1", "u@d", "sent", None)),
                (2, 30, delivery("AAAAAA2", "u@d", "sent", None)),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![
                (Outcome::Delivered, InboundTls::Plaintext, Some(1.0)),
                (Outcome::Delivered, InboundTls::Unknown, Some(1.0))
            ]
        );
    }

    #[test]
    fn deferred_then_sent_counts_once_and_expiry_counts_deferred_recipients() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, client("AAAAAA1")),
                (5, 30, delivery("AAAAAA1", "x@d", "deferred", None)),
                (5, 30, delivery("AAAAAA1", "y@d", "deferred", None)),
                (5, 30, delivery("AAAAAA1", "z@d", "deferred", None)),
                (60, 30, delivery("AAAAAA1", "x@d", "deferred", None)),
                (600, 30, delivery("AAAAAA1", "x@d", "sent", None)),
                (
                    900,
                    20,
                    Event::Expired {
                        queue_id: "AAAAAA1",
                        from: "a@b",
                    },
                ),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![
                (Outcome::Delivered, InboundTls::Unknown, Some(600.0)),
                (Outcome::Expired, InboundTls::Unknown, Some(900.0)),
                (Outcome::Expired, InboundTls::Unknown, Some(900.0)),
            ]
        );
    }

    #[test]
    fn content_filter_reinjection_is_one_message() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, Event::Connect { peer: peer() }),
                (0, 10, tls("TLSv1.2")),
                (1, 10, client("AAAAAA1")),
                (
                    1,
                    40,
                    Event::MessageId {
                        queue_id: "AAAAAA1",
                        message_id: "m1@x",
                    },
                ),
                // The filter's re-injection arrives before the filter answers the first hop.
                (3, 50, client("BBBBBB2")),
                (
                    3,
                    40,
                    Event::MessageId {
                        queue_id: "BBBBBB2",
                        message_id: "m1@x",
                    },
                ),
                (3, 30, delivery("AAAAAA1", "u@d", "sent", Some("BBBBBB2"))),
                (
                    3,
                    20,
                    Event::Removed {
                        queue_id: "AAAAAA1",
                    },
                ),
                (4, 31, delivery("BBBBBB2", "u@d", "sent", None)),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![(Outcome::Delivered, InboundTls::TlsV1_2, Some(3.0))]
        );
    }

    #[test]
    fn remote_queued_as_is_a_delivery() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, client("AAAAAA1")),
                (
                    2,
                    30,
                    delivery("AAAAAA1", "u@remote", "sent", Some("4XyzRemote99")),
                ),
            ],
        );
        assert_eq!(outcomes(&obs).len(), 1);
    }

    #[test]
    fn queue_id_reuse_starts_afresh() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, client("AAAAAA1")),
                (1, 30, delivery("AAAAAA1", "u@d", "sent", None)),
                (
                    1,
                    20,
                    Event::Removed {
                        queue_id: "AAAAAA1",
                    },
                ),
                (100, 10, client("AAAAAA1")),
                (101, 30, delivery("AAAAAA1", "u@d", "sent", None)),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![
                (Outcome::Delivered, InboundTls::Unknown, Some(1.0)),
                (Outcome::Delivered, InboundTls::Unknown, Some(1.0))
            ]
        );
    }

    #[test]
    fn rejects_final_only_when_permanent() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 10, Event::Connect { peer: peer() }),
                (1, 10, reject(None, RejectKind::Reject, "450", "RCPT")),
                (2, 10, reject(None, RejectKind::Reject, "550", "RCPT")),
                (
                    3,
                    10,
                    reject(None, RejectKind::RejectWarning, "550", "RCPT"),
                ),
                (4, 10, client("AAAAAA1")),
                (
                    9,
                    40,
                    reject(
                        Some("AAAAAA1"),
                        RejectKind::MilterReject,
                        "550",
                        "END-OF-MESSAGE",
                    ),
                ),
            ],
        );
        assert_eq!(
            outcomes(&obs),
            vec![
                (Outcome::Rejected, InboundTls::Plaintext, None),
                (Outcome::Rejected, InboundTls::Plaintext, Some(5.0))
            ]
        );
        assert_eq!(c.tracked(), 0, "a message refused at end of data is gone");
    }

    #[test]
    fn rspamd_verdict_joins_even_when_early() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let scan = Event::Rspamd(RspamdTask {
            queue_id: Some("AAAAAA1"),
            message_id: None,
            action: RspamdAction::AddHeader,
            action_text: "add header",
            score: 7.0,
            required_score: Some(15.0),
            scan_seconds: None,
            auth: RspamdAuth::default(),
        });
        let mut out = Vec::new();
        c.handle(0, InstanceKey::NONE, Session::Unknown, &scan, &mut out);
        for (t, e) in [
            (1, client("AAAAAA1")),
            (2, delivery("AAAAAA1", "u@d", "sent", None)),
        ] {
            c.handle(t * S, p(), Session::Pid(9), &e, &mut out);
        }
        assert!(matches!(
            out.last(),
            Some(Observation::Outcome {
                rspamd: Some(RspamdAction::AddHeader),
                ..
            })
        ));
    }

    #[test]
    fn abandoned_triplets_after_window_in_log_time() {
        let mut c = Correlator::new(CorrelatorConfig {
            greylist_window: 3600 * S,
            ..CorrelatorConfig::default()
        });
        let obs = run(
            &mut c,
            &[
                (0, 1, postgrey("greylist", "a@x")),
                (0, 1, postgrey("greylist", "b@x")),
                (60, 1, postgrey("greylist", "a@x")),
                (300, 1, postgrey("pass", "a@x")),
                (3599, 1, Event::Other("tick")),
            ],
        );
        assert!(obs.is_empty());
        let obs = run(&mut c, &[(3601, 1, Event::Other("tick"))]);
        assert_eq!(obs, vec![Observation::AbandonedTriplet]);
    }

    #[test]
    fn early_rspamd_verdicts_dropped_at_capacity_are_counted() {
        // Verdicts whose queue ID never shows up were dropped silently at the LRU's capacity
        // (capacity / 10); they are correlation state too (found by tests/soak.rs).
        let mut c = Correlator::new(CorrelatorConfig {
            capacity: 20,
            ..CorrelatorConfig::default()
        });
        let scan = |q: &'static str| {
            Event::Rspamd(RspamdTask {
                queue_id: Some(q),
                message_id: None,
                action: RspamdAction::NoAction,
                action_text: "no action",
                score: 0.0,
                required_score: None,
                scan_seconds: None,
                auth: RspamdAuth::default(),
            })
        };
        let obs = run(
            &mut c,
            &[
                (0, 1, scan("AAAAAA1")),
                (0, 1, scan("AAAAAA2")),
                (0, 1, scan("AAAAAA2")),
            ],
        );
        assert!(obs.is_empty());
        let obs = run(&mut c, &[(0, 1, scan("AAAAAA3"))]);
        assert_eq!(obs, vec![Observation::Eviction(Eviction::Capacity)]);
        assert_eq!(c.early_verdicts(), 2);
    }

    fn queue_active(q: &'static str) -> Event<'static> {
        Event::QueueActive {
            queue_id: q,
            from: "a@b",
            size: 1,
            nrcpt: 1,
        }
    }

    #[test]
    fn abandoned_transactions_go_after_an_hour_queued_mail_stays() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let hold = reject(Some("HHHHHH1"), RejectKind::Hold, "", "END-OF-MESSAGE");
        let obs = run(
            &mut c,
            &[
                // AAAAAA1 is abandoned after `client=`: Postfix deletes it without a word.
                // QQQQQQ1 is queued and deferred: qmgr may retry it for days.
                // HHHHHH1 is held by header_checks: it waits in the hold queue.
                (0, 1, client("AAAAAA1")),
                (0, 2, client("QQQQQQ1")),
                (0, 3, client("HHHHHH1")),
                (1, 0, queue_active("QQQQQQ1")),
                (1, 0, hold),
                (2, 0, delivery("QQQQQQ1", "x@y", "deferred", None)),
            ],
        );
        assert!(obs.is_empty());
        assert_eq!(c.tracked(), 3);
        // HHHHHH1, last seen at 1 s, would go too if it were still incoming.
        let obs = run(&mut c, &[(3602, 0, Event::Other("tick"))]);
        assert_eq!(obs, vec![Observation::Eviction(Eviction::Expired)]);
        assert_eq!(c.tracked(), 2);
        // The deferred message keeps its first-seen time through the move to the queue.
        let obs = run(
            &mut c,
            &[(7200, 0, delivery("QQQQQQ1", "x@y", "sent", None))],
        );
        assert_eq!(
            obs,
            vec![outcome(
                p(),
                Outcome::Delivered,
                InboundTls::Unknown,
                Some(7200 * S),
                None,
                MessageAuth::default(),
            )]
        );
    }

    #[test]
    fn full_capacity_drops_an_incoming_message_before_a_queued_one() {
        let mut c = Correlator::new(CorrelatorConfig {
            capacity: 2,
            ..CorrelatorConfig::default()
        });
        let obs = run(
            &mut c,
            &[
                (0, 1, client("QQQQQQ1")),
                (1, 0, queue_active("QQQQQQ1")),
                (2, 2, client("AAAAAA1")),
                (3, 3, client("AAAAAA2")),
            ],
        );
        assert_eq!(obs, vec![Observation::Eviction(Eviction::Capacity)]);
        assert_eq!(c.tracked(), 2);
        // QQQQQQ1 (the least recently seen, but queued) is still known: its delivery joins.
        let obs = run(&mut c, &[(4, 0, delivery("QQQQQQ1", "x@y", "sent", None))]);
        assert_eq!(
            obs,
            vec![outcome(
                p(),
                Outcome::Delivered,
                InboundTls::Unknown,
                Some(4 * S),
                None,
                MessageAuth::default(),
            )]
        );
    }

    #[test]
    fn capacity_and_expiry_evictions_are_counted() {
        let mut c = Correlator::new(CorrelatorConfig {
            capacity: 2,
            message_ttl: 100 * S,
            ..CorrelatorConfig::default()
        });
        let obs = run(
            &mut c,
            &[
                (0, 1, client("AAAAAA1")),
                (1, 1, client("AAAAAA2")),
                (2, 1, client("AAAAAA3")),
            ],
        );
        assert_eq!(obs, vec![Observation::Eviction(Eviction::Capacity)]);
        assert_eq!(c.tracked(), 2);
        let obs = run(&mut c, &[(500, 1, Event::Other("tick"))]);
        assert_eq!(
            obs,
            vec![
                Observation::Eviction(Eviction::Expired),
                Observation::Eviction(Eviction::Expired)
            ]
        );
        assert_eq!(c.tracked(), 0);
    }

    fn auth(
        q: &'static str,
        daemon: AuthDaemon,
        check: AuthCheck,
        result: AuthResult,
    ) -> Event<'static> {
        Event::Auth(AuthVerdict {
            queue_id: Some(q),
            daemon,
            check,
            result,
        })
    }

    fn auth_of(obs: &[Observation]) -> Vec<MessageAuth> {
        obs.iter()
            .filter_map(|o| match o {
                Observation::Outcome { auth, .. } => Some(*auth),
                _ => None,
            })
            .collect()
    }

    fn verdict(q: &'static str, action: RspamdAction) -> Event<'static> {
        Event::Rspamd(RspamdTask {
            queue_id: Some(q),
            message_id: None,
            action,
            action_text: "",
            score: 0.0,
            required_score: None,
            scan_seconds: None,
            auth: RspamdAuth::default(),
        })
    }

    fn rspamd_of(obs: &[Observation]) -> Vec<Option<RspamdAction>> {
        obs.iter()
            .filter_map(|o| match o {
                Observation::Outcome { rspamd, .. } => Some(*rspamd),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn milter_results_join_their_message_and_a_pass_wins() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let obs = run(
            &mut c,
            &[
                (0, 9, client("AAAAAA1")),
                // Two signatures: a bad one, then a good one.
                (
                    1,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendkim,
                        AuthCheck::Dkim,
                        AuthResult::Fail,
                    ),
                ),
                (
                    1,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendkim,
                        AuthCheck::Dkim,
                        AuthResult::Pass,
                    ),
                ),
                (
                    1,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendmarc,
                        AuthCheck::Dmarc,
                        AuthResult::Fail,
                    ),
                ),
                // A second DMARC result that is no pass: the first stays.
                (
                    1,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendmarc,
                        AuthCheck::Dmarc,
                        AuthResult::None,
                    ),
                ),
                // The HELO check and ARC are not kept per message.
                (
                    1,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendmarc,
                        AuthCheck::SpfHelo,
                        AuthResult::Pass,
                    ),
                ),
                (2, 0, delivery("AAAAAA1", "u@d", "sent", None)),
                // After the outcome was reported (held for an rspamd verdict until a join window
                // later): too late for it.
                (
                    40,
                    0,
                    auth(
                        "AAAAAA1",
                        AuthDaemon::Opendmarc,
                        AuthCheck::Spf,
                        AuthResult::Pass,
                    ),
                ),
            ],
        );
        assert_eq!(
            auth_of(&obs),
            vec![MessageAuth {
                spf: None,
                dkim: Some(AuthResult::Pass),
                dmarc: Some(AuthResult::Fail),
            }]
        );
        // A result for a queue ID nobody tracks is not kept (no state grows for it).
        run(
            &mut c,
            &[(
                4,
                0,
                auth(
                    "BBBBBB2",
                    AuthDaemon::Opendkim,
                    AuthCheck::Dkim,
                    AuthResult::Pass,
                ),
            )],
        );
        assert_eq!(c.tracked(), 1);
    }

    #[test]
    fn rspamd_auth_results_join_even_when_early() {
        let mut c = Correlator::new(CorrelatorConfig::default());
        let scan = Event::Rspamd(RspamdTask {
            queue_id: Some("AAAAAA1"),
            message_id: None,
            action: RspamdAction::NoAction,
            action_text: "no action",
            score: 0.0,
            required_score: Some(15.0),
            scan_seconds: None,
            auth: RspamdAuth {
                spf: Some(AuthResult::Softfail),
                dkim: Some(AuthResult::None),
                dmarc: None,
                arc: Some(AuthResult::None),
                dmarc_policy: None,
            },
        });
        let mut out = Vec::new();
        c.handle(0, InstanceKey::NONE, Session::Unknown, &scan, &mut out);
        let obs = run(
            &mut c,
            &[
                (1, 9, client("AAAAAA1")),
                (2, 0, delivery("AAAAAA1", "u@d", "sent", None)),
            ],
        );
        assert_eq!(
            auth_of(&obs),
            vec![MessageAuth {
                spf: Some(AuthResult::Softfail),
                dkim: Some(AuthResult::None),
                dmarc: None,
            }]
        );
    }

    /// rspamd's own log read after the mail log: a verdict that comes after its message's
    /// delivery (and removal) joins it within the window; the outcome is held until then, and
    /// reported without a verdict once a line a window later comes.
    #[test]
    fn a_late_verdict_joins_a_held_outcome_within_the_window() {
        let mut c = Correlator::new(CorrelatorConfig {
            join_window: 30 * S,
            ..CorrelatorConfig::default()
        });
        let mut out = Vec::new();
        let rspamd = |c: &mut Correlator, t: i64, q, out: &mut Vec<Observation>| {
            let e = verdict(q, RspamdAction::Reject);
            c.handle(t * S, InstanceKey::NONE, Session::Unknown, &e, out);
        };
        for (t, e) in [
            (0, client("AAAAAA1")),
            (0, client("BBBBBB2")),
            (1, delivery("AAAAAA1", "u@d", "sent", None)),
            (
                1,
                Event::Removed {
                    queue_id: "AAAAAA1",
                },
            ),
            (2, delivery("BBBBBB2", "u@d", "sent", None)),
        ] {
            c.handle(t * S, p(), Session::Pid(9), &e, &mut out);
        }
        assert!(out.is_empty(), "held: {out:?}");
        assert_eq!(c.held(), 2);
        // The verdict of AAAAAA1, read late, but within the window.
        rspamd(&mut c, 1, "AAAAAA1", &mut out);
        c.handle(
            31 * S,
            p(),
            Session::Pid(9),
            &Event::Other("tick"),
            &mut out,
        );
        assert_eq!(rspamd_of(&out), vec![Some(RspamdAction::Reject)]);
        assert!(matches!(out[0], Observation::Outcome { instance, .. } if instance == p()));
        // BBBBBB2's window has passed at 32 s: reported without a verdict; one that comes
        // after that is too late for it.
        c.handle(
            32 * S,
            p(),
            Session::Pid(9),
            &Event::Other("tick"),
            &mut out,
        );
        rspamd(&mut c, 32, "BBBBBB2", &mut out);
        assert_eq!(
            rspamd_of(&out),
            vec![Some(RspamdAction::Reject), None],
            "{out:?}"
        );
        assert_eq!(c.held(), 0);
    }

    /// A held outcome keeps the results its message had, and takes those that come while it
    /// is held: rspamd's with its late verdict, a milter's by queue ID.
    #[test]
    fn a_held_outcome_takes_the_results_that_come_with_or_beside_its_late_verdict() {
        let mut c = Correlator::new(CorrelatorConfig {
            join_window: 30 * S,
            ..CorrelatorConfig::default()
        });
        let mut out = Vec::new();
        for (t, e) in [
            (0, client("AAAAAA1")),
            (
                0,
                auth(
                    "AAAAAA1",
                    AuthDaemon::Opendkim,
                    AuthCheck::Dkim,
                    AuthResult::Fail,
                ),
            ),
            (1, delivery("AAAAAA1", "u@d", "sent", None)),
            (
                1,
                Event::Removed {
                    queue_id: "AAAAAA1",
                },
            ),
        ] {
            c.handle(t * S, p(), Session::Pid(9), &e, &mut out);
        }
        assert!(out.is_empty(), "held: {out:?}");
        // While held: opendmarc's result by queue ID, then rspamd's verdict with its own.
        let dmarc = auth(
            "AAAAAA1",
            AuthDaemon::Opendmarc,
            AuthCheck::Dmarc,
            AuthResult::Pass,
        );
        c.handle(2 * S, InstanceKey::NONE, Session::Unknown, &dmarc, &mut out);
        let late = Event::Rspamd(RspamdTask {
            queue_id: Some("AAAAAA1"),
            message_id: None,
            action: RspamdAction::NoAction,
            action_text: "no action",
            score: 0.0,
            required_score: None,
            scan_seconds: None,
            auth: RspamdAuth {
                spf: Some(AuthResult::Softfail),
                dkim: Some(AuthResult::Pass),
                dmarc: None,
                arc: None,
                dmarc_policy: None,
            },
        });
        c.handle(3 * S, InstanceKey::NONE, Session::Unknown, &late, &mut out);
        assert!(out.is_empty(), "reported when its window passes: {out:?}");
        let tick = Event::Other("tick");
        c.handle(31 * S, p(), Session::Pid(9), &tick, &mut out);
        assert_eq!(rspamd_of(&out), vec![Some(RspamdAction::NoAction)]);
        // DKIM: a pass wins over the milter's earlier fail.
        assert_eq!(
            auth_of(&out),
            vec![MessageAuth {
                spf: Some(AuthResult::Softfail),
                dkim: Some(AuthResult::Pass),
                dmarc: Some(AuthResult::Pass),
            }]
        );
        assert_eq!(c.held(), 0);
    }

    /// A message that has its verdict is reported at once, and so is everything with no window.
    #[test]
    fn outcomes_with_their_verdict_or_without_a_window_are_not_held() {
        for (window, early_verdict, held) in [(30 * S, true, 0), (30 * S, false, 1), (0, false, 0)]
        {
            let mut c = Correlator::new(CorrelatorConfig {
                join_window: window,
                ..CorrelatorConfig::default()
            });
            let mut out = Vec::new();
            if early_verdict {
                let e = verdict("AAAAAA1", RspamdAction::NoAction);
                c.handle(0, InstanceKey::NONE, Session::Unknown, &e, &mut out);
            }
            for e in [client("AAAAAA1"), delivery("AAAAAA1", "u@d", "sent", None)] {
                c.handle(S, p(), Session::Pid(9), &e, &mut out);
            }
            assert_eq!(
                (c.held(), out.len()),
                (held, 1 - held),
                "{window} {early_verdict}"
            );
        }
    }
}
