//! smtpd lines: sessions, TLS, rejects and other policy actions, SASL failures, and the
//! `client=` line that gives a message its queue ID.

use super::common::{
    field, fields_start, from_to_helo, other_by_prefix, peer, reply, smtp_reject, split_queue_id,
    tls_cipher, tls_trust, whole_peer,
};
use crate::event::{Direction, Event, Peer, Reject, RejectKind, SessionEnd, Tls};
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    // Early returns rather than `or_else`: each `or_else` copied the event once more.
    if let event @ Some(_) = unqueued(message) {
        return event;
    }
    if let Some((queue_id, rest)) = split_queue_id(message)
        && let event @ Some(_) = queued(queue_id, rest)
    {
        return event;
    }
    // Starts with the client's name, which can start with anything.
    tls_detail(message)
}

/// Lines that do not start with a queue ID, grouped by their first byte so that a line meets
/// only the prefixes that can match it.
fn unqueued(message: &str) -> Option<Event<'_>> {
    match message.as_bytes().first()? {
        b'c' => {
            let rest = message.strip_prefix("connect from ")?;
            Some(Event::Connect {
                peer: whole_peer(rest)?,
            })
        }
        b'd' => {
            if let Some(rest) = message.strip_prefix("disconnect from ") {
                let (peer, counters) = peer(rest)?;
                return Some(Event::Disconnect {
                    peer,
                    counters: counters.trim_start(),
                });
            }
            message
                .starts_with("discarding EHLO keywords: ")
                .then_some(Event::Other("ehlo_keywords_discarded"))
        }
        b'l' | b't' => session_end(message).or_else(|| table_changed(message)),
        b'N' => noqueue(message.strip_prefix("NOQUEUE: ")?),
        b'A' | b'U' | b'T' | b'V' => tls_summary(message).map(Event::Tls).or_else(|| {
            message
                .starts_with("TLS connection established from ")
                .then_some(Event::Other("tls_established_without_trust"))
        }),
        b'w' => warning(message.strip_prefix("warning: ")?),
        b'i' => message
            .starts_with("improper command pipelining after ")
            .then_some(Event::Other("improper_pipelining")),
        b's' => message
            .starts_with("setting up TLS connection from ")
            .then_some(Event::Other("tls_setup")),
        b'S' => {
            if message.starts_with("SSL_accept error from ") {
                Some(Event::Other("tls_handshake_error"))
            } else {
                message
                    .starts_with("SSL_accept:")
                    .then_some(Event::Other("tls_detail"))
            }
        }
        _ => None,
    }
}

/// After `NOQUEUE: `.
fn noqueue(rest: &str) -> Option<Event<'_>> {
    if let Some(event) = session_end(rest) {
        return Some(event);
    }
    if rest.starts_with("proxy-") {
        return proxy(None, rest);
    }
    policy_action(None, rest)
}

/// After `QUEUEID: `.
fn queued<'a>(queue_id: &'a str, rest: &'a str) -> Option<Event<'a>> {
    if let Some(client) = rest.strip_prefix("client=") {
        let (peer, attributes) = peer(client)?;
        return Some(Event::Client {
            queue_id,
            peer,
            sasl_method: field(attributes, "sasl_method"),
            sasl_username: field(attributes, "sasl_username"),
        });
    }
    if rest.starts_with("proxy-") {
        return proxy(Some(queue_id), rest);
    }
    if let event @ Some(_) = session_end(rest) {
        return event;
    }
    policy_action(Some(queue_id), rest)
}

/// `reject: RCPT from host[ip]: 550 ...; from=<a> ...` and the other access and milter
/// actions (`reject_warning`, `milter-reject`, `discard`, `hold`, `filter`, `redirect`, ...).
fn policy_action<'a>(queue_id: Option<&'a str>, rest: &'a str) -> Option<Event<'a>> {
    smtp_reject(queue_id, rest)
        .and_then(with_reply_code)
        .map(Event::Reject)
}

/// A refusal must carry a reply code (or a DSN to derive one from): without it the line is
/// malformed, and a reject counted under an empty `code` label would mislead.
pub(crate) fn with_reply_code(reject: Reject<'_>) -> Option<Reject<'_>> {
    let refusal = matches!(
        reject.kind,
        RejectKind::Reject | RejectKind::RejectWarning | RejectKind::MilterReject
    );
    (!refusal || !reject.code.is_empty()).then_some(reject)
}

/// A before-queue content filter's verdict (`smtpd_proxy_filter`):
/// `QUEUEID: proxy-reject: END-OF-MESSAGE: 554 5.7.1 text; from=<a> to=<b> proto=ESMTP helo=<h>`.
/// The filter, not the client, is the peer here, so the reject has none.
fn proxy<'a>(queue_id: Option<&'a str>, rest: &'a str) -> Option<Event<'a>> {
    if rest.starts_with("proxy-accept: ") {
        return Some(Event::Other("proxy_accept"));
    }
    let rest = rest.strip_prefix("proxy-reject: ")?;
    let (stage, rest) = rest.split_once_fast(": ")?;
    let (reply_text, fields) = match fields_start(rest) {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, ""),
    };
    let (code, dsn, text) = reply(reply_text);
    let (from, to, helo) = from_to_helo(fields);
    let reject = Reject {
        queue_id,
        kind: RejectKind::Reject,
        stage,
        peer: None,
        code,
        dsn,
        text,
        from,
        to,
        helo,
        reason: crate::event::RejectReason::Other,
    };
    with_reply_code(reject).map(Event::Reject)
}

