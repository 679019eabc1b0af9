//! postscreen lines: its verdicts on a connecting client, and the rejects it replies itself.
//!
//! Postscreen knows clients only by address and port: peers are `[ip]:port` with an empty host.

use super::common::{peer, smtp_reject, whole_peer};
use super::smtpd::with_reply_code;
use crate::event::{Event, Peer, Reject, RejectKind};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    match message.as_bytes().first()? {
        b'C' => {
            if let Some(rest) = message.strip_prefix("CONNECT from ") {
                // `CONNECT from [client]:port to [server]:25`
                let (peer, rest) = peer(rest)?;
                return rest
                    .starts_with(" to ")
                    .then_some(Event::PostscreenConnect { peer });
            }
            other_with_client(
                message,
                &[
                    ("COMMAND TIME LIMIT from ", "command_time_limit"),
                    ("COMMAND COUNT LIMIT from ", "command_count_limit"),
                    ("COMMAND LENGTH LIMIT from ", "command_length_limit"),
                    ("COMMAND PIPELINING from ", "command_pipelining"),
                ],
            )
        }
        b'D' => {
            if let Some(rest) = message.strip_prefix("DISCONNECT ") {
                return Some(Event::Disconnect {
                    peer: whole_peer(rest)?,
                    counters: "",
                });
            }
            if let Some(rest) = message.strip_prefix("DNSBL rank ") {
                // `DNSBL rank 3 for [ip]:port`
                let (rank, client) = rest.split_once_fast(" for ")?;
                return Some(Event::PostscreenDnsbl {
                    rank: rank.parse().ok()?,
                    peer: whole_peer(client)?,
                });
            }
            if let Some(rest) = message.strip_prefix("DENYLISTED ") {
                return listed(false, rest);
            }
            other_with_client(
                message,
                &[("DATA without valid RCPT from ", "data_without_rcpt")],
            )
        }
        b'P' => {
            if let Some(rest) = message.strip_prefix("PASS ") {
                let (age, client) = rest.split_once_fast(" ")?;
                let new = match age {
                    "NEW" => true,
                    "OLD" => false,
                    _ => return None,
                };
                return Some(Event::PostscreenPass {
                    new,
                    peer: whole_peer(client)?,
                });
            }
            // `PREGREET 14 after 0.08 from [ip]:port: EHLO ylmf-pc\r\n`
            let rest = message.strip_prefix("PREGREET ")?;
            Some(Event::PostscreenPregreet {
                peer: client_after_from(rest)?,
            })
        }
        b'H' => {
            // `HANGUP after 16 from [ip]:port in tests after SMTP handshake`
            let rest = message.strip_prefix("HANGUP ")?;
            Some(Event::PostscreenHangup {
                peer: client_after_from(rest)?,
            })
        }
        b'N' => {
            if let Some(rest) = message.strip_prefix("NOQUEUE: ") {
                return reject(rest).map(Event::Reject);
            }
            other_with_client(message, &[("NON-SMTP COMMAND from ", "non_smtp_command")])
        }
        b'W' => {
            if let Some(rest) = message.strip_prefix("WHITELISTED ") {
                return listed(true, rest);
            }
            // A veto withdraws a DNSBL allowlisting: the client goes through the tests.
            listed(false, message.strip_prefix("WHITELIST VETO ")?)
        }
        b'A' => {
            if let Some(rest) = message.strip_prefix("ALLOWLISTED ") {
                return listed(true, rest);
            }
            listed(false, message.strip_prefix("ALLOWLIST VETO ")?)
        }
        b'B' => {
            if let Some(rest) = message.strip_prefix("BLACKLISTED ") {
                return listed(false, rest);
            }
            other_with_client(
                message,
                &[
                    ("BARE NEWLINE from ", "bare_newline"),
                    ("BDAT without valid RCPT from ", "bdat_without_rcpt"),
                ],
            )
        }
        // `cache btree:/var/lib/postfix/postscreen_cache full cleanup: retained=9 dropped=2 entries`
        b'c' => (message.starts_with("cache ") && message.contains_fast(" full cleanup: "))
            .then_some(Event::Other("cache_cleanup")),
        b'w' => {
            let rest = message.strip_prefix("warning: ")?;
            let kind = if rest.starts_with("psc_cache_update: ") {
                "cache_update_failed"
            } else if rest.starts_with("dnsblog reply timeout ") {
                "dnsbl_reply_timeout"
            } else {
                return None;
            };
            Some(Event::Other(kind))
        }
        _ => None,
    }
}

/// `WHITELISTED [ip]:port` and its siblings.
fn listed(allowed: bool, client: &str) -> Option<Event<'_>> {
    Some(Event::PostscreenList {
        allowed,
        peer: whole_peer(client)?,
    })
}

/// The `[ip]:port` after ` from ` (followed by `:` and the greeting, or by ` in tests ...`).
fn client_after_from(rest: &str) -> Option<Peer<'_>> {
    let (_, client) = rest.split_once_fast(" from ")?;
    peer(client).map(|(peer, _)| peer)
}

