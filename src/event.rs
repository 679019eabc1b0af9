//! Typed events: what one log message means, independent of metrics.
//!
//! Every field borrows from the log line so that parsing allocates nothing. Domain values are
//! enums; only the metrics layer turns them into label text.

pub use crate::reject_reason::RejectReason;

/// A remote peer as Postfix prints it: `host[ip]` or `host[ip]:port` or `[ip]:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peer<'a> {
    pub host: &'a str,
    pub ip: &'a str,
    pub port: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Anonymous,
    Untrusted,
    Trusted,
    Verified,
}

/// `Anonymous TLS connection established from host[ip]: TLSv1.3 with cipher X (256/256 bits) ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls<'a> {
    pub direction: Direction,
    pub trust: Trust,
    pub peer: Peer<'a>,
    pub protocol: &'a str,
    pub cipher: &'a str,
    /// The first number of `(256/256 bits)`.
    pub bits: Option<u32>,
}

/// What kind of refusal a reject-like line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// `reject:` — the client was refused.
    Reject,
    /// `reject_warning:` — would have been refused (warn_if_reject / soft_bounce tests).
    RejectWarning,
    /// `milter-reject:` (the milter said reject or tempfail).
    MilterReject,
    /// `milter-discard:`
    MilterDiscard,
    /// `milter-hold:`
    MilterHold,
    /// `discard:` from access or header/body checks.
    Discard,
    /// `hold:` from access or header/body checks.
    Hold,
    /// `warning:` action of header/body checks.
    Warning,
    /// `redirect:` / `filter:` / `replace:` / `info:` / `prepend:` actions of checks.
    OtherAction,
}

/// Every line that refuses, discards, holds or flags a message or command.
///
/// `NOQUEUE: reject: RCPT from host[ip]: 550 5.1.1 <u@d>: Recipient address rejected: ...; from=<a> to=<b> proto=ESMTP helo=<h>`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reject<'a> {
    pub queue_id: Option<&'a str>,
    pub kind: RejectKind,
    /// The SMTP stage (`RCPT`, `END-OF-MESSAGE`, ...); `HEADER`/`BODY` for cleanup checks.
    pub stage: &'a str,
    pub peer: Option<Peer<'a>>,
    /// Three-digit reply code; derived from the enhanced status class when the line has none.
    pub code: &'a str,
    /// Enhanced status code such as `5.7.1`, when present.
    pub dsn: Option<&'a str>,
    /// The reply text without code and DSN (what reason classification looks at).
    pub text: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub helo: Option<&'a str>,
    /// The reason class. Parsers leave [`RejectReason::Other`]; the pipeline's classifier
    /// ([`crate::reject_reason::Classifier`], which knows the user's `--reject-rule`s) sets it
    /// before the event goes on.
    pub reason: RejectReason,
}

/// Delivery agents: `QUEUEID: to=<u@d>, relay=..., delay=1.2, delays=a/b/c/d, dsn=2.0.0, status=sent (...)`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery<'a> {
    pub queue_id: &'a str,
    pub to: &'a str,
    pub orig_to: Option<&'a str>,
    pub relay: &'a str,
    pub delay: Option<f64>,
    /// before_qmgr / in_qmgr / conn_setup / transmission
    pub delays: Option<[f64; 4]>,
    pub dsn: Option<&'a str>,
    pub status: &'a str,
    /// The parenthesised text after the status.
    pub detail: &'a str,
    /// `queued as NEWID` inside the detail (content filter or next hop).
    pub queued_as: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    NonDelivery,
    Delay,
    Success,
}

/// What postgrey decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgreyVerdict {
    Greylist,
    Pass,
    /// Any other `action=` word.
    Other,
}

