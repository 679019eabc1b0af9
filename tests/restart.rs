//! Restarting `pflog serve` with `--state-file`: nothing read twice, nothing skipped.
//!
//! The real binary follows a temporary log, is stopped with SIGTERM (or killed), lines are
//! written while it is down (the file renamed away, or copied and truncated, in some cases),
//! and it is started again. The counters of both runs added up must equal one replay of every
//! line. Families that depend on correlation state (which a restart does not keep: messages
//! in flight, TLS sessions) or on the wall clock are left out of the comparison; every
//! per-line family is in it, and `pflog_lines_total` alone proves each line counted once.

use std::collections::BTreeMap;
use std::io::Write;
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

use serve_support::scrape;

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
    // Saved within 1 s of the last line (25 s here, for a loaded machine); no line meanwhile.
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

// ---------------------------------------------------------------------------------------------
// How pflog stops, and what a restart then counts: the class of issue 23's defects 1-4.
//
// The log exists with lines before pflog starts (not counted: it starts at the end, as the
// shipped unit does). A writer appends numbered lines while pflog runs, across the stop, while
// it is down and after the restart. After the stop the state file says up to which line run 1
// counted; run 1 must not have shown more than that (else those lines are counted again) and run
// 2 must count exactly the lines after it (else some are lost or counted twice).

/// How run 1 is stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    Term,
    Int,
    Quit,
    /// SIGHUP, SIGUSR1, SIGUSR2 first: pflog goes on counting; then SIGTERM.
    ThenTerm(&'static str),
    /// Two SIGTERMs in a row, or two SIGINTs, while a client holds a request half sent.
    Twice(&'static str),
    /// SIGKILL once the state caught up with what was counted.
    Kill,
    /// SIGTERM; then a start that fails (the port is taken) with lines waiting to be read.
    TermThenFailedStart,
    /// No line at all while run 1 runs (a quiet log), then SIGTERM.
    QuietTerm,
}

fn numbered(i: usize) -> Vec<u8> {
    format!(
        "Nov 23 12:00:00 mx postfix/smtpd[{}]: connect from client{i}[192.0.2.1]\n",
        1000 + i
    )
    .into_bytes()
}

/// Appends a numbered line every few milliseconds until stopped; how many it wrote.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pause: std::sync::Arc<std::sync::atomic::AtomicBool>,
    written: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(log: &Path, first: usize) -> Writer {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let pause = std::sync::Arc::new(AtomicBool::new(false));
        let written = std::sync::Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, pause, written) = (stop.clone(), pause.clone(), written.clone());
            let log = log.to_path_buf();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("open log");
                while !stop.load(Ordering::SeqCst) {
                    if !pause.load(Ordering::SeqCst) {
                        let n = written.load(Ordering::SeqCst);
                        f.write_all(&numbered(first + n)).expect("write");
                        written.store(n + 1, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(4));
                }
            })
        };
        Writer {
            stop,
            pause,
            written,
            thread: Some(thread),
        }
    }

    fn pause(&self, on: bool) {
        self.pause.store(on, std::sync::atomic::Ordering::SeqCst);
        // A write in progress ends before the caller goes on.
        std::thread::sleep(Duration::from_millis(20));
    }

    fn written(&self) -> usize {
        self.written.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.written()
    }
}

fn serve_at_end(log: &Path, state: &Path, listen: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--web.listen-address",
        listen,
        "--year",
        "2026",
        "--utc",
    ])
    .arg("--log")
    .arg(log)
    .arg("--state-file")
    .arg(state);
    cmd
}

fn counted(server: &Server) -> usize {
    lines_total(&samples(&scrape(&server.addr))) as usize
}