/// Protocol violations postscreen logs with the client: understood, nothing to count.
fn other_with_client(message: &str, kinds: &[(&str, &'static str)]) -> Option<Event<'static>> {
    kinds.iter().find_map(|&(prefix, kind)| {
        let client = message.strip_prefix(prefix)?;
        peer(client).map(|_| Event::Other(kind))
    })
}

/// `NOQUEUE: reject: RCPT from [ip]:port: 550 5.7.1 text; from=<a>, to=<b>, proto=ESMTP, helo=<h>`,
/// and the connection-level refusals, which postscreen logs without the `421` it replies with.
fn reject(rest: &str) -> Option<Reject<'_>> {
    if let Some(client) = rest.strip_prefix("reject: CONNECT from ") {
        let (peer, text) = peer(client)?;
        let text = text.strip_prefix(": ")?;
        if matches!(
            text,
            "too many connections" | "all screening ports busy" | "all server ports busy"
        ) {
            return Some(Reject {
                queue_id: None,
                kind: RejectKind::Reject,
                stage: "CONNECT",
                peer: Some(peer),
                code: "421",
                dsn: None,
                text,
                from: None,
                to: None,
                helo: None,
                reason: crate::event::RejectReason::Other,
            });
        }
    }
    smtp_reject(None, rest).and_then(with_reply_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::Daemon;
    use crate::parsers::testing::{assert_events, assert_others};

    fn client<'a>(ip: &'a str, port: &'a str) -> Peer<'a> {
        Peer {
            host: "",
            ip,
            port: Some(port),
        }
    }

    #[test]
    fn verdicts() {
        let cases = [
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: CONNECT from [1.2.3.4]:5678 to [5.6.7.8]:25",
                Event::PostscreenConnect {
                    peer: client("1.2.3.4", "5678"),
                },
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: DISCONNECT [123.45.67.89]:12345",
                Event::Disconnect {
                    peer: client("123.45.67.89", "12345"),
                    counters: "",
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: PASS NEW [1.2.3.4]:5678",
                Event::PostscreenPass {
                    new: true,
                    peer: client("1.2.3.4", "5678"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: PASS OLD [9.8.7.6]:1234",
                Event::PostscreenPass {
                    new: false,
                    peer: client("9.8.7.6", "1234"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: DNSBL rank 3 for [1.2.3.4]:5678",
                Event::PostscreenDnsbl {
                    rank: 3,
                    peer: client("1.2.3.4", "5678"),
                },
            ),
            (
                "Dec 23 19:39:13 xxx postfix/postscreen[21057]: PREGREET 14 after 0.08 from [192.0.2.2]:59415: EHLO ylmf-pc\\r\\n",
                Event::PostscreenPregreet {
                    peer: client("192.0.2.2", "59415"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: PREGREET 14 after 0.18 from [1.2.3.4]:5678: EHLO [74.207.242.122]",
                Event::PostscreenPregreet {
                    peer: client("1.2.3.4", "5678"),
                },
            ),
            (
                "Dec 24 00:54:36 xxx postfix/postscreen[22515]: HANGUP after 16 from [192.0.2.3]:48119 in tests after SMTP handshake",
                Event::PostscreenHangup {
                    peer: client("192.0.2.3", "48119"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[3508454]: ALLOWLISTED [69.171.232.146]:61236",
                Event::PostscreenList {
                    allowed: true,
                    peer: client("69.171.232.146", "61236"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[3508454]: WHITELISTED [69.171.232.147]:61236",
                Event::PostscreenList {
                    allowed: true,
                    peer: client("69.171.232.147", "61236"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[3508454]: DENYLISTED [1.2.3.4]:5678",
                Event::PostscreenList {
                    allowed: false,
                    peer: client("1.2.3.4", "5678"),
                },
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[3508454]: BLACKLISTED [1.2.3.5]:5678",
                Event::PostscreenList {
                    allowed: false,
                    peer: client("1.2.3.5", "5678"),
                },
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: WHITELIST VETO [123.45.67.89]:12345",
                Event::PostscreenList {
                    allowed: false,
                    peer: client("123.45.67.89", "12345"),
                },
            ),
            (
                "Mar  2 10:00:00 mx postfix/postscreen[77]: ALLOWLIST VETO [2001:db8::7]:40000",
                Event::PostscreenList {
                    allowed: false,
                    peer: client("2001:db8::7", "40000"),
                },
            ),
        ];
        assert_events(Daemon::Postscreen, &cases);
    }

    #[test]
    fn rejects() {
        let rbl = |ip, port, (code, dsn, text), (from, to, helo)| {
            Event::Reject(Reject {
                queue_id: None,
                kind: RejectKind::Reject,
                stage: "RCPT",
                peer: Some(client(ip, port)),
                code,
                dsn,
                text,
                from,
                to,
                helo,
                reason: crate::event::RejectReason::Other,
            })
        };
        let connect = |text| {
            Event::Reject(Reject {
                queue_id: None,
                kind: RejectKind::Reject,
                stage: "CONNECT",
                peer: Some(client("1.2.3.4", "5678")),
                code: "421",
                dsn: None,
                text,
                from: None,
                to: None,
                helo: None,
                reason: crate::event::RejectReason::Other,
            })
        };
        let cases = [
            (
                "May  8 08:26:55 mail postfix/postscreen[22055]: NOQUEUE: reject: RCPT from [157.122.148.242]:47407: 550 5.7.1 Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net; from=<kos@mafia.network>, to=<z13699753428@vip.163.com>, proto=ESMTP, helo=<XL-20160217QQJV>",
                rbl(
                    "157.122.148.242",
                    "47407",
                    (
                        "550",
                        Some("5.7.1"),
                        "Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net",
                    ),
                    (
                        Some("kos@mafia.network"),
                        Some("z13699753428@vip.163.com"),
                        Some("XL-20160217QQJV"),
                    ),
                ),
            ),
            (
                "Jun 18 20:59:29 mybox postfix/postscreen[12181]: NOQUEUE: reject: RCPT from [213.158.187.41]:45263: 450 4.3.2 Service currently unavailable; from=<purchase@otherfolks.com>, to=<media@example.com>, proto=ESMTP, helo=<some.box.net>",
                rbl(
                    "213.158.187.41",
                    "45263",
                    ("450", Some("4.3.2"), "Service currently unavailable"),
                    (
                        Some("purchase@otherfolks.com"),
                        Some("media@example.com"),
                        Some("some.box.net"),
                    ),
                ),
            ),
            // The test strings of one exporter use smtpd's space-separated fields.
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: NOQUEUE: reject: RCPT from [1.2.3.4]:5678: 550 5.7.1 Service unavailable; client [1.2.3.4] blocked using zen.spamhaus.org; from=<a@b.com> to=<c@d.com> proto=ESMTP helo=<x>",
                rbl(
                    "1.2.3.4",
                    "5678",
                    (
                        "550",
                        Some("5.7.1"),
                        "Service unavailable; client [1.2.3.4] blocked using zen.spamhaus.org",
                    ),
                    (Some("a@b.com"), Some("c@d.com"), Some("x")),
                ),
            ),
            // Cut off by the log collector: the reply still counts.
            (
                "May  8 08:26:55 mail postfix/postscreen[22055]: NOQUEUE: reject: RCPT from [157.122.148.242]:47407: 550 5.7.1 Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net; f$",
                rbl(
                    "157.122.148.242",
                    "47407",
                    (
                        "550",
                        Some("5.7.1"),
                        "Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net; f$",
                    ),
                    (None, None, None),
                ),
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: NOQUEUE: reject: CONNECT from [1.2.3.4]:5678: too many connections",
                connect("too many connections"),
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: NOQUEUE: reject: CONNECT from [1.2.3.4]:5678: all screening ports busy",
                connect("all screening ports busy"),
            ),
            (
                "Feb 24 16:18:40 letterman postfix/postscreen[1234]: NOQUEUE: reject: CONNECT from [1.2.3.4]:5678: all server ports busy",
                connect("all server ports busy"),
            ),
        ];
        assert_events(Daemon::Postscreen, &cases);
    }

    #[test]
    fn lines_without_a_metric() {
        let cases = [
            (
                "Jun  8 23:14:28 proxy2 postfix/postscreen[473]: COMMAND TIME LIMIT from [192.0.2.77]:3608 after CONNECT",
                "command_time_limit",
            ),
            (
                "Jun  8 23:14:54 proxy2 postfix/postscreen[473]: COMMAND COUNT LIMIT from [192.0.2.26]:15592 after RCPT",
                "command_count_limit",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: COMMAND LENGTH LIMIT from [123.45.67.89]:12345 after HELO",
                "command_length_limit",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: COMMAND PIPELINING from [123.45.67.89]:12345 after : \\r\\n",
                "command_pipelining",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: BARE NEWLINE from [123.45.67.89]:12345 after \\000\\000\\000",
                "bare_newline",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: NON-SMTP COMMAND from [123.45.67.89]:12345 after CONNECT: GET / HTTP/1.1",
                "non_smtp_command",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: DATA without valid RCPT from [123.45.67.89]:12345",
                "data_without_rcpt",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: BDAT without valid RCPT from [123.45.67.89]:12345",
                "bdat_without_rcpt",
            ),
            (
                "Mar  2 10:00:01 mx postfix/postscreen[77]: cache btree:/var/lib/postfix/postscreen_cache full cleanup: retained=118 dropped=9 entries",
                "cache_cleanup",
            ),
            (
                "Mar  2 10:00:02 mx postfix/postscreen[77]: warning: psc_cache_update: btree:/var/lib/postfix/postscreen_cache update for address 203.0.113.5 failed",
                "cache_update_failed",
            ),
            (
                "Mar  2 10:00:03 mx postfix/postscreen[77]: warning: dnsblog reply timeout 10s for zen.spamhaus.org",
                "dnsbl_reply_timeout",
            ),
            (
                "Jan 1 00:00:00 hostname postfix/postscreen[12345]: error: open /example: No such file or directory",
                "error",
            ),
        ];
        assert_others(Daemon::Postscreen, &cases);
    }
}
