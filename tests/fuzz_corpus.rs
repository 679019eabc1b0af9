//! Replays the fuzz corpora on stable, in CI: every committed input of `fuzz/corpus/<target>`,
//! every crash that was found and fixed (`fuzz/regressions/<target>`), and whatever a local
//! fuzz run left in `fuzz/artifacts/<target>` (not committed), through the same harness
//! functions the libFuzzer targets call (`fuzz/harness.rs`). A regression panics here.
//!
//! Fuzzing itself needs libFuzzer (`cargo fuzz`, see docs/reliability.md); this test does not.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run(target: &str, data: &[u8]) {
    match target {
        "envelope" => harness::envelope(data),
        "parsers" => harness::parsers(data),
        "pipeline" => {
            harness::pipeline(data);
        }
        _ => unreachable!("{target}"),
    }
}

fn replay(target: &str) -> usize {
    let mut n = 0;
    for sub in ["corpus", "regressions", "artifacts"] {
        for path in inputs(&fuzz_dir().join(sub).join(target)) {
            let data = std::fs::read(&path).expect("read input");
            let result = std::panic::catch_unwind(|| run(target, &data));
            assert!(result.is_ok(), "{target}: {} panics", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn envelope_corpus() {
    assert!(replay("envelope") >= 50, "the envelope corpus is missing");
}

#[test]
fn parsers_corpus() {
    assert!(replay("parsers") >= 50, "the parsers corpus is missing");
}

#[test]
fn pipeline_corpus() {
    assert!(replay("pipeline") >= 20, "the pipeline corpus is missing");
}

/// The single lines of the envelope and parsers corpora, all as one log through one pipeline:
/// correlation state built by one input meets the next.
#[test]
fn all_single_lines_through_one_pipeline() {
    let mut log = Vec::new();
    for dir in ["corpus/envelope", "regressions/envelope"] {
        for path in inputs(&fuzz_dir().join(dir)) {
            log.extend(std::fs::read(path).expect("read input"));
            log.push(b'\n');
        }
    }
    let exposition = harness::pipeline(&log);
    assert!(exposition.contains("pflog_lines_total"));
}

/// Every target's own check runs on the fixtures as well (they are the seeds).
#[test]
fn fixtures_through_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for sub in ["scenarios", "mailstack", "corpus"] {
        for path in inputs(&root.join(sub)) {
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let data = std::fs::read(&path).expect("read fixture");
            harness::pipeline(&data);
            harness::envelope(&data);
            for line in data.split(|&b| b == b'\n') {
                for daemon in harness::DAEMONS {
                    let mut input = vec![harness::selector(daemon)];
                    input.extend_from_slice(line);
                    harness::parsers(&input);
                }
            }
        }
    }
}
