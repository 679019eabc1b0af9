//! policyd-spf (postfix-policyd-spf-python, `spf_engine`): one line per policy request it
//! acts on, at `debugLevel = 1` (the default):
//!
//! - `prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.1; helo=mx.example.org; envelope-from=a@example.org; receiver=<UNKNOWN> `
//!   (or `prepend Authentication-Results: host; spf=pass ... smtp.mailfrom=...` with
//!   `Header_Type = AR`, and `Header field not prepended: Received-SPF: ...` with
//!   `Header_Type = None`);
//! - `550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=...;ip=...;r=...`
//!   (its reject) and `defer_if_permit 4.7.24 Message deferred due to: ...` (its defer: a
//!   temperror);
//! - with `QueueID = Yes` each of them starts with the queue ID Postfix passed
//!   (`4BZ1xx: prepend ...`), which the correlator then joins; without it nothing names the
//!   message.
//!
//! It logs through Python's `syslog` under its program name (`policyd-spf[PID]:`). Higher
//! debug levels add lines of their own (`spfcheck: pyspf result: ...`, `Pass; identity=...`,
//! `Config: ...`): read, not counted.

use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event, Level};
use crate::parsers::common::split_queue_id;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    // spf_engine 2.0 logged `: prepend ...` (an empty queue ID prefix).
    let message = message.strip_prefix(": ").unwrap_or(message);
    let (queue_id, text) = match split_queue_id(message) {
        Some((q, rest)) => (Some(q), rest.strip_prefix(' ').unwrap_or(rest)),
        None => (None, message),
    };
    let verdict = |check, result| {
        Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::PolicydSpf,
            check,
            result,
        })
    };
    if let Some(header) = text
        .strip_prefix("prepend ")
        .or_else(|| text.strip_prefix("Header field not prepended: "))
    {
        return Some(match header_result(header) {
            Some((check, result)) => verdict(check, result),
            // `X-Comment: SPF skipped for whitelisted relay ...` and the like.
            None => Event::Other("skipped"),
        });
    }
    if let Some(reason) = text.strip_prefix("550 ") {
        return Some(verdict(reply_check(reason), reject_result(reason)));
    }
    if let Some(reason) = text.strip_prefix("defer_if_permit ") {
        // Only a Temperror is deferred.
        return Some(verdict(reply_check(reason), AuthResult::Temperror));
    }
    Some(match text {
        _ if text.starts_with("result_only ") => Event::Other("restriction"),
        _ if text.starts_with("ERROR") || text.starts_with("Ouch, caught exc") => {
            Event::Diagnostic(Level::Error)
        }
        _ if text.starts_with("WARNING") => Event::Diagnostic(Level::Warning),
        // debugLevel 2 and up: the checks' details and the daemon's own progress.
        _ => Event::Other("debug"),
    })
}

/// The check and result of a prepended header: `Received-SPF: Pass (...) identity=mailfrom; ...`
/// or `Authentication-Results: host; spf=pass (...) smtp.mailfrom=...`.
fn header_result(header: &str) -> Option<(AuthCheck, AuthResult)> {
    if let Some(rest) = header.strip_prefix("Received-SPF: ") {
        let word = &rest[..rest.find_fast(" ").unwrap_or(rest.len())];
        // `identity=helo` for the HELO check; the comment before it is the SPF explanation.
        let check = match rest.find_fast(" identity=") {
            Some(at) if rest[at + " identity=".len()..].starts_with("helo;") => AuthCheck::SpfHelo,
            _ => AuthCheck::Spf,
        };
        return Some((check, AuthResult::from_word(word)));
    }
    let rest = header.strip_prefix("Authentication-Results: ")?;
    let at = rest.find_fast("; spf=")?;
    let rest = &rest[at + "; spf=".len()..];
    let word = &rest[..rest.find_fast(" ").unwrap_or(rest.len())];
    let check = if rest.contains_fast(" smtp.helo=") {
        AuthCheck::SpfHelo
    } else {
        AuthCheck::Spf
    };
    Some((check, AuthResult::from_word(word)))
}

/// The check of a reject or defer text: its `Why?s=helo` link names the HELO check.
fn reply_check(reason: &str) -> AuthCheck {
    if reason.contains_fast("Why?s=helo;") {
        AuthCheck::SpfHelo
    } else {
        AuthCheck::Spf
    }
}

