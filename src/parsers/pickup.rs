//! pickup: mail submitted locally (sendmail, postdrop) or requeued by `postsuper -r`.
//!
//! `QUEUEID: uid=1000 from=<user>`, and since Postfix 3.x `QUEUEID: uid=0 from=<user> orig_id=OLDID`
//! for a requeued message.

use crate::event::Event;
use crate::parsers::common::{is_queue_id, split_queue_id};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let (queue_id, rest) = split_queue_id(message)?;
    let rest = rest.strip_prefix("uid=")?;
    let (uid, rest) = rest.split_once_fast(" ")?;
    let uid = uid.parse().ok()?;
    let address = rest
        .strip_prefix("from=<")
        .or_else(|| rest.strip_prefix("sender=<"))?;
    // The address is free text; `orig_id` is a queue ID, so it is split off from the right.
    let (from, orig_id) = match address.rsplit_once("> orig_id=") {
        Some((from, id)) if is_queue_id(id) => (from, Some(id)),
        _ => (address.strip_suffix('>')?, None),
    };
    Some(Event::Pickup {
        queue_id,
        uid: Some(uid),
        from,
        orig_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickup_lines() {
        for (message, want) in [
            (
                "4C1C3E0E9A: uid=1000 from=<alice>",
                Event::Pickup {
                    queue_id: "4C1C3E0E9A",
                    uid: Some(1000),
                    from: "alice",
                    orig_id: None,
                },
            ),
            (
                // The e2e mail stack (Postfix 3.7, sendmail as root).
                "379B698CA93: uid=0 from=<root@pflog.test>",
                Event::Pickup {
                    queue_id: "379B698CA93",
                    uid: Some(0),
                    from: "root@pflog.test",
                    orig_id: None,
                },
            ),
            (
                "4Xyz9d3Qh6z9vLm: uid=33 from=<www-data>",
                Event::Pickup {
                    queue_id: "4Xyz9d3Qh6z9vLm",
                    uid: Some(33),
                    from: "www-data",
                    orig_id: None,
                },
            ),
            (
                "9E8D7C6B5A: uid=0 from=<MAILER-DAEMON> orig_id=1A2B3C4D5E",
                Event::Pickup {
                    queue_id: "9E8D7C6B5A",
                    uid: Some(0),
                    from: "MAILER-DAEMON",
                    orig_id: Some("1A2B3C4D5E"),
                },
            ),
            (
                "9E8D7C6B5A: uid=1000 sender=<bob@example.com>",
                Event::Pickup {
                    queue_id: "9E8D7C6B5A",
                    uid: Some(1000),
                    from: "bob@example.com",
                    orig_id: None,
                },
            ),
        ] {
            assert_eq!(parse(message), Some(want), "{message}");
        }
    }

    #[test]
    fn other_lines_are_unsupported() {
        for message in [
            "9E8D7C6B5A: uid=x from=<a>",
            "9E8D7C6B5A: uid=1000 from=<a",
            "uid=0: unexpected or malformed record type 78",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
