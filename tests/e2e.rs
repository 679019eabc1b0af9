//! End-to-end: the real Postfix, postgrey, policyd-weight, rspamd and Dovecot on loopback
//! (tests/e2e/mailstack.sh), a real `pflog serve` following their logs while a known mix of
//! mail runs, and `pflog replay` of the captured logs; both must equal
//! fixtures/mailstack/expected.prom, and each other. The same with policyd-spf, OpenDKIM and
//! OpenDMARC added and the auth mix (`mailstack.sh --auth`, fixtures/auth/expected.prom), where
//! every line of the logs must also be counted `parsed` under its own program.
//!
//! Needs root and the Debian packages (`tests/e2e/mailstack.sh --install`); elsewhere it is
//! skipped with a message, except under CI (`CI` set), where a missing prerequisite fails.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// mailstack.sh takes the loopback ports and /dev/log for itself (and refuses to start beside
/// another run), so the two stacks run one after the other.
static ONE_STACK_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What the auth stack needs on top of the mail stack.
const AUTH_TOOLS: &[&str] = &[
    "/usr/bin/policyd-spf",
    "/usr/sbin/opendkim",
    "/usr/sbin/opendkim-genkey",
    "/usr/sbin/opendkim-testmsg",
    "/usr/sbin/opendmarc",
];

fn missing_prerequisite(extra_tools: &[&str]) -> Option<String> {
    let root = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        return Some("not running as root".into());
    }
    for tool in [
        "/usr/sbin/postfix",
        "/usr/sbin/postgrey",
        "/usr/sbin/policyd-weight",
        "/usr/bin/rspamd",
        "/usr/sbin/dovecot",
        "/usr/bin/swaks",
        "/usr/sbin/rsyslogd",
        "/usr/bin/curl",
    ]
    .iter()
    .chain(extra_tools)
    {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Runs tests/e2e/mailstack.sh with pflog_check.sh's hooks (live `pflog serve`, then replay),
/// with the extra mailstack.sh arguments, prerequisites and hook environment given.
fn run_stack(stack_args: &[&str], extra_tools: &[&str], env: &[(&str, &str)]) {
    if let Some(why) = missing_prerequisite(extra_tools) {
        assert!(
            std::env::var_os("CI").is_none(),
            "end-to-end prerequisites missing under CI: {why}"
        );
        eprintln!("end-to-end test skipped: {why} (run tests/e2e/mailstack.sh --install as root)");
        return;
    }
    let _alone = ONE_STACK_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let hook = root.join("tests/e2e/pflog_check.sh");
    let hook = hook.display();
    let status = Command::new("bash")
        .arg(root.join("tests/e2e/mailstack.sh"))
        .args(stack_args)
        .args(["--live-start", &format!("{hook} serve")])
        .args(["--live-check", &format!("{hook} live")])
        .args(["--check", &format!("{hook} replay")])
        .env("PFLOG_BIN", env!("CARGO_BIN_EXE_pflog"))
        .env("PFLOG_E2E_PORT", port.to_string())
        .env("PFLOG_E2E_OUT", out.path())
        .envs(env.iter().copied())
        .status()
        .expect("run tests/e2e/mailstack.sh");
    assert!(
        status.success(),
        "the end-to-end run failed ({status}); its output above names the step and what differed"
    );
}

#[test]
fn real_mail_stack_matches_expected_metrics_live_and_replayed() {
    run_stack(&[], &[], &[]);
}

#[test]
fn real_auth_stack_matches_expected_metrics_and_every_line_is_parsed() {
    run_stack(&["--auth"], AUTH_TOOLS, &[("PFLOG_E2E_COUNT_LINES", "1")]);
}