/// The result behind a reject. The text is `Reason_Message` around pyspf's explanation:
/// `SPF fail - not authorized` (or the domain's own `exp=` text, which only a fail has),
/// `domain owner discourages use of this host` (softfail), `access neither permitted nor
/// denied` (neutral), `Receiver policy for SPF Softfail` (local policy); a permerror is
/// rejected with `5.7.24`.
fn reject_result(reason: &str) -> AuthResult {
    if reason.starts_with("5.7.24 ") {
        return AuthResult::Permerror;
    }
    if let Some(at) = reason.find_fast("Receiver policy for SPF ") {
        let rest = &reason[at + "Receiver policy for SPF ".len()..];
        let word = &rest[..rest.find_any2(b'.', b' ').unwrap_or(rest.len())];
        return AuthResult::from_word(word);
    }
    if reason.contains_fast("domain owner discourages use of this host") {
        AuthResult::Softfail
    } else if reason.contains_fast("access neither permitted nor denied") {
        AuthResult::Neutral
    } else {
        AuthResult::Fail
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event};
    use crate::parsers::Daemon;
    use crate::parsers::testing::{assert_events, assert_others};

    fn spf(queue_id: Option<&str>, check: AuthCheck, result: AuthResult) -> Event<'_> {
        Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::PolicydSpf,
            check,
            result,
        })
    }

    /// Lines as spf_engine 3.0.4 (Debian bookworm's postfix-policyd-spf-python) writes them:
    /// `policyd_spf.py` logs `'{0}prepend {1}'` and `'{0}{1} {2}'` (queue ID, action, reason)
    /// around the header and reason texts `_spfcheck` builds; the first line is the form
    /// Debian's logcheck rule for the package matches.
    #[test]
    fn results() {
        use AuthCheck::{Spf, SpfHelo};
        use AuthResult::{Fail, Neutral, Pass, Permerror, Softfail, Temperror};
        assert_events(
            Daemon::PolicydSpf,
            &[
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=mail.example.org; envelope-from=alice@example.org; receiver=<UNKNOWN> ",
                    spf(None, Spf, Pass),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Received-SPF: Softfail (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=mail.example.org; envelope-from=bob@soft.example; receiver=<UNKNOWN> ",
                    spf(None, Spf, Softfail),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Received-SPF: None (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=mail.example.org; envelope-from=carol@nospf.example; receiver=<UNKNOWN> ",
                    spf(None, Spf, AuthResult::None),
                ),
                (
                    // The HELO check: the comment is pyspf's explanation.
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Received-SPF: None (no SPF record) identity=helo; client-ip=192.0.2.10; helo=mail.example.org; envelope-from=<>; receiver=<UNKNOWN> ",
                    spf(None, SpfHelo, AuthResult::None),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Received-SPF: Temperror (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=h; envelope-from=d@dnsfail.example; receiver=vmail.test ",
                    spf(None, Spf, Temperror),
                ),
                (
                    // The real stack (Debian bookworm, fixtures/auth/mail.log): an empty
                    // queue ID before the action.
                    "Dec  5 12:54:53 mail policyd-spf[17374]: : prepend Received-SPF: Pass (sender SPF authorized) identity=helo; client-ip=127.0.0.1; helo=mail.pass.test; envelope-from=<>; receiver=vmail.test ",
                    spf(None, SpfHelo, Pass),
                ),
                (
                    "Dec  5 12:54:54 mail policyd-spf[17374]: : 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=helo;id=mail.helofail.test;ip=127.0.0.1;r=vmail.test",
                    spf(None, SpfHelo, Fail),
                ),
                (
                    "Dec  5 12:54:52 mail policyd-spf[17374]: : 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=test@spffail.test;ip=127.0.0.1;r=vmail.test",
                    spf(None, Spf, Fail),
                ),
                (
                    // spf_engine 2.0's empty prefix.
                    "Dec  5 10:00:01 mx policyd-spf[4711]: : prepend Received-SPF: Neutral (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=h; envelope-from=e@neutral.example; receiver=<UNKNOWN> ",
                    spf(None, Spf, Neutral),
                ),
                (
                    // QueueID = Yes.
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 4BZ1K42xyz7: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=h; envelope-from=a@example.org; receiver=<UNKNOWN> ",
                    spf(Some("4BZ1K42xyz7"), Spf, Pass),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend Authentication-Results: mx.vmail.test; spf=fail (example.org: 192.0.2.66 is not permitted) smtp.mailfrom=example.org (client-ip=192.0.2.66; helo=h; envelope-from=a@example.org; receiver=<UNKNOWN>)",
                    spf(None, Spf, Fail),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: Header field not prepended: Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.10; helo=h; envelope-from=a@example.org; receiver=<UNKNOWN> ",
                    spf(None, Spf, Pass),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=mallory@example.org;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, Spf, Fail),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=helo;id=bad.example;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, SpfHelo, Fail),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 550 5.7.23 Message rejected due to: domain owner discourages use of this host. Please see http://www.openspf.net/Why?s=mfrom;id=x@soft.example;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, Spf, Softfail),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 550 5.7.23 Message rejected due to: Receiver policy for SPF Neutral. Please see http://www.openspf.net/Why?s=mfrom;id=x@n.example;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, Spf, Neutral),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: 550 5.7.24 Message rejected due to: SPF Permanent Error: Too many DNS lookups. Please see http://www.openspf.net/Why?s=mfrom;id=x@perm.example;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, Spf, Permerror),
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: defer_if_permit 4.7.24 Message deferred due to: SPF Temporary Error: DNS Timeout. Please see http://www.openspf.net/Why?s=mfrom;id=x@t.example;ip=192.0.2.66;r=<UNKNOWN>",
                    spf(None, Spf, Temperror),
                ),
            ],
        );
    }

    #[test]
    fn chatter() {
        assert_others(
            Daemon::PolicydSpf,
            &[
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: prepend X-Comment: SPF skipped for whitelisted relay - client-ip=127.0.0.1; helo=localhost; envelope-from=a@b; receiver=<UNKNOWN> ",
                    "skipped",
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: result_only check_client_access hash:/etc/postfix/spf_pass",
                    "restriction",
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: spfcheck: pyspf result: \"['Pass', 'sender SPF authorized', 'mailfrom']\"",
                    "debug",
                ),
                (
                    // debugLevel 2 repeats the result: not a second result.
                    "Dec  5 10:00:01 mx policyd-spf[4711]: Pass; identity=mailfrom; client-ip=192.0.2.10; helo=h; envelope-from=a@example.org; receiver=<UNKNOWN> ",
                    "debug",
                ),
                ("Dec  5 10:00:01 mx policyd-spf[4711]: Starting", "debug"),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: ERROR: Could not match line \"foo\"",
                    "error",
                ),
                (
                    "Dec  5 10:00:01 mx policyd-spf[4711]: WARNING: Deprecated Config Option defaultSeedOnly in use in: /etc/postfix-policyd-spf-python/policyd-spf.conf",
                    "warning",
                ),
            ],
        );
    }
}
