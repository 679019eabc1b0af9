//! rspamd, from syslog (`rspamd[pid]: <tag>; module; function: text`) or from its own log file
//! (the envelope hands over the same `<tag>; module; function: text`).
//!
//! The scan result is the task log line written by `rspamd_task_write_log` (in the `proxy`,
//! `task`, `csession` ... modules). With the default `log_format` it reads
//! `id: <msgid>, qid: <QUEUEID>, ip: 1.2.3.4, from: <a@b>, (default: F (no action): [-1.20/15.00] [SYMBOLS]), len: 2345, time: 123.456ms, dns req: 12, ...`
//! where `qid`, `ip`, `user` and `from` appear only when known, and rspamd 1.x wrote
//! `time: 978.464ms real, 15.045ms virtual`. Every other rspamd line is daemon chatter.

use crate::event::{AuthResult, DmarcDisposition, Event, RspamdAction, RspamdAuth, RspamdTask};
use crate::parsers::common::number;
use crate::scan::{Scan, find_byte, find_byte2};

pub fn parse(message: &str) -> Option<Event<'_>> {
    let body = strip_tag(message);
    let Some((module, rest)) = body.split_once_fast("; ") else {
        return Some(Event::Other("info"));
    };
    let Some((function, text)) = rest.split_once_fast(": ") else {
        return Some(Event::Other("info"));
    };
    if function == "rspamd_task_write_log" {
        return task(text).map(Event::Rspamd);
    }
    let kind = match (module, function) {
        (_, "accept_socket") => "accepted_connection",
        (_, "rspamd_message_parse") => "message_parsed",
        ("lua", _) => "lua",
        ("milter", _) => "milter",
        ("proxy", _) => "proxy",
        ("main", _) => "main",
        _ => "info",
    };
    Some(Event::Other(kind))
}

/// Drops the task tag (`<a1b2c3>; `); lines without a task may carry an empty one.
fn strip_tag(message: &str) -> &str {
    if message.starts_with('<')
        && let Some(end) = message.find_fast(">; ")
        && !message[1..end].contains_fast(" ")
    {
        return &message[end + 3..];
    }
    message.strip_prefix("; ").unwrap_or(message)
}

fn task(text: &str) -> Option<RspamdTask<'_>> {
    let mut task = RspamdTask {
        queue_id: None,
        message_id: None,
        action: RspamdAction::Other,
        action_text: "",
        score: 0.0,
        required_score: None,
        scan_seconds: None,
        auth: RspamdAuth::default(),
    };
    // `key: value, ` pairs up to the metric block `(default: ...)`. Values in `<...>` (message
    // ID, sender) are free text and end at the `>` followed by `, `.
    let mut rest = text;
    while !rest.starts_with('(') {
        let (key, after) = rest.split_once_fast(": ")?;
        if key.is_empty() || key.len() > 16 || key.bytes().any(|b| matches!(b, b',' | b'(' | b' '))
        {
            return None;
        }
        let (value, next) = match after.strip_prefix('<') {
            Some(inner) => {
                let close = inner.find_fast(">, ")?;
                (&inner[..close], &inner[close + 3..])
            }
            None => {
                let end = after.find_fast(", ")?;
                (&after[..end], &after[end + 2..])
            }
        };
        let known = (value != "undef" && !value.is_empty()).then_some(value);
        // The first of each wins: the sender (`from: <...>`) after them is the client's text
        // and may hold a `qid: <...>` of its own.
        match key {
            "id" if task.message_id.is_none() => task.message_id = known,
            "qid" if task.queue_id.is_none() => task.queue_id = known,
            _ => {}
        }
        rest = next;
    }
    // `(default: F (no action): [-1.20/15.00] [SYMBOLS])`: metric name, spam flag, action.
    let (_metric, metric) = rest[1..].split_once_fast(": ")?;
    let (_is_spam, metric) = metric.split_once_fast(" (")?;
    let (action, metric) = metric.split_once_fast("): [")?;
    let (scores, after_scores) = metric.split_once_fast("]")?;
    let (score, required) = match scores.split_once_fast("/") {
        Some((score, required)) => (score, number(required)),
        None => (scores, None),
    };
    task.action = RspamdAction::from_text(action);
    task.action_text = action;
    task.score = number(score)?;
    task.required_score = required;
    // Symbol options (`SYM(1.0){text}`) are free text: look for the time only after the block.
    let tail = after_scores
        .strip_prefix(" [")
        .and_then(|symbols| read_symbols(symbols, &mut task.auth))
        .unwrap_or(after_scores);
    if let Some(at) = tail.find_fast(", time: ") {
        let value = &tail[at + ", time: ".len()..];
        let value = &value[..value.find_any2(b',', b' ').unwrap_or(value.len())];
        task.scan_seconds = seconds(value);
    }
    Some(task)
}

