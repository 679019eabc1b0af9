//! Golden tests: each scenario log in fixtures/scenarios is replayed by the real binary and its
//! exposition (sample lines, sorted) must equal NAME.prom beside it.
//!
//! The .prom files were checked by hand once. When behaviour changes on purpose, re-derive them
//! with `PFLOG_BLESS=1 cargo test --test golden` and review the diff; never edit them by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/replay.rs"]
mod replay_support;

use replay_support::sorted_samples;

fn scenarios_dir() -> PathBuf {
    replay_support::fixture("fixtures/scenarios")
}

/// `pflog replay FILE --format prometheus`, pinned to 2026 and UTC so goldens are stable.
fn replay(path: &Path) -> String {
    replay_support::replay(None, &["--year", "2026", "--utc"], path)
}

/// The scenario logs written by hand (not their RFC 3339 variants).
fn scenario_logs() -> Vec<PathBuf> {
    replay_support::scenario_logs()
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".rfc3339.log"))
        .collect()
}

#[test]
fn scenarios_match_their_golden_exposition() {
    let bless = std::env::var_os("PFLOG_BLESS").is_some();
    let mut failures = Vec::new();
    for log in scenario_logs() {
        let golden = log.with_extension("prom");
        let actual = sorted_samples(&replay(&log));
        if bless {
            std::fs::write(&golden, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (run with PFLOG_BLESS=1 once)", golden.display()));
        if expected != actual {
            let diff: Vec<String> = diff_lines(&expected, &actual);
            failures.push(format!("{}:\n{}", log.display(), diff.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n\n")
    );
}

fn diff_lines(expected: &str, actual: &str) -> Vec<String> {
    let e: std::collections::BTreeSet<&str> = expected.lines().collect();
    let a: std::collections::BTreeSet<&str> = actual.lines().collect();
    let mut out: Vec<String> = e.difference(&a).map(|l| format!("- {l}")).collect();
    out.extend(a.difference(&e).map(|l| format!("+ {l}")));
    out
}

/// Rewrites a BSD-timestamped log (year 2026, UTC) as RFC 3339 high-precision lines.
fn to_rfc3339(bsd: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    bsd.lines()
        .map(|l| {
            let month = MONTHS.iter().position(|m| *m == &l[..3]).expect("month") + 1;
            let day: u32 = l[4..6].trim().parse().expect("day");
            format!(
                "2026-{month:02}-{day:02}T{}.000000+00:00{}\n",
                &l[7..15],
                &l[15..]
            )
        })
        .collect()
}

#[test]
fn rfc3339_variants_give_the_same_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    for log in scenario_logs() {
        let text = std::fs::read_to_string(&log).expect("read scenario");
        let variant = dir.path().join(log.file_name().expect("name"));
        std::fs::write(&variant, to_rfc3339(&text)).expect("write variant");
        assert_eq!(
            sorted_samples(&replay(&log)),
            sorted_samples(&replay(&variant)),
            "{}",
            log.display()
        );
    }
    // The committed variant too.
    let dir = scenarios_dir();
    assert_eq!(
        sorted_samples(&replay(&dir.join("lmtp_accepted.log"))),
        sorted_samples(&replay(&dir.join("lmtp_accepted.rfc3339.log")))
    );
}

#[test]
fn prometheus_format_passes_promtool_when_available() {
    let Ok(status) = Command::new("promtool").arg("--version").output() else {
        eprintln!("promtool not installed: skipped (CI installs it)");
        return;
    };
    assert!(status.status.success());
    for log in scenario_logs() {
        let exposition = replay(&log);
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn promtool");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(exposition.as_bytes())
            .expect("feed promtool");
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool check metrics failed for {}: {}{}",
            log.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
