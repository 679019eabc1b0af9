//! policyd-weight (ident `policyd-weight` or `postfix/policyd-weight`).
//!
//! - `weighted check: RESULTS; <client=...> <helo=...> <from=...> <to=...>; rate: X` (0.1.14 put
//!   `, rate: X`): a fresh score.
//! - `decided action=ACTION TEXT; <client=...> ...; delay: Ns`: the answer to Postfix. A cached
//!   HAM answer reads `PREPEND X-policyd-weight: using cached result; rate:hard: X` (older versions
//!   `rate: X`); a cached SPAM answer carries `[cached]` in the reject text.
//!
//! Messages below `info` are written as `LEVEL: text`; the rest is daemon chatter.

use crate::event::{Event, Level};
use crate::parsers::common::number;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    if let Some(rest) = message.strip_prefix("decided action=") {
        return decision(rest);
    }
    if let Some(rest) = message.strip_prefix("weighted check:") {
        let at = rest.rfind_fast("rate: ")?;
        let rate = number(rest[at + "rate: ".len()..].trim_end())?;
        return Some(Event::PolicydWeightScore { rate });
    }
    Some(chatter(message))
}

fn decision(rest: &str) -> Option<Event<'_>> {
    // The client's HELO and addresses follow; they are free text, so the answer ends at the
    // first `; <client=`.
    let answer = rest.find_fast("; <client=").map_or(rest, |at| &rest[..at]);
    let action_end = answer.find_any2(b' ', b';').unwrap_or(answer.len());
    let action = &answer[..action_end];
    if action.is_empty() {
        return None;
    }
    let text = &answer[action_end..];
    let (cached, rate) = if let Some(at) = text.find_fast("using cached result; rate:") {
        let value = &text[at + "using cached result; rate:".len()..];
        let value = value.strip_prefix("hard:").unwrap_or(value);
        let value = value.split(';').next().unwrap_or(value).trim();
        (true, number(value))
    } else {
        (text.contains_fast("[cached]"), None)
    };
    Some(Event::PolicydWeightDecision {
        action,
        cached,
        rate,
    })
}

