//! Bounded memory under floods that never complete (CI-sized: ~1.6 M generated lines, in
//! process, a few seconds in release):
//! - distinct queue IDs (`client=`, `message-id=`) that are never removed,
//! - smtpd sessions that connect and never disconnect,
//! - greylisted triplets that never pass,
//! - rspamd verdicts for queue IDs Postfix never logs,
//! - 10 000 distinct TLS ciphers, TLS protocols and services.
//!
//! The correlator never holds more than its configured capacities, each drop is counted in
//! `pflog_correlation_evictions_total`, label values stop at the cap (`other`, counted in
//! `pflog_label_overflow_total`), and once log time passes the TTLs everything is let go.

use std::collections::BTreeMap;

use pflog::correlator::CorrelatorConfig;
use pflog::exposition::{self, Format};
use pflog::pipeline::{Pipeline, PipelineConfig};
use prometheus_client::registry::Registry;

const S: i64 = 1_000_000;
const CAPACITY: usize = 20_000;
const SESSIONS: usize = 5_000;
const TRIPLETS: usize = 10_000;
const LABEL_CAP: usize = 64;

const N_MESSAGES: usize = 600_000;
const N_SESSIONS: usize = 100_000;
const N_TRIPLETS: usize = 300_000;
const N_VERDICTS: usize = 300_000;
const N_LABELS: usize = 10_000;

fn config() -> PipelineConfig {
    PipelineConfig {
        year: Some(2026),
        utc_offset: Some(0),
        correlator: CorrelatorConfig {
            capacity: CAPACITY,
            message_ttl: 7 * 86_400 * S,
            incoming_ttl: 3_600 * S,
            session_capacity: SESSIONS,
            session_ttl: 3_600 * S,
            greylist_window: 86_400 * S,
            triplet_capacity: TRIPLETS,
            join_window: 30 * S,
        },
        label_cap: LABEL_CAP,
        reject_rules: Vec::new(),
    }
}

fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample");
            (series.to_string(), value.parse().expect("number"))
        })
        .collect()
}

