//! `pflog replay --threads N` gives the same report, the same exposition and the same
//! `--show-unsupported` samples as one thread, on a log of many chunks.

use std::process::Command;

fn replay(path: &std::path::Path, threads: u32, format: &str) -> (String, String) {
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
    (
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
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
