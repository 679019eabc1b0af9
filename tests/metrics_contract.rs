//! The metric contract, `docs/metrics.md`, against what the real binary exports.
//!
//! `pflog replay` runs on fixtures that together exercise every family (the mail stack with its
//! rspamd log, the golden scenarios, the public corpus), in both exposition formats, and
//! `pflog serve` follows a log with an overlong line for the per-source families, which only
//! `serve` has. The families of those expositions (`# TYPE` lines) and the rows of the doc's
//! family tables must be the same set with the same types; every series must carry exactly the
//! labels its family's row lists; every histogram's buckets must be those of the doc's bucket
//! table. A family added to the code and not to the doc fails, and so does the other way round.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pflog");
const DOC: &str = "docs/metrics.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// The doc

/// A row of a family table.
#[derive(Debug)]
struct Documented {
    kind: String,
    labels: BTreeSet<String>,
}

#[derive(Default, Debug)]
struct Doc {
    families: BTreeMap<String, Documented>,
    /// Histogram -> upper bounds besides `+Inf`, in order.
    buckets: BTreeMap<String, Vec<f64>>,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The one backticked metric name a first cell must be.
fn metric_name(cell: &str) -> Option<&str> {
    let name = cell.strip_prefix('`')?.strip_suffix('`')?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    ok.then_some(name)
}

/// The label names of a labels cell: the backticked words outside parentheses (a parenthesis
/// gives a label's values, and may hold backticks and links). The cell holds nothing else but
/// commas, or is empty.
fn label_names(cell: &str) -> Result<BTreeSet<String>, String> {
    let mut outside = String::new();
    let mut depth = 0usize;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            ')' => return Err(format!("unbalanced parenthesis in {cell:?}")),
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced parenthesis in {cell:?}"));
    }
    let mut names = BTreeSet::new();
    let mut parts = outside.split('`');
    // Even pieces are between names, odd pieces are names.
    let mut i = 0;
    for part in parts.by_ref() {
        if i % 2 == 0 {
            if !part.chars().all(|c| c == ',' || c.is_whitespace()) {
                return Err(format!(
                    "labels cell {cell:?}: {part:?} is neither a backticked label name nor inside parentheses"
                ));
            }
        } else if !names.insert(part.to_string()) {
            return Err(format!("labels cell {cell:?} names {part} twice"));
        }
        i += 1;
    }
    if i % 2 == 0 {
        return Err(format!("labels cell {cell:?}: unclosed backtick"));
    }
    Ok(names)
}

#[derive(Clone, Copy, PartialEq)]
enum Table {
    Families,
    Buckets,
    Other,
}

