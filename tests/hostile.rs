//! Hostile log text: attacker-controlled fields (HELO names, envelope addresses, reply text,
//! client names, postgrey and rspamd fields) that try to confuse the key=value scanners.
//!
//! Each case takes the real mail stack log (fixtures/mailstack), puts a payload into one field
//! of real lines, replays it, and compares the exposition with the replay of the untouched log:
//! every number must be the same, except the families whose label *is* that field. So the
//! rest of the line (reject code/stage/reason, delivery status, sizes, TLS protocol) and the
//! rest of the log (outcomes, correlation) are not disturbed by what the attacker wrote.
//!
//! The second half bounds the work per byte on 1 MB lines of scanner-hostile text.

use std::collections::BTreeMap;
use std::path::Path;

use pflog::exposition::{self, Format};
use pflog::pipeline::{Pipeline, PipelineConfig};
use pflog::replay::{self, ReplayOptions, UnsupportedSampler};
use prometheus_client::registry::Registry;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/mailstack")
            .join(name),
    )
    .expect("fixture")
}

fn config() -> PipelineConfig {
    PipelineConfig {
        year: Some(2026),
        utc_offset: Some(0),
        ..PipelineConfig::default()
    }
}

/// `pflog replay mail.log --rspamd-log rspamd.log` in process; the samples by series.
fn replay(mail: &[u8], rspamd: &[u8]) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (m, r) = (dir.path().join("mail.log"), dir.path().join("rspamd.log"));
    std::fs::write(&m, mail).expect("write");
    std::fs::write(&r, rspamd).expect("write");
    let mut registry = Registry::default();
    let mut p = Pipeline::new(config(), &mut registry).expect("pipeline");
    // rspamd lines merge by time: the one-thread path whatever the thread count.
    let opts = ReplayOptions {
        threads: 2,
        max_line: 16 << 20,
    };
    let replayed =
        replay::replay(&mut p, &[m], &[r], opts, &mut UnsupportedSampler::new(0)).expect("replay");
    assert!(replayed.incomplete.is_empty(), "{:?}", replayed.incomplete);
    samples(&exposition::render(&registry, Format::Prometheus))
}

fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample");
            (series.to_string(), value.to_string())
        })
        .collect()
}

/// Payloads: separators and markers of every scanner, quoting, brackets, long text, bytes that
/// are not UTF-8, control characters and NUL.
fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut p: Vec<(String, Vec<u8>)> = [
        ("equals", "a=b=c"),
        (
            "comma-key",
            "x, relay=evil[6.6.6.6]:25, delay=999, status=bounced (550 5.0.0 no)",
        ),
        ("angle-comma", "x>, status=bounced (550 no), y=<z"),
        (
            "field-list",
            "x; from=<evil@x> to=<evil@y> proto=ESMTP helo=<evil>",
        ),
        ("to-marker", "x to=<evil@y>, orig_to=<z>"),
        ("brackets", "<<>>[[]]<>[]"),
        ("peer", "evil[6.6.6.6]:25: 250 ok"),
        ("quotes", "\"'\"\\\"\\"),
        ("size", ">, size=999999, nrcpt=99 (queue active)"),
        ("postgrey", "x, action=pass, reason=triplet found, sender=y"),
        (
            "rspamd",
            "x>, qid: <FAKEQID>, ip: 6.6.6.6, (default: T (reject): [99.00/15.00] [X]",
        ),
        ("tls", "TLSv1.0 with cipher X (1/1 bits)"),
        ("paren", ") (queue active) ("),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.as_bytes().to_vec()))
    .collect();
    p.push(("long-hostname".into(), "a-b.c_d.".repeat(1250).into_bytes()));
    p.push(("10k".into(), "=,<>; []\"".repeat(1200).into_bytes()));
    p.push(("invalid-utf8".into(), b"a\xff\xfe\xc3(\xe2\x82z".to_vec()));
    p.push((
        "control".into(),
        (1u8..32).filter(|&b| b != b'\n').collect(),
    ));
    p.push(("nul".into(), b"a\0b\0\0c".to_vec()));
    p
}

