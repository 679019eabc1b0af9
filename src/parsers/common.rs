//! Small scanners shared by the daemon parsers. No regexes: these run on every line.

use crate::event::{Event, Peer, Reject, RejectKind, Trust};
use crate::scan::Scan;

/// Is `s` a Postfix queue ID? Short IDs are upper-case hex (6+ chars); long IDs
/// (`enable_long_queue_ids`) are 10+ chars of `[0-9A-Za-z]` without vowels.
pub fn is_queue_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 || b.len() > 24 {
        return false;
    }
    if b.iter()
        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
    {
        return true;
    }
    b.len() >= 10 && b.iter().all(|&c| c.is_ascii_alphanumeric() && !is_vowel(c))
}

const fn is_vowel(c: u8) -> bool {
    matches!(
        c,
        b'a' | b'e' | b'i' | b'o' | b'u' | b'A' | b'E' | b'I' | b'O' | b'U'
    )
}

/// Splits `QUEUEID: rest` into the queue ID and the rest.
///
/// One pass over at most 26 bytes that gives up at the first byte no queue ID can hold (most
/// lines without a queue ID are given up on within a few bytes); the same answer as finding the
/// first `:` and asking [`is_queue_id`] of what precedes it.
pub fn split_queue_id(message: &str) -> Option<(&str, &str)> {
    let b = message.as_bytes();
    // Bit SHORT: still an upper-case hex ID; bit LONG: still a long ID (no vowels).
    let mut class = SHORT | LONG;
    for (i, &c) in b.iter().take(26).enumerate() {
        if c == b':' {
            let id_ok =
                (6..=24).contains(&i) && (class & SHORT != 0 || (class & LONG != 0 && i >= 10));
            return (id_ok && b.get(i + 1) == Some(&b' '))
                .then(|| (&message[..i], &message[i + 2..]));
        }
        class &= QUEUE_ID_BYTE[usize::from(c)];
        if class == 0 {
            return None;
        }
    }
    None
}

const SHORT: u8 = 1;
const LONG: u8 = 2;

/// For each byte, the kinds of queue ID it may appear in ([`SHORT`], [`LONG`]): one table look-up
/// per byte in [`split_queue_id`] instead of the range and vowel tests.
const QUEUE_ID_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_digit() || (b >= b'A' && b <= b'F') {
            k |= SHORT;
        }
        if b.is_ascii_alphanumeric() && !is_vowel(b) {
            k |= LONG;
        }
        t[c] = k;
        c += 1;
    }
    t
};

/// Parses a peer: `host[ip]`, `host[ip]:port` or `[ip]:port`; returns the peer and the rest.
pub fn peer(s: &str) -> Option<(Peer<'_>, &str)> {
    let b = s.as_bytes();
    // The first `[`, unless a space comes before it (a host name has none).
    let open = crate::scan::find_byte2(b'[', b' ', b)?;
    if b[open] != b'[' {
        return None;
    }
    let host = &s[..open];
    let close = open + crate::scan::find_byte(b']', &b[open..])?;
    let ip = &s[open + 1..close];
    let mut rest = &s[close + 1..];
    let mut port = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after
            .bytes()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if end > 0 {
            port = Some(&after[..end]);
            rest = &after[end..];
        }
    }
    Some((Peer { host, ip, port }, rest))
}

/// A peer that must be the whole of `s` (trailing `:` allowed).
pub fn whole_peer(s: &str) -> Option<Peer<'_>> {
    let (p, rest) = peer(s)?;
    matches!(rest, "" | ":").then_some(p)
}