/// The family tables (`| family | type | labels | meaning |`) and the bucket table
/// (`| histogram | buckets |`) of the doc. A row that does not keep the layout is an error, so
/// that the doc stays readable by this test.
fn read_doc(text: &str) -> Result<Doc, Vec<String>> {
    let mut doc = Doc::default();
    let mut errors = Vec::new();
    let mut table: Option<Table> = None;
    let mut header_next = true;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if !line.trim_start().starts_with('|') {
            table = None;
            header_next = true;
            continue;
        }
        let row = cells(line);
        if header_next {
            header_next = false;
            let head: Vec<&str> = row.iter().map(String::as_str).collect();
            table = Some(match head.as_slice() {
                ["family", "type", "labels", "meaning"] => Table::Families,
                ["histogram", "buckets"] => Table::Buckets,
                [first, ..] if *first == "family" || *first == "histogram" => {
                    errors.push(format!(
                        "{DOC}:{n}: a table of families is `| family | type | labels | meaning |` and one of buckets `| histogram | buckets |`"
                    ));
                    Table::Other
                }
                _ => Table::Other,
            });
            continue;
        }
        if row.iter().all(|c| c.chars().all(|c| c == '-' || c == ':')) {
            continue;
        }
        match table {
            Some(Table::Families) => {
                if row.len() != 4 {
                    errors.push(format!("{DOC}:{n}: a family row has 4 cells: {line}"));
                    continue;
                }
                let Some(name) = metric_name(&row[0]) else {
                    errors.push(format!(
                        "{DOC}:{n}: the first cell is one backticked metric name: {line}"
                    ));
                    continue;
                };
                let kind = row[1].as_str();
                if !["counter", "gauge", "histogram"].contains(&kind) {
                    errors.push(format!(
                        "{DOC}:{n}: the type is counter, gauge or histogram, not {kind:?}"
                    ));
                    continue;
                }
                let labels = match label_names(&row[2]) {
                    Ok(l) => l,
                    Err(e) => {
                        errors.push(format!("{DOC}:{n}: {e}"));
                        continue;
                    }
                };
                let documented = Documented {
                    kind: kind.to_string(),
                    labels,
                };
                if doc.families.insert(name.to_string(), documented).is_some() {
                    errors.push(format!("{DOC}:{n}: {name} is documented twice"));
                }
            }
            Some(Table::Buckets) => {
                let name = row.first().and_then(|c| metric_name(c));
                let bounds: Option<Vec<f64>> = row.get(1).and_then(|c| {
                    c.strip_prefix('`')?
                        .strip_suffix('`')?
                        .split_whitespace()
                        .map(|b| b.parse().ok())
                        .collect()
                });
                match (name, bounds) {
                    (Some(name), Some(bounds)) if row.len() == 2 && !bounds.is_empty() => {
                        if doc.buckets.insert(name.to_string(), bounds).is_some() {
                            errors.push(format!("{DOC}:{n}: buckets of {name} given twice"));
                        }
                    }
                    _ => errors.push(format!(
                        "{DOC}:{n}: a bucket row is | `name` | `b1 b2 ...` |: {line}"
                    )),
                }
            }
            Some(Table::Other) | None => {}
        }
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------------
// Expositions

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    fn arg(self) -> &'static str {
        match self {
            Format::Prometheus => "prometheus",
            Format::OpenMetrics => "openmetrics",
        }
    }
}

/// What the expositions showed of one family (by its name as exposed in the 0.0.4 format).
#[derive(Default, Debug)]
struct Seen {
    kinds: BTreeSet<String>,
    /// Each distinct set of label names of its series (without a bucket's `le`), with a run
    /// that showed it.
    label_sets: BTreeMap<BTreeSet<String>, String>,
    /// Bucket bounds besides `+Inf`, as text of the parsed number, with a run that showed them.
    bucket_sets: BTreeMap<Vec<String>, String>,
    runs: BTreeSet<String>,
}

/// Label names and values, in the order of the sample line.
type Labels = Vec<(String, String)>;

