//! What `pflog replay` makes of awkward input, and what both commands say about bad flags and
//! failures, run on the real binary: lines longer than `--max-line-bytes`, endless input
//! (`/dev/zero`, a pipe of zeros under a memory limit), FIFOs, logs compressed by the real
//! `gzip`, `xz`, `bzip2` and `zstd` (whole, concatenated, truncated, on standard input), a
//! terminal on standard input, control characters in `--show-unsupported`, one line and exit
//! code 2 for every bad flag, error messages that name a path once, and the README's install
//! check against a fresh `pflog serve`.

#[path = "support/replay.rs"]
mod replay_support;
#[path = "support/serve.rs"]
mod serve_support;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use replay_support::{fixture, sorted_samples};

const BIN: &str = env!("CARGO_BIN_EXE_pflog");

fn pflog(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pflog")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `pflog replay --format json ARGS`, its summary as JSON; the run must succeed.
fn json_report(args: &[&str]) -> serde_json::Value {
    let out = pflog(&[&["replay", "--format", "json"], args].concat());
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn qmgr_line(i: usize) -> String {
    format!(
        "Nov 23 00:00:{:02} mx postfix/qmgr[2]: 4A1B2C{i:04X}: from=<a@b.example>, size=100, nrcpt=1 (queue active)\n",
        i % 60
    )
}

/// A log with three lines longer than the default 64 KiB: 50 MB with its line end, 100 KB
/// (shorter than replay's chunks), and 20 MB without a line end at the very end; real lines
/// before and between them.
#[test]
fn long_lines_are_cut_counted_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let mut data = Vec::new();
    for i in 0..10 {
        data.extend_from_slice(qmgr_line(i).as_bytes());
    }
    data.extend_from_slice(b"Nov 23 00:00:10 mx postfix/smtpd[1]: ");
    data.extend(std::iter::repeat_n(b'x', 50_000_000));
    data.push(b'\n');
    for i in 10..20 {
        data.extend_from_slice(qmgr_line(i).as_bytes());
    }
    data.extend(std::iter::repeat_n(b'y', 100_000));
    data.push(b'\n');
    for i in 20..30 {
        data.extend_from_slice(qmgr_line(i).as_bytes());
    }
    data.extend(std::iter::repeat_n(b'z', 20_000_000));
    std::fs::write(&log, &data).unwrap();
    drop(data);
    let path = log.to_str().unwrap();

    let report = json_report(&[path]);
    let lines = &report["lines"];
    assert_eq!(lines["total"], 33, "{lines}");
    assert_eq!(lines["cut"], 3, "{lines}");
    // The 30 qmgr lines, all of them after a long line but the first ten.
    assert_eq!(lines["parsed"], 30, "{lines}");

    // The text report says so; the exposition counts them per file, as serve does.
    let out = pflog(&["replay", path]);
    assert!(out.status.success());
    let first = text(&out.stdout).lines().next().unwrap_or("").to_string();
    assert!(
        first.contains("3 longer than --max-line-bytes, cut"),
        "{first}"
    );
    let one = replay_support::replay(None, &["--threads", "1"], &log);
    let series = format!("pflog_source_long_lines_total{{source=\"{path}\"}} 3");
    assert!(one.contains(&series), "{one}");
    // The same numbers whether lines are staged on several threads or read on one.
    for threads in ["2", "3"] {
        let many = replay_support::replay(None, &["--threads", threads], &log);
        assert_eq!(
            sorted_samples(&many),
            sorted_samples(&one),
            "--threads {threads}"
        );
    }

    // A lower cap cuts the qmgr lines too (each is about 100 bytes long).
    let report = json_report(&["--max-line-bytes", "256", path]);
    assert_eq!(report["lines"]["cut"], 3);
    let report = json_report(&["--max-line-bytes", "256", "--threads", "1", path]);
    assert_eq!(report["lines"]["cut"], 3);
}

/// Endless input without a line end takes no more memory than the cap: 2 GB of zeros through
/// a pipe under a 600 MB address-space limit (the whole line kept would need more than 2 GB).
#[test]
fn endless_line_on_a_pipe_stays_within_a_memory_limit() {
    for threads in ["1", "2"] {
        let script = format!(
            "ulimit -v 600000 && head -c 2000000000 /dev/zero | exec {BIN} replay --format json --threads {threads} -"
        );
        let out = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "--threads {threads}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["lines"]["total"], 1);
        assert_eq!(report["lines"]["cut"], 1);
    }
}

/// `/dev/zero` and other devices are not logs: one line, exit 1. A directory is refused too.
/// A FIFO is read like a file.
#[test]
fn devices_are_refused_and_fifos_read() {
    for (path, why) in [
        ("/dev/zero", "not a regular file, FIFO or terminal"),
        ("/dev/urandom", "not a regular file, FIFO or terminal"),
        ("/tmp", "is a directory"),
    ] {
        let out = pflog(&["replay", path]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(text(&out.stderr), format!("pflog: {path}: {why}\n"));
        assert!(out.stdout.is_empty());
    }

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("mail.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            for i in 0..1_000 {
                f.write_all(qmgr_line(i).as_bytes()).unwrap();
            }
        })
    };
    let report = json_report(&[fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(report["lines"]["parsed"], 1_000);
}

/// Compresses `data` with a real tool (`gzip -c` and the like).
fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} (install it: apt-get install {tool}): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success(), "{tool}");
    out
}

