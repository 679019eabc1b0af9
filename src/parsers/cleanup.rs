//! cleanup lines: the message-id of each new message, the actions of header/body checks, and
//! milter verdicts on mail that did not come through smtpd's own milter hooks.

use super::common::{
    fields_start, from_to_helo, reject_kind, reply, smtp_reject, split_queue_id, whole_peer,
};
use super::smtpd::{table_changed, with_reply_code};
use crate::event::{Event, Reject, RejectKind};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let Some((queue_id, rest)) = split_queue_id(message) else {
        return table_changed(message).or_else(|| {
            message
                .starts_with("warning: milter ")
                .then_some(Event::Other("milter_error"))
        });
    };
    if let Some(id) = rest.strip_prefix("message-id=") {
        return Some(message_id(queue_id, id));
    }
    if let Some(id) = rest.strip_prefix("resent-message-id=") {
        return Some(message_id(queue_id, id));
    }
    let (verb, action) = rest.split_once_fast(": ")?;
    let reject = if let Some(check) = verb
        .strip_prefix("milter-header-")
        .or_else(|| verb.strip_prefix("milter-body-"))
    {
        // `milter_header_checks` applied to headers a milter added: logged like header_checks.
        content_check(queue_id, reject_kind(check)?, action)?
    } else {
        let kind = reject_kind(verb)?;
        if verb.starts_with("milter-") {
            // `milter-reject: END-OF-MESSAGE from host[ip]: 5.7.1 text; from=<a> to=<b> ...`
            let mut reject = smtp_reject(Some(queue_id), rest)?;
            if reject.code.is_empty() && kind == RejectKind::MilterReject {
                // A milter's `shutdown` reply is logged as `message content rejected`.
                reject.code = "550";
            }
            reject
        } else {
            content_check(queue_id, kind, action)?
        }
    };
    with_reply_code(reject).map(Event::Reject)
}

/// `message-id=<id@host>`, as the header has it: usually in angle brackets, which are dropped,
/// but it may be bare or empty (`message-id=<>` when a message has none and Postfix adds none).
/// The event is kept even without an ID because it is the first line of locally made mail.
fn message_id<'a>(queue_id: &'a str, value: &'a str) -> Event<'a> {
    let message_id = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value);
    Event::MessageId {
        queue_id,
        message_id,
    }
}

/// A header/body check action, after `QUEUEID: reject: `:
/// `header Subject: hello from host[ip]; from=<a> to=<b> proto=ESMTP helo=<h>: 5.7.1 text`.
/// The origin is `host[ip]` for smtpd mail and `local` for pickup mail (no peer then); the text
/// after the fields is optional (`reject` always has one, with a DSN).
fn content_check<'a>(queue_id: &'a str, kind: RejectKind, action: &'a str) -> Option<Reject<'a>> {
    let (class, rest) = action.split_once_fast(" ")?;
    let stage = match class {
        "header" => "HEADER",
        "body" => "BODY",
        // Postfix logs every header class as `header`; these names are kept should one differ.
        "mime-header" => "MIME-HEADER",
        "nested-header" => "NESTED-HEADER",
        "content" => "CONTENT",
        // `reject: mime-error MIME nesting exceeds safety limit: text from host[ip]; from=<a> to=<b>`
        "mime-error" => "MIME-ERROR",
        _ => return None,
    };
    let fields_at = fields_start(rest)?;
    let (content, list) = (&rest[..fields_at], &rest[fields_at + 2..]);
    // The origin has no spaces; a ` from ` inside a header such as `Received:` is not it.
    let peer = content
        .rsplit_once(" from ")
        .map(|(_, origin)| origin)
        .filter(|origin| !origin.contains_fast(" "))
        .and_then(whole_peer);
    let (fields, text) = split_off_text(list);
    let (mut code, dsn, text) = reply(text);
    if code.is_empty() && kind == RejectKind::Reject {
        code = "550";
    }
    let (from, to, helo) = from_to_helo(fields);
    Some(Reject {
        queue_id: Some(queue_id),
        kind,
        stage,
        peer,
        code,
        dsn,
        text,
        from,
        to,
        helo,
        reason: crate::event::RejectReason::Other,
    })
}

