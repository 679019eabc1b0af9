//! Delivery agents: smtp, lmtp, local, virtual, pipe, error, retry, discard, relay and custom
//! transports (a pipe service called `dovecot`, ...).
//!
//! The delivery line is written by Postfix's `log_adhoc()` in a fixed order:
//! `QUEUEID: to=<u@d>, orig_to=<x@y>, relay=R, conn_use=N, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (detail)`
//! where `orig_to` and `conn_use` are optional and very old versions lack `delays` and `dsn`.

use crate::event::{Delivery, Direction, Event, Tls};
use crate::parsers::common::{
    PlainDecimal, number, other_by_prefix, peer, split_queue_id, tls_cipher, tls_trust,
};
use crate::scan::{Scan, find_byte};

pub fn parse(message: &str) -> Option<Event<'_>> {
    if let Some((queue_id, rest)) = split_queue_id(message) {
        return with_queue_id(queue_id, rest);
    }
    if let Some(rest) = message.strip_prefix("connect to ") {
        return connect_failed(rest);
    }
    if let Some(tls) = tls_established(message) {
        return Some(Event::Tls(tls));
    }
    let kind = if message.starts_with("SSL_connect error to ") {
        "tls_handshake_failed"
    } else if message.starts_with("setting up TLS connection to ") {
        "tls_setup"
    } else if is_tls_reused(message) {
        // A cached TLS connection used again: no new handshake, so not a TLS connection to count.
        "tls_reused"
    } else if message.contains_fast("certificate verification failed for ") {
        "tls_certificate_verification_failed"
    } else if message.starts_with("Host offered STARTTLS: ") {
        "starttls_offered"
    } else {
        return None;
    };
    Some(Event::Other(kind))
}

/// Lines of one queue file that are not about the TLS layer or the connection as such.
fn with_queue_id<'a>(queue_id: &'a str, rest: &'a str) -> Option<Event<'a>> {
    if rest.starts_with("to=") {
        return delivery(queue_id, rest).map(Event::Delivery);
    }
    if let Some(host) = rest.strip_prefix("host ") {
        // `host mx[ip] said: 450 ... (in reply to RCPT TO command)`: a reply that is not yet the
        // recipient's final status; the delivery line that follows carries it.
        let (_, after) = peer(host)?;
        return other_by_prefix(
            after,
            &[
                (" said: ", "remote_reply"),
                (" refused to talk to me: ", "remote_refused"),
            ],
        );
    }
    other_by_prefix(
        rest,
        &[
            ("lost connection with ", "lost_connection"),
            ("conversation with ", "conversation_timeout"),
            ("enabling PIX workarounds: ", "pix_workarounds"),
            ("Cannot start TLS: ", "tls_handshake_failed"),
            ("breaking line > ", "line_folded"),
            // `QUEUEID: status=deferred (bounce failed)`: the defer/bounce service could not
            // record it.
            ("status=deferred (", "status_record_failed"),
        ],
    )
}

/// Parses a delivery status line after its queue ID; qmgr writes the same shape for recipients it
/// defers or bounces itself.
///
/// One pass from left to right: each `key=` is read where the previous value ended, and each
/// value up to its separator (no search for a key starts over from an earlier byte).
pub fn delivery<'a>(queue_id: &'a str, line: &'a str) -> Option<Delivery<'a>> {
    let mut d = Delivery {
        queue_id,
        to: "",
        orig_to: None,
        relay: "",
        delay: None,
        delays: None,
        dsn: None,
        status: "",
        detail: "",
        queued_as: None,
    };
    let b = line.as_bytes();
    let mut at = 0;
    let mut seen_to = false;
    let mut seen_relay = false;
    loop {
        // The key is `[a-z_]+` and ends at the first byte outside that set, which must be `=`.
        let key_start = at;
        while at < b.len() && (b[at].is_ascii_lowercase() || b[at] == b'_') {
            at += 1;
        }
        if at == key_start || b.get(at) != Some(&b'=') {
            return None;
        }
        let key = &b[key_start..at];
        at += 1;
        if key == b"status" {
            let (status, detail) = status_and_detail(&line[at..])?;
            d.status = status;
            d.detail = detail;
            d.queued_as = queued_as(detail);
            break;
        }
        let (value, next) = next_value(line, at)?;
        match key {
            b"to" => {
                d.to = value;
                seen_to = true;
            }
            b"orig_to" => d.orig_to = Some(value),
            b"relay" => {
                d.relay = value;
                seen_relay = true;
            }
            b"delay" => d.delay = number(value),
            b"delays" => d.delays = delays(value),
            b"dsn" => d.dsn = Some(value),
            // conn_use and whatever later versions add: nothing to keep.
            _ => {}
        }
        if !seen_to {
            // The recipient comes first; a line without it is not a delivery line.
            return None;
        }
        at = next;
    }
    (seen_to && seen_relay).then_some(d)
}

