//! qmgr (also nqmgr, oqmgr): messages entering the active queue, expiry, removal, and the
//! recipients qmgr defers or bounces itself (`relay=none`, ... `status=deferred (delivery
//! temporarily suspended: ...)`).

use crate::event::Event;
use crate::parsers::common::split_queue_id;
use crate::parsers::delivery;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let (queue_id, rest) = split_queue_id(message)?;
    match rest {
        "removed" => return Some(Event::Removed { queue_id }),
        "skipped, still being delivered" => return Some(Event::Other("skipped")),
        _ => {}
    }
    if rest.starts_with("from=<") {
        if let event @ Some(_) = queue_active(queue_id, rest) {
            return event;
        }
        return expired(queue_id, rest);
    }
    if rest.starts_with("to=") {
        return delivery::delivery(queue_id, rest).map(Event::Delivery);
    }
    None
}

/// `from=<s>, size=N, nrcpt=K (queue active)`. The sender is free text, so the fixed tail is
/// found from the right.
fn queue_active<'a>(queue_id: &'a str, rest: &'a str) -> Option<Event<'a>> {
    let body = match rest.rfind_fast(" (queue ") {
        Some(at) if rest.ends_with(')') => &rest[..at],
        _ => rest,
    };
    let at = body.rfind_fast(">, size=")?;
    let from = &body["from=<".len()..at];
    let (size, nrcpt) = body[at + ">, size=".len()..].split_once_fast(", nrcpt=")?;
    Some(Event::QueueActive {
        queue_id,
        from,
        size: size.parse().ok()?,
        nrcpt: nrcpt.parse().ok()?,
    })
}

/// `from=<s>, status=expired, returned to sender`; `status=force-expired` after `postsuper -e`.
fn expired<'a>(queue_id: &'a str, rest: &'a str) -> Option<Event<'a>> {
    let body = rest.strip_suffix(", returned to sender")?;
    let body = body
        .strip_suffix(">, status=expired")
        .or_else(|| body.strip_suffix(">, status=force-expired"))?;
    Some(Event::Expired {
        queue_id,
        from: &body["from=<".len()..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Delivery;
    use crate::parsers::{Daemon, Parsed};

    #[test]
    fn lifecycle_lines() {
        for (message, want) in [
            (
                "838FC8A5F: from=<out@example.org>, size=939, nrcpt=1 (queue active)",
                Event::QueueActive {
                    queue_id: "838FC8A5F",
                    from: "out@example.org",
                    size: 939,
                    nrcpt: 1,
                },
            ),
            (
                // The e2e mail stack: a bounce notification from the null sender.
                "89ADA98CAC0: from=<>, size=2520, nrcpt=1 (queue active)",
                Event::QueueActive {
                    queue_id: "89ADA98CAC0",
                    from: "",
                    size: 2520,
                    nrcpt: 1,
                },
            ),
            (
                // A hostile sender cannot move the fixed fields.
                "4A1B2C3D4E: from=<a>, size=1, nrcpt=9@example.com>, size=52410, nrcpt=2 (queue active)",
                Event::QueueActive {
                    queue_id: "4A1B2C3D4E",
                    from: "a>, size=1, nrcpt=9@example.com",
                    size: 52410,
                    nrcpt: 2,
                },
            ),
            (
                "AAB4D259B1: removed",
                Event::Removed {
                    queue_id: "AAB4D259B1",
                },
            ),
            (
                "BACE842E72: from=<noreply@domain.com>, status=expired, returned to sender",
                Event::Expired {
                    queue_id: "BACE842E72",
                    from: "noreply@domain.com",
                },
            ),
            (
                "BACE842E73: from=<noreply@domain.com>, status=force-expired, returned to sender",
                Event::Expired {
                    queue_id: "BACE842E73",
                    from: "noreply@domain.com",
                },
            ),
            (
                // sergeymakinen/postfix_exporter's malformed template: the stray `>` stays in.
                "123456789AB: from=<user@example.com>>, status=expired, returned to sender",
                Event::Expired {
                    queue_id: "123456789AB",
                    from: "user@example.com>",
                },
            ),
            (
                "6A7B8C9D0E: skipped, still being delivered",
                Event::Other("skipped"),
            ),
        ] {
            assert_eq!(parse(message), Some(want), "{message}");
        }
    }

    #[test]
    fn qmgr_writes_delivery_lines_of_its_own() {
        assert_eq!(
            parse(
                "4B8F2C1D7A: to=<user@example.net>, relay=none, delay=3021, delays=3020/1.1/0/0, dsn=4.3.2, status=deferred (delivery temporarily suspended: connect to mx.example.net[192.0.2.25]:25: Connection refused)"
            ),
            Some(Event::Delivery(Delivery {
                queue_id: "4B8F2C1D7A",
                to: "user@example.net",
                orig_to: None,
                relay: "none",
                delay: Some(3021.0),
                delays: Some([3020.0, 1.1, 0.0, 0.0]),
                dsn: Some("4.3.2"),
                status: "deferred",
                detail: "delivery temporarily suspended: connect to mx.example.net[192.0.2.25]:25: Connection refused",
                queued_as: None,
            }))
        );
    }

    #[test]
    fn warnings_keep_their_level() {
        // The active-queue congestion warning and its advice lines are counted as warnings.
        for message in [
            "warning: mail for [private/dovecot-lmtp] is using up 20000 of 20000 active queue entries",
            "warning: you may need to reduce smtp connect and helo timeouts",
            "warning: please avoid flushing the whole queue when you have",
            "warning: lots of deferred mail, that is bad for performance",
        ] {
            assert_eq!(
                crate::parsers::parse(Daemon::Qmgr, message),
                Parsed::Event(Event::Diagnostic(crate::event::Level::Warning)),
                "{message}"
            );
        }
    }

    #[test]
    fn unknown_lines_are_unsupported() {
        for message in [
            "Unsupported",
            "4A1B2C3D4E: from=<a@b>, size=x, nrcpt=1 (queue active)",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