impl PostgreyVerdict {
    pub fn from_text(action: &str) -> PostgreyVerdict {
        match action {
            "greylist" => PostgreyVerdict::Greylist,
            "pass" => PostgreyVerdict::Pass,
            _ => PostgreyVerdict::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostgreyAction<'a> {
    pub queue_id: Option<&'a str>,
    pub action: PostgreyVerdict,
    /// Raw reason, e.g. `new`, `early-retry (292s missing)`, `triplet found`, `client whitelist`.
    pub reason: &'a str,
    pub delay: Option<f64>,
    pub client_name: Option<&'a str>,
    /// Without a `/32` or `/64` suffix.
    pub client_address: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub recipient: Option<&'a str>,
}

/// The action rspamd took on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RspamdAction {
    NoAction,
    Greylist,
    AddHeader,
    RewriteSubject,
    SoftReject,
    Reject,
    /// An action of a custom configuration (its text is kept beside it).
    Other,
}

impl RspamdAction {
    /// The action as rspamd prints it in its task log: `no action`, `add header`, ...
    pub fn from_text(action: &str) -> RspamdAction {
        match action {
            "no action" => RspamdAction::NoAction,
            "greylist" => RspamdAction::Greylist,
            "add header" => RspamdAction::AddHeader,
            "rewrite subject" => RspamdAction::RewriteSubject,
            "soft reject" => RspamdAction::SoftReject,
            "reject" => RspamdAction::Reject,
            _ => RspamdAction::Other,
        }
    }
}

/// The SPF, DKIM, DMARC and ARC results of one rspamd scan, read from its symbols
/// (`R_SPF_ALLOW`, `R_DKIM_REJECT`, `DMARC_POLICY_QUARANTINE`, `ARC_NA`, ...): at most one
/// result per check (a pass wins over the other results of the same check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RspamdAuth {
    pub spf: Option<AuthResult>,
    pub dkim: Option<AuthResult>,
    pub dmarc: Option<AuthResult>,
    pub arc: Option<AuthResult>,
    /// What the sender's DMARC policy asks for (`DMARC_POLICY_REJECT` is `Reject`,
    /// `DMARC_POLICY_SOFTFAIL` and `DMARC_POLICY_ALLOW` are `None`).
    pub dmarc_policy: Option<DmarcDisposition>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RspamdTask<'a> {
    pub queue_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub action: RspamdAction,
    /// The action as printed (`no action`, `add header`, ...): the label of an
    /// [`RspamdAction::Other`].
    pub action_text: &'a str,
    pub score: f64,
    pub required_score: Option<f64>,
    /// Scan time in seconds (`time: 123.4ms` or `time: 123.4ms real, ...`).
    pub scan_seconds: Option<f64>,
    pub auth: RspamdAuth,
}

/// The daemons that report mail authentication results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthDaemon {
    PolicydSpf,
    Opendkim,
    Opendmarc,
    Rspamd,
}

/// Which check a result is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthCheck {
    /// SPF of the envelope sender (`MAIL FROM`).
    Spf,
    /// SPF of the HELO name.
    SpfHelo,
    Dkim,
    Dmarc,
    Arc,
}

/// A check's result, in the words of RFC 8601 (Authentication-Results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthResult {
    Pass,
    Fail,
    Softfail,
    Neutral,
    None,
    Temperror,
    Permerror,
    /// Not checked or overridden by local policy.
    Policy,
    /// A result word of none of the above.
    Other,
}

impl AuthResult {
    /// A result word as the daemons print it (any case): `Pass`, `softfail`, `TempError`,
    /// and the older `tempfail`/`permfail`.
    pub fn from_word(word: &str) -> AuthResult {
        const WORDS: &[(&str, AuthResult)] = &[
            ("pass", AuthResult::Pass),
            ("fail", AuthResult::Fail),
            ("softfail", AuthResult::Softfail),
            ("neutral", AuthResult::Neutral),
            ("none", AuthResult::None),
            ("temperror", AuthResult::Temperror),
            ("tempfail", AuthResult::Temperror),
            ("permerror", AuthResult::Permerror),
            ("permfail", AuthResult::Permerror),
            ("policy", AuthResult::Policy),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map_or(AuthResult::Other, |&(_, r)| r)
    }
}

/// What a DMARC policy has done (or asks to do) with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcDisposition {
    None,
    Quarantine,
    Reject,
}

/// One verification result: policyd-spf's `Received-SPF: Pass ...`, opendkim's
/// `DKIM verification successful`, opendmarc's `example.com pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthVerdict<'a> {
    /// The Postfix queue ID the daemon names (the milters' job ID), when it names one.
    pub queue_id: Option<&'a str>,
    pub daemon: AuthDaemon,
    pub check: AuthCheck,
    pub result: AuthResult,
}