/// `Event::Other(kind)` of the first `(prefix, kind)` whose prefix starts `s`: the daemons'
/// lines that are only counted, told apart by how they start.
pub fn other_by_prefix(s: &str, table: &[(&str, &'static str)]) -> Option<Event<'static>> {
    table
        .iter()
        .find(|(prefix, _)| s.starts_with(prefix))
        .map(|&(_, kind)| Event::Other(kind))
}

/// The trust level that starts a TLS summary line (`Verified TLS connection established ...`),
/// in smtpd and in the SMTP/LMTP client alike.
pub fn tls_trust(word: &str) -> Option<Trust> {
    Some(match word {
        "Anonymous" => Trust::Anonymous,
        "Untrusted" => Trust::Untrusted,
        "Trusted" => Trust::Trusted,
        "Verified" => Trust::Verified,
        _ => return None,
    })
}

/// The end of a TLS summary line, after the peer and its `: `:
/// `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange ...` ->
/// (`TLSv1.3`, `TLS_AES_256_GCM_SHA384`, `Some(256)`).
pub fn tls_cipher(rest: &str) -> Option<(&str, &str, Option<u32>)> {
    let (protocol, rest) = rest.split_once_fast(" with cipher ")?;
    let (cipher, rest) = rest.split_once_fast(" ").unwrap_or((rest, ""));
    let bits = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once_fast("/"))
        .and_then(|(bits, _)| bits.parse().ok());
    Some((protocol, cipher, bits))
}

/// The value of `key=` in a `key=value, key=value` or `key=value key=value` list.
///
/// Values in `<...>` end at the `>` that is followed by a separator or the end of the string,
/// so an address containing `, ` or `=` does not end the value early; and what stands inside
/// such a value is never taken for a key (a sender chooses the text of a quoted local part:
/// `from=<"a helo=<x> b"@d>` has no `helo`).
pub fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(pos) = s[from..].find_fast(key) {
        let start = from + pos;
        // An address value that opens before this occurrence: the occurrence may be inside it.
        if let Some(open) = s[from..start].find_fast("=<") {
            from = address_end(s, from + open + 1);
            continue;
        }
        let value_start = start + key.len();
        if starts_field(bytes, start) && bytes.get(value_start) == Some(&b'=') {
            return Some(value_at(s, value_start + 1));
        }
        from = start + 1;
    }
    None
}

/// Whether a key at `start` begins a field: the start of the list, or after a separator.
fn starts_field(b: &[u8], start: usize) -> bool {
    start == 0 || matches!(b[start - 1], b' ' | b',' | b';' | b'(')
}

/// Where the `<...>` value starting at `open` (the `<`) ends: just after its closing `>`.
fn address_end(s: &str, open: usize) -> usize {
    address_end_of(s, open, value_at(s, open))
}

/// [`address_end`] for the value `inner` already read at `open` (a slice of `s` right after
/// the `<`).
fn address_end_of(s: &str, open: usize, inner: &str) -> usize {
    (open + 1 + inner.len() + 1).min(s.len())
}

/// `(field(s, "from"), field(s, "to"), field(s, "helo"))` in one pass: each `key=` ends at an
/// `=`, so the list is crossed from one `=` to the next, trying the keys that would end there
/// (in order of position, so the first at a boundary wins as in [`field`]), and stepping over
/// `<...>` values as [`field`] does.
pub fn from_to_helo(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let b = s.as_bytes();
    let (mut from, mut to, mut helo) = (None, None, None);
    // Whether `key` ends just before the `=` at `eq` and starts at a boundary.
    let keyed = |eq: usize, key: &[u8]| {
        eq >= key.len() && &b[eq - key.len()..eq] == key && starts_field(b, eq - key.len())
    };
    let mut from_at = 0;
    while let Some(pos) = crate::scan::find_byte(b'=', &b[from_at..]) {
        let eq = from_at + pos;
        let slot = if from.is_none() && keyed(eq, b"from") {
            Some(&mut from)
        } else if to.is_none() && keyed(eq, b"to") {
            Some(&mut to)
        } else if helo.is_none() && keyed(eq, b"helo") {
            Some(&mut helo)
        } else {
            None
        };
        let address = b.get(eq + 1) == Some(&b'<');
        // A value is read once: for its key, and to step over it when it is an address.
        let value = (slot.is_some() || address).then(|| value_at(s, eq + 1));
        if let Some(slot) = slot {
            *slot = value;
        }
        if from.is_some() && to.is_some() && helo.is_some() {
            break;
        }
        from_at = match value {
            Some(inner) if address => address_end_of(s, eq + 1, inner),
            _ => eq + 1,
        };
    }
    (from, to, helo)
}

fn value_at(s: &str, start: usize) -> &str {
    let rest = &s[start..];
    if let Some(inner) = rest.strip_prefix('<') {
        let b = inner.as_bytes();
        let mut i = quoted_local_part_len(inner);
        while i < b.len() {
            if b[i] == b'>' && matches!(b.get(i + 1), None | Some(b',') | Some(b' ') | Some(b';')) {
                return &inner[..i];
            }
            i += 1;
        }
        return inner;
    }
    let end = rest.find_any3(b',', b' ', b';').unwrap_or(rest.len());
    &rest[..end]
}

/// The length of the quoted local part at the start of an address in external form
/// (`"x>, status=sent"@example.com`, the text after `<`): up to and including its closing `"`;
/// 0 when it does not start with one (or never closes). Postfix logs addresses quoted when
/// their local part has specials (`info_log_address_format = external`, the default), so `>`,
/// `, ` and `=` inside the quotes are the sender's text, not separators.
pub fn quoted_local_part_len(inner: &str) -> usize {
    let b = inner.as_bytes();
    if b.first() != Some(&b'"') {
        return 0;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    0
}

/// A number that Postfix may print as `1.2e+05`.
pub fn number(s: &str) -> Option<f64> {
    let v: f64 = match plain_decimal(s) {
        Some(v) => v,
        None => s.parse().ok()?,
    };
    v.is_finite().then_some(v)
}

/// `[-]digits[.digits]` with at most 15 significant digits, exactly as `str::parse::<f64>`
/// reads it (see [`PlainDecimal`]). Anything else (exponents, longer numbers, `inf`, ...) is
/// `None` and left to `str::parse`.
fn plain_decimal(s: &str) -> Option<f64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        b => (false, b),
    };
    let mut decimal = PlainDecimal::default();
    if !digits.iter().all(|&c| decimal.push(c)) {
        return None;
    }
    let v = decimal.value()?;
    Some(if negative { -v } else { v })
}

