//! The journal source against the real `journalctl`, reading a journal file built with
//! `systemd-journal-remote` from records in the journal export format; and restart behaviour
//! with a stand-in program.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pflog::source::{JournalOptions, SourceMsg, run_journal};
use tokio::sync::mpsc;
use tokio::time::timeout;

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// One record in the journal export format; values with control or non-ASCII bytes use the
/// binary encoding (name, newline, little-endian 64-bit length, data, newline).
fn export_record(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.iter().all(|b| (b' '..=b'~').contains(b)) {
            out.push(b'=');
            out.extend_from_slice(value);
        } else {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

const BOOT: &[u8] = b"0123456789abcdef0123456789abcdef";

fn build_journal(dir: &Path) -> std::path::PathBuf {
    let mut export = Vec::new();
    export.extend(export_record(&[
        ("__REALTIME_TIMESTAMP", b"1700000000123456"),
        ("__MONOTONIC_TIMESTAMP", b"1000"),
        ("_BOOT_ID", BOOT),
        ("_HOSTNAME", b"mx1"),
        ("SYSLOG_FACILITY", b"2"),
        ("SYSLOG_IDENTIFIER", b"postfix/smtpd"),
        ("_PID", b"123"),
        ("MESSAGE", b"connect from mail.example.org[192.0.2.1]"),
    ]));
    // Not mail: filtered out by the default match.
    export.extend(export_record(&[
        ("__REALTIME_TIMESTAMP", b"1700000000500000"),
        ("__MONOTONIC_TIMESTAMP", b"1500"),
        ("_BOOT_ID", BOOT),
        ("_HOSTNAME", b"mx1"),
        ("SYSLOG_FACILITY", b"3"),
        ("SYSLOG_IDENTIFIER", b"sshd"),
        ("_PID", b"9"),
        ("MESSAGE", b"not mail"),
    ]));
    // Binary message (journald stores non-UTF-8 as binary; JSON shows a byte array), with a
    // newline in it; identifier from _COMM, PID from SYSLOG_PID.
    export.extend(export_record(&[
        ("__REALTIME_TIMESTAMP", b"1700000001000000"),
        ("__MONOTONIC_TIMESTAMP", b"2000"),
        ("_BOOT_ID", BOOT),
        ("_HOSTNAME", b"mx1"),
        ("SYSLOG_FACILITY", b"2"),
        ("_COMM", b"cleanup"),
        ("SYSLOG_PID", b"124"),
        ("MESSAGE", b"ABC123: message-id=<\xff\xfe@x>\nrest\0end"),
    ]));
    export.extend(export_record(&[
        ("__REALTIME_TIMESTAMP", b"1700000002000001"),
        ("__MONOTONIC_TIMESTAMP", b"3000"),
        ("_BOOT_ID", BOOT),
        ("_HOSTNAME", b"mx1"),
        ("SYSLOG_FACILITY", b"2"),
        ("SYSLOG_IDENTIFIER", b"postfix/qmgr"),
        ("_PID", b"125"),
        ("MESSAGE", b"ABC123: removed"),
    ]));
    let out = dir.join("test.journal");
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", out.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run systemd-journal-remote");
    child.stdin.take().unwrap().write_all(&export).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "systemd-journal-remote: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

#[tokio::test]
async fn real_journalctl_reads_a_real_journal_file() {
    if !Path::new(JOURNAL_REMOTE).exists() {
        eprintln!(
            "SKIPPED: {JOURNAL_REMOTE} is missing (Debian package systemd-journal-remote); \
             the journal integration test did not run"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = build_journal(dir.path());
    let opts = JournalOptions {
        follow: false,
        extra_args: vec!["--file".into(), file.display().to_string()],
        ..JournalOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    timeout(Duration::from_secs(30), run_journal(7, opts, tx))
        .await
        .expect("journalctl finished");
    let mut lines = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            SourceMsg::Lines {
                source: 7,
                lines: l,
                position: None,
            } => lines.extend(l),
            other => panic!("unexpected {other:?}"),
        }
    }
    let want: Vec<&[u8]> = vec![
        b"2023-11-14T22:13:20.123456+00:00 mx1 postfix/smtpd[123]: connect from mail.example.org[192.0.2.1]",
        b"2023-11-14T22:13:21.000000+00:00 mx1 cleanup[124]: ABC123: message-id=<\xff\xfe@x> rest\0end",
        b"2023-11-14T22:13:22.000001+00:00 mx1 postfix/qmgr[125]: ABC123: removed",
    ];
    assert_eq!(lines, want);
}

/// A stand-in for journalctl that logs its arguments, prints one record and exits.
fn fake_journalctl(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("journalctl");
    let log = dir.join("args.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             echo '{{\"__CURSOR\":\"c'$(wc -l < '{}')'\",\"__REALTIME_TIMESTAMP\":\"0\",\"MESSAGE\":\"m\"}}'\n\
             echo 'bye' >&2\nexit 3\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn follow_restarts_with_backoff_after_the_last_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let program = fake_journalctl(dir.path());
    let opts = JournalOptions {
        program,
        follow: true,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(80),
        ..JournalOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(run_journal(0, opts, tx));
    let mut errors = Vec::new();
    let mut lines = 0;
    while errors.len() < 4 {
        match timeout(Duration::from_secs(10), rx.recv()).await.unwrap() {
            Some(SourceMsg::Error { message, .. }) => errors.push(message),
            Some(SourceMsg::Lines { lines: l, .. }) => lines += l.len(),
            // A run that lasted the shortest backoff (the machine may be slow).
            Some(SourceMsg::Recovered { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    task.abort();
    assert_eq!(lines, 4);
    assert!(errors[0].contains("exit status: 3"), "{}", errors[0]);
    assert!(
        errors[0].contains("bye"),
        "stderr in the message: {}",
        errors[0]
    );
    let waits: Vec<&str> = errors
        .iter()
        .map(|e| e.rsplit("restarting in ").next().unwrap())
        .collect();
    assert_eq!(waits, ["0.02s", "0.04s", "0.08s", "0.08s"]);
    let args = std::fs::read_to_string(dir.path().join("args.log")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[0],
        "--output=json --all --follow --lines=0 SYSLOG_FACILITY=2"
    );
    // Restarts continue after the last record read, so nothing is read twice or skipped.
    assert!(args[1].contains("--after-cursor=c1"), "{}", args[1]);
    assert!(args[2].contains("--after-cursor=c2"), "{}", args[2]);
}

#[tokio::test]
async fn a_missing_program_is_an_error_not_a_panic() {
    let opts = JournalOptions {
        program: "/nonexistent/journalctl".into(),
        follow: false,
        ..JournalOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(4);
    run_journal(1, opts, tx).await;
    match rx.recv().await {
        Some(SourceMsg::Error { source: 1, message }) => {
            assert!(message.contains("/nonexistent/journalctl"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A saved cursor that journalctl can no longer seek to (its files vacuumed) is dropped after
/// the first failure, so the journal is followed again from its end instead of failing forever.
#[tokio::test]
async fn an_unusable_saved_cursor_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("args.log");
    let script = dir.path().join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             case \"$*\" in *--after-cursor=*) echo 'Failed to seek to cursor: Invalid argument' >&2; exit 1;; esac\n\
             echo '{{\"__CURSOR\":\"fresh\",\"__REALTIME_TIMESTAMP\":\"0\",\"MESSAGE\":\"m\"}}'\n\
             exec sleep 600\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let opts = JournalOptions {
        program: script,
        follow: true,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(80),
        after_cursor: Some("s=vacuumed".into()),
        report_cursor: true,
        ..JournalOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(run_journal(0, opts, tx));
    let mut errors = Vec::new();
    loop {
        match timeout(Duration::from_secs(10), rx.recv()).await.unwrap() {
            Some(SourceMsg::Error { message, .. }) => errors.push(message),
            Some(SourceMsg::Lines { .. }) | Some(SourceMsg::Recovered { .. }) => {}
            Some(SourceMsg::JournalCursor { cursor, .. }) => {
                assert_eq!(cursor, "fresh");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    task.abort();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("cursor dropped"), "{}", errors[0]);
    let args = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert!(args[0].contains("--after-cursor=s=vacuumed"), "{}", args[0]);
    assert!(args[1].contains("--lines=0"), "{}", args[1]);
}