/// A sample line's metric name and labels (`name{a="x",b="y"} value ...`).
fn parse_sample(line: &str) -> Result<(&str, Labels), String> {
    let end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("not a sample: {line}"))?;
    let name = &line[..end];
    let mut labels = Vec::new();
    if line[end..].starts_with('{') {
        let bytes = line.as_bytes();
        let mut i = end + 1;
        loop {
            if bytes.get(i) == Some(&b'}') {
                break;
            }
            let eq = line[i..]
                .find('=')
                .ok_or_else(|| format!("label without value: {line}"))?;
            let label = line[i..i + eq].to_string();
            i += eq + 1;
            if bytes.get(i) != Some(&b'"') {
                return Err(format!("unquoted label value: {line}"));
            }
            i += 1;
            let mut value = String::new();
            loop {
                match bytes.get(i) {
                    None => return Err(format!("unterminated label value: {line}")),
                    Some(b'\\') => {
                        value.push(match bytes.get(i + 1) {
                            Some(b'n') => '\n',
                            Some(&b) => b as char,
                            None => return Err(format!("dangling escape: {line}")),
                        });
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        let c = line[i..].chars().next().expect("a char");
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            labels.push((label, value));
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err(format!("bad label list: {line}")),
            }
        }
    }
    Ok((name, labels))
}

/// Adds the families of one exposition to `seen`; structural problems go to `problems`.
fn read_exposition(
    text: &str,
    format: Format,
    run: &str,
    seen: &mut BTreeMap<String, Seen>,
    problems: &mut Vec<String>,
) {
    // The current family: (name as exposed, its `# TYPE` name, type).
    let mut current: Option<(String, String, String)> = None;
    let mut buckets: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut families = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                problems.push(format!("{run}: bad TYPE line: {line}"));
                continue;
            };
            let exposed = match (format, kind) {
                (Format::OpenMetrics, "counter") => {
                    if name.ends_with("_total") {
                        problems.push(format!(
                            "{run}: an OpenMetrics counter family is named without _total: {line}"
                        ));
                    }
                    format!("{name}_total")
                }
                (Format::Prometheus, "counter") if !name.ends_with("_total") => {
                    problems.push(format!("{run}: a counter's name ends in _total: {line}"));
                    name.to_string()
                }
                _ => name.to_string(),
            };
            let entry = seen.entry(exposed.clone()).or_default();
            entry.kinds.insert(kind.to_string());
            entry.runs.insert(run.to_string());
            current = Some((exposed, name.to_string(), kind.to_string()));
            families += 1;
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, labels) = match parse_sample(line) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{run}: {e}"));
                continue;
            }
        };
        let Some((exposed, type_name, kind)) = &current else {
            problems.push(format!("{run}: a sample before any TYPE line: {line}"));
            continue;
        };
        let suffixes: &[&str] = match (kind.as_str(), format) {
            ("counter", Format::Prometheus) => &[""],
            ("counter", Format::OpenMetrics) => &["_total", "_created"],
            ("histogram", _) => &["_bucket", "_sum", "_count", "_created"],
            _ => &[""],
        };
        let Some(suffix) = suffixes
            .iter()
            .find(|s| name.strip_suffix(**s) == Some(type_name.as_str()))
        else {
            problems.push(format!(
                "{run}: sample {name} is not one of family {type_name} ({kind})"
            ));
            continue;
        };
        let mut names = BTreeSet::new();
        let mut le = None;
        let mut series = Vec::new();
        for (label, value) in labels {
            if *suffix == "_bucket" && label == "le" {
                le = Some(value);
            } else {
                series.push(format!("{label}={value:?}"));
                names.insert(label);
            }
        }
        if *suffix == "_bucket" {
            match le.as_deref() {
                Some("+Inf") => {}
                Some(v) => match v.parse::<f64>() {
                    Ok(b) => buckets
                        .entry((exposed.clone(), series.join(",")))
                        .or_default()
                        .push(b.to_string()),
                    Err(_) => problems.push(format!("{run}: bad le: {line}")),
                },
                None => problems.push(format!("{run}: a bucket without le: {line}")),
            }
        }
        seen.get_mut(exposed)
            .expect("seen at its TYPE line")
            .label_sets
            .entry(names)
            .or_insert_with(|| run.to_string());
    }
    if families == 0 {
        problems.push(format!("{run}: no family in the exposition"));
    }
    for ((family, _), bounds) in buckets {
        seen.get_mut(&family)
            .expect("seen at its TYPE line")
            .bucket_sets
            .entry(bounds)
            .or_insert_with(|| run.to_string());
    }
}

fn replay(args: &[&str], format: Format) -> String {
    let out = Command::new(BIN)
        .current_dir(root())
        .arg("replay")
        .args(args)
        .args(["--format", format.arg()])
        .stdin(Stdio::null())
        .output()
        .expect("run pflog replay");
    assert!(
        out.status.success(),
        "pflog replay {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 exposition")
}

/// The `.log` files of a fixture directory, sorted.
fn logs(dir: &str) -> Vec<String> {
    let mut logs: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    logs.sort();
    assert!(!logs.is_empty(), "no .log in {dir}");
    logs
}