/// `digits[.digits]` with at most 15 digits, read a byte at a time. Its value is the digits as
/// an integer (below 2^53) over a power of ten (up to 10^15): both are exact doubles, so their
/// quotient is the correctly rounded value, the one `str::parse::<f64>` gives (Clinger's fast
/// path).
#[derive(Default)]
pub(crate) struct PlainDecimal {
    mantissa: u64,
    digits: usize,
    /// How many digits came before the `.`.
    point: Option<usize>,
}

impl PlainDecimal {
    /// Takes the next byte; `false` for anything but a digit or the one `.` after a digit, and
    /// for a 16th digit.
    #[inline]
    pub(crate) fn push(&mut self, c: u8) -> bool {
        match c {
            b'0'..=b'9' if self.digits < 15 => {
                self.mantissa = self.mantissa * 10 + u64::from(c - b'0');
                self.digits += 1;
                true
            }
            b'.' if self.point.is_none() && self.digits > 0 => {
                self.point = Some(self.digits);
                true
            }
            _ => false,
        }
    }

    /// The number read; `None` without digits or when it ends at its `.`.
    #[inline]
    pub(crate) fn value(&self) -> Option<f64> {
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        let fraction = self.digits - self.point.unwrap_or(self.digits);
        (self.digits > 0 && self.point != Some(self.digits))
            .then(|| self.mantissa as f64 / POW10[fraction])
    }
}

/// Reply code and enhanced status at the start of a reply: `550 5.1.1 text` -> (`550`, `5.1.1`, `text`).
/// A reply with only an enhanced status (`5.7.1 text`, as milters give) gets its code from the
/// status class.
pub fn reply(s: &str) -> (&str, Option<&str>, &str) {
    let b = s.as_bytes();
    let mut code = "";
    let mut rest = s;
    if b.len() >= 3
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b.get(3), None | Some(b' ') | Some(b'-'))
    {
        code = &s[..3];
        rest = s.get(4..).unwrap_or("");
    }
    let mut dsn = None;
    let word_end = rest.find_fast(" ").unwrap_or(rest.len());
    let word = &rest[..word_end];
    if is_dsn(word) {
        dsn = Some(word);
        rest = rest.get(word_end + 1..).unwrap_or("");
    }
    if code.is_empty() {
        code = match dsn.map(|d| d.as_bytes()[0]) {
            Some(b'5') => "550",
            Some(b'4') => "450",
            Some(b'2') => "250",
            _ => "",
        };
    }
    (code, dsn, rest)
}

