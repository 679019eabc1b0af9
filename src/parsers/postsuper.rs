//! postsuper: queue maintenance by the administrator.
//!
//! Per message: `QUEUEID: removed`, `placed on hold`, `released from hold`, `requeued`,
//! `expired`; at the end a summary such as `Deleted: 12 messages`.

use crate::event::Event;
use crate::parsers::common::split_queue_id;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    if let Some((queue_id, action)) = split_queue_id(message) {
        return match action {
            "removed" => Some(Event::Removed { queue_id }),
            "placed on hold" | "released from hold" | "requeued" | "expired" => {
                Some(Event::Postsuper { queue_id, action })
            }
            _ => None,
        };
    }
    let (what, count) = message.split_once_fast(": ")?;
    let is_count = count
        .strip_suffix(" messages")
        .or_else(|| count.strip_suffix(" message"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let known = matches!(
        what,
        "Deleted"
            | "Requeued"
            | "Placed on hold"
            | "Released from hold"
            | "Force-expired"
            | "Renamed to match inode number"
    );
    (is_count && known).then_some(Event::Other("summary"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_message_lines() {
        for (message, want) in [
            (
                "AAB4D259B1: removed",
                Event::Removed {
                    queue_id: "AAB4D259B1",
                },
            ),
            (
                "4A1B2C3D4E: placed on hold",
                Event::Postsuper {
                    queue_id: "4A1B2C3D4E",
                    action: "placed on hold",
                },
            ),
            (
                "4A1B2C3D4E: released from hold",
                Event::Postsuper {
                    queue_id: "4A1B2C3D4E",
                    action: "released from hold",
                },
            ),
            (
                "4Xyz9d3Qh6z9vLm: requeued",
                Event::Postsuper {
                    queue_id: "4Xyz9d3Qh6z9vLm",
                    action: "requeued",
                },
            ),
            (
                "4A1B2C3D4E: expired",
                Event::Postsuper {
                    queue_id: "4A1B2C3D4E",
                    action: "expired",
                },
            ),
        ] {
            assert_eq!(parse(message), Some(want), "{message}");
        }
    }

    #[test]
    fn summaries() {
        for message in [
            "Deleted: 12 messages",
            "Deleted: 1 message",
            "Requeued: 3 messages",
            "Placed on hold: 2 messages",
            "Released from hold: 2 messages",
            "Force-expired: 1 message",
            "Renamed to match inode number: 4 messages",
        ] {
            assert_eq!(parse(message), Some(Event::Other("summary")), "{message}");
        }
    }

    #[test]
    fn other_lines_are_unsupported() {
        for message in [
            "4A1B2C3D4E: exploded",
            "Deleted: many messages",
            "Frobbed: 3 messages",
        ] {
            assert_eq!(parse(message), None, "{message}");
        }
    }
}