#[path = "support/serve.rs"]
mod serve_support;

fn serve(log: &Path) -> serve_support::Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--from-start", "--year", "2026"])
        .args(["--max-line-bytes", "4096"])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .arg("--log")
        .arg(log);
    serve_support::start(cmd, Duration::from_secs(30))
}

/// GET /metrics, asking for `format`; the format the answer is in, and its body.
fn scrape(addr: &str, format: Format) -> (Format, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = match format {
        Format::Prometheus => "text/plain",
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0",
    };
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let (head, body) = resp.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .expect("a content type");
    let got = if content_type.starts_with("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    (got, body.to_string())
}

fn sample_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Every exposition the test reads: (run, format, text).
fn expositions() -> Vec<(String, Format, String)> {
    let mut out = Vec::new();
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let mailstack = [
            "fixtures/mailstack/mail.log",
            "--rspamd-log",
            "fixtures/mailstack/rspamd.log",
        ];
        out.push((
            format!("replay {} ({format:?})", mailstack.join(" ")),
            format,
            replay(&mailstack, format),
        ));
        let auth = [
            "fixtures/auth/mail.log",
            "--rspamd-log",
            "fixtures/auth/rspamd.log",
            "--year",
            "2026",
        ];
        out.push((
            format!("replay {} ({format:?})", auth.join(" ")),
            format,
            replay(&auth, format),
        ));
        for log in logs("fixtures/scenarios")
            .into_iter()
            .chain(logs("fixtures/corpus"))
        {
            out.push((
                format!("replay {log} ({format:?})"),
                format,
                replay(&[&log, "--year", "2026"], format),
            ));
        }
    }

    // serve: the per-source families. The log ends with a line over --max-line-bytes.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("mail.log");
    let mut text = std::fs::read_to_string(root().join("fixtures/mailstack/mail.log"))
        .expect("read the mail stack's log");
    text.push_str(&format!(
        "Jan  1 00:00:00 mx postfix/smtpd[1]: warning: {}\n",
        "x".repeat(5000)
    ));
    std::fs::write(&log, text).expect("write the log");
    let served = serve(&log);
    let long_lines = format!(
        "pflog_source_long_lines_total{{source=\"{}\"}}",
        log.display()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while sample_value(&scrape(&served.addr, Format::Prometheus).1, &long_lines) != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "pflog serve did not count the long line ({long_lines})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let (got, body) = scrape(&served.addr, format);
        assert_eq!(got, format, "serve answered the Accept of {format:?}");
        out.push((format!("serve /metrics ({format:?})"), format, body));
    }
    out
}

fn names(set: &BTreeSet<String>) -> String {
    format!("{{{}}}", set.iter().cloned().collect::<Vec<_>>().join(", "))
}

