//! Restarting `pflog serve` with `--state-file`: nothing read twice, nothing skipped.
//!
//! The real binary follows a temporary log, is stopped with SIGTERM (or killed), lines are
//! written while it is down (the file renamed away, or copied and truncated, in some cases),
//! and it is started again. The counters of both runs added up must equal one replay of every
//! line. Families that depend on correlation state (which a restart does not keep: messages
//! in flight, TLS sessions) or on the wall clock are left out of the comparison; every
//! per-line family is in it, and `pflog_lines_total` alone proves each line counted once.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pflog");

/// Families of correlation state or wall-clock state, not comparable across a restart.
const NOT_PER_LINE: &[&str] = &[
    "postfix_message_",
    "pflog_tracked_messages",
    "pflog_held_outcomes",
    "pflog_correlation_evictions_total",
    "pflog_last_log_timestamp_seconds",
    "pflog_source_",
    "pflog_build_info",
    "postgrey_abandoned_triplets_total",
];

fn mail_log() -> Vec<Vec<u8>> {
    let text =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mailstack/mail.log"))
            .expect("fixture");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut l = l.to_vec();
            l.push(b'\n');
            l
        })
        .collect()
}

fn append(path: &Path, lines: &[Vec<u8>]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open log");
    for l in lines {
        f.write_all(l).expect("write log");
    }
}

#[path = "support/serve.rs"]
mod serve_support;

use serve_support::Server;

fn serve(log: &Path, state: &Path, extra: &[&str], path_env: Option<&Path>) -> Server {
    let mut cmd = Command::new(BIN);
    // `--from-start`: the first run must not race its first look at the (empty) log against
    // the test's first lines; a saved position takes precedence over it.
    cmd.args([
        "serve",
        "--web.listen-address",
        "127.0.0.1:0",
        "--year",
        "2026",
        "--utc",
        "--from-start",
    ])
    .arg("--state-file")
    .arg(state)
    .args(extra);
    if !log.as_os_str().is_empty() {
        cmd.arg("--log").arg(log);
    }
    if let Some(dir) = path_env {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    serve_support::start(cmd, Duration::from_secs(20))
}

/// GET /metrics over a plain socket; the body.
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "{resp:.200}"
    );
    resp.split_once("\r\n\r\n").expect("body").1.to_string()
}

fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| !NOT_PER_LINE.iter().any(|f| l.starts_with(f)))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample");
            (series.to_string(), value.parse().expect("number"))
        })
        .collect()
}

fn lines_total(s: &BTreeMap<String, f64>) -> f64 {
    s.iter()
        .filter(|(k, _)| k.starts_with("pflog_lines_total{"))
        .map(|(_, v)| v)
        .sum()
}

/// Scrapes until `n` lines were counted, then once more a little later: still `n`.
fn wait_for_lines(server: &Server, n: usize) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = samples(&scrape(&server.addr));
        let got = lines_total(&s) as usize;
        assert!(got <= n, "{got} lines counted, only {n} written");
        if got == n {
            // Several polls of the follower: nothing more arrives.
            std::thread::sleep(Duration::from_millis(800));
            let again = samples(&scrape(&server.addr));
            assert_eq!(lines_total(&again) as usize, n, "lines counted twice");
            return again;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {got} of {n} lines counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(server: &mut Server, sig: &str) -> std::process::ExitStatus {
    let pid = server.child.id().to_string();
    let ok = Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "pflog serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut server: Server) {
    let status = signal(&mut server, "-TERM");
    // Everything it said, up to its end of stderr.
    let mut said = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    assert!(said.iter().any(|l| l.contains("shutting down")), "{said:?}");
    assert!(status.success(), "exit {status:?}: {said:?}");
}

/// One replay of all the lines.
fn replay(lines: &[Vec<u8>]) -> BTreeMap<String, f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.log");
    append(&path, lines);
    let out = Command::new(BIN)
        .args([
            "replay",
            "--format",
            "prometheus",
            "--year",
            "2026",
            "--utc",
        ])
        .arg(&path)
        .output()
        .expect("replay");
    assert!(out.status.success());
    samples(&String::from_utf8(out.stdout).expect("utf-8"))
}

fn add(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut sum = a.clone();
    for (k, v) in b {
        *sum.entry(k.clone()).or_insert(0.0) += v;
    }
    sum
}

fn assert_same(runs: &BTreeMap<String, f64>, replay: &BTreeMap<String, f64>) {
    let mut diff = Vec::new();
    for k in runs.keys().chain(replay.keys()) {
        let (a, b) = (
            runs.get(k).copied().unwrap_or(0.0),
            replay.get(k).copied().unwrap_or(0.0),
        );
        if (a - b).abs() > 1e-6 * b.abs().max(1.0)
            && !diff.iter().any(|d: &String| d.starts_with(k.as_str()))
        {
            diff.push(format!("{k}: both runs {a}, one replay {b}"));
        }
    }
    assert!(
        diff.is_empty(),
        "runs differ from the replay:\n{}",
        diff.join("\n")
    );
}

struct Setup {
    _dir: tempfile::TempDir,
    log: PathBuf,
    state: PathBuf,
    lines: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let state = dir.path().join("pflog.state");
    std::fs::write(&log, b"").unwrap();
    Setup {
        log,
        state,
        lines: mail_log(),
        _dir: dir,
    }
}

/// What happens to the file while pflog is down.
enum Down {
    Nothing,
    /// logrotate `create`: renamed to mail.log.1, a new mail.log.
    Rename,
    /// logrotate `copytruncate`: copied to mail.log.1, truncated in place.
    CopyTruncate,
}

