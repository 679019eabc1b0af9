//! bounce, defer and trace: the notifications Postfix writes about a message.
//!
//! `QUEUEID: sender non-delivery notification: NEWID` (also `sender delay notification`,
//! `sender delivery status notification`, `postmaster non-delivery notification`,
//! `postmaster delay notification`).

use crate::event::{BounceKind, Event};
use crate::parsers::common::{is_queue_id, split_queue_id};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let (queue_id, rest) = split_queue_id(message)?;
    let (what, notification_id) = rest.split_once_fast(" notification: ")?;
    if !is_queue_id(notification_id) {
        return None;
    }
    let kind = match what {
        "sender non-delivery" => BounceKind::NonDelivery,
        "sender delay" => BounceKind::Delay,
        "sender delivery status" => BounceKind::Success,
        // The postmaster's copy accompanies a sender notification already counted.
        "postmaster non-delivery" | "postmaster delay" => {
            return Some(Event::Other("postmaster_notification"));
        }
        _ => return None,
    };
    Some(Event::Bounce {
        queue_id,
        kind,
        notification_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications() {
        let bounce = |queue_id, kind, notification_id| Event::Bounce {
            queue_id,
            kind,
            notification_id,
        };
        for (message, want) in [
            (
                // hsn723/postfix_exporter test strings
                "732BB407C3: sender non-delivery notification: 5DE184083C",
                bounce("732BB407C3", BounceKind::NonDelivery, "5DE184083C"),
            ),
            (
                // The e2e mail stack
                "70DEF98CA93: sender non-delivery notification: 89ADA98CAC0",
                bounce("70DEF98CA93", BounceKind::NonDelivery, "89ADA98CAC0"),
            ),
            (
                "2F4E6A8C0B: sender delay notification: 7B9D1F3A5C",
                bounce("2F4E6A8C0B", BounceKind::Delay, "7B9D1F3A5C"),
            ),
            (
                "4Xyz9d3Qh6z9vLm: sender delivery status notification: 4Xyz9f0Kb2z9vLr",
                bounce("4Xyz9d3Qh6z9vLm", BounceKind::Success, "4Xyz9f0Kb2z9vLr"),
            ),
            (
                "732BB407C3: postmaster non-delivery notification: 5DE184083D",
                Event::Other("postmaster_notification"),
            ),
            (
                "2F4E6A8C0B: postmaster delay notification: 7B9D1F3A5D",
                Event::Other("postmaster_notification"),
            ),
        ] {
            assert_eq!(parse(message), Some(want), "{message}");
        }
    }

    #[test]
    fn other_lines_are_unsupported() {
        for message in [
            "732BB407C3: sender non-delivery notification: ",
            "732BB407C3: sender telepathy notification: 5DE184083C",
            "sender non-delivery notification: 5DE184083C",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