const TOOLS: [&str; 4] = ["gzip", "xz", "bzip2", "zstd"];

/// Logs compressed by the real tools read as the plain log, told by their content (the names
/// here have no extension), also when two compressed files were concatenated (two members,
/// streams or frames), and on standard input.
#[test]
fn compressed_logs_read_as_the_plain_log() {
    let log = fixture("fixtures/mailstack/mail.log");
    let plain = std::fs::read(&log).unwrap();
    let expected = sorted_samples(&replay_support::replay(None, &["--year", "2026"], &log));
    assert!(
        expected.contains("postfix_message_outcomes_total"),
        "{expected}"
    );
    let dir = tempfile::tempdir().unwrap();
    let half = plain[..plain.len() / 2]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    for tool in TOOLS {
        let whole = dir.path().join(format!("whole-{tool}"));
        std::fs::write(&whole, compress(tool, &plain)).unwrap();
        let two = dir.path().join(format!("two-{tool}"));
        let joined = [
            compress(tool, &plain[..half]),
            compress(tool, &plain[half..]),
        ]
        .concat();
        std::fs::write(&two, joined).unwrap();
        for file in [&whole, &two] {
            let got = replay_support::replay(None, &["--year", "2026"], file);
            assert_eq!(sorted_samples(&got), expected, "{}", file.display());
        }
        let mut child = Command::new(BIN)
            .args(["replay", "--format", "prometheus", "--year", "2026", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        let feeder = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(out.status.success(), "{tool} on stdin");
        assert_eq!(
            sorted_samples(&text(&out.stdout)),
            expected,
            "{tool} on stdin"
        );
    }
}

/// A truncated compressed log: the lines before the cut are reported, one line on stderr names
/// the file, and the exit code is 1; the files after it are still read.
#[test]
fn truncated_compressed_logs_report_what_was_read() {
    let plain: Vec<u8> = (0..20_000)
        .flat_map(|i| qmgr_line(i).into_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let after = dir.path().join("after.log");
    std::fs::write(&after, qmgr_line(1)).unwrap();
    for tool in TOOLS {
        let packed = compress(tool, &plain);
        let cut = dir.path().join(format!("mail.log.2.{tool}"));
        std::fs::write(&cut, &packed[..packed.len() * 2 / 3]).unwrap();
        for threads in ["1", "2"] {
            let out = pflog(&[
                "replay",
                "--format",
                "json",
                "--threads",
                threads,
                cut.to_str().unwrap(),
                after.to_str().unwrap(),
            ]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{tool}: {stderr}");
            assert!(
                stderr.starts_with(&format!("pflog: {}: ", cut.display()))
                    && stderr.ends_with("(the report covers the lines before it)\n"),
                "{tool}: {stderr}"
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let parsed = report["lines"]["parsed"].as_u64().unwrap();
            // Some lines of the cut file, and the line of the file after it.
            assert!(parsed > 1_000 && parsed < 20_000, "{tool}: {parsed}");
        }
    }
}

/// `--show-unsupported` writes control characters of log lines escaped: a log line cannot
/// drive the terminal.
#[test]
fn unsupported_lines_are_shown_with_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let line =
        "Nov 23 00:00:00 mx postfix/qmgr[2]: \x1b[2J\x1b]0;owned\x07 tab\there \u{9b}31m\r\n";
    std::fs::write(&log, line).unwrap();
    for threads in ["1", "2"] {
        let out = pflog(&[
            "replay",
            "--show-unsupported",
            "5",
            "--threads",
            threads,
            log.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr,
            "unsupported [qmgr]: Nov 23 00:00:00 mx postfix/qmgr[2]: \\x1b[2J\\x1b]0;owned\\x07 tab\\there \\u{9b}31m\n"
        );
    }
}

/// `pflog replay` with no file and a terminal on standard input says what it waits for (the
/// terminal is a pseudo-terminal made by `script`); Ctrl-D ends the input and the report
/// follows.
#[test]
fn replay_from_a_terminal_says_so() {
    let mut child = Command::new("script")
        .args(["-qfec", &format!("{BIN} replay --format json"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let hint = "pflog: reading log lines from standard input (a terminal); end with Ctrl-D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while !text(&out).contains(hint) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => out.extend(bytes),
            Err(_) => {
                let _ = child.kill();
                panic!("no word from pflog replay on a terminal: {:?}", text(&out));
            }
        }
    }
    // One Ctrl-D ends the input, as for `cat`.
    stdin.write_all(b"\x04").unwrap();
    stdin.flush().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("one Ctrl-D did not end the input: {:?}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    while let Ok(bytes) = rx.recv_timeout(Duration::from_secs(5)) {
        out.extend(bytes);
    }
    let out = text(&out);
    assert!(status.success(), "{out}");
    assert!(out.contains("\"total\": 0"), "{out}");
}

/// Every bad flag: exactly one line on stderr, exit code 2, and nothing started (serve would
/// otherwise listen and run until killed).
#[test]
fn bad_flags_get_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["replay", "--reject-rule", "greylist=("], "unclosed group"),
        (
            &["replay", "--reject-rule", "greylist=a{99999999}"],
            "reject rule greylist=",
        ),
        (&["replay", "--reject-rule", "nonsense=x"], "unknown reason"),
        (&["replay", "--reject-rule", "=x"], "unknown reason"),
        (
            &["replay", "--reject-rule", "greylist"],
            "is not REASON=REGEX",
        ),
        (&["serve", "--reject-rule", "greylist=("], "unclosed group"),
        (
            &["serve", "--web.listen-address", "nonsense"],
            "is not host:port",
        ),
        (
            &["serve", "--web.listen-address", ":99999"],
            "is not a port number",
        ),
        (
            &["serve", "--web.listen-address", "a b:80"],
            "is not an IP address",
        ),
        (&["serve", "--web.listen-address", ""], "is not host:port"),
        (
            &["serve", "--web.telemetry-path", "metrics"],
            "does not start with /",
        ),
        (
            &["serve", "--web.telemetry-path", ""],
            "does not start with /",
        ),
        (
            &["serve", "--web.telemetry-path", "/m?x=1"],
            "cannot be part of a URL path",
        ),
        (
            &["serve", "--journal-match", "SYSLOG_FACILITY=2"],
            "--journal",
        ),
        (&["serve", "--log", ""], "the path is empty"),
        (&["serve", "--max-line-bytes", "10"], "256..=16777216"),
        (
            &["replay", "--max-line-bytes", "x"],
            "not a number of bytes",
        ),
        (
            &["replay", "--max-line-bytes", "99999999999"],
            "256..=16777216",
        ),
        (&["serve", "--capacity", "0"], "--capacity"),
        (&["replay", "--message-ttl", "3x"], "unknown unit"),
        (&["replay", "--greylist-window", "0s"], "out of range"),
        (&["replay", "--threads", "0"], "--threads"),
        (&["replay", "--year", "1800"], "--year"),
        (&["replay", "--format", "xml"], "possible values"),
        (&["serve", "--no-such-flag"], "--no-such-flag"),
        (&["serve", "--web.listen-address"], "a value is required"),
        (&[], "a command is required"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, says) in cases {
        // Serve's other flags keep an accepted flag from disturbing anything (a free port, a
        // log that is only waited for).
        let mut args = args.to_vec();
        if args.first() == Some(&"serve") {
            for (flag, value) in [
                ("--log", "/nonexistent/mail.log"),
                ("--web.listen-address", "127.0.0.1:0"),
            ] {
                if !args.contains(&flag) {
                    args.extend([flag, value]);
                }
            }
        }
        let mut child = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} was accepted: pflog ran on");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("pflog: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?}: {stderr:?} should say {says:?}"
        );
    }
}

/// Error messages name a path once (`/dev/zero: not a regular file`, not
/// `/dev/zero: /dev/zero: not a regular file`), from `replay` and from a followed file.
#[test]
fn errors_name_the_path_once() {
    let missing = "/nonexistent/mail.log";
    let out = pflog(&["replay", missing]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.matches(missing).count(), 1, "{stderr}");

    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--log",
        "/dev/zero",
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    let server = serve_support::start(cmd, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server
            .stderr
            .recv_timeout(left)
            .expect("an error about /dev/zero");
        if line.contains("/dev/zero") {
            break line;
        }
    };
    assert_eq!(line, "pflog: /dev/zero: not a regular file");
}

/// The README's check after installing (`curl ... | grep ...`) shows something on a fresh
/// start, before any mail was logged: the followed log's source series.
#[test]
fn readme_install_check_passes_on_a_fresh_start() {
    let readme = std::fs::read_to_string(fixture("README.md")).unwrap();
    let check = readme
        .lines()
        .find(|l| l.starts_with("curl -s localhost:9154/metrics |"))
        .expect("the README's install check");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, "").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--log",
        log.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    let server = serve_support::start(cmd, Duration::from_secs(60));
    let check = check.replace("localhost:9154", &server.addr);
    let out = Command::new("sh").args(["-c", &check]).output().unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{check}: nothing shown");
    assert!(
        shown.contains(&format!("source=\"{}\"", log.display())),
        "{check}: {shown}"
    );
}