fn restart_case(down: Down) {
    let s = setup();
    let (a, rest) = s.lines.split_at(50);
    let (b, c) = rest.split_at(40);
    let first = serve(&s.log, &s.state, &[], None);
    append(&s.log, a);
    let run1 = wait_for_lines(&first, a.len());
    stop(first);
    let state = std::fs::read_to_string(&s.state).expect("state saved at shutdown");
    assert!(state.contains("\"offset\""), "{state}");
    assert!(
        !s.state.with_extension("state.tmp").exists(),
        "temporary state file left behind"
    );

    // While it is down: more lines in the file it was reading, then the rotation.
    append(&s.log, b);
    let rotated = s.log.with_extension("log.1");
    match down {
        Down::Nothing => {}
        Down::Rename => {
            std::fs::rename(&s.log, &rotated).unwrap();
            std::fs::write(&s.log, b"").unwrap();
        }
        Down::CopyTruncate => {
            std::fs::copy(&s.log, &rotated).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&s.log)
                .unwrap()
                .set_len(0)
                .unwrap();
        }
    }
    // The rest is written (before the restart: in copytruncate's case the file grows past
    // the saved offset again, and what is there now is new).
    append(&s.log, c);
    let second = serve(&s.log, &s.state, &[], None);
    let run2 = wait_for_lines(&second, b.len() + c.len());
    stop(second);
    assert_same(&add(&run1, &run2), &replay(&s.lines));
}

#[test]
fn restart_resumes_where_it_stopped() {
    restart_case(Down::Nothing);
}

#[test]
fn restart_after_rename_rotation_while_down_reads_the_old_tail_first() {
    restart_case(Down::Rename);
}

#[test]
fn restart_after_copytruncate_while_down_reads_the_copy_tail_then_the_new_file() {
    restart_case(Down::CopyTruncate);
}

/// The position is saved on an interval too, not only at shutdown: after SIGKILL, a restart
/// re-reads nothing that was counted more than one interval before.
#[test]
fn state_is_saved_on_an_interval_and_survives_a_kill() {
    let s = setup();
    let (a, b) = s.lines.split_at(60);
    let mut first = serve(&s.log, &s.state, &[], None);
    append(&s.log, a);
    let run1 = wait_for_lines(&first, a.len());
    let size = std::fs::metadata(&s.log).unwrap().len();
    // The interval is 10 s; no line arrives meanwhile.
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        if let Ok(text) = std::fs::read_to_string(&s.state) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("state is whole JSON");
            let saved = v["files"][s.log.display().to_string()]["offset"].as_u64();
            if saved == Some(size) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "state not saved on the interval");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = signal(&mut first, "-KILL");
    assert!(!status.success());
    append(&s.log, b);
    let second = serve(&s.log, &s.state, &[], None);
    let run2 = wait_for_lines(&second, b.len());
    stop(second);
    assert_same(&add(&run1, &run2), &replay(&s.lines));
}

#[test]
fn a_corrupt_state_file_is_a_clear_error() {
    let s = setup();
    for (content, want) in [
        (&b"{\"files\": {\"x\": {\"dev\": 1"[..], "state file"),
        (b"\xff\xfe not json", "state file"),
        (
            b"{\"files\": {\"x\": {\"dev\": 1, \"inode\": 2, \"offset\": 3, \"tail\": \"zz\"}}}",
            "bad tail",
        ),
    ] {
        std::fs::write(&s.state, content).unwrap();
        let out = Command::new(BIN)
            .args(["serve", "--web.listen-address", "127.0.0.1:0", "--log"])
            .arg(&s.log)
            .arg("--state-file")
            .arg(&s.state)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(err.contains(&s.state.display().to_string()), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

/// `--journal`: the cursor of the last record read is saved, and the next run continues with
/// `journalctl --after-cursor` (a stand-in journalctl on PATH records its arguments).
#[test]
fn journal_cursor_is_saved_and_resumed() {
    let s = setup();
    let bin = tempfile::tempdir().unwrap();
    let args_log = bin.path().join("args.log");
    let script = bin.path().join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             n=$(wc -l < '{}')\n\
             echo '{{\"__CURSOR\":\"s=run'$n';i=1\",\"__REALTIME_TIMESTAMP\":\"1700000000000000\",\"_HOSTNAME\":\"mx\",\"SYSLOG_IDENTIFIER\":\"postfix/smtpd\",\"_PID\":\"7\",\"MESSAGE\":\"connect from a[192.0.2.1]\"}}'\n\
             echo '{{\"__CURSOR\":\"s=run'$n';i=2\",\"__REALTIME_TIMESTAMP\":\"1700000001000000\",\"_HOSTNAME\":\"mx\",\"SYSLOG_IDENTIFIER\":\"postfix/smtpd\",\"_PID\":\"7\",\"MESSAGE\":\"disconnect from a[192.0.2.1] ehlo=1 quit=1 commands=2\"}}'\n\
             exec sleep 600\n",
            args_log.display(),
            args_log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let first = serve(Path::new(""), &s.state, &["--journal"], Some(bin.path()));
    wait_for_lines(&first, 2);
    stop(first);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state).unwrap()).unwrap();
    assert_eq!(state["journal_cursor"], "s=run1;i=2");

    let second = serve(Path::new(""), &s.state, &["--journal"], Some(bin.path()));
    wait_for_lines(&second, 2);
    stop(second);
    let args = std::fs::read_to_string(&args_log).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args.len(), 2, "{args:?}");
    assert!(args[0].contains("--lines=0"), "{}", args[0]);
    assert!(args[1].contains("--after-cursor=s=run1;i=2"), "{}", args[1]);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state).unwrap()).unwrap();
    assert_eq!(state["journal_cursor"], "s=run2;i=2");
}
