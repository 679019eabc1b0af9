//! Joins lines about the same message, session and greylist triplet.
//!
//! Pure: it sees events with their log timestamps and instance, never the wall clock or I/O, and
//! reports what it concludes as [`Observation`]s. All state is in LRU maps with a capacity and
//! an expiry in log time; everything dropped before completion is reported as an eviction.
//!
//! Rules:
//! - A message is keyed by (instance, queue ID). It starts at smtpd `client=`, pickup, or the
//!   first line of any other kind (cleanup for mail Postfix makes itself, e.g. bounces); it ends
//!   at `removed` (so a reused queue ID starts afresh).
//! - Its inbound TLS comes from the smtpd session with the same PID as its `client=` line.
//! - Final outcomes per recipient: `sent` (delivered), `bounced`, `expired` (each recipient
//!   still deferred when qmgr expires the message, at least one), 5xx rejects with a recipient
//!   (rejected, also without a queue ID), milter/access discards (discarded). `deferred` is not
//!   final, so deferred-then-sent counts once.
//! - Content-filter re-injection: a `sent` whose reply says `queued as NEWID`, where NEWID is a
//!   message already tracked (its smtpd `client=` is logged before the filter answers) and no
//!   message-id says otherwise, hands the message on: NEWID inherits the first-seen time and
//!   inbound TLS, and only NEWID's deliveries count.
//! - rspamd verdicts are joined by queue ID, also when they arrive before the Postfix lines.
//! - postgrey triplets greylisted and never passed within the window are abandoned.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::envelope::Micros;
use crate::event::{Event, RejectKind};

const MICROS: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct CorrelatorConfig {
    /// Messages tracked at once (`--capacity`).
    pub capacity: usize,
    /// A message idle for longer than this (log time) is dropped as expired.
    pub message_ttl: Micros,
    /// smtpd sessions tracked at once, and their idle expiry.
    pub session_capacity: usize,
    pub session_ttl: Micros,
    /// `--greylist-window`: a triplet not passed within this is abandoned.
    pub greylist_window: Micros,
    pub triplet_capacity: usize,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            capacity: 100_000,
            message_ttl: 7 * 86_400 * MICROS,
            session_capacity: 20_000,
            session_ttl: 3_600 * MICROS,
            greylist_window: 86_400 * MICROS,
            triplet_capacity: 100_000,
        }
    }
}

/// What the correlator concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Outcome {
        instance: &'static str,
        outcome: &'static str,
        inbound_tls: &'static str,
        end_to_end: Option<f64>,
        rspamd_action: &'static str,
    },
    AbandonedTriplet,
    Eviction {
        reason: &'static str,
    },
}

/// A queue ID within its Postfix instance, stored inline (queue IDs are at most 24 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct QueueKey {
    instance: &'static str,
    len: u8,
    id: [u8; 24],
}

impl QueueKey {
    fn new(instance: &'static str, id: &str) -> QueueKey {
        let mut buf = [0u8; 24];
        let n = id.len().min(24);
        buf[..n].copy_from_slice(&id.as_bytes()[..n]);
        QueueKey {
            instance,
            len: n as u8,
            id: buf,
        }
    }
}

#[derive(Debug)]
struct Message {
    first_seen: Micros,
    last_seen: Micros,
    inbound_tls: &'static str,
    message_id_hash: Option<u64>,
    /// Recipients whose last attempt was deferred (hashes; bounded per message).
    deferred: Vec<u64>,
    rspamd_action: Option<&'static str>,
}

#[derive(Debug)]
struct Session {
    last_seen: Micros,
    tls: Option<&'static str>,
}

const MAX_DEFERRED_PER_MESSAGE: usize = 1_000;

