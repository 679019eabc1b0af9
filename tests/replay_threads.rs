//! `pflog replay --threads N` gives the same report, the same exposition and the same
//! `--show-unsupported` samples as one thread, on a log of many chunks, hostile lines included.

use std::process::Command;

fn replay(path: &std::path::Path, threads: u32, format: &str) -> (String, String) {
    let (out, err) = replay_bytes(path, threads, format);
    (
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}

fn replay_bytes(path: &std::path::Path, threads: u32, format: &str) -> (Vec<u8>, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_pflog"))
        .args([
            "replay",
            "--year",
            "2026",
            "--utc",
            "--show-unsupported",
            "3",
        ])
        .args(["--threads", &threads.to_string(), "--format", format])
        .arg(path)
        .output()
        .expect("run pflog");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, out.stderr)
}

#[test]
fn threads_change_nothing_but_speed() {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mailstack/mail.log"
    ))
    .expect("fixture");
    // The fixture over and over (about 8 MB), with a line no parser knows every so often.
    let mut log = String::new();
    let mut n = 0;
    while log.len() < 8 << 20 {
        for line in fixture.lines() {
            log.push_str(line);
            log.push('\n');
            n += 1;
            if n % 5_000 == 0 {
                log.push_str(&format!(
                    "Nov 24 10:00:00 mx postfix/smtpd[4242]: nothing pflog knows {n}\n"
                ));
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mail.log");
    std::fs::write(&path, &log).expect("write log");

    for format in ["prometheus", "text"] {
        let (one, one_err) = replay(&path, 1, format);
        for threads in [2, 4] {
            let (many, many_err) = replay(&path, threads, format);
            assert!(one == many, "{format}, {threads} threads: output differs");
            assert_eq!(one_err, many_err, "{format}, {threads} threads");
        }
        let samples: Vec<&str> = one_err.lines().collect();
        assert_eq!(
            samples,
            [5_000, 10_000, 15_000].map(|n| format!(
                "unsupported [smtpd]: Nov 24 10:00:00 mx postfix/smtpd[4242]: nothing pflog knows {n}"
            )),
            "{format}"
        );
    }
}

/// Hostile lines between good ones (1 MB lines, NUL bytes, invalid UTF-8, CRLF, no newline at
/// the end) come out the same on any number of threads.
#[test]
fn hostile_lines_count_alike_on_any_thread_count() {
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mailstack/mail.log"
    ))
    .expect("fixture");
    let hostile: [&[u8]; 6] = [
        b"Nov 24 10:00:00 mx postfix/smtpd[1]: connect from h\0st[192.0.2.1]\n",
        b"Nov 24 10:00:00 mx postfix/smtpd[1]: connect from \xff\xfe[192.0.2.1]\n",
        b"Nov 24 10:00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: removed\r\n",
        b"\0\0\0\n",
        b"\n",
        b"Nov 24 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 550 5.7.1 ",
    ];
    let mut log = Vec::new();
    let mut round = 0;
    while log.len() < 12 << 20 {
        log.extend_from_slice(&fixture);
        for (i, line) in hostile.iter().enumerate() {
            log.extend_from_slice(line);
            if i == 5 {
                // A reject text of a megabyte, then its line end.
                log.extend(std::iter::repeat_n(b'x', 1 << 20));
                log.push(b'\n');
            }
        }
        round += 1;
    }
    assert!(round >= 5);
    log.extend_from_slice(b"Nov 24 10:00:01 mx postfix/qmgr[2]: 4A1B2C3D4F: removed");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mail.log");
    std::fs::write(&path, &log).expect("write log");
    let (one, _) = replay_bytes(&path, 1, "prometheus");
    let text = String::from_utf8_lossy(&one);
    assert!(text.contains("pflog_lines_total"), "{text}");
    for threads in [2, 3] {
        let (many, _) = replay_bytes(&path, threads, "prometheus");
        assert!(one == many, "{threads} threads: exposition differs");
    }
}