/// Lines that are not verdicts: diagnostics, or known chatter with nothing to count.
fn chatter(message: &str) -> Event<'_> {
    if message.starts_with("warning: ") {
        Event::Diagnostic(Level::Warning)
    } else if message.starts_with("err: ") {
        Event::Diagnostic(Level::Error)
    } else if message.starts_with("debug: ") {
        Event::Other("debug")
    } else if message.starts_with("cache") {
        Event::Other("cache")
    } else {
        // Start, `child: spawned`, `master: child N exited`, ...
        Event::Other("info")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision_of(message: &str) -> (&str, bool, Option<f64>) {
        match parse(message) {
            Some(Event::PolicydWeightDecision {
                action,
                cached,
                rate,
            }) => (action, cached, rate),
            other => panic!("{message:?} -> {other:?}"),
        }
    }

    #[test]
    fn weighted_checks() {
        for (message, rate) in [
            (
                // policyd-weight 0.1.15 beta-2 (Debian) in the e2e mail stack
                "weighted check:  NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_FROM_MX=-3.1 BOGUS_MX=2.1; <client=localhost[127.0.0.1]> <helo=mail.sender.test> <from=sender@sender.test> <to=dave@vmail.test>; rate: -4",
                -4.0,
            ),
            (
                "weighted check:  NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 BOGUS_MX=2.1 CL_IP_NE_HELO=1.5 (check from: .nodns. - helo: .host.nodns. - helo-domain: .nodns.)  MAIL_SEEMS_FORGED=2.5 RESOLVED_IP_IS_NOT_HELO=1.5 FROM_NBDY_ANON=1.17; <client=localhost[127.0.0.1]> <helo=host.nodns.test> <from=nobody@nodns.test> <to=dave@vmail.test>; rate: 5.77",
                5.77,
            ),
            (
                "weighted check:  NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 BL_NJABL=-1.5 CL_IP_NE_HELO=4.75 RESOLVED_IP_IS_NOT_HELO=1.5 (check from: .example. - helo: .mx.example. - helo-domain: .example.)  FROM_NOT_FAILED_HELO(DOMAIN)=1; <client=1.2.3.4> <helo=mx.example> <from=a@b> <to=c@d>, rate: 4.25",
                4.25,
            ),
            (
                "weighted check:  NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 NOT_IN_BL_NJABL=-1.5 CL_IP_EQ_HELO_IP=-2 (check from: .example. - helo: .mail.example. - helo-domain: .example.)  FROM/MX_MATCHES_HELO(DOMAIN)=-2 CL_IP_EQ_FROM_MX=-3.1; <client=mail.example[192.0.2.10]> <helo=mail.example> <from=alice@example> <to=bob@example.org>; rate: -11.6",
                -11.6,
            ),
            (
                "weighted check:  IN_SBL_XBL_SPAMHAUS=4.35 IN_SPAMCOP=3.75 DYN_NJABL=3.75; <client=unknown[203.0.113.9]> <helo=User> <from=x@y.example> <to=bob@example.org>; rate: 11.85",
                11.85,
            ),
        ] {
            assert_eq!(
                parse(message),
                Some(Event::PolicydWeightScore { rate }),
                "{message}"
            );
        }
    }

    #[test]
    fn decisions() {
        for (message, want) in [
            (
                // policyd-weight 0.1.15 beta-2 (Debian) in the e2e mail stack
                "decided action=PREPEND X-policyd-weight:  NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_FROM_MX=-3.1 BOGUS_MX=2.1; rate: -4; <client=localhost[127.0.0.1]> <helo=mail.sender.test> <from=sender@sender.test> <to=dave@vmail.test>; delay: 0s",
                ("PREPEND", false, None),
            ),
            (
                "decided action=450 Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs; MTA helo: host.nodns.test, MTA hostname: localhost[127.0.0.1] (helo/hostname mismatch); <client=localhost[127.0.0.1]> <helo=host.nodns.test> <from=spammer@nodns.test> <to=dave@vmail.test>; delay: 0s",
                ("450", false, None),
            ),
            (
                "decided action=550 Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs [cached] - retrying too fast. penalty: 30 seconds x 1 retries.; <client=localhost[127.0.0.1]> <helo=host.nodns.test> <from=nobody@nodns.test> <to=dave@vmail.test>; delay: 0s",
                ("550", true, None),
            ),
            (
                "decided action=PREPEND X-policyd-weight: NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_FROM_MX=-3.1; rate: -11.6; <client=mail.example[192.0.2.10]> <helo=mail.example> <from=alice@example> <to=bob@example.org>; delay: 2s",
                ("PREPEND", false, None),
            ),
            (
                "decided action=550 Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs; MTA helo: x, MTA hostname: y[1.2.3.4] (helo/hostname mismatch); <client=y[1.2.3.4]> <helo=x> <from=a@b> <to=c@d>; delay: 1s",
                ("550", false, None),
            ),
            (
                "decided action=DUNNO NULL (<>) Sender; <client=mx.example[192.0.2.3]> <helo=mx.example> <from=> <to=bob@example.org>; delay: 0s",
                ("DUNNO", false, None),
            ),
            (
                "decided action=DUNNO multirecipient-mail - already accepted by previous query; <client=mx.example[192.0.2.3]> <helo=mx.example> <from=a@b> <to=c@d>; delay: 0s",
                ("DUNNO", false, None),
            ),
            (
                "decided action=defer_if_permit No DNS entries for your MTA, HELO and Domain. Contact YOUR administrator Your HELO: x, IP: 1.2.3.4; <client=unknown[1.2.3.4]> <helo=x> <from=a@b> <to=c@d>; delay: 5s",
                ("defer_if_permit", false, None),
            ),
            (
                "decided action=450 No DNS entries for your MTA, HELO and Domain. Contact YOUR administrator Your HELO: x, IP: 1.2.3.4; <client=unknown[1.2.3.4]> <helo=x> <from=a@b> <to=c@d>; delay: 5s",
                ("450", false, None),
            ),
            (
                "decided action=REJECT spam; <client=unknown[1.2.3.4]> <helo=x> <from=a@b> <to=c@d>; delay: 0s",
                ("REJECT", false, None),
            ),
            (
                "decided action=PREPEND X-policyd-weight: using cached result; rate: -7.6; <client=mail.example[192.0.2.10]> <helo=mail.example> <from=alice@example> <to=bob@example.org>; delay: 0s",
                ("PREPEND", true, Some(-7.6)),
            ),
            (
                // 0.1.15: `rate:hard:` for an entry that must be re-checked within PTIME.
                "decided action=PREPEND X-policyd-weight: using cached result; rate:hard: -6.1; <client=mail.example[192.0.2.10]> <helo=mail.example> <from=alice@example> <to=bob@example.org>; delay: 0s",
                ("PREPEND", true, Some(-6.1)),
            ),
            (
                "decided action=DUNNO  using cached result; rate:hard: -4.5; <client=mail.example[192.0.2.10]> <helo=mail.example> <from=alice@example> <to=bob@example.org>; delay: 0s",
                ("DUNNO", true, Some(-4.5)),
            ),
            (
                "decided action=550 Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs [cached] - retrying too fast. penalty: 30 seconds x 0 retries.; <client=unknown[203.0.113.9]> <helo=User> <from=x@y.example> <to=bob@example.org>; delay: 0s",
                ("550", true, None),
            ),
        ] {
            assert_eq!(decision_of(message), want, "{message}");
        }
    }

    #[test]
    fn chatter() {
        for (message, kind) in [
            (
                "policyd-weight 0.1.15 beta-2 started and daemonized. conf:/etc/policyd-weight.conf; GID:112 112 EGID:112 112 UID:108 EUID:108; taint mode: 0",
                "info",
            ),
            ("child: spawned", "info"),
            ("cache_query: start: calling spawn_cache()", "cache"),
            ("cache killed", "cache"),
            ("Daemon terminated.", "info"),
            ("warning: Got SIGPIPE. Child 19573 terminated.", "warning"),
            (
                "warning: child: err: Died at /usr/sbin/policyd-weight line 1346.#012",
                "warning",
            ),
            ("cache spawned", "cache"),
            ("cache: purged 12 from HAM cache, time: 0s", "cache"),
            ("policyd-weight cachesize: 59", "info"),
            ("master: child 4711 exited", "info"),
            ("warning: master: MAX_PROC (50) reached", "warning"),
            ("warning: child: err: Connection reset by peer", "warning"),
            ("err: init: cannot bind", "error"),
        ] {
            assert_eq!(
                parse(message),
                Some(crate::parsers::testing::kind_event(kind)),
                "{message}"
            );
        }
    }

    #[test]
    fn malformed_lines_are_unsupported() {
        for message in [
            "decided action=; <client=x[1.2.3.4]>",
            "weighted check: NOT_IN_SPAMCOP=-1.5; rate: lots",
            "weighted check: NOT_IN_SPAMCOP=-1.5",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