/// One understood log message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    // ---- smtpd and postscreen sessions ----
    /// smtpd `connect from host[ip]`.
    Connect {
        peer: Peer<'a>,
    },
    /// `disconnect from host[ip] ehlo=1 mail=1 ... commands=5` (counters kept raw).
    Disconnect {
        peer: Peer<'a>,
        counters: &'a str,
    },
    /// `lost connection after DATA from host[ip]` (also `timeout after` / `too many errors after`).
    LostConnection {
        after: &'a str,
        peer: Peer<'a>,
        cause: SessionEnd,
    },
    Tls(Tls<'a>),
    /// smtpd `QUEUEID: client=host[ip]` (sasl fields are kept for the correlator only).
    Client {
        queue_id: &'a str,
        peer: Peer<'a>,
        sasl_method: Option<&'a str>,
        sasl_username: Option<&'a str>,
    },
    Reject(Reject<'a>),
    /// `warning: host[ip]: SASL PLAIN authentication failed: ...`
    SaslFailure {
        method: &'a str,
        peer: Peer<'a>,
    },
    /// `warning: hostname X does not resolve to address Y`
    HostnameUnresolved {
        peer: Peer<'a>,
    },

    // ---- postscreen verdicts ----
    /// postscreen `CONNECT from [ip]:port to [ip]:port` (not an smtpd connection).
    PostscreenConnect {
        peer: Peer<'a>,
    },
    PostscreenPass {
        new: bool,
        peer: Peer<'a>,
    },
    PostscreenDnsbl {
        rank: i32,
        peer: Peer<'a>,
    },
    PostscreenPregreet {
        peer: Peer<'a>,
    },
    PostscreenHangup {
        peer: Peer<'a>,
    },
    /// `WHITELISTED` / `ALLOWLISTED`, `BLACKLISTED` / `DENYLISTED`, `WHITELIST VETO`.
    PostscreenList {
        allowed: bool,
        peer: Peer<'a>,
    },

    // ---- message lifecycle ----
    /// cleanup `QUEUEID: message-id=<...>` (also `resent-message-id=`).
    MessageId {
        queue_id: &'a str,
        message_id: &'a str,
    },
    /// qmgr `QUEUEID: from=<s>, size=N, nrcpt=K (queue active)`
    QueueActive {
        queue_id: &'a str,
        from: &'a str,
        size: u64,
        nrcpt: u32,
    },
    /// qmgr `QUEUEID: removed`, postsuper `QUEUEID: removed`.
    Removed {
        queue_id: &'a str,
    },
    /// qmgr `QUEUEID: from=<s>, status=expired, returned to sender`
    Expired {
        queue_id: &'a str,
        from: &'a str,
    },
    /// pickup `QUEUEID: uid=N from=<s>`
    Pickup {
        queue_id: &'a str,
        uid: Option<u32>,
        from: &'a str,
        /// `orig_id=OLDID`: a message requeued by `postsuper -r` (not new mail) continues here.
        orig_id: Option<&'a str>,
    },
    /// bounce `QUEUEID: sender non-delivery notification: NEWID`
    Bounce {
        queue_id: &'a str,
        kind: BounceKind,
        notification_id: &'a str,
    },
    /// postsuper `QUEUEID: placed on hold` / `released from hold` / `requeued`.
    Postsuper {
        queue_id: &'a str,
        action: &'a str,
    },
    Delivery(Delivery<'a>),
    /// smtp/lmtp `connect to host[ip]:25: Connection refused` and similar.
    ConnectFailed {
        peer: Peer<'a>,
        reason: &'a str,
    },

    // ---- policy daemons and rspamd ----
    Postgrey(PostgreyAction<'a>),
    /// policyd-weight `weighted check: ... rate: X` (a fresh score).
    PolicydWeightScore {
        rate: f64,
    },
    /// policyd-weight `decided action=...`
    PolicydWeightDecision {
        action: &'a str,
        cached: bool,
        /// Present on cached decisions (`using cached result; rate: X`).
        rate: Option<f64>,
    },
    Rspamd(RspamdTask<'a>),

    // ---- mail authentication ----
    /// An SPF, DKIM or DMARC result of policyd-spf, opendkim or opendmarc.
    Auth(AuthVerdict<'a>),
    /// opendkim `QUEUEID: DKIM-Signature field added (s=selector, d=example.com)`.
    DkimSigned {
        queue_id: Option<&'a str>,
        /// The signing domain (`d=`), as logged.
        domain: &'a str,
    },

    /// `warning:`, `error:`, `fatal:`, `panic:` lines (of Postfix programs, and the like of
    /// postgrey and policyd-weight) that no rule of their daemon read as anything more.
    Diagnostic(Level),

    /// A line that is understood and deliberately has no metric (warnings, statistics, ...).
    /// The name says which kind; it is what table tests check.
    Other(&'static str),
}

/// How serious a diagnostic line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Warning,
    Error,
    Fatal,
    Panic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Lost,
    Timeout,
    TooManyErrors,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replay stages whole chunks of events and writes and reads each one back: an event
    /// that grows costs every line, whatever its kind. A field that makes an event larger than
    /// this budget has to be worth it (`CONTRIBUTING.md`, "The hot path").
    #[test]
    fn events_stay_within_their_size_budget() {
        assert!(
            std::mem::size_of::<Event<'_>>() <= 192,
            "Event is {} bytes",
            std::mem::size_of::<Event<'_>>()
        );
    }
}
