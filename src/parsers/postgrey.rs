//! postgrey (syslog ident `postgrey`).
//!
//! Verdicts are written by `mylog_action` as `[QUEUEID: ]action=A, reason=R[, delay=N]` followed
//! by whichever of `client_name`, `client_address`, `sender`, `recipient` the request had (an
//! empty sender is left out). Reasons contain spaces (`early-retry (292s missing)`), so fields
//! are split at `, key=`, not at spaces. Everything else postgrey and Net::Server write is
//! daemon chatter.

use crate::event::{Event, Level, PostgreyAction, PostgreyVerdict};
use crate::parsers::common::{number, split_queue_id};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let (queue_id, body) = match split_queue_id(message) {
        Some((id, rest)) => (Some(id), rest),
        None => (None, message),
    };
    if let Some(fields) = body.strip_prefix("action=") {
        return action(queue_id, fields).map(Event::Postgrey);
    }
    Some(chatter(message))
}

fn action<'a>(queue_id: Option<&'a str>, fields: &'a str) -> Option<PostgreyAction<'a>> {
    let (action, mut rest) = match next_field_boundary(fields) {
        Some(at) => (&fields[..at], Some(&fields[at + 2..])),
        None => (fields, None),
    };
    if action.is_empty() || action.contains_fast(" ") {
        return None;
    }
    let mut a = PostgreyAction {
        queue_id,
        action: PostgreyVerdict::from_text(action),
        reason: "",
        delay: None,
        client_name: None,
        client_address: None,
        sender: None,
        recipient: None,
    };
    while let Some(s) = rest {
        let (field, next) = match next_field_boundary(s) {
            Some(at) => (&s[..at], Some(&s[at + 2..])),
            None => (s, None),
        };
        let (key, value) = field.split_once_fast("=")?;
        // The first of each key wins: postgrey writes its own fields before the sender and
        // recipient, whose raw text may hold `, delay=999` or `, reason=...` of its own.
        match key {
            "reason" if a.reason.is_empty() => a.reason = value,
            "delay" if a.delay.is_none() => a.delay = number(value),
            "client_name" if a.client_name.is_none() => a.client_name = Some(value),
            "client_address" if a.client_address.is_none() => {
                a.client_address = Some(host_address(value))
            }
            "sender" if a.sender.is_none() => a.sender = Some(value),
            "recipient" if a.recipient.is_none() => a.recipient = Some(value),
            _ => {}
        }
        rest = next;
    }
    Some(a)
}

/// Where `, key=` starts: a `, ` followed by a lower-case identifier and `=`. Scans for the
/// comma by hand, which measured cheaper here than `find_fast(", ")` (`benches/README.md`).
fn next_field_boundary(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(pos) = crate::scan::find_byte(b',', &b[from..]) {
        let at = from + pos;
        if b.get(at + 1) == Some(&b' ') {
            let key_len = b[at + 2..]
                .iter()
                .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
                .count();
            if key_len > 0 && b.get(at + 2 + key_len) == Some(&b'=') {
                return Some(at);
            }
            from = at + 2;
        } else {
            from = at + 1;
        }
    }
    None
}

/// Some builds log the client as a host network (`1.2.3.4/32`, `2001:db8::1/64`).
fn host_address(value: &str) -> &str {
    value
        .strip_suffix("/32")
        .or_else(|| value.strip_suffix("/64"))
        .or_else(|| value.strip_suffix("/128"))
        .unwrap_or(value)
}

