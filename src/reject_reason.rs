//! Reject reasons: a bounded taxonomy, assigned by an ordered table of regexes.
//!
//! The table is data: users put their own rules in front of it (`--reject-rule REASON=REGEX` or
//! the `reject_rules` file), and the first matching rule wins.

use aho_corasick::Anchored;
use aho_corasick::automaton::Automaton;
use regex::RegexSet;

use crate::event::{Reject, RejectKind};

/// The reason class of a reject: a bounded taxonomy (the `reason` label of
/// `postfix_rejects_total`). A user rule must name one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    Greylist,
    Rbl,
    UnknownRecipient,
    RelayDenied,
    Helo,
    Sender,
    Client,
    Spf,
    Dmarc,
    Policy,
    Milter,
    Size,
    RateLimit,
    TlsRequired,
    HeaderBodyCheck,
    Other,
}

impl RejectReason {
    pub const ALL: [RejectReason; 16] = [
        RejectReason::Greylist,
        RejectReason::Rbl,
        RejectReason::UnknownRecipient,
        RejectReason::RelayDenied,
        RejectReason::Helo,
        RejectReason::Sender,
        RejectReason::Client,
        RejectReason::Spf,
        RejectReason::Dmarc,
        RejectReason::Policy,
        RejectReason::Milter,
        RejectReason::Size,
        RejectReason::RateLimit,
        RejectReason::TlsRequired,
        RejectReason::HeaderBodyCheck,
        RejectReason::Other,
    ];

    /// Its name: what `--reject-rule REASON=...` says and what the `reason` label shows.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Greylist => "greylist",
            RejectReason::Rbl => "rbl",
            RejectReason::UnknownRecipient => "unknown_recipient",
            RejectReason::RelayDenied => "relay_denied",
            RejectReason::Helo => "helo",
            RejectReason::Sender => "sender",
            RejectReason::Client => "client",
            RejectReason::Spf => "spf",
            RejectReason::Dmarc => "dmarc",
            RejectReason::Policy => "policy",
            RejectReason::Milter => "milter",
            RejectReason::Size => "size",
            RejectReason::RateLimit => "rate_limit",
            RejectReason::TlsRequired => "tls_required",
            RejectReason::HeaderBodyCheck => "header_body_check",
            RejectReason::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// The built-in rules, tried in order on the reply text of a reject.
pub const DEFAULT_RULES: &[(RejectReason, &str)] = &[
    (RejectReason::Greylist, r"(?i)greylist"),
    (
        RejectReason::TlsRequired,
        r"(?i)must issue a starttls|tls is required|encryption required",
    ),
    (
        RejectReason::Size,
        r"(?i)message size exceeds|message file too big|size limit|message too (large|big)|insufficient system storage",
    ),
    (
        RejectReason::RateLimit,
        r"(?i)too many (connections|recipients|messages|errors|sessions)|too much mail|rate limit|exceeded .*(rate|limit)|throttl",
    ),
    (RejectReason::Dmarc, r"(?i)\bdmarc\b"),
    (RejectReason::Spf, r"(?i)\bspf\b"),
    (
        RejectReason::Policy,
        r"(?i)policyd|mail appeared to be spam or forged|policy (service|rejection|violation)",
    ),
    (
        RejectReason::Rbl,
        r"(?i)blocked using|listed (at|in|on|by) |\brbl\b|dnsbl|spamhaus",
    ),
    (
        RejectReason::RelayDenied,
        r"(?i)relay access denied|relaying denied",
    ),
    (
        RejectReason::UnknownRecipient,
        r"(?i)user unknown|unknown user|no such user|recipient address rejected: undeliverable|mailbox unavailable|unknown recipient|recipient unknown|address verification failed|user doesn't exist",
    ),
    (
        RejectReason::Helo,
        r"(?i)helo command rejected|\bhelo\b.*(invalid|rejected|fully-qualified)",
    ),
    (RejectReason::Sender, r"(?i)sender address rejected"),
    (
        RejectReason::Client,
        r"(?i)client host rejected|cannot find your (reverse )?hostname|service unavailable; client host",
    ),
];

/// Literals that every match of a built-in rule contains (ASCII, any case), per rule of
/// [`DEFAULT_RULES`]: first those that decide the rule when found (the rule is nothing but
/// them), then those of its parts the rule's regex must confirm (`\bspf\b`,
/// `exceeded .*(rate|limit)`, `\brbl\b`, `\bhelo\b.*(...)`). `built_in_literals_are_exact`
/// checks this table against the regexes.
const RULE_LITERALS: &[(&[&str], &[&str])] = &[
    (&["greylist"], &[]),
    (
        &[
            "must issue a starttls",
            "tls is required",
            "encryption required",
        ],
        &[],
    ),
    (
        &[
            "message size exceeds",
            "message file too big",
            "size limit",
            "message too large",
            "message too big",
            "insufficient system storage",
        ],
        &[],
    ),
    (
        &[
            "too many connections",
            "too many recipients",
            "too many messages",
            "too many errors",
            "too many sessions",
            "too much mail",
            "rate limit",
            "throttl",
        ],
        &["exceeded "],
    ),
    (&[], &["dmarc"]),
    (&[], &["spf"]),
    (
        &[
            "policyd",
            "mail appeared to be spam or forged",
            "policy service",
            "policy rejection",
            "policy violation",
        ],
        &[],
    ),
    (
        &[
            "blocked using",
            "listed at ",
            "listed in ",
            "listed on ",
            "listed by ",
            "dnsbl",
            "spamhaus",
        ],
        &["rbl"],
    ),
    (&["relay access denied", "relaying denied"], &[]),
    (
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "recipient address rejected: undeliverable",
            "mailbox unavailable",
            "unknown recipient",
            "recipient unknown",
            "address verification failed",
            "user doesn't exist",
        ],
        &[],
    ),
    (&["helo command rejected"], &["helo"]),
    (&["sender address rejected"], &[]),
    (
        &[
            "client host rejected",
            "cannot find your hostname",
            "cannot find your reverse hostname",
            "service unavailable; client host",
        ],
        &[],
    ),
];