/// Polls until `f` holds; panics with `what` after a generous deadline.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The offset saved for `log`, as a number of whole lines of the log.
fn saved_lines(state: &Path, log: &Path) -> usize {
    let text = std::fs::read_to_string(state).expect("state file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("state is whole JSON");
    let offset = v["files"][log.display().to_string()]["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("no position for the log in {text}")) as usize;
    let data = std::fs::read(log).unwrap();
    assert!(offset <= data.len());
    assert!(
        offset == 0 || data[offset - 1] == b'\n',
        "the saved offset is not at a line end"
    );
    data[..offset].iter().filter(|&&b| b == b'\n').count()
}

fn wait_exit(server: &mut Server, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "pflog serve did not stop within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(server: &Server, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn stderr_lines(server: &Server) -> Vec<String> {
    let mut said = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    said
}

fn stop_case(how: Stop) {
    const PRE: usize = 30;
    let s = setup();
    let pre: Vec<u8> = (0..PRE).flat_map(numbered).collect();
    std::fs::write(&s.log, pre).unwrap();
    let mut first = serve_support::start(
        serve_at_end(&s.log, &s.state, "127.0.0.1:0"),
        Duration::from_secs(20),
    );
    let writer = Writer::start(&s.log, PRE);
    if how == Stop::QuietTerm {
        writer.pause(true);
        // Several polls of the follower without a line.
        std::thread::sleep(Duration::from_millis(1500));
    } else {
        wait_until("run 1 counts lines", || counted(&first) >= 20);
    }
    let mut max_seen = counted(&first);
    let status = match how {
        Stop::Term | Stop::QuietTerm | Stop::TermThenFailedStart => {
            kill(&first, "-TERM");
            wait_exit(&mut first, Duration::from_secs(20))
        }
        Stop::Int => {
            kill(&first, "-INT");
            wait_exit(&mut first, Duration::from_secs(20))
        }
        Stop::Quit => {
            kill(&first, "-QUIT");
            wait_exit(&mut first, Duration::from_secs(20))
        }
        Stop::ThenTerm(sig) => {
            kill(&first, sig);
            let before = counted(&first);
            wait_until("counting goes on after the signal", || {
                max_seen = counted(&first);
                max_seen >= before + 20
            });
            kill(&first, "-TERM");
            wait_exit(&mut first, Duration::from_secs(20))
        }
        Stop::Twice(sig) => {
            // A client that pipelines scrapes and never reads the answers keeps a response in
            // flight (the socket buffers fill up), which the HTTP side's graceful shutdown
            // waits for; the second signal must not wait. (A half-sent request no longer
            // would: shutdown closes those at once.)
            let mut slow = TcpStream::connect(&first.addr).unwrap();
            let scrapes = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3000);
            slow.write_all(&scrapes).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            kill(&first, sig);
            std::thread::sleep(Duration::from_millis(300));
            kill(&first, sig);
            // The first one alone waits for the client for the HTTP side's grace (5 s).
            let status = wait_exit(&mut first, Duration::from_secs(4));
            drop(slow);
            status
        }
        Stop::Kill => {
            // The state catches up with what was counted without a shutdown (within the
            // documented second; 10 s here, for a loaded machine).
            let deadline = Instant::now() + Duration::from_secs(10);
            let at = counted(&first);
            while !s.state.exists() || saved_lines(&s.state, &s.log) < PRE + at {
                assert!(
                    Instant::now() < deadline,
                    "the state did not catch up with the lines counted"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            max_seen = at;
            kill(&first, "-KILL");
            wait_exit(&mut first, Duration::from_secs(20))
        }
    };
    let said = stderr_lines(&first);
    if let Stop::Twice(_) = how {
        assert!(said.iter().any(|l| l.contains("stopping now")), "{said:?}");
    }
    if how == Stop::Kill {
        assert!(!status.success());
    } else {
        assert!(status.success(), "{how:?}: exit {status:?}: {said:?}");
    }
    // Lines go on being written while pflog is down.
    writer.pause(false);
    std::thread::sleep(Duration::from_millis(400));
    let saved = saved_lines(&s.state, &s.log);
    assert!(
        max_seen + PRE <= saved,
        "{how:?}: run 1 showed {max_seen} lines but saved a position after {} of them: \
         they would be counted again; {said:?}",
        saved - PRE.min(saved)
    );
    if how == Stop::TermThenFailedStart {
        let before = std::fs::read(&s.state).unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let out = serve_at_end(&s.log, &s.state, &addr)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            std::fs::read(&s.state).unwrap(),
            before,
            "a failed start changed the state file: {err}"
        );
    }
    let second = serve_support::start(
        serve_at_end(&s.log, &s.state, "127.0.0.1:0"),
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_millis(400));
    let written = writer.finish();
    let want = PRE + written - saved;
    wait_until("run 2 counts every line after the saved position", || {
        let got = counted(&second);
        assert!(
            got <= want,
            "{how:?}: run 2 counted {got}, {want} were written after the saved position"
        );
        got == want
    });
    stop(second);
}

#[test]
fn stop_sigterm_then_restart_counts_each_line_once() {
    stop_case(Stop::Term);
}

#[test]
fn stop_sigint_then_restart_counts_each_line_once() {
    stop_case(Stop::Int);
}

#[test]
fn stop_sigquit_saves_state_like_sigterm() {
    stop_case(Stop::Quit);
}

#[test]
fn sighup_keeps_counting_then_sigterm_restart_counts_each_line_once() {
    stop_case(Stop::ThenTerm("-HUP"));
}

#[test]
fn sigusr1_and_sigusr2_do_not_stop_it() {
    stop_case(Stop::ThenTerm("-USR1"));
    stop_case(Stop::ThenTerm("-USR2"));
}

#[test]
fn a_second_sigterm_or_sigint_stops_at_once_and_still_saves_state() {
    stop_case(Stop::Twice("-TERM"));
    stop_case(Stop::Twice("-INT"));
}

#[test]
fn sigkill_after_the_state_caught_up_restart_counts_each_line_once() {
    stop_case(Stop::Kill);
}

#[test]
fn a_failed_start_reads_nothing_and_leaves_the_state_as_it_was() {
    stop_case(Stop::TermThenFailedStart);
}

#[test]
fn a_quiet_log_is_recorded_from_the_start_so_lines_written_while_down_count() {
    stop_case(Stop::QuietTerm);
}

/// `--log X --log X`, `X` and `dir/../X`, a symlink to `X`: one file, followed once, said once.
#[test]
fn the_same_file_named_several_ways_is_followed_once() {
    let s = setup();
    let dir = s.log.parent().unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let link = dir.join("link.log");
    std::os::unix::fs::symlink(&s.log, &link).unwrap();
    let dotdot = dir.join("sub/../mail.log");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--web.listen-address",
        "127.0.0.1:0",
        "--year",
        "2026",
        "--utc",
    ]);
    for p in [&s.log, &s.log, &dotdot, &link] {
        cmd.arg("--log").arg(p);
    }
    // Not there yet: the same path twice is one file too.
    let later = dir.join("later.log");
    cmd.arg("--log")
        .arg(&later)
        .arg("--log")
        .arg(dir.join("sub/../later.log"));
    let server = serve_support::start(cmd, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(600));
    append(&s.log, &[numbered(1), numbered(2), numbered(3)]);
    append(&later, &[numbered(4)]);
    wait_for_lines(&server, 4);
    // The sources are the first names given.
    let body = scrape(&server.addr);
    let followed: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("pflog_source_rotations_total{"))
        .collect();
    assert_eq!(followed.len(), 2, "{followed:?}");
    assert!(
        !followed
            .iter()
            .any(|l| l.contains("link.log") || l.contains("sub/..")),
        "{followed:?}"
    );
    let said = server.said_before.clone();
    stop(server);
    let dups: Vec<&String> = said.iter().filter(|l| l.contains("same file")).collect();
    assert_eq!(dups.len(), 4, "one line per duplicate: {said:?}");
}

