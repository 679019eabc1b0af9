//! Reject reasons: a bounded taxonomy, assigned by an ordered table of regexes.
//!
//! The table is data: users put their own rules in front of it (`--reject-rule REASON=REGEX` or
//! the `reject_rules` file), and the first matching rule wins.

use regex::RegexSet;

use crate::event::{Reject, RejectKind};

/// Every reason a reject may be classified as; a user rule must name one of these.
pub const REASONS: &[&str] = &[
    "greylist",
    "rbl",
    "unknown_recipient",
    "relay_denied",
    "helo",
    "sender",
    "client",
    "spf",
    "policy",
    "milter",
    "size",
    "rate_limit",
    "tls_required",
    "header_body_check",
    "other",
];

/// The built-in rules, tried in order on the reply text of a reject.
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("greylist", r"(?i)greylist"),
    (
        "tls_required",
        r"(?i)must issue a starttls|tls is required|encryption required",
    ),
    (
        "size",
        r"(?i)message size exceeds|message file too big|size limit|message too (large|big)|insufficient system storage",
    ),
    (
        "rate_limit",
        r"(?i)too many (connections|recipients|messages|errors|sessions)|too much mail|rate limit|exceeded .*(rate|limit)|throttl",
    ),
    ("spf", r"(?i)\bspf\b"),
    (
        "policy",
        r"(?i)policyd|mail appeared to be spam or forged|policy (service|rejection|violation)",
    ),
    (
        "rbl",
        r"(?i)blocked using|listed (at|in|on|by) |\brbl\b|dnsbl|spamhaus",
    ),
    ("relay_denied", r"(?i)relay access denied|relaying denied"),
    (
        "unknown_recipient",
        r"(?i)user unknown|unknown user|no such user|recipient address rejected: undeliverable|mailbox unavailable|unknown recipient|recipient unknown|address verification failed|user doesn't exist",
    ),
    (
        "helo",
        r"(?i)helo command rejected|\bhelo\b.*(invalid|rejected|fully-qualified)",
    ),
    ("sender", r"(?i)sender address rejected"),
    (
        "client",
        r"(?i)client host rejected|cannot find your (reverse )?hostname|service unavailable; client host",
    ),
];

#[derive(Debug)]
pub struct Classifier {
    set: RegexSet,
    reasons: Vec<&'static str>,
}

impl Classifier {
    /// `user_rules` (reason, regex) come first. Errors name the bad rule.
    pub fn new(user_rules: &[(String, String)]) -> Result<Classifier, String> {
        if user_rules.is_empty() {
            // The built-in table compiles once per process (milliseconds), not per pipeline:
            // tests and fuzz targets build thousands of pipelines.
            static BUILT_IN: std::sync::OnceLock<RegexSet> = std::sync::OnceLock::new();
            let set = BUILT_IN.get_or_init(|| {
                RegexSet::new(DEFAULT_RULES.iter().map(|(_, p)| p))
                    .expect("the built-in rules compile")
            });
            return Ok(Classifier {
                set: set.clone(),
                reasons: DEFAULT_RULES.iter().map(|(r, _)| *r).collect(),
            });
        }
        let mut patterns = Vec::new();
        let mut reasons = Vec::new();
        for (reason, pattern) in user_rules {
            let canonical = REASONS
                .iter()
                .find(|r| **r == reason.as_str())
                .ok_or_else(|| {
                    format!(
                        "reject rule {reason:?}: unknown reason (one of {})",
                        REASONS.join(", ")
                    )
                })?;
            regex::Regex::new(pattern)
                .map_err(|e| format!("reject rule {reason}={pattern:?}: {e}"))?;
            patterns.push(pattern.clone());
            reasons.push(*canonical);
        }
        for (reason, pattern) in DEFAULT_RULES {
            patterns.push((*pattern).to_string());
            reasons.push(*reason);
        }
        let set = RegexSet::new(&patterns).map_err(|e| format!("reject rules: {e}"))?;
        Ok(Classifier { set, reasons })
    }

    /// The reason class of one reject line.
    pub fn reason(&self, reject: &Reject<'_>) -> &'static str {
        match reject.kind {
            RejectKind::MilterReject | RejectKind::MilterDiscard | RejectKind::MilterHold => {
                return "milter";
            }
            _ => {}
        }
        if matches!(
            reject.stage,
            "HEADER" | "BODY" | "MIME-HEADER" | "NESTED-HEADER"
        ) {
            return "header_body_check";
        }
        self.classify_text(reject.text)
    }

    /// The reason class of a reply text alone (the first matching rule, else `other`).
    pub fn classify_text(&self, text: &str) -> &'static str {
        self.set
            .matches(text)
            .iter()
            .next()
            .map_or("other", |i| self.reasons[i])
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
        ("Message size exceeds fixed limit", "size"),
        ("Error: too much mail from 1.2.3.4", "rate_limit"),
        ("Must issue a STARTTLS command first", "tls_required"),
        ("Service currently unavailable", "other"),
    ];

    #[test]
    fn default_table() {
        let c = Classifier::default();
        for (text, want) in CASES {
            assert_eq!(c.classify_text(text), *want, "{text}");
        }
    }

    #[test]
    fn user_rules_come_first_and_are_validated() {
        let c = Classifier::new(&[("policy".into(), "(?i)access denied".into())]).unwrap();
        assert_eq!(
            c.classify_text("<x[1.2.3.4]>: Client host rejected: Access denied"),
            "policy"
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
        };
        assert_eq!(c.reason(&r), "milter");
        r.kind = RejectKind::Reject;
        r.stage = "HEADER";
        assert_eq!(c.reason(&r), "header_body_check");
        r.stage = "RCPT";
        assert_eq!(c.reason(&r), "relay_denied");
    }
}