// One row of literals per rule, and rule numbers that fit the candidate masks of `first_match`.
const _: () = assert!(RULE_LITERALS.len() == DEFAULT_RULES.len() && DEFAULT_RULES.len() <= 32);

/// The built-in table, compiled once per process.
#[derive(Debug)]
struct BuiltIn {
    /// All rules at once: the reference, used for text that is not ASCII (where `(?i)`
    /// folds more than ASCII case). Built when first needed, as are the rules below: the
    /// regexes take more to compile than a replay of a few thousand lines.
    set: std::sync::OnceLock<RegexSet>,
    /// Each rule alone, to confirm a candidate.
    rules: Vec<std::sync::OnceLock<regex::Regex>>,
    /// Every literal of [`RULE_LITERALS`], ASCII case-insensitive (a DFA: every literal must be
    /// found, including overlapping ones, and it walks each byte once).
    literals: aho_corasick::dfa::DFA,
    /// Per literal: its rule, and whether finding it is enough.
    literal_rule: Vec<(u8, bool)>,
    /// The longest literal's length less one.
    overlap: usize,
}

impl BuiltIn {
    fn get() -> &'static BuiltIn {
        static BUILT_IN: std::sync::OnceLock<BuiltIn> = std::sync::OnceLock::new();
        BUILT_IN.get_or_init(|| {
            let mut patterns = Vec::new();
            let mut literal_rule = Vec::new();
            for (rule, (deciding, confirmed)) in RULE_LITERALS.iter().enumerate() {
                for (literals, enough) in [(*deciding, true), (*confirmed, false)] {
                    for l in literals {
                        patterns.push(*l);
                        literal_rule.push((rule as u8, enough));
                    }
                }
            }
            BuiltIn {
                set: std::sync::OnceLock::new(),
                rules: DEFAULT_RULES
                    .iter()
                    .map(|_| std::sync::OnceLock::new())
                    .collect(),
                // No prefilter: `first_match` walks the states itself, and with a prefilter
                // the start state counts as special, which it visits at most bytes.
                literals: aho_corasick::dfa::DFA::builder()
                    .ascii_case_insensitive(true)
                    .prefilter(false)
                    .build(&patterns)
                    .expect("the built-in literals compile"),
                literal_rule,
                overlap: patterns.iter().map(|p| p.len()).max().unwrap_or(1) - 1,
            }
        })
    }

    fn set(&self) -> &RegexSet {
        self.set.get_or_init(|| {
            RegexSet::new(DEFAULT_RULES.iter().map(|(_, p)| p)).expect("the built-in rules compile")
        })
    }

    fn rule(&self, i: usize) -> &regex::Regex {
        self.rules[i].get_or_init(|| {
            regex::Regex::new(DEFAULT_RULES[i].1).expect("the built-in rules compile")
        })
    }

    /// The index of the first rule that matches `text`.
    ///
    /// One pass of the literal automaton over the text finds the candidate rules; the first
    /// candidate that is a plain literal rule, or whose regex confirms, wins, instead of
    /// running every rule of a RegexSet over the whole text.
    fn first_match(&self, text: &str) -> Option<usize> {
        if !text.is_ascii() {
            return self.set().matches(text).iter().next();
        }
        // Bit r: rule r is a candidate; bit 32 + r: a literal alone decides it.
        let mut candidates = 0u64;
        // The automaton's own steps instead of `find_overlapping_iter`, whose per-byte
        // bookkeeping costs more than the walk; and a literal of the first rule ends the walk,
        // as no rule comes before it.
        let dfa = &self.literals;
        let Ok(start) = dfa.start_state(Anchored::No) else {
            return self.set().matches(text).iter().next();
        };
        // Each step waits for the table load of the step before it. Two walks side by side,
        // over the front and the back of the text, fill each other's waits: the back one
        // starts early by the longest literal less one byte, so that one of the two sees each
        // literal whole (finding one twice changes nothing). A text no longer than that is
        // walked once.
        let b = text.as_bytes();
        let split = if b.len() > self.overlap {
            (b.len() + self.overlap) / 2
        } else {
            0
        };
        let (front, back) = (&b[..split], &b[split.saturating_sub(self.overlap)..]);
        let (mut at_front, mut at_back) = (start, start);
        for (i, &byte) in back.iter().enumerate() {
            at_back = dfa.next_state(Anchored::No, at_back, byte);
            if let Some(&byte) = front.get(i) {
                at_front = dfa.next_state(Anchored::No, at_front, byte);
            }
            if !dfa.is_special(at_front) && !dfa.is_special(at_back) {
                continue;
            }
            for state in [at_front, at_back] {
                if !dfa.is_match(state) {
                    continue;
                }
                for m in 0..dfa.match_len(state) {
                    let (rule, enough) = self.literal_rule[dfa.match_pattern(state, m).as_usize()];
                    candidates |= 1 << rule;
                    if enough {
                        candidates |= 1 << (32 + rule);
                    }
                }
            }
            if candidates & (1 << 32) != 0 {
                break;
            }
        }
        let mut pending = candidates as u32;
        while pending != 0 {
            let rule = pending.trailing_zeros() as usize;
            if candidates & (1 << (32 + rule)) != 0 || self.rule(rule).is_match(text) {
                return Some(rule);
            }
            pending &= pending - 1;
        }
        None
    }
}

