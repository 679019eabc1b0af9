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

pub fn render(registry: &Registry, format: Format) -> String {
    let mut open_metrics = String::with_capacity(64 * 1024);
    encode(&mut open_metrics, registry).expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => open_metrics,
        Format::Prometheus => to_prometheus_text(&open_metrics),
    }
}

/// OpenMetrics text -> Prometheus 0.0.4 text: counters are named with `_total` in their
/// `# TYPE`/`# HELP` lines, `info` becomes `gauge`, and `# UNIT` and `# EOF` go.
pub fn to_prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let mut counters: Vec<&str> = Vec::new();
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "counter" if !name.ends_with("_total") => {
                    counters.push(name);
                    out.push_str(&format!("# TYPE {name}_total counter\n"));
                }
                "info" => out.push_str(&format!("# TYPE {name} gauge\n")),
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // HELP precedes TYPE, so look ahead is not available: decide by the next TYPE line.
            let is_counter = open_metrics.contains(&format!("# TYPE {name} counter\n"))
                && !name.ends_with("_total");
            if is_counter {
                out.push_str(&format!("# HELP {name}_total {help}\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let _ = counters;
    out
}