/// The value of `key=value, ` that starts at byte `at` of `line`, and where the text after its
/// separator starts. Addresses are in `<...>` and may contain `, `: they end at the `>` that is
/// followed by `, ` (after a quoted local part, which may hold both).
fn next_value(line: &str, at: usize) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    if b.get(at) == Some(&b'<') {
        let inner = at + 1;
        let mut i = inner + crate::parsers::common::quoted_local_part_len(&line[inner..]);
        loop {
            i += find_byte(b'>', &b[i..])?;
            if b[i + 1..].starts_with(b", ") {
                return Some((&line[inner..i], i + 3));
            }
            i += 1;
        }
    }
    let mut i = at;
    loop {
        i += find_byte(b',', &b[i..])?;
        if b.get(i + 1) == Some(&b' ') {
            return Some((&line[at..i], i + 2));
        }
        i += 1;
    }
}

/// `sent (250 2.0.0 Ok: queued as 4AbC)` -> (`sent`, `250 2.0.0 Ok: queued as 4AbC`).
fn status_and_detail(s: &str) -> Option<(&str, &str)> {
    let (status, detail) = match s.split_once_fast(" ") {
        Some((status, rest)) => {
            let detail = rest.strip_prefix('(')?;
            (status, detail.strip_suffix(')').unwrap_or(detail))
        }
        None => (s, ""),
    };
    let word = |b: u8| b.is_ascii_alphabetic() || b == b'-' || b == b'_';
    (!status.is_empty() && status.bytes().all(word)).then_some((status, detail))
}

fn delays(s: &str) -> Option<[f64; 4]> {
    plain_delays(s).or_else(|| any_delays(s))
}

/// `a/b/c/d` of plain decimals, as Postfix writes them (`0.52/0/0.089/0.11`), read in one pass
/// as [`number`] reads a plain decimal; `None` for anything else (then
/// [`any_delays`] decides), instead of four calls of `number` and three searches for `/` on
/// every delivery line.
fn plain_delays(s: &str) -> Option<[f64; 4]> {
    let mut out = [0.0; 4];
    let mut part = 0;
    let mut decimal = PlainDecimal::default();
    for &c in s.as_bytes() {
        if c == b'/' && part < 3 {
            out[part] = decimal.value()?;
            part += 1;
            decimal = PlainDecimal::default();
        } else if !decimal.push(c) {
            return None;
        }
    }
    out[part] = decimal.value()?;
    (part == 3).then_some(out)
}

/// `a/b/c/d`: exactly four numbers (as `split('/')` with four parts), in any form [`number`]
/// reads.
fn any_delays(s: &str) -> Option<[f64; 4]> {
    let mut out = [0.0; 4];
    let mut rest = s;
    for (i, slot) in out.iter_mut().enumerate() {
        let end = if i < 3 {
            find_byte(b'/', rest.as_bytes())?
        } else {
            if rest.as_bytes().contains(&b'/') {
                return None;
            }
            rest.len()
        };
        *slot = number(&rest[..end])?;
        rest = rest.get(end + 1..).unwrap_or("");
    }
    Some(out)
}

