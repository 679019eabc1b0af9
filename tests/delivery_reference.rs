//! The delivery agents' field list (`to=<...>, relay=..., delay=..., status=...`) is read in
//! one pass (`pflog::parsers::delivery::delivery`); the parser it replaced (a `find` per
//! field, `split` for the delays) is kept here, frozen, as the oracle it must agree with on
//! every list, real or made up.

use pflog::event::Delivery;
use pflog::parsers::common::{number, quoted_local_part_len};
use pflog::parsers::delivery::delivery;
use proptest::prelude::*;

/// The delivery parser as it was before the one-pass scan.
fn reference<'a>(queue_id: &'a str, line: &'a str) -> Option<Delivery<'a>> {
    fn next_value(s: &str) -> Option<(&str, &str)> {
        if let Some(inner) = s.strip_prefix('<') {
            let quoted = quoted_local_part_len(inner);
            let close = quoted + inner[quoted..].find(">, ")?;
            return Some((&inner[..close], &inner[close + 3..]));
        }
        let end = s.find(", ")?;
        Some((&s[..end], &s[end + 2..]))
    }
    fn delays(s: &str) -> Option<[f64; 4]> {
        let mut parts = s.split('/');
        let mut out = [0.0; 4];
        for slot in &mut out {
            *slot = number(parts.next()?)?;
        }
        parts.next().is_none().then_some(out)
    }
    fn queued_as(detail: &str) -> Option<&str> {
        let at = detail.find("queued as ")?;
        let rest = &detail[at + "queued as ".len()..];
        let id = &rest[..rest.find([' ', ')', ';', ',']).unwrap_or(rest.len())];
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
    }
    fn status_and_detail(s: &str) -> Option<(&str, &str)> {
        let (status, detail) = match s.split_once(' ') {
            Some((status, rest)) => {
                let detail = rest.strip_prefix('(')?;
                (status, detail.strip_suffix(')').unwrap_or(detail))
            }
            None => (s, ""),
        };
        let word = |b: u8| b.is_ascii_alphabetic() || b == b'-' || b == b'_';
        (!status.is_empty() && status.bytes().all(word)).then_some((status, detail))
    }
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
    let mut rest = line;
    let (mut seen_to, mut seen_relay) = (false, false);
    loop {
        let eq = rest
            .bytes()
            .position(|b| !(b.is_ascii_lowercase() || b == b'_'))?;
        if eq == 0 || rest.as_bytes()[eq] != b'=' {
            return None;
        }
        let key = &rest[..eq];
        let value_and_rest = &rest[eq + 1..];
        if key == "status" {
            let (status, detail) = status_and_detail(value_and_rest)?;
            d.status = status;
            d.detail = detail;
            d.queued_as = queued_as(detail);
            break;
        }
        let (value, next) = next_value(value_and_rest)?;
        match key {
            "to" => {
                d.to = value;
                seen_to = true;
            }
            "orig_to" => d.orig_to = Some(value),
            "relay" => {
                d.relay = value;
                seen_relay = true;
            }
            "delay" => d.delay = number(value),
            "delays" => d.delays = delays(value),
            "dsn" => d.dsn = Some(value),
            _ => {}
        }
        if !seen_to {
            return None;
        }
        rest = next;
    }
    (seen_to && seen_relay).then_some(d)
}

/// `key=value, ` lists near the delivery line's shape: the real keys and others, addresses
/// with `>, ` and quotes inside, numbers in all of Postfix's forms, missing separators, cut off
/// anywhere half of the time.
fn delivery_list() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "to", "orig_to", "relay", "conn_use", "delay", "delays", "dsn", "status", "", "Relay",
    ]);
    let value = prop_oneof![
        "<[a-z@.,> ]{0,8}>",
        "<\"[a-z>, =\\\\]{0,8}\"@d>",
        "[a-z.\\[\\]0-9:]{0,12}",
        "[0-9.e+-]{0,7}",
        "[0-9.]{1,4}/[0-9.]{1,4}/[0-9.e+]{1,6}/[0-9./]{1,5}",
        "(sent|deferred|bounced|x y) \\((250 Ok: queued as [A-Z0-9]{0,6}[ );,]?)?[a-z ]{0,5}\\)?",
    ];
    let separator = prop::sample::select(vec![", ", ",", " ", "", ">, "]);
    let fields = prop::collection::vec((key, value, separator), 0..9);
    (fields, any::<prop::sample::Index>(), any::<bool>()).prop_map(|(fields, cut, truncate)| {
        let mut list: String = fields
            .iter()
            .map(|(key, value, separator)| format!("{key}={value}{separator}"))
            .collect();
        if truncate && !list.is_empty() {
            let mut at = cut.index(list.len());
            while !list.is_char_boundary(at) {
                at -= 1;
            }
            list.truncate(at);
        }
        list
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]
    /// The one-pass scan reads every list as the find-per-field parser did.
    #[test]
    fn one_pass_is_the_reference(s in delivery_list()) {
        prop_assert_eq!(delivery("ID", &s), reference("ID", &s), "{}", s);
    }
}

#[test]
fn one_pass_agrees_on_the_table_lines() {
    for line in [
        "to=<a@b>, relay=x, delay=1, delays=1/2/3/4, dsn=2.0.0, status=sent (ok)",
        "to=<a@b>, relay=x, status=sent",
        "to=<a@b>,relay=x, status=sent",
        "relay=x, to=<a@b>, status=sent",
        "to=<a@b>, relay=x, delay=1",
        "to=<\"a>, b\"@d>, relay=x, status=sent (250 queued as ABC)",
    ] {
        assert_eq!(delivery("ID", line), reference("ID", line), "{line}");
    }
}