/// `[245].d{1,3}.d{1,3}` (as splitting at `.` into exactly three parts would check).
fn is_dsn(w: &str) -> bool {
    let b = w.as_bytes();
    let [class, b'.', rest @ ..] = b else {
        return false;
    };
    if !matches!(class, b'2' | b'4' | b'5') {
        return false;
    }
    let Some(dot) = rest.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (subject, detail) = (&rest[..dot], &rest[dot + 1..]);
    (1..=3).contains(&subject.len())
        && (1..=3).contains(&detail.len())
        && subject.iter().chain(detail).all(u8::is_ascii_digit)
}

/// The kind of refusal named by a verb such as `reject`, `milter-reject`, `reject_warning`.
pub fn reject_kind(verb: &str) -> Option<RejectKind> {
    Some(match verb {
        "reject" => RejectKind::Reject,
        "reject_warning" => RejectKind::RejectWarning,
        "milter-reject" => RejectKind::MilterReject,
        "milter-discard" => RejectKind::MilterDiscard,
        "milter-hold" => RejectKind::MilterHold,
        "discard" => RejectKind::Discard,
        "hold" => RejectKind::Hold,
        "warning" => RejectKind::Warning,
        "redirect" | "filter" | "replace" | "info" | "prepend" | "milter-redirect" => {
            RejectKind::OtherAction
        }
        _ => return None,
    })
}

/// Where the `; from=<a> to=<b> proto=ESMTP helo=<h>` list of a reject line starts (the index
/// of its `;`). Postfix writes these fields in this order and leaves out the ones it does not
/// know yet (a CONNECT reject has only `; proto=SMTP`, an EHLO reject `; proto=SMTP helo=<h>`),
/// so the first field present decides. Postscreen separates them with `, ` instead of ` `.
/// Each marker is searched from the right because the reply before it may quote client text.
pub fn fields_start(s: &str) -> Option<usize> {
    ["; from=<", "; to=<", "; proto=", "; helo=<"]
        .iter()
        .find_map(|marker| s.rfind_fast(marker))
}