/// The next hop's queue ID in `... queued as NEWID` (Postfix and amavis replies). Other MTAs'
/// acceptance texts (`250 OK id=1kAbc-000Abc-Ab`, `250 2.0.0 <u@d> Ab1Cd2 Saved`) name none.
fn queued_as(detail: &str) -> Option<&str> {
    let at = detail.find_fast("queued as ")?;
    let rest = &detail[at + "queued as ".len()..];
    let end = rest
        .bytes()
        .position(|c| matches!(c, b' ' | b')' | b';' | b','))
        .unwrap_or(rest.len());
    let id = &rest[..end];
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// `connect to mx[ip]:25: Connection refused` (older: `connect to mx[ip]: Connection refused (port 25)`;
/// LMTP over a socket: `connect to host[private/dovecot-lmtp]: No such file or directory`).
fn connect_failed(rest: &str) -> Option<Event<'_>> {
    let (peer, after) = peer(rest)?;
    let reason = after.strip_prefix(": ")?;
    Some(Event::ConnectFailed { peer, reason })
}

/// `Verified TLS connection established to mx[ip]:25: TLSv1.3 with cipher X (256/256 bits) ...`
fn tls_established(message: &str) -> Option<Tls<'_>> {
    let (trust_word, rest) = message.split_once_fast(" ")?;
    let trust = tls_trust(trust_word)?;
    let rest = rest.strip_prefix("TLS connection established to ")?;
    let (peer, rest) = peer(rest)?;
    // Newer versions may put more between the peer and `: ` (a server name, for instance).
    let rest = &rest[rest.find_fast(": ")? + 2..];
    let (protocol, cipher, bits) = tls_cipher(rest)?;
    Some(Tls {
        direction: Direction::Outbound,
        trust,
        peer,
        protocol,
        cipher,
        bits,
    })
}