fn sum(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A long-form-looking but valid short queue ID (upper-case hex), distinct per `i`.
fn qid(i: usize) -> String {
    format!("{i:011X}")
}

#[test]
fn never_completed_state_and_label_floods_stay_bounded() {
    let rss_before = rss_kib();
    let mut registry = Registry::default();
    let mut p = Pipeline::new(config(), &mut registry).expect("pipeline");
    let mut lines = 0usize;
    let mut line = String::with_capacity(512);
    let mut feed = |p: &mut Pipeline, line: &str| {
        p.process_line(line.as_bytes());
        lines += 1;
        let c = p.correlator();
        assert!(c.tracked() <= CAPACITY);
        assert!(c.sessions() <= SESSIONS);
        assert!(c.triplets() <= TRIPLETS);
        assert!(c.early_verdicts() <= CAPACITY / 10);
        assert!(c.held() <= CAPACITY);
    };
    let t = "Nov 24 01:22:13 mail";
    use std::fmt::Write;
    for i in 0..N_MESSAGES {
        line.clear();
        write!(
            line,
            "{t} postfix/smtpd[7]: {}: client=h[192.0.2.1]",
            qid(i)
        )
        .unwrap();
        feed(&mut p, &line);
        if i % 2 == 0 {
            line.clear();
            write!(
                line,
                "{t} postfix/cleanup[8]: {}: message-id=<{i}@x>",
                qid(i)
            )
            .unwrap();
            feed(&mut p, &line);
        }
    }
    for i in 0..N_SESSIONS {
        let pid = 1000 + i;
        line.clear();
        write!(line, "{t} postfix/smtpd[{pid}]: connect from h[192.0.2.1]").unwrap();
        feed(&mut p, &line);
        if i < N_LABELS {
            line.clear();
            write!(
                line,
                "{t} postfix/smtpd[{pid}]: Anonymous TLS connection established from h[192.0.2.1]: TLSv9.{i} with cipher CIPHER-{i} (256/256 bits)"
            )
            .unwrap();
            feed(&mut p, &line);
        }
    }
    for i in 0..N_TRIPLETS {
        line.clear();
        write!(
            line,
            "{t} postgrey[9]: action=greylist, reason=new, client_name=h, client_address=192.0.2.1, sender=s{i}@x, recipient=r@y"
        )
        .unwrap();
        feed(&mut p, &line);
    }
    for i in 0..N_VERDICTS {
        line.clear();
        write!(
            line,
            "{t} rspamd[10]: <a1b2c3>; proxy; rspamd_task_write_log: id: <m{i}@x>, qid: <{}>, ip: 192.0.2.1, from: <s@x>, (default: F (no action): [0.00/15.00] [X(0.00){{}}]), len: 1, time: 1.0ms, dns req: 0",
            qid(N_MESSAGES + i)
        )
        .unwrap();
        feed(&mut p, &line);
    }
    for i in 0..N_LABELS {
        line.clear();
        write!(
            line,
            "{t} postfix/svc{i}/smtpd[2]: connect from h[192.0.2.1]"
        )
        .unwrap();
        feed(&mut p, &line);
    }

    let c = p.correlator();
    assert_eq!(c.tracked(), CAPACITY);
    assert_eq!(c.sessions(), SESSIONS);
    assert_eq!(c.triplets(), TRIPLETS);
    assert_eq!(c.early_verdicts(), CAPACITY / 10);
    let full = samples(&exposition::render(&registry, Format::Prometheus));
    let rss_full = rss_kib();

    // Every drop is counted: messages, sessions (the services' connects are one more session,
    // (postfix, 2)), triplets and early verdicts beyond their capacities.
    let dropped = (N_MESSAGES - CAPACITY)
        + (N_SESSIONS + 1 - SESSIONS)
        + (N_TRIPLETS - TRIPLETS)
        + (N_VERDICTS - CAPACITY / 10);
    assert_eq!(
        full.get("pflog_correlation_evictions_total{reason=\"capacity\"}"),
        Some(&(dropped as f64))
    );
    assert_eq!(full.get("pflog_tracked_messages"), Some(&(CAPACITY as f64)));

    // Label caps: at most LABEL_CAP values plus `other`, and every other counted.
    let tls = "postfix_tls_connections_total{";
    let ciphers: std::collections::BTreeSet<&str> = full
        .keys()
        .filter(|k| k.starts_with(tls))
        .filter_map(|k| k.split("cipher=\"").nth(1)?.split('"').next())
        .collect();
    assert!(ciphers.len() <= LABEL_CAP + 1, "{} ciphers", ciphers.len());
    assert!(ciphers.contains("other"));
    assert_eq!(
        sum(&full, tls),
        N_LABELS as f64,
        "every TLS line counted once"
    );
    let overflow = |metric: &str, label: &str| {
        full.get(&format!(
            "pflog_label_overflow_total{{metric=\"{metric}\",label=\"{label}\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    };
    assert_eq!(
        overflow("postfix_tls_connections_total", "cipher"),
        (N_LABELS - LABEL_CAP) as f64
    );
    assert_eq!(
        overflow("postfix_tls_connections_total", "protocol"),
        (N_LABELS - LABEL_CAP) as f64
    );
    let services: std::collections::BTreeSet<&str> = full
        .keys()
        .filter(|k| k.starts_with("postfix_smtpd_connections_total{"))
        .filter_map(|k| k.split("service=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        services.len() <= LABEL_CAP + 1,
        "{} services",
        services.len()
    );
    assert!(overflow("postfix_*", "service") >= (N_LABELS - LABEL_CAP) as f64);
    assert_eq!(
        sum(&full, "postfix_smtpd_connections_total{"),
        (N_SESSIONS + N_LABELS) as f64
    );
    // No family grew with the floods: the whole exposition stays small.
    assert!(full.len() < 5_000, "{} series", full.len());
    assert_eq!(
        sum(&full, "pflog_lines_total{") as usize,
        lines,
        "every line counted once"
    );

    // Log time moves past every TTL: all state is let go (the one session left is the line's
    // own), each drop counted.
    p.process_line(b"Dec  9 01:22:13 mail postfix/smtpd[1]: connect from h[192.0.2.1]");
    let c = p.correlator();
    assert_eq!(
        (c.tracked(), c.sessions(), c.triplets()),
        (0, 1, 0),
        "state left after the TTLs"
    );
    let after = samples(&exposition::render(&registry, Format::Prometheus));
    assert_eq!(
        after.get("pflog_correlation_evictions_total{reason=\"expired\"}"),
        Some(&(CAPACITY as f64))
    );
    assert_eq!(
        after.get("postgrey_abandoned_triplets_total"),
        Some(&(TRIPLETS as f64))
    );
    assert_eq!(after.get("pflog_tracked_messages"), Some(&0.0));

    let growth_mib = rss_full.saturating_sub(rss_before) / 1024;
    eprintln!(
        "{lines} lines; RSS {rss_before} KiB before, {rss_full} KiB at capacity (+{growth_mib} MiB)"
    );
    assert!(growth_mib < 256, "RSS grew by {growth_mib} MiB");
}