/// Parses the part of an smtpd/postscreen/cleanup reject line after the queue ID:
/// `reject: RCPT from host[ip]: 550 5.1.1 <x>: text; from=<a> to=<b> proto=ESMTP helo=<h>`.
/// Also `milter-reject: END-OF-MESSAGE from host[ip]: 5.7.1 text; from=<> ...`.
pub fn smtp_reject<'a>(queue_id: Option<&'a str>, rest: &'a str) -> Option<Reject<'a>> {
    let colon = rest.find_fast(": ")?;
    let kind = reject_kind(&rest[..colon])?;
    let rest = &rest[colon + 2..];
    let (stage, rest) = rest.split_once_fast(" ")?;
    let rest = rest.strip_prefix("from ")?;
    let (peer, rest) = peer(rest)?;
    let rest = rest.strip_prefix(": ")?;
    // A line cut short by syslog has no field list; the reply is still worth counting.
    let (reply_text, fields) = match fields_start(rest) {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, ""),
    };
    let (code, dsn, text) = reply(reply_text);
    let (from, to, helo) = from_to_helo(fields);
    Some(Reject {
        queue_id,
        kind,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids() {
        for id in ["4A1B2C3D4E", "00ADB3C0899", "4Xyz9d3Qh6z9vLm", "AAB4D259B1"] {
            assert!(is_queue_id(id), "{id}");
        }
        for not in ["NOQUEUE", "warning", "connect", "ABC", "statistics"] {
            assert!(!is_queue_id(not), "{not}");
        }
        assert_eq!(
            split_queue_id("AAB4D259B1: removed"),
            Some(("AAB4D259B1", "removed"))
        );
        assert_eq!(split_queue_id("NOQUEUE: reject: x"), None);
        assert_eq!(split_queue_id("connect from x[1.2.3.4]"), None);
    }

    proptest::proptest! {
        /// The fast path reads plain decimals exactly as str::parse does (bit for bit).
        #[test]
        fn plain_decimals_parse_as_std(s in "-?[0-9]{0,9}(\\.[0-9]{0,9})?|[-+.0-9e]{0,12}") {
            if let Some(v) = plain_decimal(&s) {
                let std: f64 = s.parse().expect("std parses what the fast path does");
                proptest::prop_assert_eq!(v.to_bits(), std.to_bits(), "{}", s);
            }
            let std = s.parse::<f64>().ok().filter(|v| v.is_finite());
            proptest::prop_assert_eq!(number(&s).map(f64::to_bits), std.map(f64::to_bits));
        }

        /// The one-pass split agrees with finding the `:` and asking is_queue_id.
        #[test]
        fn split_queue_id_is_find_colon_then_check(s in "[0-9A-Fa-z:aeiou ]{0,30}( x)?") {
            let reference = s
                .as_bytes()
                .iter()
                .take(26)
                .position(|&c| c == b':')
                .and_then(|colon| {
                    let (id, rest) = (&s[..colon], &s[colon + 1..]);
                    let rest = rest.strip_prefix(' ')?;
                    is_queue_id(id).then_some((id, rest))
                });
            proptest::prop_assert_eq!(split_queue_id(&s), reference);
        }
    }

    #[test]
    fn peers() {
        let (p, rest) = peer("mail.example.com[192.0.2.1]:25: x").unwrap();
        assert_eq!(
            (p.host, p.ip, p.port, rest),
            ("mail.example.com", "192.0.2.1", Some("25"), ": x")
        );
        let (p, _) = peer("[157.122.148.242]:47407").unwrap();
        assert_eq!(
            (p.host, p.ip, p.port),
            ("", "157.122.148.242", Some("47407"))
        );
        let p = whole_peer("unknown[2001:db8::1]").unwrap();
        assert_eq!(p.ip, "2001:db8::1");
    }

    #[test]
    fn fields() {
        let s = "to=<a@b>, orig_to=<x, y=z@c>, relay=h[1.2.3.4]:25, delay=1.2e+05, status=sent (250 ok)";
        assert_eq!(field(s, "to"), Some("a@b"));
        assert_eq!(field(s, "orig_to"), Some("x, y=z@c"));
        assert_eq!(field(s, "relay"), Some("h[1.2.3.4]:25"));
        assert_eq!(field(s, "delay").and_then(number), Some(120000.0));
        assert_eq!(field(s, "status"), Some("sent"));
        assert_eq!(field(s, "dsn"), None);
        assert_eq!(field("from=<> to=<> proto=ESMTP helo=", "helo"), Some(""));
    }

    /// The obvious implementation [`from_to_helo`] must agree with: three separate searches.
    fn from_to_helo_slow(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
        (field(s, "from"), field(s, "to"), field(s, "helo"))
    }

    #[test]
    fn from_to_helo_lists() {
        type Fields = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[(&str, Fields)] = &[
            // smtpd (space-separated), in Postfix's order.
            (
                "from=<foo@bad.domain> to=<foo@porcupine.org> proto=SMTP helo=<192.51.100.43>",
                (
                    Some("foo@bad.domain"),
                    Some("foo@porcupine.org"),
                    Some("192.51.100.43"),
                ),
            ),
            // postscreen (`, `-separated).
            (
                "from=<kos@mafia.network>, to=<z13699753428@vip.163.com>, proto=ESMTP, helo=<XL-20160217QQJV>",
                (
                    Some("kos@mafia.network"),
                    Some("z13699753428@vip.163.com"),
                    Some("XL-20160217QQJV"),
                ),
            ),
            // CONNECT and EHLO rejects: only some of the fields.
            ("proto=SMTP", (None, None, None)),
            ("proto=SMTP helo=<User>", (None, None, Some("User"))),
            // `helo=` missing (a client that sent none), and empty.
            (
                "from=<a@b> to=<c@d> proto=ESMTP",
                (Some("a@b"), Some("c@d"), None),
            ),
            (
                "from=<> to=<> proto=ESMTP helo=",
                (Some(""), Some(""), Some("")),
            ),
            (
                "from=<> to=<c@d> proto=ESMTP helo=<>",
                (Some(""), Some("c@d"), Some("")),
            ),
            // Keys inside a quoted local part are the sender's text.
            (
                r#"from=<"to=<x>"@d> to=<real@d> proto=ESMTP helo=<h>"#,
                (Some(r#""to=<x>"@d"#), Some("real@d"), Some("h")),
            ),
            // Also after a space inside the quotes: the sender's text is not a field.
            (
                r#"from=<"a helo=<evil> b"@d> proto=ESMTP helo=<good>"#,
                (Some(r#""a helo=<evil> b"@d"#), None, Some("good")),
            ),
            (
                r#"from=<"a to=<evil@x> b"@d> proto=ESMTP helo=<h>"#,
                (Some(r#""a to=<evil@x> b"@d"#), None, Some("h")),
            ),
            // Unquoted (Postfix would quote it), the address still ends at its `>`.
            (
                "from=<a to=<x>@d> to=<y@d> proto=ESMTP helo=<h>",
                (Some("a to=<x>@d"), Some("y@d"), Some("h")),
            ),
            // Keys in another order.
            (
                "helo=<h> to=<c@d> from=<a@b>",
                (Some("a@b"), Some("c@d"), Some("h")),
            ),
            ("to=<c@d>, from=<a@b>", (Some("a@b"), Some("c@d"), None)),
            // A key given twice: the first wins.
            (
                "to=<1@d> to=<2@d> from=<a@b>",
                (Some("a@b"), Some("1@d"), None),
            ),
            // Values containing `=`.
            (
                "from=<a=b@d> to=<to=c@d> proto=ESMTP helo=<h=1>",
                (Some("a=b@d"), Some("to=c@d"), Some("h=1")),
            ),
            (
                "from=a=b to=c=d helo=x=y",
                (Some("a=b"), Some("c=d"), Some("x=y")),
            ),
            // Keys not at a field boundary.
            (
                "xfrom=<x@d> orig_to=<o@d> myhelo=<m> proto=ESMTP",
                (None, None, None),
            ),
            (
                "xfrom=<x@d> from=<a@b> auto=<o@d> to=<c@d> othelo=<m> helo=<h>",
                (Some("a@b"), Some("c@d"), Some("h")),
            ),
            // Boundaries other than a space.
            ("(from=<a@b>;to=<c@d>", (Some("a@b"), Some("c@d"), None)),
            // A key without `=`, and `=` at the very start.
            ("from to helo =x", (None, None, None)),
            ("=<x> from=<a@b>", (Some("a@b"), None, None)),
            // Truncated lines (syslog cut them short).
            ("from=<a@b> to=<c@", (Some("a@b"), Some("c@"), None)),
            ("from=<a@b> to=", (Some("a@b"), Some(""), None)),
            ("from=<a@b> t", (Some("a@b"), None, None)),
            // Cut inside the quotes: the address runs to its last `>`, and holds the `to=`.
            (
                r#"from=<"unterminated to=<x>"#,
                (Some(r#""unterminated to=<x"#), None, None),
            ),
            ("from=<", (Some(""), None, None)),
            ("", (None, None, None)),
        ];
        for &(list, expected) in cases {
            assert_eq!(from_to_helo(list), expected, "{list}");
            assert_eq!(from_to_helo_slow(list), expected, "slow: {list}");
        }
    }

    /// A `key=value` field list with the three keys, near misses (`xfrom`, `auto`, `othelo`,
    /// `fro`), `=` in values, quoted local parts with keys and separators inside, under the
    /// separators smtpd and postscreen use, cut off anywhere.
    fn field_list() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let value = prop_oneof![
            "[a-z@.=]{0,6}",
            "<[a-z@.=, ]{0,8}>",
            "<\"[a-z =<>,;]{0,10}\"@d>",
            "<(from|to|helo)=<[a-z]{0,3}>@d>",
            "<\"(from|to|helo)=<x>\"@d>",
        ];
        crate::parsers::testing::field_lists(
            vec![
                "from", "to", "helo", "proto", "xfrom", "auto", "othelo", "fro", "o", "", "orig_to",
            ],
            value,
            vec![" ", ", ", "; ", ";", "(", "", "\""],
            7,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]
        /// The one-pass scan finds what three separate searches find.
        #[test]
        fn from_to_helo_is_three_field_searches(s in field_list()) {
            proptest::prop_assert_eq!(from_to_helo(&s), from_to_helo_slow(&s), "{}", s);
        }
    }

    #[test]
    fn quoted_local_parts_hide_separators() {
        // An address extension is the sender's text: `>, status=...` inside the quotes must
        // not end the value (found by tests/hostile.rs).
        let s = r#"to=<"a>, status=bounced (550 x), b=<c\"d"@example.com>, relay=h[1.2.3.4]:25, status=sent (250 ok)"#;
        assert_eq!(
            field(s, "to"),
            Some(r#""a>, status=bounced (550 x), b=<c\"d"@example.com"#)
        );
        assert_eq!(field(s, "relay"), Some("h[1.2.3.4]:25"));
        // Nor is a key inside the quotes a field, even after a space.
        assert_eq!(field(s, "status"), Some("sent"));
        assert_eq!(field(s, "b"), None);
        let s = r#"from=<"a helo=<evil> sasl_method=X"@d> proto=ESMTP helo=<good>"#;
        assert_eq!(field(s, "helo"), Some("good"));
        assert_eq!(field(s, "sasl_method"), None);
        assert_eq!(quoted_local_part_len(r#""a\"#), 0);
        assert_eq!(quoted_local_part_len(r#""\""x"#), 4);
        assert_eq!(quoted_local_part_len("plain@x"), 0);
    }

    #[test]
    fn replies() {
        assert_eq!(
            reply("550 5.1.1 <u@d>: User unknown"),
            ("550", Some("5.1.1"), "<u@d>: User unknown")
        );
        assert_eq!(
            reply("5.7.1 Gtube pattern"),
            ("550", Some("5.7.1"), "Gtube pattern")
        );
        assert_eq!(reply("450 4.7.1 : Helo"), ("450", Some("4.7.1"), ": Helo"));
        assert_eq!(
            reply("Service unavailable"),
            ("", None, "Service unavailable")
        );
    }

    #[test]
    fn reject_line() {
        let r = smtp_reject(
            None,
            "reject: RCPT from foo[192.51.100.43]: 554 5.7.1 <foo@bad.domain>: Sender address rejected: match bad.domain; from=<foo@bad.domain> to=<foo@porcupine.org> proto=SMTP helo=<192.51.100.43>",
        )
        .unwrap();
        assert_eq!(r.kind, RejectKind::Reject);
        assert_eq!((r.stage, r.code, r.dsn), ("RCPT", "554", Some("5.7.1")));
        assert_eq!(
            r.text,
            "<foo@bad.domain>: Sender address rejected: match bad.domain"
        );
        assert_eq!(
            (r.from, r.to, r.helo),
            (
                Some("foo@bad.domain"),
                Some("foo@porcupine.org"),
                Some("192.51.100.43")
            )
        );
        assert_eq!(r.peer.unwrap().ip, "192.51.100.43");
    }

    #[test]
    fn reject_lines_without_sender() {
        let r = smtp_reject(
            None,
            "reject: CONNECT from unknown[192.0.2.114]: 450 4.7.25 Client host rejected: cannot find your hostname, [178.215.236.114]; proto=SMTP",
        )
        .unwrap();
        assert_eq!(
            r.text,
            "Client host rejected: cannot find your hostname, [178.215.236.114]"
        );
        assert_eq!((r.from, r.to, r.helo), (None, None, None));

        let r = smtp_reject(
            None,
            "reject: EHLO from s271272.static.corbina.ru[78.107.251.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<User>",
        )
        .unwrap();
        assert_eq!(
            r.text,
            "<User>: Helo command rejected: need fully-qualified hostname"
        );
        assert_eq!((r.from, r.helo), (None, Some("User")));

        let r = smtp_reject(
            None,
            "reject: RCPT from [157.122.148.242]:47407: 550 5.7.1 Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net; from=<kos@mafia.network>, to=<z13699753428@vip.163.com>, proto=ESMTP, helo=<XL-20160217QQJV>",
        )
        .unwrap();
        assert_eq!(
            r.text,
            "Service unavailable; client [157.122.148.242] blocked using bl.spamcop.net"
        );
        assert_eq!(
            (r.from, r.to, r.helo),
            (
                Some("kos@mafia.network"),
                Some("z13699753428@vip.163.com"),
                Some("XL-20160217QQJV")
            )
        );
    }
}