fn is_tls_reused(message: &str) -> bool {
    message.split_once_fast(" ").is_some_and(|(t, rest)| {
        tls_trust(t).is_some() && rest.starts_with("TLS connection reused to ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Peer, Trust};

    fn delivery_of(message: &str) -> Delivery<'_> {
        match parse(message) {
            Some(Event::Delivery(d)) => d,
            other => panic!("{message:?} -> {other:?}"),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(8192))]
        /// The one-pass read of plain delays gives the bits `split('/')` and `number` give, or
        /// leaves the text to them: mostly plain numbers, some of 15 and 16 digits, some not.
        #[test]
        fn plain_delays_are_numbers_bit_for_bit(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[0-9]{1,3}(\\.[0-9]{1,4})?",
                    "[0-9]{13,16}",
                    "[0-9]{1,8}\\.[0-9]{5,9}",
                    "[0-9.e+-]{0,5}",
                ],
                1..6,
            ),
        ) {
            let s = parts.join("/");
            let reference = |s: &str| -> Option<[u64; 4]> {
                let mut parts = s.split('/');
                let mut out = [0; 4];
                for slot in &mut out {
                    *slot = number(parts.next()?)?.to_bits();
                }
                parts.next().is_none().then_some(out)
            };
            let ours = delays(&s).map(|d| d.map(f64::to_bits));
            proptest::prop_assert_eq!(ours, reference(&s), "{}", s);
            if let Some(plain) = plain_delays(&s) {
                proptest::prop_assert_eq!(Some(plain.map(f64::to_bits)), reference(&s), "{}", s);
            }
        }
    }

    #[test]
    fn quoted_recipient_with_separators() {
        // Found by tests/hostile.rs: an address extension (`alice+EXT@`) is the sender's text;
        // quoted by Postfix, `>, status=...` inside it ended the address and lost the line.
        let d = delivery_of(
            r#"1A72E9921C4: to=<"alice+x>, status=bounced (550 no), y=<z"@vmail.test>, relay=127.0.0.1[127.0.0.1]:2424, delay=0.12, delays=0.1/0.01/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 Saved)"#,
        );
        assert_eq!(
            d.to,
            r#""alice+x>, status=bounced (550 no), y=<z"@vmail.test"#
        );
        assert_eq!((d.status, d.delay), ("sent", Some(0.12)));
        assert_eq!(d.relay, "127.0.0.1[127.0.0.1]:2424");
    }

    #[test]
    fn delivery_lines() {
        let cases: &[(&str, Delivery<'static>)] = &[
            (
                // hsn723/postfix_exporter test strings (real lines)
                "5270320179: to=<hebj@telia.com>, relay=mail.telia.com[81.236.60.210]:25, delay=2017, delays=0.1/2017/0.03/0.05, dsn=2.0.0, status=sent (250 2.0.0 6FVIjIMwUJwU66FVIjAEB0 mail accepted for delivery)",
                Delivery {
                    queue_id: "5270320179",
                    to: "hebj@telia.com",
                    orig_to: None,
                    relay: "mail.telia.com[81.236.60.210]:25",
                    delay: Some(2017.0),
                    delays: Some([0.1, 2017.0, 0.03, 0.05]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 6FVIjIMwUJwU66FVIjAEB0 mail accepted for delivery",
                    queued_as: None,
                },
            ),
            (
                "732BB407C3: to=<redacted@domain.com>, relay=mail.domain.com[1.1.1.1]:25, delay=6.2, delays=0.1/0/5.2/0.87, dsn=4.0.0, status=deferred (host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 mx40,WsCowAAnEhlCoEVa5GjcAA--.20089S3 1514512452, please try again 15min later (in reply to end of DATA command))",
                Delivery {
                    queue_id: "732BB407C3",
                    to: "redacted@domain.com",
                    orig_to: None,
                    relay: "mail.domain.com[1.1.1.1]:25",
                    delay: Some(6.2),
                    delays: Some([0.1, 0.0, 5.2, 0.87]),
                    dsn: Some("4.0.0"),
                    status: "deferred",
                    detail: "host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 mx40,WsCowAAnEhlCoEVa5GjcAA--.20089S3 1514512452, please try again 15min later (in reply to end of DATA command)",
                    queued_as: None,
                },
            ),
            (
                "199041033BE: to=<me@domain.fr>, relay=virtual, delay=0.08, delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
                Delivery {
                    queue_id: "199041033BE",
                    to: "me@domain.fr",
                    orig_to: None,
                    relay: "virtual",
                    delay: Some(0.08),
                    delays: Some([0.08, 0.0, 0.0, 0.0]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "delivered to maildir",
                    queued_as: None,
                },
            ),
            (
                "AAB4D259B1: to=<me@example.net>, relay=example.com[127.0.0.1]:25, delay=0.1, delays=0.1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as AAB4D259B1)",
                Delivery {
                    queue_id: "AAB4D259B1",
                    to: "me@example.net",
                    orig_to: None,
                    relay: "example.com[127.0.0.1]:25",
                    delay: Some(0.1),
                    delays: Some([0.1, 0.0, 0.0, 0.0]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 Ok: queued as AAB4D259B1",
                    queued_as: Some("AAB4D259B1"),
                },
            ),
            (
                // Content filter (amavis) re-injecting through Postfix on 10025.
                "3F2A1B2C3D: to=<user@example.org>, orig_to=<alias@example.org>, relay=127.0.0.1[127.0.0.1]:10024, conn_use=2, delay=1.2e+05, delays=0.05/0.01/0.02/1.2e+05, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5AB)",
                Delivery {
                    queue_id: "3F2A1B2C3D",
                    to: "user@example.org",
                    orig_to: Some("alias@example.org"),
                    relay: "127.0.0.1[127.0.0.1]:10024",
                    delay: Some(120000.0),
                    delays: Some([0.05, 0.01, 0.02, 120000.0]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5AB",
                    queued_as: Some("5AB"),
                },
            ),
            (
                // Dovecot LMTP names its own session ID, not a Postfix queue ID.
                "4Xyz9d3Qh6z9vLm: to=<u@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=0.04, delays=0.02/0.01/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 <u@example.org> Ab1Cd2EfGh Saved)",
                Delivery {
                    queue_id: "4Xyz9d3Qh6z9vLm",
                    to: "u@example.org",
                    orig_to: None,
                    relay: "mail.example.org[private/dovecot-lmtp]",
                    delay: Some(0.04),
                    delays: Some([0.02, 0.01, 0.0, 0.01]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 <u@example.org> Ab1Cd2EfGh Saved",
                    queued_as: None,
                },
            ),
            (
                // exim's acceptance names no queue ID.
                "A1B2C3D4E5: to=<x@example.net>, relay=mx.example.net[192.0.2.7]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 OK id=1kAbc-000Abc-Ab)",
                Delivery {
                    queue_id: "A1B2C3D4E5",
                    to: "x@example.net",
                    orig_to: None,
                    relay: "mx.example.net[192.0.2.7]:25",
                    delay: Some(0.5),
                    delays: Some([0.1, 0.0, 0.2, 0.2]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 OK id=1kAbc-000Abc-Ab",
                    queued_as: None,
                },
            ),
            (
                "B2C3D4E5F6: to=<root@mail.example>, orig_to=<root>, relay=local, delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to command: /usr/bin/procmail)",
                Delivery {
                    queue_id: "B2C3D4E5F6",
                    to: "root@mail.example",
                    orig_to: Some("root"),
                    relay: "local",
                    delay: Some(0.02),
                    delays: Some([0.01, 0.0, 0.0, 0.01]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "delivered to command: /usr/bin/procmail",
                    queued_as: None,
                },
            ),
            (
                "C3D4E5F6A7: to=<nobody@example.com>, relay=none, delay=0.3, delays=0.29/0.01/0/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=example.com type=A: Host not found)",
                Delivery {
                    queue_id: "C3D4E5F6A7",
                    to: "nobody@example.com",
                    orig_to: None,
                    relay: "none",
                    delay: Some(0.3),
                    delays: Some([0.29, 0.01, 0.0, 0.0]),
                    dsn: Some("5.4.4"),
                    status: "bounced",
                    detail: "Host or domain name not found. Name service error for name=example.com type=A: Host not found",
                    queued_as: None,
                },
            ),
            (
                // wazuh/ossec rule test: an old Postfix without `delays` and `dsn`.
                "774C14AEF2: to=<rj-bounces@spacedelic.com.br>, relay=127.0.0.1[127.0.0.1], delay=423, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 Local Error (in reply to end of DATA command))",
                Delivery {
                    queue_id: "774C14AEF2",
                    to: "rj-bounces@spacedelic.com.br",
                    orig_to: None,
                    relay: "127.0.0.1[127.0.0.1]",
                    delay: Some(423.0),
                    delays: None,
                    dsn: None,
                    status: "deferred",
                    detail: "host 127.0.0.1[127.0.0.1] said: 451 Local Error (in reply to end of DATA command)",
                    queued_as: None,
                },
            ),
            (
                // An address with `, ` and `=` in its quoted local part does not end the value.
                "D4E5F6A7B8: to=<\"a, relay=x\"@example.com>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered via dovecot service)",
                Delivery {
                    queue_id: "D4E5F6A7B8",
                    to: "\"a, relay=x\"@example.com",
                    orig_to: None,
                    relay: "dovecot",
                    delay: Some(0.1),
                    delays: Some([0.0, 0.0, 0.0, 0.1]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "delivered via dovecot service",
                    queued_as: None,
                },
            ),
        ];
        for (message, want) in cases {
            assert_eq!(&delivery_of(message), want, "{message}");
        }
    }

    /// Postfix 3.7 with Dovecot LMTP and SMTP sinks on loopback (the e2e mail stack).
    #[test]
    fn mailstack_delivery_lines() {
        let cases: &[(&str, Delivery<'static>)] = &[
            (
                "2083498C3B3: to=<alice@vmail.test>, relay=127.0.0.1[127.0.0.1]:2424, delay=0.17, delays=0.11/0.01/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <alice@vmail.test> ooThDyvbBGs9TAAAg+zDdQ Saved)",
                Delivery {
                    queue_id: "2083498C3B3",
                    to: "alice@vmail.test",
                    orig_to: None,
                    relay: "127.0.0.1[127.0.0.1]:2424",
                    delay: Some(0.17),
                    delays: Some([0.11, 0.01, 0.01, 0.03]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 <alice@vmail.test> ooThDyvbBGs9TAAAg+zDdQ Saved",
                    queued_as: None,
                },
            ),
            (
                "5029C98CAB2: to=<friend@remote.test>, relay=none, delay=0.07, delays=0.05/0.01/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2525: Connection refused)",
                Delivery {
                    queue_id: "5029C98CAB2",
                    to: "friend@remote.test",
                    orig_to: None,
                    relay: "none",
                    delay: Some(0.07),
                    delays: Some([0.05, 0.01, 0.0, 0.0]),
                    dsn: Some("4.4.1"),
                    status: "deferred",
                    detail: "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused",
                    queued_as: None,
                },
            ),
            (
                "70DEF98CA93: to=<nobody@bounce.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.1, delays=0.04/0/0.04/0.02, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nobody@bounce.test>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
                Delivery {
                    queue_id: "70DEF98CA93",
                    to: "nobody@bounce.test",
                    orig_to: None,
                    relay: "127.0.0.1[127.0.0.1]:2526",
                    delay: Some(0.1),
                    delays: Some([0.04, 0.0, 0.04, 0.02]),
                    dsn: Some("5.1.1"),
                    status: "bounced",
                    detail: "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nobody@bounce.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
                    queued_as: None,
                },
            ),
            (
                "5029C98CAB2: to=<friend@remote.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=4.1, delays=4/0/0.09/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as SINK252500001)",
                Delivery {
                    queue_id: "5029C98CAB2",
                    to: "friend@remote.test",
                    orig_to: None,
                    relay: "127.0.0.1[127.0.0.1]:2525",
                    delay: Some(4.1),
                    delays: Some([4.0, 0.0, 0.09, 0.0]),
                    dsn: Some("2.0.0"),
                    status: "sent",
                    detail: "250 2.0.0 Ok: queued as SINK252500001",
                    queued_as: Some("SINK252500001"),
                },
            ),
        ];
        for (message, want) in cases {
            assert_eq!(&delivery_of(message), want, "{message}");
        }
        assert_eq!(
            parse("connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"),
            Some(Event::ConnectFailed {
                peer: Peer {
                    host: "127.0.0.1",
                    ip: "127.0.0.1",
                    port: Some("2525")
                },
                reason: "Connection refused"
            })
        );
        assert_eq!(
            parse(
                "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:2525: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"
            ),
            Some(Event::Tls(Tls {
                direction: Direction::Outbound,
                trust: Trust::Untrusted,
                peer: Peer {
                    host: "127.0.0.1",
                    ip: "127.0.0.1",
                    port: Some("2525")
                },
                protocol: "TLSv1.3",
                cipher: "TLS_AES_256_GCM_SHA384",
                bits: Some(256),
            }))
        );
    }

    #[test]
    fn verify_and_templated_lines() {
        let d = delivery_of(
            "E5F6A7B8C9: to=<u@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)",
        );
        assert_eq!((d.status, d.detail), ("deliverable", "250 2.1.5 Ok"));
        // sergeymakinen/postfix_exporter templates: the queued-as text is taken as given.
        let d = delivery_of(
            "123456789AB: to=<user@example.com>, relay=example.com[123.45.67.89]:123, delay=0.12, delays=0.12/0.12/0.12/0.12, dsn=1.2.3, status=sent (250 OK queued as aaaaaaaaaaaaa)",
        );
        assert_eq!(d.queued_as, Some("aaaaaaaaaaaaa"));
        let d = delivery_of(
            "123456789AB: to=<user@example.com>, relay=example.com[path], delay=0.12, delays=0.12/0.12/0.12/0.12, dsn=1.2.3, status=sent (250 2.0.0 Ok: queued as aaaaaaaaaaaaa)",
        );
        assert_eq!(d.relay, "example.com[path]");
    }

    #[test]
    fn malformed_delivery_lines_are_unsupported() {
        for bad in [
            // No `to=<...>` (sergeymakinen/postfix_exporter's malformed template).
            "123456789AB: user@example.com, relay=example.com[123.45.67.89]:25, delay=2, delays=2/2/2/2, dsn=1.2.3, status=deferred (host example.com[123.45.67.89] said: 12 Malformed (in reply to RCPT TO command))",
            // No relay.
            "123456789AB: to=<a@b>, delay=2, status=sent (ok)",
            // No status.
            "123456789AB: to=<a@b>, relay=none, delay=2",
            "Unsupported",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn outbound_tls() {
        let cases = [
            (
                "Verified TLS connection established to gmail-smtp-in.l.google.com[108.177.14.26]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                Tls {
                    direction: Direction::Outbound,
                    trust: Trust::Verified,
                    peer: Peer {
                        host: "gmail-smtp-in.l.google.com",
                        ip: "108.177.14.26",
                        port: Some("25"),
                    },
                    protocol: "TLSv1.3",
                    cipher: "TLS_AES_256_GCM_SHA384",
                    bits: Some(256),
                },
            ),
            (
                "Verified TLS connection established to mx2.comcast.net[2001:558:fe21:2a::6]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
                Tls {
                    direction: Direction::Outbound,
                    trust: Trust::Verified,
                    peer: Peer {
                        host: "mx2.comcast.net",
                        ip: "2001:558:fe21:2a::6",
                        port: Some("25"),
                    },
                    protocol: "TLSv1.2",
                    cipher: "ECDHE-RSA-AES256-GCM-SHA384",
                    bits: Some(256),
                },
            ),
            (
                "Untrusted TLS connection established to mx.example.com[192.0.2.4]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                Tls {
                    direction: Direction::Outbound,
                    trust: Trust::Untrusted,
                    peer: Peer {
                        host: "mx.example.com",
                        ip: "192.0.2.4",
                        port: Some("25"),
                    },
                    protocol: "TLSv1.3",
                    cipher: "TLS_AES_256_GCM_SHA384",
                    bits: Some(256),
                },
            ),
            (
                "Trusted TLS connection established to smtp.example.net[198.51.100.2]:587: TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)",
                Tls {
                    direction: Direction::Outbound,
                    trust: Trust::Trusted,
                    peer: Peer {
                        host: "smtp.example.net",
                        ip: "198.51.100.2",
                        port: Some("587"),
                    },
                    protocol: "TLSv1.2",
                    cipher: "ECDHE-ECDSA-AES128-GCM-SHA256",
                    bits: Some(128),
                },
            ),
            (
                "Anonymous TLS connection established to mail.example[private/dovecot-lmtp]: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)",
                Tls {
                    direction: Direction::Outbound,
                    trust: Trust::Anonymous,
                    peer: Peer {
                        host: "mail.example",
                        ip: "private/dovecot-lmtp",
                        port: None,
                    },
                    protocol: "TLSv1.3",
                    cipher: "TLS_AES_128_GCM_SHA256",
                    bits: Some(128),
                },
            ),
        ];
        for (message, want) in cases {
            assert_eq!(parse(message), Some(Event::Tls(want)), "{message}");
        }
    }

    #[test]
    fn connect_failures() {
        let p = |host, ip, port| Peer { host, ip, port };
        let cases = [
            (
                "connect to mx.example.com[192.0.2.9]:25: Connection refused",
                p("mx.example.com", "192.0.2.9", Some("25")),
                "Connection refused",
            ),
            (
                "connect to gmail-smtp-in.l.google.com[2607:f8b0:4023:c06::1a]:25: Network is unreachable",
                p(
                    "gmail-smtp-in.l.google.com",
                    "2607:f8b0:4023:c06::1a",
                    Some("25"),
                ),
                "Network is unreachable",
            ),
            (
                "connect to mx1.example.org[203.0.113.5]:25: Connection timed out",
                p("mx1.example.org", "203.0.113.5", Some("25")),
                "Connection timed out",
            ),
            (
                "connect to mx1.example.org[203.0.113.5]:25: No route to host",
                p("mx1.example.org", "203.0.113.5", Some("25")),
                "No route to host",
            ),
            (
                // wazuh/ossec rule test: an old Postfix put the port at the end.
                "connect to rmailb2.walla.co.il[192.118.82.145]: Connection refused (port 25)",
                p("rmailb2.walla.co.il", "192.118.82.145", None),
                "Connection refused (port 25)",
            ),
            (
                "connect to mail.example[private/dovecot-lmtp]: No such file or directory",
                p("mail.example", "private/dovecot-lmtp", None),
                "No such file or directory",
            ),
        ];
        for (message, peer, reason) in cases {
            assert_eq!(
                parse(message),
                Some(Event::ConnectFailed { peer, reason }),
                "{message}"
            );
        }
    }

    #[test]
    fn other_lines() {
        for (message, kind) in [
            (
                "732BB407C3: host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 mx13,P8CowECpNVM_oEVaenoEAQ--.23796S3 1514512449, please try again 15min later (in reply to end of DATA command)",
                "remote_reply",
            ),
            (
                "123456789AB: host example.com[123.45.67.89] said: 123 1.2.3 Greylisting in action, please come back later (in reply to RCPT TO command)",
                "remote_reply",
            ),
            (
                "9A8B7C6D5E: host mx.example.com[192.0.2.8] refused to talk to me: 554 5.7.1 Service unavailable; Client host [198.51.100.1] blocked",
                "remote_refused",
            ),
            (
                "9A8B7C6D5E: lost connection with mx.example.com[192.0.2.8] while receiving the initial server greeting",
                "lost_connection",
            ),
            (
                "9A8B7C6D5E: lost connection with mx.example.com[192.0.2.8] while sending end of data -- message may be sent more than once",
                "lost_connection",
            ),
            (
                "9A8B7C6D5E: conversation with mx.example.com[192.0.2.8] timed out while receiving the initial server greeting",
                "conversation_timeout",
            ),
            (
                "9A8B7C6D5E: enabling PIX workarounds: disable_esmtp delay_dotcrlf for mx.example.com[192.0.2.8]:25",
                "pix_workarounds",
            ),
            (
                "9A8B7C6D5E: Cannot start TLS: handshake failure",
                "tls_handshake_failed",
            ),
            (
                "SSL_connect error to mx.example.com[192.0.2.8]:25: lost connection",
                "tls_handshake_failed",
            ),
            (
                "SSL_connect error to mx.example.com[192.0.2.8]:25: -1",
                "tls_handshake_failed",
            ),
            (
                "setting up TLS connection to mx.example.com[192.0.2.8]:25",
                "tls_setup",
            ),
            (
                "Untrusted TLS connection reused to mx.example.com[192.0.2.8]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                "tls_reused",
            ),
            (
                "certificate verification failed for mx.example.com[192.0.2.8]:25: untrusted issuer /C=US/O=Let's Encrypt/CN=R3",
                "tls_certificate_verification_failed",
            ),
            (
                "server certificate verification failed for mx.example.com[192.0.2.8]:25: certificate has expired",
                "tls_certificate_verification_failed",
            ),
            (
                "Host offered STARTTLS: [mx.example.com]",
                "starttls_offered",
            ),
            (
                "9A8B7C6D5E: breaking line > 998 bytes with <CR><LF>SPACE",
                "line_folded",
            ),
            (
                "9A8B7C6D5E: status=deferred (bounce failed)",
                "status_record_failed",
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
    fn diagnostics_fall_back_to_their_level() {
        use crate::parsers::{Daemon, Parsed};
        // Kept at their level so that they stay in the per-level log counts.
        for message in [
            "warning: TLS library problem: error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889:",
            "warning: no MX host for example.com has a valid address record",
        ] {
            assert_eq!(
                crate::parsers::parse(Daemon::Delivery, message),
                Parsed::Event(Event::Diagnostic(crate::event::Level::Warning)),
                "{message}"
            );
        }
    }
}
