//! Dashboards and alert rules against the real tools: promtool (rule checks and unit tests), the
//! dashboards' own checks, every metric name they use present in a real `pflog serve`'s
//! /metrics, and every panel query answered with data by a real Prometheus scraping it.
//!
//! promtool/prometheus come from Debian's `prometheus` package; without it these tests are
//! skipped with a message, except under CI (`CI` set), where that is a failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `false` (and a message) when `tool` is missing outside CI; a failure under CI.
fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is required under CI (apt-get install prometheus)"
    );
    eprintln!("{tool} not installed: skipped");
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool_checks_and_unit_tests() {
    if !require("promtool") {
        return;
    }
    run(Command::new("bash").arg(root().join("alerts/check.sh")));
}

#[test]
fn dashboards_match_their_generator_and_lint_clean() {
    run(Command::new("python3")
        .arg(root().join("dashboards/generate.py"))
        .arg("--check"));
    run(Command::new("python3").arg(root().join("tests/dashboards/lint_dashboards.py")));
}

/// A real `pflog serve` reading fixture logs that exercise every family: the scenarios, the real
/// mail stack's logs (`fixtures/mailstack/`) and the real stack's run with policyd-spf, OpenDKIM
/// and OpenDMARC (`fixtures/auth/`, from `tests/e2e/mailstack.sh --auth`), which is where the
/// mail authentication families the *Authentication* row and alerts use come from.
struct Served {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scrape(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let (head, rest) = body.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| rest.to_string())
}

fn serve_fixtures() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = root().join("fixtures");
    let mut mail = Vec::new();
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(fixtures.join("scenarios"))
        .expect("scenarios")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    scenarios.sort();
    for p in scenarios.iter().chain([
        &fixtures.join("mailstack/mail.log"),
        &fixtures.join("auth/mail.log"),
    ]) {
        let text = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        mail.extend(text);
    }
    let mail_log = dir.path().join("mail.log");
    std::fs::write(&mail_log, &mail).expect("write mail.log");
    // rspamd's own logs, each a source of its own beside the mail log, as on a real host.
    let mut rspamd_logs = Vec::new();
    let mut lines = mail.iter().filter(|b| **b == b'\n').count();
    for (i, src) in ["mailstack/rspamd.log", "auth/rspamd.log"]
        .iter()
        .enumerate()
    {
        let text = std::fs::read(fixtures.join(src)).unwrap_or_else(|e| panic!("read {src}: {e}"));
        lines += text.iter().filter(|b| **b == b'\n').count();
        let path = dir.path().join(format!("rspamd{i}.log"));
        std::fs::write(&path, &text).expect("write rspamd log");
        rspamd_logs.push(path);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pflog"));
    cmd.args(["serve", "--from-start", "--year", "2026", "--log"])
        .arg(&mail_log);
    for p in &rspamd_logs {
        cmd.arg("--log").arg(p);
    }
    let child = cmd
        .args(["--web.listen-address", &addr])
        .stderr(Stdio::null())
        .spawn()
        .expect("start pflog serve");
    let served = Served {
        child,
        addr,
        _dir: dir,
    };
    // Wait until every line is read.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(body) = scrape(&served.addr) {
            let read: f64 = body
                .lines()
                .filter(|l| l.starts_with("pflog_lines_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            if read as usize == lines {
                return served;
            }
        }
        assert!(
            Instant::now() < deadline,
            "pflog serve did not read the fixtures in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_temp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn every_name_in_dashboards_and_rules_is_exported_and_every_panel_returns_data() {
    let served = serve_fixtures();
    let exposition = scrape(&served.addr).expect("scrape");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_temp(tmp.path(), "metrics.prom", &exposition);
    run(Command::new("bash")
        .arg(root().join("tests/dashboards/check_names.sh"))
        .arg(&file));
    if !require("prometheus") {
        return;
    }
    run(Command::new("bash")
        .arg(root().join("tests/dashboards/run_prometheus_check.sh"))
        .arg(&served.addr));
}