/// How Postfix logs an address whose local part has specials (`info_log_address_format =
/// external`, the default): quoted, with `"` and `\` escaped.
fn quoted_address(payload: &[u8], domain: &str) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in payload {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.extend_from_slice(b"\"@");
    out.extend_from_slice(domain.as_bytes());
    out
}

/// Replaces `old` by `new` in the lines that contain `marker`; returns the log and how many
/// lines were changed.
fn substitute(log: &[u8], marker: &str, old: &str, new: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(log.len());
    let mut changed = 0;
    for line in log.split_inclusive(|&b| b == b'\n') {
        let is_target = contains(line, marker.as_bytes());
        match find(line, old.as_bytes()) {
            Some(at) if is_target => {
                out.extend_from_slice(&line[..at]);
                out.extend_from_slice(new);
                out.extend_from_slice(&line[at + old.len()..]);
                changed += 1;
            }
            _ => out.extend_from_slice(line),
        }
    }
    (out, changed)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Where a payload goes.
struct Case {
    name: &'static str,
    /// rspamd.log instead of mail.log.
    rspamd: bool,
    /// Lines containing this...
    marker: &'static str,
    /// ...get this text replaced...
    old: &'static str,
    /// ...by this, with the payload.
    new: fn(&[u8]) -> Vec<u8>,
    /// Labels whose value is the field itself: compared summed over their values (so the
    /// other labels of the same series, e.g. the TLS protocol beside the cipher, still count).
    field_labels: &'static [&'static str],
    /// Which payloads the field can really hold (e.g. Postfix logs only valid host names).
    can_hold: fn(&[u8]) -> bool,
    /// Known limitations: (payload, families that may differ); see docs/reliability.md.
    known: &'static [(&'static str, &'static [&'static str])],
}

fn any(_: &[u8]) -> bool {
    true
}