/// Checks one `--reject-rule` REASON=REGEX: the reason class it names, or why it is bad (one
/// line, naming the rule).
pub fn user_rule(reason: &str, pattern: &str) -> Result<RejectReason, String> {
    let canonical = RejectReason::from_name(reason).ok_or_else(|| {
        let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.name()).collect();
        format!(
            "reject rule {reason:?}: unknown reason (one of {})",
            names.join(", ")
        )
    })?;
    regex::Regex::new(pattern).map_err(|e| {
        // A syntax error is several lines (the pattern, a caret, then what is wrong): the
        // last one says it.
        let text = e.to_string();
        let what = text.lines().rev().map(str::trim).find(|l| !l.is_empty());
        let what = what.unwrap_or("invalid regex");
        let what = what.strip_prefix("error: ").unwrap_or(what);
        format!("reject rule {reason}={pattern:?}: {what}")
    })?;
    Ok(canonical)
}

#[derive(Debug)]
pub struct Classifier {
    /// `--reject-rule`s, tried before the built-in table.
    user: Option<(RegexSet, Vec<RejectReason>)>,
    built_in: &'static BuiltIn,
}

impl Classifier {
    /// `user_rules` (reason, regex) come first. Errors name the bad rule.
    pub fn new(user_rules: &[(String, String)]) -> Result<Classifier, String> {
        let built_in = BuiltIn::get();
        if user_rules.is_empty() {
            return Ok(Classifier {
                user: None,
                built_in,
            });
        }
        let mut patterns = Vec::new();
        let mut reasons = Vec::new();
        for (reason, pattern) in user_rules {
            let canonical = user_rule(reason, pattern)?;
            patterns.push(pattern.clone());
            reasons.push(canonical);
        }
        let set = RegexSet::new(&patterns).map_err(|e| format!("reject rules: {e}"))?;
        Ok(Classifier {
            user: Some((set, reasons)),
            built_in,
        })
    }

