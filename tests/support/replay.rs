//! Running the real `pflog replay` and reading its exposition, for the tests that compare
//! numbers (`golden.rs`, `timezones.rs`, `numbers.rs`). Included with `#[path]`, so that Cargo does not
//! build it as a test of its own.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A path below the project's root.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `pflog replay --format prometheus ARGS LOG` (under `TZ=tz` when given): its exposition.
pub fn replay(tz: Option<&str>, args: &[&str], log: &Path) -> String {
    run(tz, &[&["--format", "prometheus"], args].concat(), log)
}

/// `pflog replay ARGS LOG` (under `TZ=tz` when given): its standard output, which must be UTF-8.
pub fn run(tz: Option<&str>, args: &[&str], log: &Path) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pflog"));
    if let Some(tz) = tz {
        command.env("TZ", tz);
    }
    let out = command
        .arg("replay")
        .args(args)
        .arg(log)
        .output()
        .expect("run pflog");
    assert!(
        out.status.success(),
        "TZ={tz:?} pflog replay {args:?} {} failed: {}",
        log.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Sample lines only, sorted: series order inside a family is not stable.
pub fn sorted_samples(exposition: &str) -> String {
    let mut lines: Vec<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    lines.sort_unstable();
    lines.join("\n") + "\n"
}

/// Every scenario log of `fixtures/scenarios`, the RFC 3339 variants included, sorted.
pub fn scenario_logs() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(fixture("fixtures/scenarios"))
        .expect("fixtures/scenarios")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 8, "scenario logs missing: {logs:?}");
    logs
}

/// The golden exposition of a scenario log (an RFC 3339 variant has the golden numbers of the
/// log it was made from).
pub fn golden_of(log: &Path) -> PathBuf {
    PathBuf::from(log.to_string_lossy().replace(".rfc3339.log", ".log")).with_extension("prom")
}
