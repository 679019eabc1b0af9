//! The human and JSON summary of `pflog replay`, read back from the exposition itself so that
//! the report and `/metrics` can never disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::metrics::{Extremes, Range};

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Parses the sample lines of a Prometheus/OpenMetrics text exposition (comments skipped).
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(parse_sample)
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => (&line[..i], &line[i..]),
        None => return None,
    };
    let mut labels = Vec::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            // key="value"
            let key_start = i;
            let mut key_end = i;
            for (j, c2) in chars.by_ref() {
                if c2 == '=' {
                    key_end = j;
                    break;
                }
            }
            let key = body[key_start..key_end].trim_start_matches(',').to_string();
            chars.next(); // opening quote
            let mut value = String::new();
            while let Some((_, c3)) = chars.next() {
                match c3 {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.push((key, value));
            if let Some((_, ',')) = chars.peek() {
                chars.next();
            }
        }
        &body[end? + 1..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub lines: Lines,
    pub messages: Messages,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub rejects_by_stage: BTreeMap<String, u64>,
    pub tls_inbound: BTreeMap<String, u64>,
    pub tls_outbound: BTreeMap<String, u64>,
    pub outcomes_by_inbound_tls: BTreeMap<String, u64>,
    pub greylisting: Greylisting,
    pub policyd_weight: BTreeMap<String, u64>,
    pub rspamd: BTreeMap<String, u64>,
    pub deliveries_by_service: BTreeMap<String, BTreeMap<String, u64>>,
    /// Percentiles of postfix_delivery_delay_seconds (status=sent), by service.
    pub delivery_delay_seconds: BTreeMap<String, Percentiles>,
    /// Percentiles of postfix_message_end_to_end_seconds, by outcome.
    pub end_to_end_seconds: BTreeMap<String, Percentiles>,
    pub correlation: Correlation,
}

#[derive(Debug, Default, Serialize)]
pub struct Lines {
    pub total: u64,
    pub parsed: u64,
    pub ignored: u64,
    pub unsupported: u64,
    pub unsupported_by_program: BTreeMap<String, u64>,
    /// Lines longer than `--max-line-bytes`: their first bytes were read, the rest skipped.
    pub cut: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Messages {
    pub received: u64,
    pub delivered: u64,
    pub deferred_attempts: u64,
    pub bounced: u64,
    pub expired: u64,
    pub rejected: u64,
    pub discarded: u64,
    pub reject_lines: u64,
    pub temporary_reject_lines: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Greylisting {
    pub greylisted: u64,
    pub passed: u64,
    pub passed_after_greylist: u64,
    pub abandoned_triplets: u64,
    pub pass_delay_seconds: Option<Percentiles>,
}

#[derive(Debug, Default, Serialize)]
pub struct Correlation {
    pub tracked_messages: u64,
    pub evictions_capacity: u64,
    pub evictions_expired: u64,
}

/// A histogram's observations as the report tells them: the count, minimum, mean and maximum
/// are exact; the percentiles are estimated from the buckets (as Prometheus'
/// `histogram_quantile` does) but never outside the observed minimum and maximum, and exact
/// when those are equal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    /// Whether p50, p90 and p99 are estimates (else they are observed values).
    pub percentiles_estimated: bool,
}

fn add(map: &mut BTreeMap<String, u64>, key: &str, v: f64) {
    *map.entry(key.to_string()).or_insert(0) += v as u64;
}

/// Builds the summary from exposition samples, and the exact extremes of the histograms it
/// summarises (`Metrics::extremes`; the exposition has only their buckets, sum and count).
pub fn summarize(samples: &[Sample], extremes: &Extremes) -> Summary {
    let mut s = Summary::default();
    let mut delay_buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut e2e_buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut pass_buckets: Vec<(f64, f64)> = Vec::new();
    let mut delay_sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut e2e_sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut pass_sum = 0.0;
    for x in samples {
        let v = x.value;
        let n = v as u64;
        match x.name.as_str() {
            "pflog_lines_total" => {
                s.lines.total += n;
                match x.label("result") {
                    "parsed" => s.lines.parsed += n,
                    "ignored" => s.lines.ignored += n,
                    _ => {
                        s.lines.unsupported += n;
                        add(&mut s.lines.unsupported_by_program, x.label("program"), v);
                    }
                }
            }
            "pflog_source_long_lines_total" => s.lines.cut += n,
            "postfix_messages_received_total" => s.messages.received += n,
            "postfix_message_outcomes_total" => {
                match x.label("outcome") {
                    "delivered" => s.messages.delivered += n,
                    "bounced" => s.messages.bounced += n,
                    "expired" => s.messages.expired += n,
                    "rejected" => s.messages.rejected += n,
                    "discarded" => s.messages.discarded += n,
                    _ => {}
                }
                add(&mut s.outcomes_by_inbound_tls, x.label("inbound_tls"), v);
            }
            "postfix_deliveries_total" => {
                if x.label("status") == "deferred" {
                    s.messages.deferred_attempts += n;
                }
                add(
                    s.deliveries_by_service
                        .entry(x.label("service").to_string())
                        .or_default(),
                    x.label("status"),
                    v,
                );
            }
            "postfix_rejects_total" => {
                s.messages.reject_lines += n;
                if x.label("code").starts_with('4') {
                    s.messages.temporary_reject_lines += n;
                }
                add(&mut s.rejects_by_reason, x.label("reason"), v);
                add(&mut s.rejects_by_stage, x.label("stage"), v);
            }
            "postfix_tls_connections_total" => {
                let map = if x.label("direction") == "inbound" {
                    &mut s.tls_inbound
                } else {
                    &mut s.tls_outbound
                };
                add(map, x.label("protocol"), v);
            }
            "postgrey_actions_total" => match x.label("action") {
                "greylist" => s.greylisting.greylisted += n,
                "pass" => {
                    s.greylisting.passed += n;
                    if x.label("reason") == "triplet_found" {
                        s.greylisting.passed_after_greylist += n;
                    }
                }
                _ => {}
            },
            "postgrey_abandoned_triplets_total" => s.greylisting.abandoned_triplets += n,
            "postgrey_pass_delay_seconds_bucket" => pass_buckets.push((le(x), v)),
            "postgrey_pass_delay_seconds_sum" => pass_sum += v,
            "policyd_weight_decisions_total" => add(&mut s.policyd_weight, x.label("action"), v),
            "rspamd_actions_total" => add(&mut s.rspamd, x.label("action"), v),
            "postfix_delivery_delay_seconds_bucket" if x.label("status") == "sent" => {
                delay_buckets
                    .entry(x.label("service").to_string())
                    .or_default()
                    .push((le(x), v));
            }
            "postfix_delivery_delay_seconds_sum" if x.label("status") == "sent" => {
                *delay_sums
                    .entry(x.label("service").to_string())
                    .or_default() += v;
            }
            "postfix_message_end_to_end_seconds_sum" => {
                *e2e_sums.entry(x.label("outcome").to_string()).or_default() += v;
            }
            "postfix_message_end_to_end_seconds_bucket" => {
                e2e_buckets
                    .entry(x.label("outcome").to_string())
                    .or_default()
                    .push((le(x), v));
            }
            "pflog_tracked_messages" => s.correlation.tracked_messages = n,
            "pflog_correlation_evictions_total" => match x.label("reason") {
                "capacity" => s.correlation.evictions_capacity += n,
                _ => s.correlation.evictions_expired += n,
            },
            _ => {}
        }
    }
    for (k, b) in delay_buckets {
        let p = percentiles(
            b,
            delay_sums.get(&k).copied().unwrap_or(0.0),
            extremes.delivery_delay.get(&k).copied(),
        );
        s.delivery_delay_seconds.insert(k, p);
    }
    for (k, b) in e2e_buckets {
        let p = percentiles(
            b,
            e2e_sums.get(&k).copied().unwrap_or(0.0),
            extremes.end_to_end.get(&k).copied(),
        );
        s.end_to_end_seconds.insert(k, p);
    }
    if !pass_buckets.is_empty() {
        s.greylisting.pass_delay_seconds = Some(percentiles(
            pass_buckets,
            pass_sum,
            extremes.greylist_pass_delay,
        ));
    }
    s
}

fn le(x: &Sample) -> f64 {
    match x.label("le") {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or(f64::INFINITY),
    }
}

/// Cumulative buckets (possibly from several series with the same bounds), their sum and the
/// observed range -> the summary of the observations. Percentiles are interpolated within a
/// bucket as Prometheus' `histogram_quantile` does, but between the bucket's bounds narrowed to
/// the observed range: so never below the least value nor above the greatest, and exact when
/// every value was the same.
fn percentiles(buckets: Vec<(f64, f64)>, sum: f64, range: Option<Range>) -> Percentiles {
    let mut merged: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (bound, count) in buckets {
        let e = merged.entry(bound.to_bits()).or_insert((bound, 0.0));
        e.1 += count;
    }
    let mut b: Vec<(f64, f64)> = merged.into_values().collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last().map_or(0.0, |x| x.1);
    let range = range.filter(|_| total > 0.0);
    let q = |q: f64| -> Option<f64> {
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut prev_bound: f64 = 0.0;
        let mut prev_count = 0.0;
        for &(bound, count) in &b {
            if count >= rank {
                let (lo, hi) = match range {
                    Some((min, max)) => (prev_bound.max(min).min(max), bound.min(max).max(min)),
                    // Above the last bound, and nothing known of the values there.
                    None if bound.is_infinite() => return Some(prev_bound),
                    None => (prev_bound, bound),
                };
                let in_bucket = count - prev_count;
                let frac = if in_bucket > 0.0 {
                    (rank - prev_count) / in_bucket
                } else {
                    1.0
                };
                return Some(lo + (hi - lo) * frac);
            }
            prev_bound = bound;
            prev_count = count;
        }
        None
    };
    Percentiles {
        count: total as u64,
        min: range.map(|r| r.0),
        mean: (total > 0.0).then(|| sum / total),
        max: range.map(|r| r.1),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        percentiles_estimated: total > 0.0 && range.is_none_or(|(min, max)| min < max),
    }
}

fn table(out: &mut String, title: &str, map: &BTreeMap<String, u64>) {
    if map.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let mut rows: Vec<_> = map.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<28} {v:>10}");
    }
}

fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 1.0 => format!("{:.0}ms", s * 1000.0),
        Some(s) if s < 120.0 => format!("{s:.1}s"),
        Some(s) if s < 7200.0 => format!("{:.1}m", s / 60.0),
        Some(s) => format!("{:.1}h", s / 3600.0),
    }
}

/// A percentile, marked `~` when it is an estimate.
fn percentile(p: &Percentiles, v: Option<f64>) -> String {
    match v {
        Some(_) if p.percentiles_estimated => format!("~{}", secs(v)),
        _ => secs(v),
    }
}

fn percentile_table(out: &mut String, title: &str, map: &BTreeMap<String, Percentiles>) {
    if map.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "count", "min", "mean", "p50", "p90", "p99", "max"
    );
    for (k, p) in map {
        let _ = writeln!(
            out,
            "  {k:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.count,
            secs(p.min),
            secs(p.mean),
            percentile(p, p.p50),
            percentile(p, p.p90),
            percentile(p, p.p99),
            secs(p.max),
        );
    }
    if map.values().any(|p| p.percentiles_estimated) {
        let _ = writeln!(
            out,
            "  (~: estimated from the histogram's buckets, within the observed min and max)"
        );
    }
}

/// The human-readable report.
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    let m = &s.messages;
    let _ = write!(
        out,
        "Lines: {} ({} parsed, {} ignored, {} unsupported)",
        s.lines.total, s.lines.parsed, s.lines.ignored, s.lines.unsupported
    );
    if s.lines.cut > 0 {
        let _ = write!(out, "; {} longer than --max-line-bytes, cut", s.lines.cut);
    }
    out.push('\n');
    let _ = writeln!(out, "\nMessages");
    for (k, v) in [
        ("received", m.received),
        ("delivered (recipients)", m.delivered),
        ("deferred (attempts)", m.deferred_attempts),
        ("bounced (recipients)", m.bounced),
        ("expired (recipients)", m.expired),
        ("rejected (recipients)", m.rejected),
        ("discarded", m.discarded),
        ("reject lines", m.reject_lines),
        ("  of which temporary (4xx)", m.temporary_reject_lines),
    ] {
        let _ = writeln!(out, "  {k:<28} {v:>10}");
    }
    table(&mut out, "Rejects by reason", &s.rejects_by_reason);
    table(&mut out, "Rejects by stage", &s.rejects_by_stage);
    table(&mut out, "TLS inbound (protocol)", &s.tls_inbound);
    table(&mut out, "TLS outbound (protocol)", &s.tls_outbound);
    table(
        &mut out,
        "Final outcomes by inbound TLS",
        &s.outcomes_by_inbound_tls,
    );
    let g = &s.greylisting;
    if g.greylisted + g.passed + g.abandoned_triplets > 0 {
        let _ = writeln!(out, "\nGreylisting (postgrey)");
        let _ = writeln!(out, "  {:<28} {:>10}", "greylisted", g.greylisted);
        let _ = writeln!(out, "  {:<28} {:>10}", "passed", g.passed);
        let _ = writeln!(
            out,
            "  {:<28} {:>10}",
            "passed after greylist", g.passed_after_greylist
        );
        let _ = writeln!(
            out,
            "  {:<28} {:>10}",
            "abandoned triplets", g.abandoned_triplets
        );
        if let Some(p) = g.pass_delay_seconds.filter(|p| p.count > 0) {
            let _ = writeln!(
                out,
                "  time to pass: min {} p50 {} p90 {} p99 {} max {}{}",
                secs(p.min),
                percentile(&p, p.p50),
                percentile(&p, p.p90),
                percentile(&p, p.p99),
                secs(p.max),
                if p.percentiles_estimated {
                    " (~: estimated)"
                } else {
                    ""
                }
            );
        }
    }
    table(&mut out, "policyd-weight decisions", &s.policyd_weight);
    table(&mut out, "rspamd actions", &s.rspamd);
    if !s.deliveries_by_service.is_empty() {
        let _ = writeln!(out, "\nDeliveries by service");
        for (svc, statuses) in &s.deliveries_by_service {
            let parts: Vec<String> = statuses.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "  {svc:<20} {}", parts.join(", "));
        }
    }
    percentile_table(
        &mut out,
        "Delivery delay (sent), by service",
        &s.delivery_delay_seconds,
    );
    percentile_table(
        &mut out,
        "End-to-end latency, by outcome",
        &s.end_to_end_seconds,
    );
    let c = &s.correlation;
    let _ = writeln!(
        out,
        "\nCorrelation: {} messages still tracked, {} evicted (capacity), {} expired",
        c.tracked_messages, c.evictions_capacity, c.evictions_expired
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escapes() {
        let s = parse_exposition(
            "# HELP x y\nfoo_total{a=\"b\",c=\"d\\\"e\"} 3\nbar 1.5\nh_bucket{le=\"+Inf\"} 2\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "foo_total");
        assert_eq!(s[0].label("c"), "d\"e");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].value, 1.5);
        assert_eq!(s[2].label("le"), "+Inf");
    }

    #[test]
    fn percentiles_interpolate_like_prometheus() {
        // 10 observations in (0,1], 10 in (1,2], spread over the whole of both.
        let p = percentiles(
            vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)],
            30.0,
            Some((0.0, 2.0)),
        );
        assert_eq!(p.count, 20);
        assert_eq!(p.p50, Some(1.0));
        assert!((p.p90.unwrap() - 1.8).abs() < 1e-9);
        assert_eq!((p.min, p.mean, p.max), (Some(0.0), Some(1.5), Some(2.0)));
        assert!(p.percentiles_estimated);
    }

    /// The cases: one 6 s value gave "p50 7.5s p99 9.9s" (interpolated in (5, 10]);
    /// delays of at most 120 ms gave a p99 of 238 ms (in (0.1, 0.25]).
    #[test]
    fn percentiles_stay_within_what_was_observed() {
        let latency = |values: &[f64]| {
            let bounds = [
                0.05,
                0.1,
                0.25,
                0.5,
                1.0,
                2.5,
                5.0,
                10.0,
                30.0,
                f64::INFINITY,
            ];
            let buckets = bounds
                .iter()
                .map(|&b| (b, values.iter().filter(|&&v| v <= b).count() as f64))
                .collect();
            let range = values.iter().fold(None, |mut r, &v| {
                crate::metrics::widen(&mut r, (v, v));
                r
            });
            percentiles(buckets, values.iter().sum(), range)
        };
        let one = latency(&[6.0]);
        assert_eq!(
            (one.min, one.mean, one.p50, one.p90, one.p99, one.max),
            (
                Some(6.0),
                Some(6.0),
                Some(6.0),
                Some(6.0),
                Some(6.0),
                Some(6.0)
            )
        );
        assert!(!one.percentiles_estimated, "a single value is exact");
        let fast = latency(&[0.02, 0.03, 0.05, 0.08, 0.12]);
        assert_eq!(fast.max, Some(0.12));
        for p in [fast.p50, fast.p90, fast.p99] {
            let p = p.expect("a percentile");
            assert!((0.02..=0.12).contains(&p), "{p} outside what was observed");
        }
        assert!(fast.percentiles_estimated);
        // Above the last bound: between the values observed there, not the bound below them.
        let slow = latency(&[40.0, 50.0]);
        assert_eq!(slow.max, Some(50.0));
        let p99 = slow.p99.expect("a percentile");
        assert!((40.0..=50.0).contains(&p99), "{p99}");
        let text = render_text(&Summary {
            end_to_end_seconds: [("delivered".to_string(), one), ("bounced".into(), fast)]
                .into_iter()
                .collect(),
            ..Summary::default()
        });
        assert!(
            text.contains("6.0s      6.0s      6.0s      6.0s      6.0s      6.0s"),
            "{text}"
        );
        assert!(text.contains("~") && text.contains("estimated"), "{text}");
    }
}