    /// The reason class of one reject line.
    pub fn reason(&self, reject: &Reject<'_>) -> RejectReason {
        match reject.kind {
            // A milter's refusal is `milter`, unless its text says SPF or DMARC
            // (OpenDMARC's `rejected by DMARC policy for example.org`).
            RejectKind::MilterReject | RejectKind::MilterDiscard | RejectKind::MilterHold => {
                return match self.classify_text(reject.text) {
                    r @ (RejectReason::Spf | RejectReason::Dmarc) => r,
                    _ => RejectReason::Milter,
                };
            }
            _ => {}
        }
        if matches!(
            reject.stage,
            "HEADER" | "BODY" | "MIME-HEADER" | "NESTED-HEADER"
        ) {
            return RejectReason::HeaderBodyCheck;
        }
        self.classify_text(reject.text)
    }

    /// The reason class of a reply text alone (the first matching rule, else `other`).
    pub fn classify_text(&self, text: &str) -> RejectReason {
        if let Some((set, reasons)) = &self.user
            && let Some(i) = set.matches(text).iter().next()
        {
            return reasons[i];
        }
        self.built_in
            .first_match(text)
            .map_or(RejectReason::Other, |i| DEFAULT_RULES[i].0)
    }
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier::new(&[]).expect("built-in reject rules compile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real reply texts (from the corpus, the mail stack and Postfix/postgrey/policyd-weight
    /// sources), each with the class a mail administrator would file it under.
    const CASES: &[(&str, &str)] = &[
        (
            "<u@d>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/d.html",
            "greylist",
        ),
        (
            "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "rbl",
        ),
        (
            "Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net",
            "rbl",
        ),
        (
            "<sales@server.com>: Recipient address rejected: User unknown in local recipient table",
            "unknown_recipient",
        ),
        (
            "<user1@example.com>: Recipient address rejected: undeliverable address: verification failed",
            "unknown_recipient",
        ),
        (
            "<u@vmail.test>: Recipient address rejected: User unknown in virtual mailbox table",
            "unknown_recipient",
        ),
        ("<smtp@example.org>: Relay access denied", "relay_denied"),
        (": Helo command rejected: Host not found", "helo"),
        ("<bad_helo>: Helo command rejected: Invalid name", "helo"),
        (
            "<foo@bad.domain>: Sender address rejected: match bad.domain",
            "sender",
        ),
        (
            "<x[1.2.3.4]>: Client host rejected: Access denied",
            "client",
        ),
        (
            "<x@y>: Recipient address rejected: Message rejected due to: SPF fail - not authorized.",
            "spf",
        ),
        (
            "<x@y>: Recipient address rejected: Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator",
            "policy",
        ),
        (
            // policyd-spf's reject as smtpd logs it (spf_engine's Reason_Message).
            "<x@y>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=x@y;ip=192.0.2.66;r=<UNKNOWN>",
            "spf",
        ),
        (
            // OpenDMARC's reply (opendmarc.c, mlfi_eom).
            "rejected by DMARC policy for spoofed.example",
            "dmarc",
        ),
        (
            // rspamd's dmarc module (reject_message).
            "Rejected due to DMARC Policy",
            "dmarc",
        ),
        ("Message size exceeds fixed limit", "size"),
        ("Error: too much mail from 1.2.3.4", "rate_limit"),
        ("Must issue a STARTTLS command first", "tls_required"),
        ("Service currently unavailable", "other"),
    ];

    #[test]
    fn default_table() {
        let c = Classifier::default();
        for (text, want) in CASES {
            assert_eq!(c.classify_text(text).name(), *want, "{text}");
        }
    }

    /// The literal pass must pick the same rule as running every regex of the table, on real
    /// lines and on keyword soup made to sit on the rules' edges.
    #[test]
    fn built_in_literals_are_exact() {
        let b = BuiltIn::get();
        let reference = |t: &str| b.set().matches(t).iter().next();
        let mut texts: Vec<String> = CASES.iter().map(|(t, _)| t.to_string()).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        for dir in ["corpus", "scenarios", "mailstack"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("fixtures") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "log") {
                    let bytes = std::fs::read(&path).expect("read");
                    texts.extend(String::from_utf8_lossy(&bytes).lines().map(String::from));
                }
            }
        }
        assert!(texts.len() > 1_000, "{} real lines", texts.len());
        let mut pieces: Vec<&str> = RULE_LITERALS
            .iter()
            .flat_map(|(deciding, confirmed)| deciding.iter().chain(*confirmed).copied())
            .collect();
        pieces.extend([
            "exceeded",
            "exceeded ",
            "rate",
            "limit",
            "spf",
            "SPF",
            "spfx",
            "_spf",
            "rbl",
            "RBL-",
            "xrbl",
            "helo",
            "HELO",
            "helox",
            "invalid",
            "rejected",
            "fully-qualified",
            "listed",
            "at",
            "in",
            "on",
            "by",
            "too many",
            "message too",
            "cannot find your",
            "reverse",
            "\n",
            "\u{17f}",
            "\u{212a}",
            "é",
            "policy",
            "relay",
            "user",
            "unknown",
            ":",
            "<",
        ]);
        let seps = ["", " ", "  ", "-", "_", ";", ".", "x", "\n", ": "];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..200_000 {
            let mut t = String::new();
            for _ in 0..1 + next(5) {
                t.push_str(seps[next(seps.len())]);
                let piece = pieces[next(pieces.len())];
                // Cut a piece short now and then: a literal's prefix must not count.
                let piece = if next(6) == 0 && piece.is_ascii() && piece.len() > 2 {
                    &piece[..1 + next(piece.len() - 1)]
                } else {
                    piece
                };
                for c in piece.chars() {
                    if next(3) == 0 {
                        t.extend(c.to_uppercase());
                    } else {
                        t.push(c);
                    }
                }
            }
            texts.push(t);
        }
        for t in &texts {
            assert_eq!(b.first_match(t), reference(t), "{t:?}");
        }
    }

    #[test]
    fn user_rules_come_first_and_are_validated() {
        let c = Classifier::new(&[("policy".into(), "(?i)access denied".into())]).unwrap();
        assert_eq!(
            c.classify_text("<x[1.2.3.4]>: Client host rejected: Access denied"),
            RejectReason::Policy
        );
        assert!(Classifier::new(&[("nonsense".into(), "x".into())]).is_err());
        assert!(Classifier::new(&[("rbl".into(), "(".into())]).is_err());
    }

    #[test]
    fn kind_and_stage_decide_before_text() {
        let c = Classifier::default();
        let mut r = Reject {
            queue_id: None,
            kind: RejectKind::MilterReject,
            stage: "END-OF-MESSAGE",
            peer: None,
            code: "550",
            dsn: Some("5.7.1"),
            text: "Relay access denied",
            from: None,
            to: None,
            helo: None,
            reason: RejectReason::Other,
        };
        assert_eq!(c.reason(&r), RejectReason::Milter);
        // ... except a milter's SPF or DMARC verdict, which keeps its class.
        r.text = "rejected by DMARC policy for spoofed.example";
        assert_eq!(c.reason(&r), RejectReason::Dmarc);
        r.kind = RejectKind::MilterHold;
        r.text = "quarantined by DMARC policy for spoofed.example";
        assert_eq!(c.reason(&r), RejectReason::Dmarc);
        r.kind = RejectKind::MilterReject;
        r.text = "SPF check failed";
        assert_eq!(c.reason(&r), RejectReason::Spf);
        r.text = "Relay access denied";
        r.kind = RejectKind::Reject;
        r.stage = "HEADER";
        assert_eq!(c.reason(&r), RejectReason::HeaderBodyCheck);
        r.stage = "RCPT";
        assert_eq!(c.reason(&r), RejectReason::RelayDenied);
    }
}