/// Splits `from=<a> to=<b> proto=ESMTP helo=<h>: text` after the last field. The fields come
/// in this order, each optional; a `<value>` ends at the `>` that is followed by a separator,
/// so the text may contain `: ` and `>` without confusing the split.
fn split_off_text(list: &str) -> (&str, &str) {
    let mut end = 0;
    for key in ["from=", "to=", "proto=", "helo="] {
        let rest = &list[end..];
        let skipped = usize::from(rest.starts_with(' '));
        let Some(value) = rest[skipped..].strip_prefix(key) else {
            continue;
        };
        let value_len = if value.starts_with('<') {
            let b = value.as_bytes();
            match (1..b.len())
                .find(|&i| b[i] == b'>' && matches!(b.get(i + 1), None | Some(b' ' | b':')))
            {
                Some(close) => close + 1,
                None => value.len(),
            }
        } else {
            value.find_any2(b' ', b':').unwrap_or(value.len())
        };
        end += skipped + key.len() + value_len;
    }
    let text = list[end..].strip_prefix(": ").unwrap_or("");
    (&list[..end], text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Peer;
    use crate::parsers::Daemon;
    use crate::parsers::testing::{assert_events, assert_others, event_of};

    fn event(line: &str) -> Event<'_> {
        event_of(Daemon::Cleanup, line)
    }

    const LOCALHOST: Peer<'static> = Peer {
        host: "localhost",
        ip: "127.0.0.1",
        port: None,
    };

    #[test]
    fn message_ids() {
        let cases = [
            (
                "Sep 23 15:57:40 mail postfix/cleanup[3646045]: 838FC8A5F: message-id=<341d97ec-c42a-6b0d-a49d-00d44a4f9753@example.org>",
                (
                    "838FC8A5F",
                    "341d97ec-c42a-6b0d-a49d-00d44a4f9753@example.org",
                ),
            ),
            (
                "Mar  2 10:00:00 mx postfix/cleanup[55]: 4B7C52A0F3: message-id=<>",
                ("4B7C52A0F3", ""),
            ),
            (
                "Mar  2 10:00:01 mx postfix/cleanup[55]: 4B7C52A0F3: message-id=",
                ("4B7C52A0F3", ""),
            ),
            (
                "Mar  2 10:00:02 mx postfix/cleanup[55]: 4B7C52A0F3: message-id=bare-id@example.net",
                ("4B7C52A0F3", "bare-id@example.net"),
            ),
            (
                "Mar  2 10:00:03 mx postfix/cleanup[55]: 4Zb1Xq2kLmz9vLm: resent-message-id=<20240302100003.4Zb1Xq2kLmz9vLm@mx.example.com>",
                (
                    "4Zb1Xq2kLmz9vLm",
                    "20240302100003.4Zb1Xq2kLmz9vLm@mx.example.com",
                ),
            ),
        ];
        for (line, (queue_id, message_id)) in cases {
            assert_eq!(
                event(line),
                Event::MessageId {
                    queue_id,
                    message_id
                },
                "{line}"
            );
        }
    }

    #[test]
    fn milter_verdicts() {
        let milter = |kind, (code, dsn, text)| {
            Event::Reject(Reject {
                queue_id: Some("4B7C52A0F3"),
                kind,
                stage: "END-OF-MESSAGE",
                peer: Some(LOCALHOST),
                code,
                dsn,
                text,
                from: Some("a@b"),
                to: Some("c@d"),
                helo: Some("x"),
                reason: crate::event::RejectReason::Other,
            })
        };
        let cases = [
            (
                "Mar  2 10:00:04 mx postfix/cleanup[55]: 4B7C52A0F3: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Gtube pattern; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                milter(
                    RejectKind::MilterReject,
                    ("550", Some("5.7.1"), "Gtube pattern"),
                ),
            ),
            (
                "Mar  2 10:00:05 mx postfix/cleanup[55]: 4B7C52A0F3: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 4.7.1 Try again later; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                milter(
                    RejectKind::MilterReject,
                    ("450", Some("4.7.1"), "Try again later"),
                ),
            ),
            (
                "Mar  2 10:00:06 mx postfix/cleanup[55]: 4B7C52A0F3: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: message content rejected; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                milter(
                    RejectKind::MilterReject,
                    ("550", None, "message content rejected"),
                ),
            ),
            (
                "Mar  2 10:00:07 mx postfix/cleanup[55]: 4B7C52A0F3: milter-discard: END-OF-MESSAGE from localhost[127.0.0.1]: milter triggers DISCARD action; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                milter(
                    RejectKind::MilterDiscard,
                    ("", None, "milter triggers DISCARD action"),
                ),
            ),
            (
                "Mar  2 10:00:08 mx postfix/cleanup[55]: 4B7C52A0F3: milter-hold: END-OF-MESSAGE from localhost[127.0.0.1]: milter triggers HOLD action; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                milter(
                    RejectKind::MilterHold,
                    ("", None, "milter triggers HOLD action"),
                ),
            ),
        ];
        assert_events(Daemon::Cleanup, &cases);
        // A test template with an invalid DSN class: the 3-digit code is taken as it stands.
        let line = "Jan 1 00:00:00 hostname postfix/cleanup[12345]: 123456789AB: milter-reject: END-OF-MESSAGE from example.com[123.45.67.89]: 123 1.2.3 Reasons; from=<user@example.com> to=<user@example.com> proto=ESMTP helo=<example.com>";
        assert_eq!(
            event(line),
            Event::Reject(Reject {
                queue_id: Some("123456789AB"),
                kind: RejectKind::MilterReject,
                stage: "END-OF-MESSAGE",
                peer: Some(Peer {
                    host: "example.com",
                    ip: "123.45.67.89",
                    port: None
                }),
                code: "123",
                dsn: None,
                text: "1.2.3 Reasons",
                from: Some("user@example.com"),
                to: Some("user@example.com"),
                helo: Some("example.com"),
                reason: crate::event::RejectReason::Other,
            })
        );
    }

    #[test]
    fn content_checks() {
        let check = |kind, stage, peer, (code, dsn, text), (from, to, helo)| {
            Event::Reject(Reject {
                queue_id: Some("4B7C52A0F3"),
                kind,
                stage,
                peer,
                code,
                dsn,
                text,
                from,
                to,
                helo,
                reason: crate::event::RejectReason::Other,
            })
        };
        let smtp = (Some("a@b"), Some("c@d"), Some("x"));
        let cases = [
            (
                "Mar  2 10:00:09 mx postfix/cleanup[55]: 4B7C52A0F3: reject: header Subject: hello from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 message content rejected",
                check(
                    RejectKind::Reject,
                    "HEADER",
                    Some(LOCALHOST),
                    ("550", Some("5.7.1"), "message content rejected"),
                    smtp,
                ),
            ),
            // The header itself contains ` from ` and `: `; the text contains `: ` too.
            (
                "Mar  2 10:00:10 mx postfix/cleanup[55]: 4B7C52A0F3: reject: header Received: from spam.example (spam.example [192.0.2.66]) by mx from mail.example.net[198.51.100.3]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 Spam relay: go away",
                check(
                    RejectKind::Reject,
                    "HEADER",
                    Some(Peer {
                        host: "mail.example.net",
                        ip: "198.51.100.3",
                        port: None,
                    }),
                    ("550", Some("5.7.1"), "Spam relay: go away"),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:11 mx postfix/cleanup[55]: 4B7C52A0F3: reject: body Click here to win from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 4.7.1 Try later",
                check(
                    RejectKind::Reject,
                    "BODY",
                    Some(LOCALHOST),
                    ("450", Some("4.7.1"), "Try later"),
                    smtp,
                ),
            ),
            // Mail from pickup: origin `local`, no proto or helo.
            (
                "Mar  2 10:00:12 mx postfix/cleanup[55]: 4B7C52A0F3: reject: header Subject: test from local; from=<root@mx.example.com> to=<c@d>: 5.7.1 message content rejected",
                check(
                    RejectKind::Reject,
                    "HEADER",
                    None,
                    ("550", Some("5.7.1"), "message content rejected"),
                    (Some("root@mx.example.com"), Some("c@d"), None),
                ),
            ),
            (
                "Mar  2 10:00:13 mx postfix/cleanup[55]: 4B7C52A0F3: reject: mime-error MIME nesting exceeds safety limit: --b1 from localhost[127.0.0.1]; from=<a@b> to=<c@d>",
                check(
                    RejectKind::Reject,
                    "MIME-ERROR",
                    Some(LOCALHOST),
                    ("550", None, ""),
                    (Some("a@b"), Some("c@d"), None),
                ),
            ),
            (
                "Mar  2 10:00:14 mx postfix/cleanup[55]: 4B7C52A0F3: warning: header Subject: x from localhost[127.0.0.1]; from=<> to=<> proto=ESMTP helo=<>: suspicious subject",
                check(
                    RejectKind::Warning,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, "suspicious subject"),
                    (Some(""), Some(""), Some("")),
                ),
            ),
            (
                "Mar  2 10:00:15 mx postfix/cleanup[55]: 4B7C52A0F3: warning: header Subject: x from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                check(
                    RejectKind::Warning,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, ""),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:16 mx postfix/cleanup[55]: 4B7C52A0F3: hold: header X-Spam-Flag: YES from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                check(
                    RejectKind::Hold,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, ""),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:17 mx postfix/cleanup[55]: 4B7C52A0F3: discard: body viagra from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: spam",
                check(
                    RejectKind::Discard,
                    "BODY",
                    Some(LOCALHOST),
                    ("", None, "spam"),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:18 mx postfix/cleanup[55]: 4B7C52A0F3: redirect: header To: c@d from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: archive@example.com",
                check(
                    RejectKind::OtherAction,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, "archive@example.com"),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:19 mx postfix/cleanup[55]: 4B7C52A0F3: replace: header Subject: old from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: Subject: new",
                check(
                    RejectKind::OtherAction,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, "Subject: new"),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:20 mx postfix/cleanup[55]: 4B7C52A0F3: info: header X-Mailer: Foo from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                check(
                    RejectKind::OtherAction,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, ""),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:21 mx postfix/cleanup[55]: 4B7C52A0F3: filter: header X-Scan: yes from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: smtp:[127.0.0.1]:10025",
                check(
                    RejectKind::OtherAction,
                    "HEADER",
                    Some(LOCALHOST),
                    ("", None, "smtp:[127.0.0.1]:10025"),
                    smtp,
                ),
            ),
            (
                "Mar  2 10:00:22 mx postfix/cleanup[55]: 4B7C52A0F3: milter-header-reject: header X-Virus: found from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 virus",
                check(
                    RejectKind::Reject,
                    "HEADER",
                    Some(LOCALHOST),
                    ("550", Some("5.7.1"), "virus"),
                    smtp,
                ),
            ),
        ];
        assert_events(Daemon::Cleanup, &cases);
    }

    #[test]
    fn other_lines() {
        assert_others(
            Daemon::Cleanup,
            &[
                (
                    "Mar  2 10:00:23 mx postfix/cleanup[55]: warning: milter inet:127.0.0.1:11332: can't read SMFIC_BODYEOB reply packet header: Connection reset by peer",
                    "milter_error",
                ),
                (
                    "Mar  2 10:00:24 mx postfix/cleanup[55]: table hash:/etc/postfix/header_checks(0,lock|fold_fix) has changed -- restarting",
                    "table_changed",
                ),
                (
                    "Mar  2 10:00:25 mx postfix/cleanup[55]: warning: 4B7C52A0F3: read timeout on cleanup socket",
                    "warning",
                ),
            ],
        );
    }

    /// Real Postfix 3.7 output from the project's loopback mail stack.
    #[test]
    fn mail_stack() {
        let cases = [
            (
                "Nov 24 00:32:43 mail postfix/cleanup[19509]: AE87798C675: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Gtube pattern; from=<sender@sender.test> to=<alice@vmail.test> proto=ESMTP helo=<mail.sender.test>",
                Event::Reject(Reject {
                    queue_id: Some("AE87798C675"),
                    kind: RejectKind::MilterReject,
                    stage: "END-OF-MESSAGE",
                    peer: Some(LOCALHOST),
                    code: "550",
                    dsn: Some("5.7.1"),
                    text: "Gtube pattern",
                    from: Some("sender@sender.test"),
                    to: Some("alice@vmail.test"),
                    helo: Some("mail.sender.test"),
                    reason: crate::event::RejectReason::Other,
                }),
            ),
            (
                "Nov 24 00:32:43 mail postfix/cleanup[19509]: 2083498C3B3: message-id=<pflog-e2e-m01-plain@sender.test>",
                Event::MessageId {
                    queue_id: "2083498C3B3",
                    message_id: "pflog-e2e-m01-plain@sender.test",
                },
            ),
            // Added by Postfix to a bounce it wrote itself.
            (
                "Nov 24 00:32:44 mail postfix/cleanup[19509]: 89ADA98CAC0: message-id=<20261124003244.89ADA98CAC0@mail.pflog.test>",
                Event::MessageId {
                    queue_id: "89ADA98CAC0",
                    message_id: "20261124003244.89ADA98CAC0@mail.pflog.test",
                },
            ),
            (
                "Nov 24 00:32:43 mail postfix/cleanup[19509]: warning: DF83398CA5E: queue file size limit exceeded",
                Event::Diagnostic(crate::event::Level::Warning),
            ),
        ];
        assert_events(Daemon::Cleanup, &cases);
    }

    #[test]
    fn fields_and_text() {
        assert_eq!(
            split_off_text("from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 <u@d>: no"),
            (
                "from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                "5.7.1 <u@d>: no"
            )
        );
        assert_eq!(
            split_off_text("from=<> to=<c@d>: text"),
            ("from=<> to=<c@d>", "text")
        );
        assert_eq!(split_off_text("from=<a@b>"), ("from=<a@b>", ""));
    }
}