/// Postfix logs a client name only when it is a valid host name (else `unknown`).
fn hostname(p: &[u8]) -> bool {
    p.iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A field list (`; from=<a> to=<b> ...`) inside the HELO name or sender of a reject: the reply
/// text before the list is client text too, so which `; from=<` starts the real list is
/// ambiguous; the parser takes the rightmost. The reject itself (code, stage, reason) is still
/// counted right; the recipient it names may be the forged one, so a reject without a recipient
/// can count as a rejected message (of the attacker's own session).
const FORGED_FIELD_LIST: &[&str] = &[
    "postfix_message_outcomes_total",
    "postfix_message_rspamd_outcomes_total",
    // The same outcomes once more per check (SPF, DKIM, DMARC).
    "postfix_message_auth_outcomes_total",
];

/// rspamd's log line is `key: value, ` text with the client's message-id and sender in it,
/// unquoted: a forged `(default: ...)` block in them is read as the verdict of that (the
/// attacker's own) message, or the line is not understood. The queue ID written before the
/// sender is kept (first wins), so a verdict is never joined to another message by the sender.
const FORGED_RSPAMD: &[&str] = &[
    "pflog_lines_total",
    "postfix_message_rspamd_outcomes_total",
    "rspamd_actions_total",
    "rspamd_score_bucket",
    "rspamd_score_count",
    "rspamd_score_sum",
    "rspamd_scan_duration_seconds_bucket",
    "rspamd_scan_duration_seconds_count",
    "rspamd_scan_duration_seconds_sum",
    "rspamd_symbols_total",
];

fn wrap(before: &str, payload: &[u8], after: &str) -> Vec<u8> {
    let mut v = before.as_bytes().to_vec();
    v.extend_from_slice(payload);
    v.extend_from_slice(after.as_bytes());
    v
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "HELO name in reject lines (smtpd, cleanup milter-reject)",
            rspamd: false,
            marker: "reject: ",
            old: "helo=<mail.sender.test>",
            new: |p| wrap("helo=<", p, ">"),
            field_labels: &[],
            can_hold: any,
            known: &[
                ("field-list", FORGED_FIELD_LIST),
                ("to-marker", FORGED_FIELD_LIST),
            ],
        },
        Case {
            name: "sender of a reject (quoted address)",
            rspamd: false,
            marker: "reject: ",
            old: "from=<sender@sender.test>",
            new: |p| wrap("from=<", &quoted_address(p, "sender.test"), ">"),
            field_labels: &[],
            can_hold: any,
            known: &[
                ("field-list", FORGED_FIELD_LIST),
                ("to-marker", FORGED_FIELD_LIST),
            ],
        },
        Case {
            name: "recipient of a reject, in the reply and the field list (quoted)",
            rspamd: false,
            marker: "Relay access denied",
            old: "<victim@elsewhere.test>: Relay access denied; from=<sender@sender.test> to=<victim@elsewhere.test>",
            new: |p| {
                let a = quoted_address(p, "elsewhere.test");
                let mut v = wrap(
                    "<",
                    &a,
                    ">: Relay access denied; from=<sender@sender.test> to=<",
                );
                v.extend_from_slice(&a);
                v.push(b'>');
                v
            },
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "reject reply text",
            rspamd: false,
            marker: "reject: ",
            old: "Relay access denied;",
            new: |p| wrap("Relay access denied ", p, ";"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "sender in qmgr lines (quoted address)",
            rspamd: false,
            marker: "(queue active)",
            old: "from=<sender@sender.test>",
            new: |p| wrap("from=<", &quoted_address(p, "sender.test"), ">"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "recipient of deliveries (quoted address)",
            rspamd: false,
            marker: "status=",
            old: "to=<alice@vmail.test>",
            new: |p| wrap("to=<", &quoted_address(p, "vmail.test"), ">"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "client hostname (connect, client=, reject, disconnect)",
            rspamd: false,
            marker: "localhost[127.0.0.1]",
            old: "localhost[127.0.0.1]",
            new: |p| wrap("", p, "[127.0.0.1]"),
            field_labels: &[],
            can_hold: hostname,
            known: &[],
        },
        Case {
            name: "TLS cipher name",
            rspamd: false,
            marker: "TLS connection established from",
            old: "with cipher TLS_AES_256_GCM_SHA384",
            new: |p| wrap("with cipher ", p, ""),
            field_labels: &["cipher"],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "postgrey sender (raw)",
            rspamd: false,
            marker: "postgrey[",
            old: "sender=sender@sender.test",
            new: |p| wrap("sender=", p, "@sender.test"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "postgrey recipient (raw)",
            rspamd: false,
            marker: "postgrey[",
            old: "recipient=grey@vmail.test",
            new: |p| wrap("recipient=", p, "@vmail.test"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
        Case {
            name: "rspamd envelope sender",
            rspamd: true,
            marker: "rspamd_task_write_log",
            old: "from: <sender@sender.test>",
            new: |p| wrap("from: <", p, "@sender.test>"),
            field_labels: &[],
            can_hold: any,
            known: &[
                ("angle-comma", FORGED_RSPAMD),
                ("to-marker", FORGED_RSPAMD),
                ("size", FORGED_RSPAMD),
                ("rspamd", FORGED_RSPAMD),
            ],
        },
        Case {
            name: "rspamd message-id",
            rspamd: true,
            marker: "rspamd_task_write_log",
            old: "id: <pflog-e2e-m01-plain@sender.test>",
            new: |p| wrap("id: <", p, "@sender.test>"),
            field_labels: &[],
            can_hold: any,
            known: &[
                ("angle-comma", FORGED_RSPAMD),
                ("to-marker", FORGED_RSPAMD),
                ("size", FORGED_RSPAMD),
                ("rspamd", FORGED_RSPAMD),
            ],
        },
        Case {
            name: "rspamd symbol options",
            rspamd: true,
            marker: "rspamd_task_write_log",
            old: "FROM_NO_DN(0.00){}",
            new: |p| wrap("FROM_NO_DN(0.00){", p, "}"),
            field_labels: &[],
            can_hold: any,
            known: &[],
        },
    ]
}

/// The samples that `keep` accepts, with the values of `labels` replaced by `*` and the series
/// that become the same summed.
fn normalize(
    samples: &BTreeMap<String, String>,
    labels: &[&str],
    keep: impl Fn(&String) -> bool,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in samples.iter().filter(|(k, _)| keep(k)) {
        let mut key = k.clone();
        for label in labels {
            let open = format!("{label}=\"");
            if let Some(at) = key.find(&open) {
                let start = at + open.len();
                let b = key.as_bytes();
                let mut end = start;
                while end < b.len() && b[end] != b'"' {
                    end += if b[end] == b'\\' { 2 } else { 1 };
                }
                key.replace_range(start..end.min(key.len()), "*");
            }
        }
        *out.entry(key).or_insert(0.0) += v.parse::<f64>().expect("number");
    }
    out.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

#[test]
fn hostile_fields_leave_the_rest_of_the_numbers_alone() {
    let (mail, rspamd) = (fixture("mail.log"), fixture("rspamd.log"));
    let baseline = replay(&mail, &rspamd);
    assert!(baseline.len() > 50, "the baseline replay counted nothing");
    let mut failures = Vec::new();
    for case in cases() {
        for (pname, payload) in payloads() {
            if !(case.can_hold)(&payload) {
                continue;
            }
            let known: &[&str] = case
                .known
                .iter()
                .find(|(p, _)| *p == pname)
                .map_or(&[], |(_, f)| f);
            let new = (case.new)(&payload);
            let source = if case.rspamd { &rspamd } else { &mail };
            let (changed_log, n) = substitute(source, case.marker, case.old, &new);
            assert!(n > 0, "{}: no line matched", case.name);
            let got = if case.rspamd {
                replay(&mail, &changed_log)
            } else {
                replay(&changed_log, &rspamd)
            };
            let keep = |k: &String| {
                let family = k.split('{').next().unwrap_or(k);
                !known.contains(&family)
            };
            let want = normalize(&baseline, case.field_labels, keep);
            let have = normalize(&got, case.field_labels, keep);
            if want != have {
                let mut diff = Vec::new();
                for (k, v) in &want {
                    if have.get(k) != Some(v) {
                        diff.push(format!("  want {k} {v}, have {:?}", have.get(k)));
                    }
                }
                for (k, v) in &have {
                    if !want.contains_key(k) {
                        diff.push(format!("  extra {k} {v}"));
                    }
                }
                failures.push(format!(
                    "{} / payload {pname} ({n} lines):\n{}",
                    case.name,
                    diff.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- Linear work on long hostile lines ----

/// CPU time of this thread (ns), from /proc/thread-self/schedstat: other tests running in
/// parallel do not count.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("cpu time")
}

/// Real line starts of every parser, each followed by hostile text.
const PREFIXES: &[&str] = &[
    "Nov 24 01:22:13 mail postfix/smtpd[20161]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <v@e.test>: Relay access denied; from=<s@s.test> to=<v@e.test> proto=ESMTP helo=<",
    "Nov 24 01:22:13 mail postfix/smtpd[20161]: connect from ",
    "Nov 24 01:22:13 mail postfix/smtpd[20161]: Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher ",
    "Nov 24 01:22:13 mail postfix/smtpd[20161]: 1A72E9921C4: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=",
    "Nov 24 01:22:13 mail postfix/smtpd[20161]: disconnect from localhost[127.0.0.1] ehlo=1 ",
    "Nov 24 01:22:13 mail postfix/postscreen[1]: NOQUEUE: reject: RCPT from [192.0.2.1]:47407: 550 5.7.1 Service unavailable; from=<",
    "Nov 24 01:22:13 mail postfix/cleanup[20236]: 809C7992200: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Gtube pattern; from=<s@s.test> to=<a@v.test> proto=ESMTP helo=<",
    "Nov 24 01:22:13 mail postfix/cleanup[20236]: 809C7992200: reject: header Subject: ",
    "Nov 24 01:22:13 mail postfix/cleanup[20236]: 1A72E9921C4: message-id=<",
    "Nov 24 01:22:13 mail postfix/qmgr[20151]: 1A72E9921C4: from=<",
    "Nov 24 01:22:13 mail postfix/lmtp[20237]: 1A72E9921C4: to=<",
    "Nov 24 01:22:13 mail postfix/smtp[20237]: 1A72E9921C4: to=<a@b>, relay=h[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (",
    "Nov 24 01:22:13 mail postfix/bounce[1]: 1A72E9921C4: sender non-delivery notification: ",
    "Nov 24 01:22:13 mail postfix/pickup[1]: 1A72E9921C4: uid=0 from=<",
    "Nov 24 01:22:13 mail postfix/postsuper[1]: ",
    "Nov 24 01:22:13 mail postgrey[19356]: action=greylist, reason=new, client_name=localhost, client_address=127.0.0.1, sender=",
    "Nov 24 01:22:13 mail postfix/policyd-weight[20260]: decided action=PREPEND X-policyd-weight: ",
    "Nov 24 01:22:13 mail rspamd[1]: <63ce70>; proxy; rspamd_task_write_log: id: <",
    "2026-11-24 01:22:13 #19506(rspamd_proxy) <63ce70>; proxy; rspamd_task_write_log: id: <m@s>, qid: <1A72E9921C4>, ip: 127.0.0.1, from: <s@s>, (default: F (no action): [0.00/15.00] [",
    "<34>1 2026-11-24T01:22:13.000Z mail postfix/smtpd 1 - [",
    "Nov 24 01:22:13 ",
    "",
];

/// Text that every scanner looks for, repeated.
const UNITS: &[&str] = &[
    "=",
    "<",
    ",",
    ">",
    "[",
    "]",
    "(",
    ")",
    ";",
    ":",
    " ",
    "\"",
    "{",
    "}",
    "\\",
    "a",
    ", a=",
    ", a",
    "=<",
    ">, ",
    "; from=<",
    " to=<",
    ", status=",
    ": ",
    "qid: <",
    " (queue ",
    ">, size=",
    "to",
    "from=",
    "helo=<",
    "(default: ",
    "<x>; ",
    "]:",
    "[1.2.3.4]",
    "\u{fffd}",
];

/// Nanoseconds per byte of the mail stack log, processed as many times as makes `bytes`.
fn baseline_ns_per_byte(bytes: usize) -> f64 {
    let log = fixture("mail.log");
    let mut registry = Registry::default();
    let mut p = Pipeline::new(config(), &mut registry).expect("pipeline");
    let start = thread_cpu_ns();
    let mut done = 0;
    while done < bytes {
        for line in log.split(|&b| b == b'\n') {
            p.process_line(line);
        }
        done += log.len();
    }
    (thread_cpu_ns() - start) as f64 / done as f64
}

/// Every parser on 1 MB lines of each scanner-hostile unit. Work must be linear in the line
/// length: the CPU time per byte of a hostile line is bounded by a multiple of the CPU time per
/// byte of ordinary log lines (a ratio, so it holds on any machine; a quadratic scan of a 1 MB
/// line costs ~10^5 times more per byte, far above the bound). Line counts are checked too.
#[test]
fn one_megabyte_hostile_lines_take_linear_time() {
    const LEN: usize = 1 << 20;
    // Enough to be measurable against the scheduler tick.
    let base = baseline_ns_per_byte(8 << 20).max(0.05);
    let mut registry = Registry::default();
    let mut p = Pipeline::new(config(), &mut registry).expect("pipeline");
    let mut worst = (0.0f64, String::new());
    let mut lines = 0u64;
    for unit in UNITS {
        let filler = unit.repeat(LEN / unit.len());
        for prefix in PREFIXES {
            let line = format!("{prefix}{filler}");
            let start = thread_cpu_ns();
            p.process_line(line.as_bytes());
            let per_byte = (thread_cpu_ns() - start) as f64 / line.len() as f64;
            lines += 1;
            if per_byte > worst.0 {
                worst = (
                    per_byte,
                    format!("{prefix:.40}... + {unit:?} x {}", LEN / unit.len()),
                );
            }
        }
    }
    let text = exposition::render(&registry, Format::Prometheus);
    let counted: f64 = samples(&text)
        .iter()
        .filter(|(k, _)| k.starts_with("pflog_lines_total{"))
        .map(|(_, v)| v.parse::<f64>().expect("number"))
        .sum();
    assert_eq!(counted as u64, lines, "every hostile line is counted once");
    eprintln!(
        "worst: {:.2} ns/byte ({:.0}x the {:.2} ns/byte of ordinary lines): {}",
        worst.0,
        worst.0 / base,
        base,
        worst.1
    );
    assert!(
        worst.0 < base * 200.0,
        "superlinear work: {:.2} ns/byte vs {:.2} ns/byte on ordinary lines: {}",
        worst.0,
        base,
        worst.1
    );
}
