//! End-to-end: the real Postfix, postgrey, policyd-weight, rspamd and Dovecot on loopback
//! (tests/e2e/mailstack.sh), a real `pflog serve` following their logs while a known mix of
//! mail runs, and `pflog replay` of the captured logs; both must equal
//! fixtures/mailstack/expected.prom, and each other.
//!
//! Needs root and the Debian packages (`tests/e2e/mailstack.sh --install`); elsewhere it is
//! skipped with a message, except under CI (`CI` set), where a missing prerequisite fails.

use std::path::Path;
use std::process::Command;

fn missing_prerequisite() -> Option<String> {
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
    ] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

#[test]
fn real_mail_stack_matches_expected_metrics_live_and_replayed() {
    if let Some(why) = missing_prerequisite() {
        assert!(
            std::env::var_os("CI").is_none(),
            "end-to-end prerequisites missing under CI: {why}"
        );
        eprintln!("end-to-end test skipped: {why} (run tests/e2e/mailstack.sh --install as root)");
        return;
    }
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
        .args(["--live-start", &format!("{hook} serve")])
        .args(["--live-check", &format!("{hook} live")])
        .args(["--check", &format!("{hook} replay")])
        .env("PFLOG_BIN", env!("CARGO_BIN_EXE_pflog"))
        .env("PFLOG_E2E_PORT", port.to_string())
        .env("PFLOG_E2E_OUT", out.path())
        .status()
        .expect("run tests/e2e/mailstack.sh");
    assert!(
        status.success(),
        "the end-to-end run failed ({status}); its output above names the step and what differed"
    );
}