pub struct Correlator {
    config: CorrelatorConfig,
    messages: LruCache<QueueKey, Message>,
    sessions: LruCache<(&'static str, u32), Session>,
    /// rspamd verdicts whose queue ID has not been seen yet.
    early_rspamd: LruCache<QueueKey, &'static str>,
    /// Greylisted triplets (hash) -> first greylist time, oldest first.
    triplets: LruCache<u64, Micros>,
    /// Postfix instances seen (a handful), to join rspamd lines that name no instance.
    instances: Vec<&'static str>,
    now: Micros,
}

const MAX_INSTANCES: usize = 64;

fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("max(1) is non-zero")
}

/// The label form of an inbound TLS protocol.
fn tls_label(protocol: &str) -> &'static str {
    match protocol {
        "TLSv1.3" => "TLSv1.3",
        "TLSv1.2" => "TLSv1.2",
        "TLSv1.1" => "TLSv1.1",
        "TLSv1" => "TLSv1",
        "SSLv3" => "SSLv3",
        _ => "other",
    }
}

/// Interns rspamd actions for the outcome join (bounded set).
fn rspamd_label(action: &str) -> &'static str {
    match action {
        "no action" => "no_action",
        "greylist" => "greylist",
        "add header" => "add_header",
        "rewrite subject" => "rewrite_subject",
        "soft reject" => "soft_reject",
        "reject" => "reject",
        _ => "other",
    }
}

impl Correlator {
    pub fn new(config: CorrelatorConfig) -> Correlator {
        Correlator {
            messages: LruCache::new(nz(config.capacity)),
            sessions: LruCache::new(nz(config.session_capacity)),
            early_rspamd: LruCache::new(nz(config.capacity / 10)),
            triplets: LruCache::new(nz(config.triplet_capacity)),
            instances: Vec::new(),
            config,
            now: i64::MIN,
        }
    }

    /// Messages currently tracked.
    pub fn tracked(&self) -> usize {
        self.messages.len()
    }

