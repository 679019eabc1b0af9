//! Rendering the registry as OpenMetrics or as the Prometheus 0.0.4 text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The exposition of `registry`, each family's series sorted by their labels.
pub fn render(registry: &Registry, format: Format) -> String {
    let mut open_metrics = String::with_capacity(64 * 1024);
    encode(&mut open_metrics, registry).expect("writing to a String cannot fail");
    let open_metrics = sort_series(&open_metrics);
    match format {
        Format::OpenMetrics => open_metrics,
        Format::Prometheus => to_prometheus_text(&open_metrics),
    }
}

/// Sorts the series inside each family by their label text, keeping the samples of one series
/// (a histogram's buckets, `_sum`, `_count`; a counter's `_created`) together and in order.
///
/// prometheus-client writes a family's series in the order of its hash map, which changes from
/// run to run: two expositions of the same numbers differed as text, and so did every diff of
/// a replay against an earlier one.
pub fn sort_series(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    // The series of the current family: (labels without `le`, its sample lines).
    let mut family: Vec<(&str, Vec<&str>)> = Vec::new();
    let flush = |family: &mut Vec<(&str, Vec<&str>)>, out: &mut String| {
        family.sort_by(|a, b| a.0.cmp(b.0));
        for (_, lines) in family.drain(..) {
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut family, &mut out);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let key = series_key(line);
        match family.last_mut() {
            Some((last, lines)) if *last == key => lines.push(line),
            _ => family.push((key, vec![line])),
        }
    }
    flush(&mut family, &mut out);
    out
}

/// The labels of a sample line, without the `le` of a histogram bucket (prometheus-client
/// writes it first: `name_bucket{le="0.5",a="x"}`).
fn series_key(line: &str) -> &str {
    let Some(open) = line.find('{') else {
        return "";
    };
    // The closing brace is the first `}` outside a quoted value (values may hold `}`, `"`
    // escaped as `\"`, and `\\`).
    let bytes = line.as_bytes();
    let (mut i, mut quoted) = (open + 1, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => break,
            _ => {}
        }
        i += 1;
    }
    let labels = &line[open + 1..i.min(line.len())];
    // A bound is a number: no quote or escape inside.
    match labels
        .strip_prefix("le=\"")
        .and_then(|rest| rest.find('"').map(|end| &rest[end + 1..]))
    {
        Some(rest) => rest.strip_prefix(',').unwrap_or(rest),
        None => labels,
    }
}

/// OpenMetrics text -> Prometheus 0.0.4 text: counters are named with `_total` in their
/// `# TYPE`/`# HELP` lines, `info` becomes `gauge`, and `# UNIT` and `# EOF` go.
pub fn to_prometheus_text(open_metrics: &str) -> String {
    // HELP comes before TYPE: first learn which families are counters.
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .filter(|name| !name.ends_with("_total"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let comment = line
            .strip_prefix("# TYPE ")
            .map(|rest| ("TYPE", rest))
            .or_else(|| line.strip_prefix("# HELP ").map(|rest| ("HELP", rest)));
        if let Some((keyword, rest)) = comment {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) {
                out.push_str(&format!("# {keyword} {name}_total {text}\n"));
                continue;
            }
            if keyword == "TYPE" && text == "info" {
                out.push_str(&format!("# TYPE {name} gauge\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::histogram::Histogram;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct L {
        name: String,
    }

    fn registry(order: &[&str]) -> Registry {
        let mut r = Registry::default();
        let c = Family::<L, Counter>::default();
        let h = Family::<L, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            Histogram::new([1.0, 10.0])
        });
        r.register("things", "Things.", c.clone());
        r.register("sizes", "Sizes.", h.clone());
        for name in order {
            let l = L {
                name: name.to_string(),
            };
            c.get_or_create(&l).inc_by(name.len() as u64);
            h.get_or_create(&l).observe(name.len() as f64);
        }
        r
    }

    #[test]
    fn series_are_sorted_and_kept_whole() {
        let names: Vec<String> = (0..40).map(|i| format!("n{:02}}}\"x", 39 - i)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut reversed = names.clone();
        reversed.reverse();
        for format in [Format::OpenMetrics, Format::Prometheus] {
            let a = render(&registry(&names), format);
            let b = render(&registry(&reversed), format);
            assert_eq!(a, b, "the same numbers, the same text");
            let samples: Vec<&str> = a.lines().filter(|l| l.starts_with("sizes_")).collect();
            // 40 series of a sum, a count and 3 buckets each, series after series.
            assert_eq!(samples.len(), 40 * 5);
            for (i, series) in samples.chunks(5).enumerate() {
                let name = format!("name=\"n{i:02}}}\\\"x\"");
                assert!(
                    series[0].starts_with(&format!("sizes_sum{{{name}}}")),
                    "{series:?}"
                );
                assert!(
                    series[1].starts_with(&format!("sizes_count{{{name}}}")),
                    "{series:?}"
                );
                assert!(
                    series[2].starts_with(&format!("sizes_bucket{{le=\"1.0\",{name}}}")),
                    "{series:?}"
                );
            }
        }
    }

    #[test]
    fn keys() {
        assert_eq!(series_key("a_total 1"), "");
        assert_eq!(series_key("a{x=\"1\"} 1"), "x=\"1\"");
        assert_eq!(series_key("a_bucket{le=\"+Inf\",x=\"1\"} 1"), "x=\"1\"");
        assert_eq!(series_key("a_bucket{le=\"0.5\"} 1"), "");
        assert_eq!(series_key("a{x=\"}\\\"le=\\\\\"} 1"), "x=\"}\\\"le=\\\\\"");
        assert_eq!(
            series_key("a{sale=\"1\",le=\"2\"} 1"),
            "sale=\"1\",le=\"2\""
        );
    }
}