#[test]
fn the_documented_families_are_the_exported_ones() {
    let text = std::fs::read_to_string(root().join(DOC)).expect("read docs/metrics.md");
    let doc = read_doc(&text).unwrap_or_else(|errors| {
        panic!(
            "{DOC} does not keep the layout this test reads:\n  {}",
            errors.join("\n  ")
        )
    });

    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut problems = Vec::new();
    for (run, format, body) in expositions() {
        read_exposition(&body, format, &run, &mut seen, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "malformed expositions:\n  {}",
        problems.join("\n  ")
    );

    let mut diff = Vec::new();
    for (name, s) in &seen {
        let kinds = s.kinds.iter().cloned().collect::<Vec<_>>().join("/");
        match doc.families.get(name) {
            None => diff.push(format!(
                "exported but not in {DOC}: {name} ({kinds}; in {})",
                s.runs.first().expect("a run")
            )),
            Some(d) => {
                if s.kinds.len() != 1 || !s.kinds.contains(&d.kind) {
                    diff.push(format!(
                        "type of {name}: {DOC} says {}, the exposition {kinds}",
                        d.kind
                    ));
                }
                for (labels, run) in &s.label_sets {
                    if *labels != d.labels {
                        diff.push(format!(
                            "labels of {name}: {DOC} lists {}, a series has {} (in {run})",
                            names(&d.labels),
                            names(labels)
                        ));
                    }
                }
            }
        }
    }
    for (name, d) in &doc.families {
        if !seen.contains_key(name) {
            diff.push(format!(
                "in {DOC} but in no exposition: {name} ({}); a family of the code no fixture \
                 exercises needs a fixture here",
                d.kind
            ));
        }
    }

    // Buckets: one row per documented histogram, equal to what every series shows.
    for (name, d) in &doc.families {
        if d.kind == "histogram" && !doc.buckets.contains_key(name) {
            diff.push(format!(
                "histogram {name} has no row in {DOC}'s bucket table"
            ));
        }
    }
    for (name, bounds) in &doc.buckets {
        if doc.families.get(name).is_none_or(|d| d.kind != "histogram") {
            diff.push(format!(
                "{DOC}'s bucket table lists {name}, not a documented histogram"
            ));
            continue;
        }
        let want: Vec<String> = bounds.iter().map(f64::to_string).collect();
        for (got, run) in seen.get(name).map(|s| &s.bucket_sets).into_iter().flatten() {
            if *got != want {
                diff.push(format!(
                    "buckets of {name}: {DOC} says {}, the exposition {} (in {run})",
                    want.join(" "),
                    got.join(" ")
                ));
            }
        }
    }

    assert!(
        diff.is_empty(),
        "{DOC} and the exported families differ ({} documented, {} exported):\n  {}",
        doc.families.len(),
        seen.len(),
        diff.join("\n  ")
    );
}

#[test]
fn the_doc_reader_keeps_to_the_layout() {
    let good = "\
| family | type | labels | meaning |
|---|---|---|---|
| `a_total` | counter | `x` (`v1`, `v2`; *capped*), `y` (the pairs under [C](#c)) | m |
| `b` | gauge | | m |

| histogram | buckets |
|---|---|
| `h` | `-1 0.5 2` |
";
    let doc = read_doc(good).expect("a good doc");
    assert_eq!(doc.families["a_total"].kind, "counter");
    assert_eq!(
        doc.families["a_total"].labels,
        BTreeSet::from(["x".to_string(), "y".to_string()])
    );
    assert!(doc.families["b"].labels.is_empty());
    assert_eq!(doc.buckets["h"], vec![-1.0, 0.5, 2.0]);

    for bad in [
        "| family | type | labels | meaning |\n|---|---|---|---|\n| a_total | counter | | m |\n",
        "| family | type | labels | meaning |\n|---|---|---|---|\n| `a` | summary | | m |\n",
        "| family | type | labels | meaning |\n|---|---|---|---|\n| `a` | gauge | x | m |\n",
        "| family | type | labels | meaning |\n|---|---|---|---|\n| `a` | gauge | | m |\n| `a` | gauge | | m |\n",
        "| family | type | labels |\n|---|---|---|\n| `a` | gauge | |\n",
        "| histogram | buckets |\n|---|---|\n| `h` | 1 2 |\n",
    ] {
        assert!(read_doc(bad).is_err(), "accepted:\n{bad}");
    }
}

#[test]
fn samples_are_read_with_their_labels() {
    let (name, labels) =
        parse_sample(r#"m_bucket{le="0.5",a="x\"}y",b="ä\\"} 3"#).expect("a sample");
    assert_eq!(name, "m_bucket");
    assert_eq!(
        labels,
        vec![
            ("le".to_string(), "0.5".to_string()),
            ("a".to_string(), "x\"}y".to_string()),
            ("b".to_string(), "ä\\".to_string()),
        ]
    );
    assert_eq!(parse_sample("m 1").expect("a sample"), ("m", vec![]));
}