/// `lost connection after DATA (1234 bytes) from host[ip]`, `timeout after RCPT from ...`,
/// `too many errors after AUTH from ...`. Postfix 3.10 prefixes these with the queue ID or
/// `NOQUEUE: `; the callers strip that.
fn session_end(message: &str) -> Option<Event<'_>> {
    let (cause, rest) = if let Some(rest) = message.strip_prefix("lost connection after ") {
        (SessionEnd::Lost, rest)
    } else if let Some(rest) = message.strip_prefix("timeout after ") {
        (SessionEnd::Timeout, rest)
    } else {
        (
            SessionEnd::TooManyErrors,
            message.strip_prefix("too many errors after ")?,
        )
    };
    let (command, client) = rest.split_once_fast(" from ")?;
    // `DATA (1234 bytes)` and `BDAT (1234 bytes)` carry the byte count after the command.
    let after = command.split(' ').next().unwrap_or(command);
    Some(Event::LostConnection {
        after,
        peer: whole_peer(client)?,
        cause,
    })
}

/// `table hash:/etc/postfix/x(0,lock|fold_fix) has changed -- restarting`
pub(crate) fn table_changed(message: &str) -> Option<Event<'_>> {
    (message.starts_with("table ") && message.ends_with(" has changed -- restarting"))
        .then_some(Event::Other("table_changed"))
}

/// The summary line of a TLS handshake, in smtpd (`from`) and in the SMTP/LMTP client (`to`):
/// `Anonymous TLS connection established from host[ip]: TLSv1.3 with cipher
/// TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 ...`, also `... reused to ...`
/// for a resumed client session and `... from host[ip] to sni.name: ...` when the client sent
/// SNI. Public so that the delivery agents' parser can use it for the outbound form.
pub fn tls_summary(message: &str) -> Option<Tls<'_>> {
    let (trust, rest) = message.split_once_fast(" ")?;
    let trust = tls_trust(trust)?;
    let rest = rest.strip_prefix("TLS connection ")?;
    let rest = rest
        .strip_prefix("established ")
        .or_else(|| rest.strip_prefix("reused "))?;
    let (direction, rest) = match rest.strip_prefix("from ") {
        Some(rest) => (Direction::Inbound, rest),
        None => (Direction::Outbound, rest.strip_prefix("to ")?),
    };
    let (peer, rest) = peer(rest)?;
    let rest = match rest.strip_prefix(": ") {
        Some(rest) => rest,
        None => rest.strip_prefix(" to ")?.split_once_fast(": ")?.1,
    };
    let (protocol, cipher, bits) = tls_cipher(rest)?;
    Some(Tls {
        direction,
        trust,
        peer,
        protocol,
        cipher,
        bits,
    })
}

/// What `smtpd_tls_loglevel` 1 and 2 add per session: `host[ip]: Trusted: subject_CN=...`,
/// `host[ip]: TLS cipher list "..."`, `host[ip]: Issuing session ticket, ...`.
fn tls_detail(message: &str) -> Option<Event<'_>> {
    let (_, rest) = peer(message)?;
    let rest = rest.strip_prefix(": ")?;
    let known = [
        "Trusted: ",
        "Untrusted: ",
        "Verified: ",
        "TLS cipher list ",
        "Issuing session ticket",
        "sni: ",
    ];
    known
        .iter()
        .any(|prefix| rest.starts_with(prefix))
        .then_some(Event::Other("tls_detail"))
}

/// The smtpd warnings that mean something; the others fall back to the generic `warning`.
fn warning(rest: &str) -> Option<Event<'_>> {
    if let Some(names) = rest.strip_prefix("hostname ") {
        // `hostname mail.example.com does not resolve to address 192.0.2.1[: reason]`
        let (host, rest) = names.split_once_fast(" does not resolve to address ")?;
        let ip = rest.split_once_fast(": ").map_or(rest, |(ip, _)| ip);
        return Some(unresolved(host, ip));
    }
    if let Some((client, rest)) = rest.split_once_fast(": SASL ") {
        // `unknown[192.0.2.1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`
        let (method, _) = rest.split_once_fast(" authentication failed")?;
        return Some(Event::SaslFailure {
            method,
            peer: whole_peer(client)?,
        });
    }
    if let Some((ip, rest)) = rest.split_once_fast(": hostname ") {
        // `192.0.2.1: hostname mail.example.com verification failed: Name or service not known`
        // (the name of the address's PTR record does not resolve at all).
        let (host, _) = rest.split_once_fast(" verification failed")?;
        return Some(unresolved(host, ip));
    }
    if let Some((ip, host)) = rest.split_once_fast(": address not listed for hostname ") {
        return Some(unresolved(host, ip));
    }
    let by_prefix = other_by_prefix(
        rest,
        &[
            ("non-SMTP command from ", "non_smtp_command"),
            ("Illegal address syntax from ", "illegal_address_syntax"),
            ("TLS library problem", "tls_library_problem"),
        ],
    );
    if by_prefix.is_some() {
        return by_prefix;
    }
    if rest.contains_fast(": RBL lookup error") {
        return Some(Event::Other("rbl_lookup_error"));
    }
    if rest.contains_fast(" limit exceeded: ") {
        // anvil limits: connection rate/concurrency, message, recipient, TLS session, AUTH.
        return Some(Event::Other("client_limit_exceeded"));
    }
    rest.starts_with("milter ")
        .then_some(Event::Other("milter_error"))
}