/// Lines that are not verdicts: diagnostics, or known chatter with nothing to count.
fn chatter(message: &str) -> Event<'_> {
    if message.starts_with("cleaning ") || message.starts_with("rm ") {
        Event::Other("maintenance")
    } else if message.starts_with("whitelisted: ") {
        Event::Other("auto_whitelisted")
    } else if message.starts_with("WARNING: ") {
        Event::Diagnostic(Level::Warning)
    } else if message.starts_with("FATAL: ") {
        Event::Diagnostic(Level::Fatal)
    } else {
        // Start, stop, binding, uid/gid changes, whitelist reloads, ...
        Event::Other("info")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(message: &str) -> PostgreyAction<'_> {
        match parse(message) {
            Some(Event::Postgrey(a)) => a,
            other => panic!("{message:?} -> {other:?}"),
        }
    }

    #[test]
    fn sender_text_cannot_override_postgrey_fields() {
        // Found by tests/hostile.rs: a sender holding `, delay=999, reason=...` replaced the
        // pass delay and the reason postgrey wrote before it.
        let a = verdict(
            "action=pass, reason=triplet found, delay=42, client_name=h, client_address=192.0.2.1/32, sender=x, delay=999, reason=new, client_address=6.6.6.6@s.test, recipient=r@d.test",
        );
        assert_eq!((a.reason, a.delay), ("triplet found", Some(42.0)));
        assert_eq!(a.client_address, Some("192.0.2.1"));
        assert_eq!(a.sender, Some("x"));
        assert_eq!(a.recipient, Some("r@d.test"));
    }

    #[test]
    fn verdicts() {
        let cases: &[(&str, PostgreyAction<'static>)] = &[
            (
                // postgrey 1.37 in the e2e mail stack: new, early retry, then pass.
                "action=greylist, reason=new, client_name=localhost, client_address=127.0.0.1, sender=sender@sender.test, recipient=grey@vmail.test",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Greylist,
                    reason: "new",
                    delay: None,
                    client_name: Some("localhost"),
                    client_address: Some("127.0.0.1"),
                    sender: Some("sender@sender.test"),
                    recipient: Some("grey@vmail.test"),
                },
            ),
            (
                "action=greylist, reason=early-retry (3s missing), client_name=localhost, client_address=127.0.0.1, sender=sender@sender.test, recipient=grey@vmail.test",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Greylist,
                    reason: "early-retry (3s missing)",
                    delay: None,
                    client_name: Some("localhost"),
                    client_address: Some("127.0.0.1"),
                    sender: Some("sender@sender.test"),
                    recipient: Some("grey@vmail.test"),
                },
            ),
            (
                "action=pass, reason=triplet found, delay=7, client_name=localhost, client_address=127.0.0.1, sender=sender@sender.test, recipient=grey@vmail.test",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Pass,
                    reason: "triplet found",
                    delay: Some(7.0),
                    client_name: Some("localhost"),
                    client_address: Some("127.0.0.1"),
                    sender: Some("sender@sender.test"),
                    recipient: Some("grey@vmail.test"),
                },
            ),
            (
                "action=greylist, reason=new, client_name=mail.example.com, client_address=192.0.2.10/32, sender=alice@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Greylist,
                    reason: "new",
                    delay: None,
                    client_name: Some("mail.example.com"),
                    client_address: Some("192.0.2.10"),
                    sender: Some("alice@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                "action=greylist, reason=early-retry (292s missing), client_name=unknown, client_address=2001:db8::25/64, sender=alice@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Greylist,
                    reason: "early-retry (292s missing)",
                    delay: None,
                    client_name: Some("unknown"),
                    client_address: Some("2001:db8::25"),
                    sender: Some("alice@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                "action=pass, reason=triplet found, delay=312, client_name=mail.example.com, client_address=192.0.2.10, sender=alice@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Pass,
                    reason: "triplet found",
                    delay: Some(312.0),
                    client_name: Some("mail.example.com"),
                    client_address: Some("192.0.2.10"),
                    sender: Some("alice@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                "4A1B2C3D4E: action=pass, reason=triplet found, client_name=mail.example.com, client_address=192.0.2.10, sender=alice@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: Some("4A1B2C3D4E"),
                    action: PostgreyVerdict::Pass,
                    reason: "triplet found",
                    delay: None,
                    client_name: Some("mail.example.com"),
                    client_address: Some("192.0.2.10"),
                    sender: Some("alice@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                // A bounce: postgrey leaves out the empty sender.
                "action=pass, reason=client whitelist, client_name=mx.google.com, client_address=209.85.220.41, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Pass,
                    reason: "client whitelist",
                    delay: None,
                    client_name: Some("mx.google.com"),
                    client_address: Some("209.85.220.41"),
                    sender: None,
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                "action=pass, reason=recipient whitelist, client_name=unknown, client_address=198.51.100.7, sender=x@example.net, recipient=postmaster@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Pass,
                    reason: "recipient whitelist",
                    delay: None,
                    client_name: Some("unknown"),
                    client_address: Some("198.51.100.7"),
                    sender: Some("x@example.net"),
                    recipient: Some("postmaster@example.org"),
                },
            ),
            (
                "action=pass, reason=client AWL, client_name=mail.example.com, client_address=192.0.2.10, sender=alice@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Pass,
                    reason: "client AWL",
                    delay: None,
                    client_name: Some("mail.example.com"),
                    client_address: Some("192.0.2.10"),
                    sender: Some("alice@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
            (
                // An address with `, ` that is not followed by `key=` stays whole.
                "action=greylist, reason=new, client_address=192.0.2.10, sender=\"a, b\"@example.com, recipient=bob@example.org",
                PostgreyAction {
                    queue_id: None,
                    action: PostgreyVerdict::Greylist,
                    reason: "new",
                    delay: None,
                    client_name: None,
                    client_address: Some("192.0.2.10"),
                    sender: Some("\"a, b\"@example.com"),
                    recipient: Some("bob@example.org"),
                },
            ),
        ];
        for (message, want) in cases {
            assert_eq!(&verdict(message), want, "{message}");
        }
    }

    #[test]
    fn chatter() {
        for (message, kind) in [
            ("cleaning up old logs...", "maintenance"),
            ("cleaning up old entries...", "maintenance"),
            (
                "cleaning main database finished. before: 1024, after: 980",
                "maintenance",
            ),
            (
                "cleaning clients database finished. before: 12, after: 12",
                "maintenance",
            ),
            ("rm /var/lib/postgrey/log.0000000003", "maintenance"),
            (
                "whitelisted: mail.example.com[192.0.2.10]",
                "auto_whitelisted",
            ),
            ("Process Backgrounded", "info"),
            (
                "2026/11/24-00:32:23 postgrey (type Net::Server::Multiplex) starting! pid(17750)",
                "info",
            ),
            ("2026/11/24-00:32:49 Server closing!", "info"),
            (
                "2026/11/23-12:34:56 Postfix::Postgrey (type Net::Server::Multiplex) starting! pid(812)",
                "info",
            ),
            (
                "Binding to TCP port 10023 on host 127.0.0.1 with IPv4",
                "info",
            ),
            ("Setting gid to \"112 112\"", "info"),
            ("Setting uid to \"108\"", "info"),
            ("HUP received: reloading whitelists...", "info"),
            ("WARNING: attribute missing: client_address", "warning"),
            (
                "FATAL: Couldn't open DB /var/lib/postgrey/postgrey.db",
                "fatal",
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
    fn malformed_verdicts_are_unsupported() {
        for message in ["action=, reason=new", "action=pass, garbage"] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