    /// Feeds one event. `pid` is the syslog PID of the line, `instance` its Postfix instance
    /// label (empty for policy daemons and rspamd).
    pub fn handle(
        &mut self,
        ts: Micros,
        instance: &'static str,
        pid: Option<u32>,
        event: &Event<'_>,
        out: &mut Vec<Observation>,
    ) {
        if ts > self.now {
            self.now = ts;
            self.expire(out);
        }
        match event {
            Event::Connect { .. } => {
                if let Some(pid) = pid {
                    self.put_session(instance, pid, None, out);
                }
            }
            Event::Tls(tls) if tls.direction == crate::event::Direction::Inbound => {
                if let Some(pid) = pid {
                    let label = tls_label(tls.protocol);
                    match self.sessions.get_mut(&(instance, pid)) {
                        Some(s) => {
                            s.tls = Some(label);
                            s.last_seen = ts;
                        }
                        None => self.put_session(instance, pid, Some(label), out),
                    }
                }
            }
            Event::Disconnect { .. } => {
                if let Some(pid) = pid {
                    self.sessions.pop(&(instance, pid));
                }
            }
            Event::Client { queue_id, .. } => {
                let tls = pid
                    .and_then(|pid| self.sessions.get_mut(&(instance, pid)))
                    .map_or("unknown", |s| {
                        s.last_seen = ts;
                        s.tls.unwrap_or("none")
                    });
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                m.inbound_tls = tls;
            }
            Event::Pickup { queue_id, .. } => {
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                if m.inbound_tls == "unknown" {
                    m.inbound_tls = "local";
                }
            }
            Event::Bounce {
                notification_id, ..
            } => {
                // The notification is mail Postfix makes itself.
                let key = QueueKey::new(instance, notification_id);
                let m = self.message(key, ts, out);
                m.inbound_tls = "local";
                self.touch(instance, queue_id_of(event), ts, out);
            }
            Event::MessageId {
                queue_id,
                message_id,
            } => {
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                m.message_id_hash = Some(hash_of(*message_id));
            }
            Event::QueueActive { queue_id, .. } | Event::Postsuper { queue_id, .. } => {
                self.touch(instance, Some(queue_id), ts, out);
            }
            Event::Removed { queue_id } => {
                self.messages.pop(&QueueKey::new(instance, queue_id));
            }
            Event::Expired { queue_id, .. } => {
                let key = QueueKey::new(instance, queue_id);
                let m = self.message(key, ts, out);
                let n = m.deferred.len().max(1);
                m.deferred.clear();
                let (tls, first, rspamd) = (m.inbound_tls, m.first_seen, m.rspamd_action);
                for _ in 0..n {
                    out.push(outcome(instance, "expired", tls, Some(ts - first), rspamd));
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
                    Some("discarded")
                } else if rejected_recipient || milter_rejected {
                    Some("rejected")
                } else {
                    None
                };
                let Some(final_outcome) = final_outcome else {
                    if let Some(q) = r.queue_id {
                        self.touch(instance, Some(q), ts, out);
                    }
                    return;
                };
                let (tls, e2e, rspamd) = match r.queue_id {
                    Some(q) => {
                        let key = QueueKey::new(instance, q);
                        let m = self.message(key, ts, out);
                        let found = (m.inbound_tls, Some(ts - m.first_seen), m.rspamd_action);
                        // Refused as a whole (not one recipient of several): the message is gone.
                        if !matches!(r.stage, "CONNECT" | "HELO" | "EHLO" | "MAIL" | "RCPT") {
                            self.messages.pop(&key);
                        }
                        found
                    }
                    None => {
                        let tls = pid
                            .and_then(|pid| self.sessions.peek(&(instance, pid)))
                            .map_or("unknown", |s| s.tls.unwrap_or("none"));
                        (tls, None, None)
                    }
                };
                let e2e = e2e.map(|micros| micros as f64 / 1e6);
                out.push(Observation::Outcome {
                    instance,
                    outcome: final_outcome,
                    inbound_tls: tls,
                    end_to_end: e2e,
                    rspamd_action: rspamd.unwrap_or("none"),
                });
            }
            Event::Rspamd(t) => {
                if let Some(q) = t.queue_id {
                    let action = rspamd_label(t.action);
                    // rspamd lines carry no Postfix instance: join within any instance that
                    // has the queue ID, else remember it for the default instance.
                    let found = self.instances.iter().find_map(|inst| {
                        let key = QueueKey::new(inst, q);
                        self.messages.contains(&key).then_some(key)
                    });
                    match found.and_then(|key| self.messages.get_mut(&key)) {
                        Some(m) => m.rspamd_action = Some(action),
                        None => {
                            self.early_rspamd.put(QueueKey::new("", q), action);
                        }
                    }
                }
            }
            Event::Postgrey(p) => {
                let triplet = hash_of(&(
                    p.client_address.unwrap_or(""),
                    p.sender.unwrap_or(""),
                    p.recipient.unwrap_or(""),
                ));
                match p.action {
                    "greylist" => {
                        if self.triplets.peek(&triplet).is_none()
                            && self
                                .triplets
                                .push(triplet, ts)
                                .is_some_and(|(k, _)| k != triplet)
                        {
                            out.push(Observation::Eviction { reason: "capacity" });
                        }
                    }
                    "pass" => {
                        self.triplets.pop(&triplet);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn delivery(
        &mut self,
        ts: Micros,
        instance: &'static str,
        d: &crate::event::Delivery<'_>,
        out: &mut Vec<Observation>,
    ) {
        let key = QueueKey::new(instance, d.queue_id);
        let recipient = hash_of(d.to);
        let final_outcome = match d.status {
            "sent" => "delivered",
            "bounced" => "bounced",
            "expired" => "expired",
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
        if final_outcome == "delivered"
            && let Some(next) = d.queued_as
        {
            let next_key = QueueKey::new(instance, next);
            if next_key != key && self.messages.contains(&next_key) {
                let (first, tls, mid, rspamd) = {
                    let m = self.message(key, ts, out);
                    m.deferred.retain(|r| *r != recipient);
                    (
                        m.first_seen,
                        m.inbound_tls,
                        m.message_id_hash,
                        m.rspamd_action,
                    )
                };
                let n = self.messages.get_mut(&next_key).expect("checked above");
                let same_message = match (mid, n.message_id_hash) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                if same_message {
                    n.first_seen = n.first_seen.min(first);
                    if matches!(n.inbound_tls, "unknown" | "none" | "local") || tls != "unknown" {
                        n.inbound_tls = tls;
                    }
                    if n.rspamd_action.is_none() {
                        n.rspamd_action = rspamd;
                    }
                    return;
                }
            }
        }
        let m = self.message(key, ts, out);
        m.deferred.retain(|r| *r != recipient);
        out.push(outcome(
            instance,
            final_outcome,
            m.inbound_tls,
            Some(ts - m.first_seen),
            m.rspamd_action,
        ));
    }

    fn put_session(
        &mut self,
        instance: &'static str,
        pid: u32,
        tls: Option<&'static str>,
        out: &mut Vec<Observation>,
    ) {
        let s = Session {
            last_seen: self.now,
            tls,
        };
        if let Some((k, _)) = self.sessions.push((instance, pid), s)
            && k != (instance, pid)
        {
            out.push(Observation::Eviction { reason: "capacity" });
        }
    }

    fn touch(
        &mut self,
        instance: &'static str,
        queue_id: Option<&str>,
        ts: Micros,
        out: &mut Vec<Observation>,
    ) {
        if let Some(q) = queue_id {
            self.message(QueueKey::new(instance, q), ts, out);
        }
    }

    /// The message for `key`, created (first seen now) when new.
    fn message(&mut self, key: QueueKey, ts: Micros, out: &mut Vec<Observation>) -> &mut Message {
        if !self.messages.contains(&key) {
            if !self.instances.contains(&key.instance) && self.instances.len() < MAX_INSTANCES {
                self.instances.push(key.instance);
            }
            let early = self.early_rspamd.pop(&QueueKey::new(
                "",
                std::str::from_utf8(&key.id[..key.len as usize]).unwrap_or(""),
            ));
            let m = Message {
                first_seen: ts,
                last_seen: ts,
                inbound_tls: "unknown",
                message_id_hash: None,
                deferred: Vec::new(),
                rspamd_action: early,
            };
            if let Some((k, _)) = self.messages.push(key, m)
                && k != key
            {
                out.push(Observation::Eviction { reason: "capacity" });
            }
        }
        let m = self.messages.get_mut(&key).expect("inserted above");
        m.last_seen = m.last_seen.max(ts);
        m
    }

    /// Drops what has been idle for longer than its TTL, oldest first.
    fn expire(&mut self, out: &mut Vec<Observation>) {
        let now = self.now;
        while let Some((_, m)) = self.messages.peek_lru() {
            if now - m.last_seen <= self.config.message_ttl {
                break;
            }
            self.messages.pop_lru();
            out.push(Observation::Eviction { reason: "expired" });
        }
        while let Some((_, s)) = self.sessions.peek_lru() {
            if now - s.last_seen <= self.config.session_ttl {
                break;
            }
            self.sessions.pop_lru();
        }
        while let Some((_, first)) = self.triplets.peek_lru() {
            if now - *first <= self.config.greylist_window {
                break;
            }
            self.triplets.pop_lru();
            out.push(Observation::AbandonedTriplet);
        }
    }
}

fn queue_id_of<'a>(event: &Event<'a>) -> Option<&'a str> {
    match event {
        Event::Bounce { queue_id, .. } => Some(queue_id),
        _ => None,
    }
}

fn outcome(
    instance: &'static str,
    outcome: &'static str,
    inbound_tls: &'static str,
    end_to_end_micros: Option<Micros>,
    rspamd: Option<&'static str>,
) -> Observation {
    Observation::Outcome {
        instance,
        outcome,
        inbound_tls,
        end_to_end: end_to_end_micros.map(|m| m as f64 / 1e6),
        rspamd_action: rspamd.unwrap_or("none"),
    }
}