/// Reads the symbol block `SYM(1.0){options},SYM2(0.5){},...]` (rspamd 1.x: `SYM,SYM2]`),
/// noting the authentication symbols in `auth`, and returns the text after it.
///
/// Outside the braces only `{` and `]` matter, inside them only `}`: the block is crossed by
/// jumping from one of those to the next rather than byte by byte. Each `{` ends a
/// `NAME(score)`; a block without braces is rspamd 1.x's list of names.
fn read_symbols<'a>(symbols: &'a str, auth: &mut RspamdAuth) -> Option<&'a str> {
    let b = symbols.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i += find_byte2(b'{', b']', &b[i..])?;
        if b[i] == b']' {
            if start == 0 {
                // No braces at all: `NAME,NAME,...`.
                for name in symbols[..i].split(',') {
                    note_symbol(name, auth);
                }
            }
            return Some(&symbols[i + 1..]);
        }
        // `NAME(score)` before the `{`; only names that may be authentication symbols are
        // cut out of it.
        if matches!(b.get(start), Some(b'R' | b'D' | b'A')) {
            let segment = &symbols[start..i];
            note_symbol(
                &segment[..find_byte(b'(', segment.as_bytes()).unwrap_or(segment.len())],
                auth,
            );
        }
        i += 1 + find_byte(b'}', &b[i + 1..])? + 1;
        // `},NAME...`: the next name starts after the comma.
        start = i + 1;
    }
}

/// The result an authentication symbol stands for (`docs/metrics.md`, "Mail authentication").
fn note_symbol(name: &str, auth: &mut RspamdAuth) {
    use AuthResult::*;
    if !matches!(name.as_bytes().first(), Some(b'R' | b'D' | b'A')) {
        return;
    }
    let (slot, result) = match name {
        "R_SPF_ALLOW" => (&mut auth.spf, Pass),
        "R_SPF_FAIL" => (&mut auth.spf, Fail),
        "R_SPF_SOFTFAIL" => (&mut auth.spf, Softfail),
        "R_SPF_NEUTRAL" => (&mut auth.spf, Neutral),
        "R_SPF_NA" => (&mut auth.spf, None),
        "R_SPF_DNSFAIL" => (&mut auth.spf, Temperror),
        "R_SPF_PERMFAIL" => (&mut auth.spf, Permerror),
        "R_DKIM_ALLOW" => (&mut auth.dkim, Pass),
        "R_DKIM_REJECT" => (&mut auth.dkim, Fail),
        "R_DKIM_TEMPFAIL" => (&mut auth.dkim, Temperror),
        "R_DKIM_PERMFAIL" => (&mut auth.dkim, Permerror),
        "R_DKIM_NA" => (&mut auth.dkim, None),
        "DMARC_POLICY_ALLOW" | "DMARC_POLICY_ALLOW_WITH_FAILURES" => {
            auth.dmarc_policy = Some(DmarcDisposition::None);
            (&mut auth.dmarc, Pass)
        }
        "DMARC_POLICY_REJECT" => {
            auth.dmarc_policy = Some(DmarcDisposition::Reject);
            (&mut auth.dmarc, Fail)
        }
        "DMARC_POLICY_QUARANTINE" => {
            auth.dmarc_policy = Some(DmarcDisposition::Quarantine);
            (&mut auth.dmarc, Fail)
        }
        "DMARC_POLICY_SOFTFAIL" => {
            auth.dmarc_policy = Some(DmarcDisposition::None);
            (&mut auth.dmarc, Fail)
        }
        "DMARC_NA" => (&mut auth.dmarc, None),
        "DMARC_BAD_POLICY" => (&mut auth.dmarc, Permerror),
        "DMARC_DNSFAIL" => (&mut auth.dmarc, Temperror),
        "ARC_ALLOW" => (&mut auth.arc, Pass),
        "ARC_REJECT" => (&mut auth.arc, Fail),
        "ARC_NA" => (&mut auth.arc, None),
        "ARC_INVALID" => (&mut auth.arc, Permerror),
        "ARC_DNSFAIL" => (&mut auth.arc, Temperror),
        _ => return,
    };
    // One result per check: a pass (a valid DKIM signature among bad ones) wins.
    if slot.is_none() || result == Pass {
        *slot = Some(result);
    }
}