/// A state file that cannot be used (cut short, not JSON, a bad entry, empty) is kept aside
/// as `STATE.corrupt-<unix time>`, said in one line, and pflog starts as without one.
#[test]
fn a_corrupt_state_file_is_set_aside_and_pflog_starts() {
    for content in [
        &b"{\"files\": {\"x\": {\"dev\": 1"[..],
        b"\xff\xfe not json",
        b"{\"files\": {\"x\": {\"dev\": 1, \"inode\": 2, \"offset\": 3, \"tail\": \"zz\"}}}",
        b"",
    ] {
        let s = setup();
        std::fs::write(&s.state, content).unwrap();
        let server = serve(&s.log, &s.state, &[], None);
        append(&s.log, &[numbered(1), numbered(2)]);
        wait_for_lines(&server, 2);
        let said = server.said_before.clone();
        stop(server);
        let warned: Vec<&String> = said.iter().filter(|l| l.contains("corrupt")).collect();
        assert_eq!(warned.len(), 1, "{said:?}");
        assert!(
            warned[0].contains(&s.state.display().to_string()),
            "{said:?}"
        );
        let aside: Vec<PathBuf> = std::fs::read_dir(s.state.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("pflog.state.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), content);
        // The state is new and whole.
        assert_eq!(saved_lines(&s.state, &s.log), 2);
    }
}

/// A state file in a directory that does not exist is a bad flag, found before anything runs.
#[test]
fn a_state_file_in_a_missing_directory_is_a_bad_flag() {
    let s = setup();
    let state = s.log.parent().unwrap().join("missing/dir/state.json");
    let out = Command::new(BIN)
        .args(["serve", "--web.listen-address", "127.0.0.1:0", "--log"])
        .arg(&s.log)
        .arg("--state-file")
        .arg(&state)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("missing/dir"), "{err}");
}