/// The client's name and address did not confirm each other, so smtpd calls it `unknown`.
fn unresolved<'a>(host: &'a str, ip: &'a str) -> Event<'a> {
    Event::HostnameUnresolved {
        peer: Peer {
            host,
            ip,
            port: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Trust;
    use crate::parsers::testing::{assert_events, assert_others, event_of, parsed};
    use crate::parsers::{Daemon, Parsed};

    fn event(line: &str) -> Event<'_> {
        event_of(Daemon::Smtpd, line)
    }

    fn p<'a>(host: &'a str, ip: &'a str) -> Peer<'a> {
        Peer {
            host,
            ip,
            port: None,
        }
    }

    fn reject<'a>(
        queue_id: Option<&'a str>,
        stage: &'a str,
        peer: Peer<'a>,
        (code, dsn, text): (&'a str, Option<&'a str>, &'a str),
        (from, to, helo): (Option<&'a str>, Option<&'a str>, Option<&'a str>),
    ) -> Event<'a> {
        Event::Reject(Reject {
            queue_id,
            kind: RejectKind::Reject,
            stage,
            peer: Some(peer),
            code,
            dsn,
            text,
            from,
            to,
            helo,
            reason: crate::event::RejectReason::Other,
        })
    }

    fn with_kind(event: Event<'_>, kind: RejectKind) -> Event<'_> {
        match event {
            Event::Reject(r) => Event::Reject(Reject { kind, ..r }),
            e => e,
        }
    }

    #[test]
    fn sessions() {
        let cases = [
            (
                "Jan  1 00:00:00 hostname postfix/smtpd[12345]: connect from example.com[123.45.67.89]",
                Event::Connect {
                    peer: p("example.com", "123.45.67.89"),
                },
            ),
            (
                "Sep 23 15:57:39 mail postfix/submission/smtpd[3646210]: connect from unknown[fe80::1:2:3:4]",
                Event::Connect {
                    peer: p("unknown", "fe80::1:2:3:4"),
                },
            ),
            (
                "Sep 23 15:53:33 mail postfix/smtpd[3643150]: disconnect from unknown[0.0.0.0] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
                Event::Disconnect {
                    peer: p("unknown", "0.0.0.0"),
                    counters: "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
                },
            ),
            (
                "Feb 10 13:26:34 srv postfix/smtp-25/smtpd[123]: disconnect from unknown[192.0.2.1] helo=1 auth=0/1 quit=1 commands=2/3",
                Event::Disconnect {
                    peer: p("unknown", "192.0.2.1"),
                    counters: "helo=1 auth=0/1 quit=1 commands=2/3",
                },
            ),
            // Before Postfix 2.9 the counters did not exist.
            (
                "Mar  2 10:00:00 mx postfix/smtpd[99]: disconnect from mail.example.net[198.51.100.7]",
                Event::Disconnect {
                    peer: p("mail.example.net", "198.51.100.7"),
                    counters: "",
                },
            ),
            (
                "Feb 18 09:45:12 xxx postfix/smtpd[42]: lost connection after STARTTLS from spammer.example.com[192.0.2.42]",
                Event::LostConnection {
                    after: "STARTTLS",
                    peer: p("spammer.example.com", "192.0.2.42"),
                    cause: SessionEnd::Lost,
                },
            ),
            (
                "Feb 18 09:50:05 xxx postfix/smtpd[42]: lost connection after DATA from good-host.example.com[192.0.2.10]",
                Event::LostConnection {
                    after: "DATA",
                    peer: p("good-host.example.com", "192.0.2.10"),
                    cause: SessionEnd::Lost,
                },
            ),
            (
                "Mar  2 10:00:01 mx postfix/smtpd[99]: lost connection after DATA (0 bytes) from unknown[203.0.113.5]",
                Event::LostConnection {
                    after: "DATA",
                    peer: p("unknown", "203.0.113.5"),
                    cause: SessionEnd::Lost,
                },
            ),
            (
                "Mar  2 10:00:02 mx postfix/smtpd[99]: timeout after END-OF-MESSAGE from unknown[203.0.113.5]",
                Event::LostConnection {
                    after: "END-OF-MESSAGE",
                    peer: p("unknown", "203.0.113.5"),
                    cause: SessionEnd::Timeout,
                },
            ),
            (
                "2016-03-20T13:30:53.574978+01:00 tron postfix/smtpd[32655]: too many errors after RCPT from unknown[157.122.148.252]",
                Event::LostConnection {
                    after: "RCPT",
                    peer: p("unknown", "157.122.148.252"),
                    cause: SessionEnd::TooManyErrors,
                },
            ),
            // Postfix 3.10 prefixes the session end with the queue ID or NOQUEUE.
            (
                "Sep 17 18:19:20 mxhost postfix/smtpd[12345]: NOQUEUE: lost connection after CONNECT from unknown[192.0.2.25]",
                Event::LostConnection {
                    after: "CONNECT",
                    peer: p("unknown", "192.0.2.25"),
                    cause: SessionEnd::Lost,
                },
            ),
            (
                "Mar  2 10:00:03 mx postfix/smtpd[99]: 4Zb1Xq2kLmz9vLm: timeout after BDAT (1024 bytes) from unknown[203.0.113.5]",
                Event::LostConnection {
                    after: "BDAT",
                    peer: p("unknown", "203.0.113.5"),
                    cause: SessionEnd::Timeout,
                },
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn clients() {
        let cases = [
            (
                "Feb 24 16:42:00 letterman postfix/smtpd[24906]: 1CF582025C: client=xxx[2.3.4.5]",
                Event::Client {
                    queue_id: "1CF582025C",
                    peer: p("xxx", "2.3.4.5"),
                    sasl_method: None,
                    sasl_username: None,
                },
            ),
            (
                "Sep 23 15:57:40 mail postfix/submission/smtpd[3646210]: 838FC8A5F: client=unknown[fe80::1:2:3:4], sasl_method=PLAIN, sasl_username=out@example.org",
                Event::Client {
                    queue_id: "838FC8A5F",
                    peer: p("unknown", "fe80::1:2:3:4"),
                    sasl_method: Some("PLAIN"),
                    sasl_username: Some("out@example.org"),
                },
            ),
            // A message that came back from an after-queue content filter (XFORWARD).
            (
                "Mar  2 10:00:04 mx postfix/smtpd[100]: 4B7C52A0F3: client=mail.example.com[192.0.2.9], orig_queue_id=2A1B3C4D5E, orig_client=mail.example.com[192.0.2.9]",
                Event::Client {
                    queue_id: "4B7C52A0F3",
                    peer: p("mail.example.com", "192.0.2.9"),
                    sasl_method: None,
                    sasl_username: None,
                },
            ),
            (
                "Mar  2 10:00:05 mx postfix/smtpd[101]: 4Zb1Xq2kLmz9vLm: client=localhost[127.0.0.1]:41234",
                Event::Client {
                    queue_id: "4Zb1Xq2kLmz9vLm",
                    peer: Peer {
                        host: "localhost",
                        ip: "127.0.0.1",
                        port: Some("41234"),
                    },
                    sasl_method: None,
                    sasl_username: None,
                },
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn tls() {
        let cases = [
            (
                "Mar  2 10:00:06 mx postfix/smtpd[102]: Anonymous TLS connection established from mail.example.org[198.51.100.20]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                Tls {
                    direction: Direction::Inbound,
                    trust: Trust::Anonymous,
                    peer: p("mail.example.org", "198.51.100.20"),
                    protocol: "TLSv1.3",
                    cipher: "TLS_AES_256_GCM_SHA384",
                    bits: Some(256),
                },
            ),
            (
                "Mar  2 10:00:07 mx postfix/submission/smtpd[103]: Untrusted TLS connection established from unknown[203.0.113.8]: TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)",
                Tls {
                    direction: Direction::Inbound,
                    trust: Trust::Untrusted,
                    peer: p("unknown", "203.0.113.8"),
                    protocol: "TLSv1.2",
                    cipher: "ECDHE-RSA-AES128-GCM-SHA256",
                    bits: Some(128),
                },
            ),
            // Postfix 3.4+ names the SNI the client asked for.
            (
                "Mar  2 10:00:08 mx postfix/smtpd[104]: Trusted TLS connection established from client.example.net[192.0.2.30] to mx.example.com: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature ECDSA (P-256) client-signature ECDSA (P-256) client-digest SHA256",
                Tls {
                    direction: Direction::Inbound,
                    trust: Trust::Trusted,
                    peer: p("client.example.net", "192.0.2.30"),
                    protocol: "TLSv1.3",
                    cipher: "TLS_AES_128_GCM_SHA256",
                    bits: Some(128),
                },
            ),
            (
                "Jul 24 04:38:17 mail postfix/smtp[30582]: Verified TLS connection established to gmail-smtp-in.l.google.com[108.177.14.26]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
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
        ];
        for (line, expected) in cases {
            // The outbound line belongs to the smtp client: check the scanner directly.
            let message = line.split_once("]: ").unwrap().1;
            assert_eq!(tls_summary(message), Some(expected), "{line}");
            if line.contains("/smtpd[") {
                assert_eq!(event(line), Event::Tls(expected), "{line}");
            }
        }
        assert_eq!(
            tls_summary("Untrusted TLS connection reused to mx.example.net[192.0.2.40]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)")
                .map(|t| (t.direction, t.trust, t.peer.port)),
            Some((Direction::Outbound, Trust::Untrusted, Some("25")))
        );
    }

    #[test]
    fn rejects() {
        let cases = [
            (
                "Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT from 1-2-3-4-example.com[1.2.3.4]: 554 5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> proto=SMTP helo=<198.51.100.17>",
                reject(
                    None,
                    "RCPT",
                    p("1-2-3-4-example.com", "1.2.3.4"),
                    (
                        "554",
                        Some("5.7.1"),
                        "<smtp@example.com>: Relay access denied",
                    ),
                    (
                        Some("john@example.com"),
                        Some("smtp@example.org"),
                        Some("198.51.100.17"),
                    ),
                ),
            ),
            (
                "Feb 21 09:21:54 xxx postfix/smtpd[14398]: NOQUEUE: reject: RCPT from example.com[192.0.43.10]: 450 4.7.1 : Helo command rejected: Host not found; from=<> to=<> proto=ESMTP helo=",
                reject(
                    None,
                    "RCPT",
                    p("example.com", "192.0.43.10"),
                    (
                        "450",
                        Some("4.7.1"),
                        ": Helo command rejected: Host not found",
                    ),
                    (Some(""), Some(""), Some("")),
                ),
            ),
            (
                "Aug 13 15:45:46 server postfix/smtpd[13844]: 00ADB3C0899: reject: RCPT from example.com[192.0.2.1]: 550 5.1.1 <sales@server.com>: Recipient address rejected: User unknown in local recipient table; from=<xxxxxx@example.com> to=<sales@server.com> proto=ESMTP helo=<mail.example.com>",
                reject(
                    Some("00ADB3C0899"),
                    "RCPT",
                    p("example.com", "192.0.2.1"),
                    (
                        "550",
                        Some("5.1.1"),
                        "<sales@server.com>: Recipient address rejected: User unknown in local recipient table",
                    ),
                    (
                        Some("xxxxxx@example.com"),
                        Some("sales@server.com"),
                        Some("mail.example.com"),
                    ),
                ),
            ),
            // The reply text itself contains `; `.
            (
                "Dec 30 18:19:15 xxx postfix/smtpd[1574]: NOQUEUE: reject: RCPT from badguy.example.com[93.184.216.34]: 454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34; from=<spammer@example.com> to=<goodguy@example.com> proto=ESMTP helo=<badguy.example.com>",
                reject(
                    None,
                    "RCPT",
                    p("badguy.example.com", "93.184.216.34"),
                    (
                        "454",
                        Some("4.7.1"),
                        "Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34",
                    ),
                    (
                        Some("spammer@example.com"),
                        Some("goodguy@example.com"),
                        Some("badguy.example.com"),
                    ),
                ),
            ),
            (
                "Jun  1 19:00:55 mail postfix/smtpd[7749]: NOQUEUE: reject: CONNECT from unknown[192.0.2.114]: 450 4.7.25 Client host rejected: cannot find your hostname, [178.215.236.114]; proto=SMTP",
                reject(
                    None,
                    "CONNECT",
                    p("unknown", "192.0.2.114"),
                    (
                        "450",
                        Some("4.7.25"),
                        "Client host rejected: cannot find your hostname, [178.215.236.114]",
                    ),
                    (None, None, None),
                ),
            ),
            (
                "Jan 31 13:55:24 xxx postfix/smtpd[3462]: NOQUEUE: reject: EHLO from s271272.static.corbina.ru[78.107.251.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<User>",
                reject(
                    None,
                    "EHLO",
                    p("s271272.static.corbina.ru", "78.107.251.238"),
                    (
                        "504",
                        Some("5.5.2"),
                        "<User>: Helo command rejected: need fully-qualified hostname",
                    ),
                    (None, None, Some("User")),
                ),
            ),
            (
                "Mar  2 10:00:09 mx postfix/smtpd[105]: NOQUEUE: reject: HELO from unknown[203.0.113.9]: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<localhost>",
                reject(
                    None,
                    "HELO",
                    p("unknown", "203.0.113.9"),
                    (
                        "504",
                        Some("5.5.2"),
                        "<localhost>: Helo command rejected: need fully-qualified hostname",
                    ),
                    (None, None, Some("localhost")),
                ),
            ),
            (
                "Mar  2 10:00:10 mx postfix/smtpd[106]: NOQUEUE: reject: MAIL from unknown[203.0.113.9]: 552 5.3.4 Message size exceeds fixed limit; proto=ESMTP helo=<big.example.net>",
                reject(
                    None,
                    "MAIL",
                    p("unknown", "203.0.113.9"),
                    ("552", Some("5.3.4"), "Message size exceeds fixed limit"),
                    (None, None, Some("big.example.net")),
                ),
            ),
            // Cut short by the fail2ban test author (`tab`): no field list, the reply counts.
            (
                "Aug 10 10:55:38 f-vanier-bourgeois postfix/smtpd[2162]: NOQUEUE: reject: VRFY from 72-53-132-234.cpe.distributel.net[72.53.132.234]: 550 5.1.1 : Recipient address rejected: User unknown in local recipient tab",
                reject(
                    None,
                    "VRFY",
                    p("72-53-132-234.cpe.distributel.net", "72.53.132.234"),
                    (
                        "550",
                        Some("5.1.1"),
                        ": Recipient address rejected: User unknown in local recipient tab",
                    ),
                    (None, None, None),
                ),
            ),
            (
                "Mar  2 10:00:11 mx postfix/smtpd[107]: NOQUEUE: reject: VRFY from unknown[203.0.113.9]: 550 5.1.1 <root@example.com>: Recipient address rejected: User unknown in local recipient table; to=<root@example.com> proto=SMTP helo=<x>",
                reject(
                    None,
                    "VRFY",
                    p("unknown", "203.0.113.9"),
                    (
                        "550",
                        Some("5.1.1"),
                        "<root@example.com>: Recipient address rejected: User unknown in local recipient table",
                    ),
                    (None, Some("root@example.com"), Some("x")),
                ),
            ),
            (
                "Mar  2 10:00:12 mx postfix/smtpd[108]: NOQUEUE: reject: ETRN from unknown[203.0.113.9]: 554 5.7.1 <example.com>: Etrn command rejected: Access denied; proto=ESMTP helo=<x>",
                reject(
                    None,
                    "ETRN",
                    p("unknown", "203.0.113.9"),
                    (
                        "554",
                        Some("5.7.1"),
                        "<example.com>: Etrn command rejected: Access denied",
                    ),
                    (None, None, Some("x")),
                ),
            ),
            (
                "Mar 11 23:27:54 server postfix-smo/submission/smtpd[22427]: 44JCRG5tYPzCqt2: reject: BDAT from signing-milter.example.com[192.0.2.109]: 550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce; from=<> to=<some@example.com> proto=ESMTP helo=<domain.tld>",
                reject(
                    Some("44JCRG5tYPzCqt2"),
                    "BDAT",
                    p("signing-milter.example.com", "192.0.2.109"),
                    (
                        "550",
                        Some("5.5.3"),
                        "<DATA>: Data command rejected: Multi-recipient bounce",
                    ),
                    (Some(""), Some("some@example.com"), Some("domain.tld")),
                ),
            ),
            (
                "Mar  2 10:00:13 mx postfix/smtpd[109]: 4B7C52A0F3: reject: DATA from unknown[203.0.113.9]: 550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce; from=<> to=<a@example.com> proto=ESMTP helo=<x>",
                reject(
                    Some("4B7C52A0F3"),
                    "DATA",
                    p("unknown", "203.0.113.9"),
                    (
                        "550",
                        Some("5.5.3"),
                        "<DATA>: Data command rejected: Multi-recipient bounce",
                    ),
                    (Some(""), Some("a@example.com"), Some("x")),
                ),
            ),
            (
                "Mar  2 10:00:14 mx postfix/smtpd[110]: 4B7C52A0F4: reject: END-OF-MESSAGE from unknown[203.0.113.9]: 554 5.7.1 Message rejected by end-of-data restriction; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                reject(
                    Some("4B7C52A0F4"),
                    "END-OF-MESSAGE",
                    p("unknown", "203.0.113.9"),
                    (
                        "554",
                        Some("5.7.1"),
                        "Message rejected by end-of-data restriction",
                    ),
                    (Some("a@example.org"), Some("b@example.com"), Some("x")),
                ),
            ),
            (
                "Mar  2 10:00:15 mx postfix/smtpd[111]: NOQUEUE: reject_warning: RCPT from unknown[203.0.113.9]: 450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.9]; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "RCPT",
                        p("unknown", "203.0.113.9"),
                        (
                            "450",
                            Some("4.7.1"),
                            "Client host rejected: cannot find your hostname, [203.0.113.9]",
                        ),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::RejectWarning,
                ),
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn milter_and_access_actions() {
        let cases = [
            (
                "Mar 7 02:09:33 server postfix/smtpd[27246]: 1D8CC1CA0A7F: milter-reject: DATA from 66-220-155-151.mail-mail.facebook.com[192.0.2.151]: 550 5.7.1 Command rejected; from=<security@mail.example.com> to=<hostmaster@example.com> proto=ESMTP helo=<192-0-2-151.mail-mail.example.com>",
                with_kind(
                    reject(
                        Some("1D8CC1CA0A7F"),
                        "DATA",
                        p("66-220-155-151.mail-mail.facebook.com", "192.0.2.151"),
                        ("550", Some("5.7.1"), "Command rejected"),
                        (
                            Some("security@mail.example.com"),
                            Some("hostmaster@example.com"),
                            Some("192-0-2-151.mail-mail.example.com"),
                        ),
                    ),
                    RejectKind::MilterReject,
                ),
            ),
            (
                "Mar  2 10:00:16 mx postfix/smtpd[112]: 4B7C52A0F5: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Gtube pattern; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        Some("4B7C52A0F5"),
                        "END-OF-MESSAGE",
                        p("localhost", "127.0.0.1"),
                        ("550", Some("5.7.1"), "Gtube pattern"),
                        (Some("a@b"), Some("c@d"), Some("x")),
                    ),
                    RejectKind::MilterReject,
                ),
            ),
            (
                "Mar  2 10:00:17 mx postfix/smtpd[113]: NOQUEUE: milter-reject: CONNECT from unknown[203.0.113.9]: 451 4.7.1 Try again later; proto=SMTP",
                with_kind(
                    reject(
                        None,
                        "CONNECT",
                        p("unknown", "203.0.113.9"),
                        ("451", Some("4.7.1"), "Try again later"),
                        (None, None, None),
                    ),
                    RejectKind::MilterReject,
                ),
            ),
            (
                "Mar  2 10:00:18 mx postfix/smtpd[114]: NOQUEUE: milter-reject: MAIL from unknown[203.0.113.9]: 4.7.1 Try again later; from=<a@example.org> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "MAIL",
                        p("unknown", "203.0.113.9"),
                        ("450", Some("4.7.1"), "Try again later"),
                        (Some("a@example.org"), None, Some("x")),
                    ),
                    RejectKind::MilterReject,
                ),
            ),
            (
                "Mar  2 10:00:19 mx postfix/smtpd[115]: NOQUEUE: milter-reject: RCPT from unknown[203.0.113.9]: 451 4.7.1 Try again later; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "RCPT",
                        p("unknown", "203.0.113.9"),
                        ("451", Some("4.7.1"), "Try again later"),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::MilterReject,
                ),
            ),
            (
                "Mar  2 10:00:20 mx postfix/smtpd[116]: 4B7C52A0F6: milter-discard: END-OF-MESSAGE from unknown[203.0.113.9]: milter triggers DISCARD action; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        Some("4B7C52A0F6"),
                        "END-OF-MESSAGE",
                        p("unknown", "203.0.113.9"),
                        ("", None, "milter triggers DISCARD action"),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::MilterDiscard,
                ),
            ),
            (
                "Mar  2 10:00:21 mx postfix/smtpd[117]: 4B7C52A0F7: milter-hold: END-OF-MESSAGE from unknown[203.0.113.9]: milter triggers HOLD action; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        Some("4B7C52A0F7"),
                        "END-OF-MESSAGE",
                        p("unknown", "203.0.113.9"),
                        ("", None, "milter triggers HOLD action"),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::MilterHold,
                ),
            ),
            (
                "Mar  2 10:00:22 mx postfix/smtpd[118]: NOQUEUE: discard: RCPT from unknown[203.0.113.9]: <a@spam.example>: Sender address triggers DISCARD action; from=<a@spam.example> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "RCPT",
                        p("unknown", "203.0.113.9"),
                        (
                            "",
                            None,
                            "<a@spam.example>: Sender address triggers DISCARD action",
                        ),
                        (Some("a@spam.example"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::Discard,
                ),
            ),
            (
                "Mar  2 10:00:23 mx postfix/smtpd[119]: NOQUEUE: hold: RCPT from unknown[203.0.113.9]: <b@example.com>: Recipient address triggers HOLD action; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "RCPT",
                        p("unknown", "203.0.113.9"),
                        (
                            "",
                            None,
                            "<b@example.com>: Recipient address triggers HOLD action",
                        ),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::Hold,
                ),
            ),
            (
                "Mar  2 10:00:24 mx postfix/smtpd[120]: NOQUEUE: filter: RCPT from unknown[203.0.113.9]: <unknown[203.0.113.9]>: Client host triggers FILTER smtp:[127.0.0.1]:10025; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                with_kind(
                    reject(
                        None,
                        "RCPT",
                        p("unknown", "203.0.113.9"),
                        (
                            "",
                            None,
                            "<unknown[203.0.113.9]>: Client host triggers FILTER smtp:[127.0.0.1]:10025",
                        ),
                        (Some("a@example.org"), Some("b@example.com"), Some("x")),
                    ),
                    RejectKind::OtherAction,
                ),
            ),
            (
                "Mar  2 10:00:25 mx postfix/smtpd[121]: 4B7C52A0F8: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Spam message rejected; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                Event::Reject(Reject {
                    queue_id: Some("4B7C52A0F8"),
                    kind: RejectKind::Reject,
                    stage: "END-OF-MESSAGE",
                    peer: None,
                    code: "554",
                    dsn: Some("5.7.1"),
                    text: "Spam message rejected",
                    from: Some("a@example.org"),
                    to: Some("b@example.com"),
                    helo: Some("x"),
                    reason: crate::event::RejectReason::Other,
                }),
            ),
            (
                "Mar  2 10:00:26 mx postfix/smtpd[122]: NOQUEUE: proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as 4B7C52A0F9; from=<a@example.org> to=<b@example.com> proto=ESMTP helo=<x>",
                Event::Other("proxy_accept"),
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn warnings() {
        let cases = [
            (
                "Sep  6 00:44:56 trianon postfix/submission/smtpd[11538]: warning: unknown[82.221.106.233]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                Event::SaslFailure {
                    method: "LOGIN",
                    peer: p("unknown", "82.221.106.233"),
                },
            ),
            (
                "Apr 26 10:55:19 tcc1 postfix/smtpd[21126]: warning: laptop.local[192.168.1.2]: SASL PLAIN authentication failed: generic failure",
                Event::SaslFailure {
                    method: "PLAIN",
                    peer: p("laptop.local", "192.168.1.2"),
                },
            ),
            (
                "Aug 4 16:47:52 mail3 postfix/smtpd[31152]: warning: unknown[192.0.2.237]:55729: SASL LOGIN authentication failed: authentication failure",
                Event::SaslFailure {
                    method: "LOGIN",
                    peer: Peer {
                        host: "unknown",
                        ip: "192.0.2.237",
                        port: Some("55729"),
                    },
                },
            ),
            (
                "Nov  4 09:11:01 mail postfix/submission/smtpd[27133]: warning: unknown[192.0.2.150]: SASL PLAIN authentication failed:",
                Event::SaslFailure {
                    method: "PLAIN",
                    peer: p("unknown", "192.0.2.150"),
                },
            ),
            (
                "Aug 14 10:00:01 mail postfix/smtpd[1234]: warning: hostname bad.example.com does not resolve to address 192.0.2.44: Name or service not known",
                Event::HostnameUnresolved {
                    peer: p("bad.example.com", "192.0.2.44"),
                },
            ),
            (
                "2023-02-01T01:02:04.123456+00:00 hostname postfix/smtpd[12345]: warning: hostname example.com does not resolve to address 123.45.67.89",
                Event::HostnameUnresolved {
                    peer: p("example.com", "123.45.67.89"),
                },
            ),
            (
                "2016-03-20T22:41:13.241186+01:00 tron postfix/smtpd[5268]: warning: 89.248.162.178: hostname no-reverse-dns-configured.com verification failed: Name or service not known",
                Event::HostnameUnresolved {
                    peer: p("no-reverse-dns-configured.com", "89.248.162.178"),
                },
            ),
            (
                "2016-03-23T01:09:28.962188+01:00 tron postfix/smtpd[472]: warning: 199.249.24.179.list.dsbl.org: RBL lookup error: Host or domain name not found. Name service error for name=199.249.24.179.list.dsbl.org type=A: Host not found, try again",
                Event::Other("rbl_lookup_error"),
            ),
            (
                "2016-03-20T13:30:50.573855+01:00 tron postfix/smtpd[32655]: warning: Illegal address syntax from unknown[157.122.148.252] in MAIL command: <adgjlo@78.41.116.116>",
                Event::Other("illegal_address_syntax"),
            ),
            (
                "Mar  2 10:00:27 mx postfix/smtpd[123]: warning: non-SMTP command from unknown[203.0.113.9]: GET / HTTP/1.1",
                Event::Other("non_smtp_command"),
            ),
            (
                "Sep 19 12:10:57 hostname postfix/smtpd[23244]: warning: Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd",
                Event::Other("client_limit_exceeded"),
            ),
            (
                "Mar  2 10:00:28 mx postfix/smtpd[124]: warning: TLS library problem: error:0A000126:SSL routines::unexpected eof while reading:../ssl/record/rec_layer_s3.c:317:",
                Event::Other("tls_library_problem"),
            ),
            (
                "Mar  2 10:00:29 mx postfix/smtpd[125]: warning: milter inet:127.0.0.1:11332: can't read SMFIC_DATA reply packet header: Connection reset by peer",
                Event::Other("milter_error"),
            ),
            // Without a specific rule: the generic diagnostic.
            (
                "Apr 26 10:55:19 tcc1 postfix/smtpd[21126]: warning: SASL authentication failure: Password verification failed",
                Event::Diagnostic(crate::event::Level::Warning),
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn lines_without_a_metric() {
        let cases = [
            (
                "Jan 12 11:07:49 emf1pt2-2-35-70 postfix/smtpd[13767]: improper command pipelining after DATA from unknown[181.21.131.88]:",
                "improper_pipelining",
            ),
            (
                "Jun 12 08:58:35 xxx postfix/smtpd[13533]: improper command pipelining after AUTH from unknown[1.2.3.4]: QUIT",
                "improper_pipelining",
            ),
            (
                "Aug  4 12:00:01 mail postfix/smtpd[29322]: SSL_accept error from unknown[203.0.113.10]: lost connection",
                "tls_handshake_error",
            ),
            (
                "Mar  2 10:00:30 mx postfix/smtpd[126]: setting up TLS connection from unknown[203.0.113.10]",
                "tls_setup",
            ),
            (
                "Mar  2 10:00:31 mx postfix/smtpd[126]: unknown[203.0.113.10]: TLS cipher list \"aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH\"",
                "tls_detail",
            ),
            (
                "Mar  2 10:00:32 mx postfix/smtpd[126]: client.example.net[192.0.2.30]: Trusted: subject_CN=client.example.net, issuer=R3, fingerprint=AB:CD, pkey_fingerprint=EF:01",
                "tls_detail",
            ),
            // Postfix before 2.5 did not say how far the peer was trusted.
            (
                "Mar  2 10:00:33 mx postfix/smtpd[126]: TLS connection established from unknown[203.0.113.10]: TLSv1 with cipher DHE-RSA-AES256-SHA (256/256 bits)",
                "tls_established_without_trust",
            ),
            (
                "Feb 14 19:05:25 123-mail postfix/smtpd[1517]: table hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix) has changed -- restarting",
                "table_changed",
            ),
            (
                "Mar  2 10:00:34 mx postfix/smtpd[127]: discarding EHLO keywords: CHUNKING",
                "ehlo_keywords_discarded",
            ),
            (
                "Mar 16 12:28:02 123-mail postfix/smtpd[16268]: fatal: file /etc/postfix/main.cf: parameter default_privs: unknown user name value: nobody",
                "fatal",
            ),
        ];
        assert_others(Daemon::Smtpd, &cases);
    }

    /// Real Postfix 3.7 output from the project's loopback mail stack.
    #[test]
    fn mail_stack() {
        let localhost = p("localhost", "127.0.0.1");
        let stack = (
            Some("sender@sender.test"),
            Some("grey@vmail.test"),
            Some("mail.sender.test"),
        );
        let cases = [
            (
                "Nov 24 00:32:41 mail postfix/smtpd[19410]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 450 4.2.0 <grey@vmail.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/vmail.test.html; from=<sender@sender.test> to=<grey@vmail.test> proto=ESMTP helo=<mail.sender.test>",
                reject(
                    None,
                    "RCPT",
                    localhost,
                    (
                        "450",
                        Some("4.2.0"),
                        "<grey@vmail.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/vmail.test.html",
                    ),
                    stack,
                ),
            ),
            // policyd-weight's text names a peer and ends a sentence with `;` before the fields.
            (
                "Nov 24 00:32:44 mail postfix/smtpd[19410]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 450 4.7.1 <dave@vmail.test>: Recipient address rejected: Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs; MTA helo: host.nodns.test, MTA hostname: localhost[127.0.0.1] (helo/hostname mismatch); from=<spammer@nodns.test> to=<dave@vmail.test> proto=ESMTP helo=<host.nodns.test>",
                reject(
                    None,
                    "RCPT",
                    localhost,
                    (
                        "450",
                        Some("4.7.1"),
                        "<dave@vmail.test>: Recipient address rejected: Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO and DNS MX settings or to get removed from DNSBLs; MTA helo: host.nodns.test, MTA hostname: localhost[127.0.0.1] (helo/hostname mismatch)",
                    ),
                    (
                        Some("spammer@nodns.test"),
                        Some("dave@vmail.test"),
                        Some("host.nodns.test"),
                    ),
                ),
            ),
            (
                "Nov 24 00:32:43 mail postfix/smtpd[19410]: NOQUEUE: reject: MAIL from localhost[127.0.0.1]: 552 5.3.4 Message size exceeds fixed limit; from=<sender@sender.test> proto=ESMTP helo=<mail.sender.test>",
                reject(
                    None,
                    "MAIL",
                    localhost,
                    ("552", Some("5.3.4"), "Message size exceeds fixed limit"),
                    (Some("sender@sender.test"), None, Some("mail.sender.test")),
                ),
            ),
            (
                "Nov 24 00:32:43 mail postfix/smtpd[19410]: Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
                Event::Tls(Tls {
                    direction: Direction::Inbound,
                    trust: Trust::Anonymous,
                    peer: localhost,
                    protocol: "TLSv1.2",
                    cipher: "ECDHE-RSA-AES256-GCM-SHA384",
                    bits: Some(256),
                }),
            ),
            (
                "Nov 24 00:32:44 mail postfix/submission/smtpd[19653]: 5029C98CAB2: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice@vmail.test",
                Event::Client {
                    queue_id: "5029C98CAB2",
                    peer: localhost,
                    sasl_method: Some("PLAIN"),
                    sasl_username: Some("alice@vmail.test"),
                },
            ),
            (
                "Nov 24 00:32:46 mail postfix/submission/smtpd[19653]: warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@vmail.test",
                Event::SaslFailure {
                    method: "PLAIN",
                    peer: localhost,
                },
            ),
            (
                "Nov 24 00:32:44 mail postfix/smtpd[19410]: lost connection after EHLO from localhost[127.0.0.1]",
                Event::LostConnection {
                    after: "EHLO",
                    peer: localhost,
                    cause: SessionEnd::Lost,
                },
            ),
            (
                "Nov 24 00:32:43 mail postfix/smtpd[19410]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5",
                Event::Disconnect {
                    peer: localhost,
                    counters: "ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5",
                },
            ),
            (
                "Nov 24 00:32:43 mail postfix/smtpd[19410]: warning: DF83398CA5E: queue file size limit exceeded",
                Event::Diagnostic(crate::event::Level::Warning),
            ),
        ];
        assert_events(Daemon::Smtpd, &cases);
    }

    #[test]
    fn malformed_lines_are_unsupported() {
        for line in [
            // A reject without a reply code cannot be counted under a code.
            "Mar  2 10:00:35 mx postfix/smtpd[128]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 9999 text; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
            "Jan 1 00:00:00 hostname postfix/smtpd[12345]: NOQUEUE: reject: Unsupported",
            "Jan 1 00:00:00 hostname postfix/smtpd[12345]: Unsupported",
            "Mar  2 10:00:36 mx postfix/smtpd[129]: connect from nowhere",
            "Mar  2 10:00:37 mx postfix/smtpd[129]: Anonymous TLS connection established from unknown[203.0.113.10]",
        ] {
            assert_eq!(parsed(line), (Daemon::Smtpd, Parsed::Unsupported), "{line}");
        }
    }
}