/// `123.456ms` or `1.2s`.
fn seconds(value: &str) -> Option<f64> {
    if let Some(ms) = value.strip_suffix("ms") {
        return number(ms).map(|v| v / 1000.0);
    }
    number(value.strip_suffix('s')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_of(message: &str) -> RspamdTask<'_> {
        match parse(message) {
            Some(Event::Rspamd(t)) => t,
            other => panic!("{message:?} -> {other:?}"),
        }
    }

    #[test]
    fn sender_text_cannot_override_the_queue_id() {
        // Found by tests/hostile.rs: `from: <x>, qid: <FAKE>, ...` replaced the real qid, so the
        // verdict was joined to another message (or none).
        let t = task_of(
            "<63ce70>; proxy; rspamd_task_write_log: id: <m@s.test>, qid: <1A72E9921C4>, ip: 127.0.0.1, from: <x>, qid: <FAKEQID>, id: <fake@x>, ip: 6.6.6.6, from: <y@s.test>, (default: F (no action): [0.00/15.00] [X(0.00){}]), len: 252, time: 45.782ms, dns req: 0",
        );
        assert_eq!(t.queue_id, Some("1A72E9921C4"));
        assert_eq!(t.message_id, Some("m@s.test"));
    }

    /// The symbols of rspamd's spf, dkim, dmarc and arc modules (`src/plugins/lua/*.lua`,
    /// `src/plugins/dkim_check.c`, `spf.c`), as `rspamd_task_write_log` prints them:
    /// `NAME(score){options;}`. Options are free text: a symbol name inside them is no symbol.
    #[test]
    fn authentication_symbols() {
        use AuthResult::{Fail, Pass, Temperror};
        let t = task_of(
            "<2b9c1d>; proxy; rspamd_task_write_log: id: <m1@example.org>, qid: <4C9F21A0B3>, ip: 192.0.2.10, from: <alice@example.org>, (default: F (add header): [6.10/15.00] [DMARC_POLICY_QUARANTINE(1.50){example.org : No valid SPF, No valid DKIM;quarantine;},R_DKIM_REJECT(1.00){example.org:s=mail;},R_DKIM_ALLOW(-0.20){example.net:s=sel;},R_SPF_DNSFAIL(0.00){},ARC_NA(0.00){},X_OPTS(0.00){R_SPF_ALLOW,DMARC_POLICY_ALLOW;}]), len: 1530, time: 87.512ms, dns req: 4",
        );
        assert_eq!(
            t.auth,
            RspamdAuth {
                spf: Some(Temperror),
                // A valid signature among bad ones: DKIM passes.
                dkim: Some(Pass),
                dmarc: Some(Fail),
                arc: Some(AuthResult::None),
                dmarc_policy: Some(DmarcDisposition::Quarantine),
            }
        );
        assert_eq!(t.scan_seconds, Some(0.087512));
        for (symbol, spf, dmarc, policy) in [
            ("R_SPF_ALLOW", Some(Pass), None, None),
            ("R_SPF_FAIL", Some(Fail), None, None),
            ("R_SPF_NA", Some(AuthResult::None), None, None),
            ("R_SPF_PERMFAIL", Some(AuthResult::Permerror), None, None),
            ("R_SPF_NEUTRAL", Some(AuthResult::Neutral), None, None),
            (
                "DMARC_POLICY_ALLOW",
                None,
                Some(Pass),
                Some(DmarcDisposition::None),
            ),
            (
                "DMARC_POLICY_REJECT",
                None,
                Some(Fail),
                Some(DmarcDisposition::Reject),
            ),
            (
                "DMARC_POLICY_SOFTFAIL",
                None,
                Some(Fail),
                Some(DmarcDisposition::None),
            ),
            ("DMARC_BAD_POLICY", None, Some(AuthResult::Permerror), None),
            ("DMARC_DNSFAIL", None, Some(Temperror), None),
            ("DMARC_NA", None, Some(AuthResult::None), None),
            ("R_SPF_PLUSALL", None, None, None),
        ] {
            let line = format!(
                "<2b9c1d>; proxy; rspamd_task_write_log: id: <m@x>, qid: <4C9F21A0B3>, (default: F (no action): [0.00/15.00] [MIME_GOOD(-0.10){{text/plain;}},{symbol}(0.00){{x;}}]), len: 1, time: 1ms"
            );
            let t = task_of(&line);
            assert_eq!(
                (t.auth.spf, t.auth.dmarc, t.auth.dmarc_policy),
                (spf, dmarc, policy),
                "{symbol}"
            );
        }
    }

    #[test]
    fn task_log_lines() {
        let cases: &[(&str, RspamdTask<'static>)] = &[
            (
                // rspamd 3.4 (Debian) proxy in milter mode, its own log file, e2e mail stack.
                "<6fa543>; proxy; rspamd_task_write_log: id: <pflog-e2e-m01-plain@sender.test>, qid: <2083498C3B3>, ip: 127.0.0.1, from: <sender@sender.test>, (default: F (no action): [0.00/15.00] [FROM_EQ_ENVFROM(0.00){},FROM_NO_DN(0.00){},MID_RHS_MATCH_FROM(0.00){},RCPT_COUNT_ONE(0.00){1;},RCVD_COUNT_ZERO(0.00){0;},TO_DN_NONE(0.00){},TO_MATCH_ENVRCPT_ALL(0.00){}]), len: 252, time: 60.873ms, dns req: 0, digest: <c2bfdf567828ccc002cc4d373f666bcd>, rcpts: <alice@vmail.test>, mime_rcpts: <alice@vmail.test>",
                RspamdTask {
                    queue_id: Some("2083498C3B3"),
                    message_id: Some("pflog-e2e-m01-plain@sender.test"),
                    action: RspamdAction::NoAction,
                    action_text: "no action",
                    score: 0.0,
                    required_score: Some(15.0),
                    scan_seconds: Some(60.873 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                "<411d64>; proxy; rspamd_task_write_log: id: <pflog-e2e-m10-gtube@sender.test>, qid: <AE87798C675>, ip: 127.0.0.1, from: <sender@sender.test>, (default: S (reject): [15.00/15.00] [GTUBE(0.00){}]), len: 325, time: 0.309ms, dns req: 0, digest: <eb4975bc7a7960b6456647702d3cdf9a>, rcpts: <alice@vmail.test>, mime_rcpts: <alice@vmail.test>, forced: reject \"Gtube pattern\"; score=15.00 (set by GTUBE)",
                RspamdTask {
                    queue_id: Some("AE87798C675"),
                    message_id: Some("pflog-e2e-m10-gtube@sender.test"),
                    action: RspamdAction::Reject,
                    action_text: "reject",
                    score: 15.0,
                    required_score: Some(15.0),
                    scan_seconds: Some(0.309 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                "<f553cf>; proxy; rspamd_task_write_log: id: <pflog-e2e-m20-deferred@sender.test>, qid: <5029C98CAB2>, ip: 127.0.0.1, user: alice@vmail.test, from: <alice@vmail.test>, (default: F (no action): [0.00/15.00] [FROM_EQ_ENVFROM(0.00){},FROM_NO_DN(0.00){},RCPT_COUNT_ONE(0.00){1;},RCVD_COUNT_ZERO(0.00){0;},TO_DN_NONE(0.00){},TO_MATCH_ENVRCPT_ALL(0.00){}]), len: 258, time: 1.359ms, dns req: 0, digest: <fc01fdc018590072fcbb07861e80230e>, rcpts: <friend@remote.test>, mime_rcpts: <friend@remote.test>",
                RspamdTask {
                    queue_id: Some("5029C98CAB2"),
                    message_id: Some("pflog-e2e-m20-deferred@sender.test"),
                    action: RspamdAction::NoAction,
                    action_text: "no action",
                    score: 0.0,
                    required_score: Some(15.0),
                    scan_seconds: Some(1.359 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                // rspamd.com docs, rspamd 1.x log file
                "<b120f6>; task; rspamd_task_write_log: id: <201603181414.u2IEEfKL062480@repo.freebsd.org>, qid: <D4CFE300135>, ip: 2001:1900:2254:206a::19:2, from: <owner-ports-committers@freebsd.org>, (default: F (no action): [-2.11/15.00] [MIME_GOOD,R_SPF_ALLOW,RCVD_IN_DNSWL_HI,MAILLIST,BAYES_HAM,FANN_SCORE,FORGED_RECIPIENTS_MAILLIST,FORGED_SENDER_MAILLIST]), len: 6849, time: 538.803ms real, 26.851ms virtual, dns req: 22",
                RspamdTask {
                    queue_id: Some("D4CFE300135"),
                    message_id: Some("201603181414.u2IEEfKL062480@repo.freebsd.org"),
                    action: RspamdAction::NoAction,
                    action_text: "no action",
                    score: -2.11,
                    required_score: Some(15.0),
                    scan_seconds: Some(538.803 / 1000.0),
                    auth: RspamdAuth {
                        spf: Some(AuthResult::Pass),
                        ..RspamdAuth::default()
                    },
                },
            ),
            (
                "<xxx>; task; rspamd_task_write_log: id: <xxx@xxx.com>, qid: <xxx>, ip: xx.xx.xx.xx, from: <info@xxx.xxx>, (default: F (soft reject): [0.00/15.00] [DBL_SPAM(6.50){xxx.dbl.spamhaus.org;},URIBL_SBL_CSS(6.50){xxx.xxx;},RBL_SPAMHAUS_CSS(2.00){xx.xx.xx.xx.zen.spamhaus.org : 127.0.0.3;},RECEIVED_SPAMHAUS_CSS(1.00){116.179.76.62.zen.spamhaus.org : 127.0.0.3;},GREYLIST(0.00){greylisted;Mon, 27 Aug 2018 10:28:11 GMT;new record;}), len: xx, time: 978.464ms real, 15.045ms virtual, dns req: 45, digest: <xxx>, rcpts: <x@x.x>, mime_rcpts: <x@x.x.>",
                RspamdTask {
                    queue_id: Some("xxx"),
                    message_id: Some("xxx@xxx.com"),
                    action: RspamdAction::SoftReject,
                    action_text: "soft reject",
                    score: 0.0,
                    required_score: Some(15.0),
                    scan_seconds: Some(978.464 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                // The controller scanning on behalf of rspamc: no queue ID, forced action.
                "<0260c3>; csession; rspamd_task_write_log: id: <xxxx>, from: <xxx>, (default: T (reject): [100500.00/15.00] [RCPT_COUNT_ONE(0.00){1;},RCVD_COUNT_THREE(0.00){3;},RE_TEST(0.00){},TOP(0.00){},TO_DN_NONE(0.00){}]), len: x, time: 1ms real, 1ms virtual, dns req: 64, digest: <xxx>, mime_rcpts: <xxx>, forced: reject \"test\"; score=100500.00 (set by bla)",
                RspamdTask {
                    queue_id: None,
                    message_id: Some("xxxx"),
                    action: RspamdAction::Reject,
                    action_text: "reject",
                    score: 100500.0,
                    required_score: Some(15.0),
                    scan_seconds: Some(1.0 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                // rspamd 3.x proxy (milter mode) via syslog
                "<a1b2c3>; proxy; rspamd_task_write_log: id: <20261123123456.ABC@example.com>, qid: <4A1B2C3D4E>, ip: 192.0.2.10, from: <alice@example.com>, (default: F (add header): [7.20/15.00] [BAYES_SPAM(5.10){97.00%;},MIME_GOOD(-0.10){text/plain;}]), len: 2345, time: 123.456ms, dns req: 12, digest: <0123abcd>, rcpts: <bob@example.org>, mime_rcpts: <bob@example.org>",
                RspamdTask {
                    queue_id: Some("4A1B2C3D4E"),
                    message_id: Some("20261123123456.ABC@example.com"),
                    action: RspamdAction::AddHeader,
                    action_text: "add header",
                    score: 7.2,
                    required_score: Some(15.0),
                    scan_seconds: Some(123.456 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
            (
                "<9f8e7d>; proxy; rspamd_task_write_log: id: <undef>, qid: <undef>, ip: 198.51.100.3, user: alice, (default: F (greylist): [4.50/15.00] [R_SPF_SOFTFAIL(0.00){}]), len: 512, time: 2076.05ms, dns req: 3, digest: <ff00>, rcpts: <c@d>",
                RspamdTask {
                    queue_id: None,
                    message_id: None,
                    action: RspamdAction::Greylist,
                    action_text: "greylist",
                    score: 4.5,
                    required_score: Some(15.0),
                    scan_seconds: Some(2076.05 / 1000.0),
                    auth: RspamdAuth {
                        spf: Some(AuthResult::Softfail),
                        ..RspamdAuth::default()
                    },
                },
            ),
            (
                // Free text in the message ID and in symbol options does not move the fields.
                "<5a5a5a>; proxy; rspamd_task_write_log: id: <a, qid: EVIL (default: F (no action): [0/1] [x]), time: 9s@c>, qid: <5B6C7D8E9F>, (default: T (rewrite subject): [9.30/15.00] [SUBJ(1.0){]), len: 1, time: 99s;},X(0.1){}]), len: 10, time: 45.5ms, dns req: 1",
                RspamdTask {
                    queue_id: Some("5B6C7D8E9F"),
                    message_id: Some(
                        "a, qid: EVIL (default: F (no action): [0/1] [x]), time: 9s@c",
                    ),
                    action: RspamdAction::RewriteSubject,
                    action_text: "rewrite subject",
                    score: 9.3,
                    required_score: Some(15.0),
                    scan_seconds: Some(45.5 / 1000.0),
                    auth: RspamdAuth::default(),
                },
            ),
        ];
        for (message, want) in cases {
            assert_eq!(&task_of(message), want, "{message}");
        }
    }

    #[test]
    fn chatter() {
        for (message, kind) in [
            (
                "<ed2abb>; task; accept_socket: accepted connection from ::1 port 52895",
                "accepted_connection",
            ),
            (
                "<b120f6>; task; rspamd_message_parse: loaded message; id: <201603181414.u2IEEfKL062480@repo.freebsd.org>; queue-id: <D4CFE300135>",
                "message_parsed",
            ),
            (
                "<ed2abb>; task; rspamd_message_parse: loaded message; id: <F66099EE-BCAB-4D4F-A4FC-7C15A6686397@FreeBSD.org>; queue-id: <undef>",
                "message_parsed",
            ),
            (
                "<a1b2c3>; proxy; proxy_milter_finish_handler: finished milter connection",
                "proxy",
            ),
            (
                "<a1b2c3>; milter; rspamd_milter_process_command: got connection from 192.0.2.10:44312",
                "milter",
            ),
            (
                "<a1b2c3>; lua; greylist.lua:438: greylisted until \"Mon, 23 Nov 2026 12:39:56 GMT\", new record",
                "lua",
            ),
            (
                "; main; main: rspamd 3.8.4 is loading configuration, build id: release",
                "main",
            ),
            ("rspamd 3.8.4 is starting", "info"),
            // rspamd 3.4 log file lines of the e2e mail stack, with and without a tag.
            (
                "<fb19a4>; main; main: rspamd 3.4 is starting, build id: release",
                "main",
            ),
            (
                "lua; lua_cfg_transform.lua:161: group excessqp has no symbols",
                "lua",
            ),
            (
                "<>; lua; lua_cfg_transform.lua:519: enable `options.check_all_filters` for neural network",
                "lua",
            ),
            (
                "rspamd_regexp_library_init: pcre2 is compiled with JIT for x86 64bit (little endian + unaligned)",
                "info",
            ),
            (
                "<ff1ef6>; proxy; proxy_accept_socket: accepted milter connection from 127.0.0.1 port 51258",
                "proxy",
            ),
            (
                "<e2becd>; proxy; rspamd_add_passthrough_result: <pflog-e2e-m11-addheader@sender.test>: set pre-result to 'add header' (6.00): 'Gtube pattern' from GTUBE(1)",
                "proxy",
            ),
        ] {
            assert_eq!(
                parse(message),
                Some(crate::parsers::testing::kind_event(kind)),
                "{message}"
            );
        }
    }

    #[test]
    fn malformed_task_lines_are_unsupported() {
        for message in [
            "<a1b2c3>; proxy; rspamd_task_write_log: id: <x>, qid: <y>, no metric here",
            "<a1b2c3>; proxy; rspamd_task_write_log: id: <x>, (default: F (no action): [lots/15.00] []), len: 1",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
