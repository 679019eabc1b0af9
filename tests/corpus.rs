//! Every line of the public corpus (`fixtures/corpus/*.log`, origins in its README) from a
//! daemon of pflog's table is understood, except the few listed below that are malformed or
//! unknown on purpose; and no prefix of a real message panics any parser.
//!
//! The daemons come from `pflog::parsers::DAEMONS`: a daemon added to the table is held to
//! the corpus without touching this file.

use std::path::{Path, PathBuf};

use pflog::envelope::{self, Clock, Program};
use pflog::parsers::{self, DAEMONS, Daemon, Parsed};

/// Corpus lines (verbatim) that are deliberately malformed or deliberately unknown, and so
/// must stay unsupported.
const EXPECTED_UNSUPPORTED: &[&str] = &[
    // sergeymakinen/postfix_exporter: the exporter's own "unsupported line" test inputs.
    "Jan 1 00:00:00 hostname postfix/smtpd[12345]: NOQUEUE: reject: Unsupported",
    "Jan 1 00:00:00 hostname postfix/smtpd[12345]: Unsupported",
    "Jan 1 00:00:00 hostname postfix/cleanup[12345]: Unsupported",
    "Jan 1 00:00:00 hostname postfix/lmtp[12345]: Unsupported",
    "Jan 1 00:00:00 hostname postfix/smtp[12345]: Unsupported",
    "Jan 1 00:00:00 hostname postfix/qmgr[12345]: Unsupported",
    // sergeymakinen/postfix_exporter: a service name Postfix does not have, with no message.
    "Jan 1 00:00:00 hostname postfix/unknown[12345]: foo",
    // sergeymakinen/postfix_exporter: delivery lines whose `to=<...>` was removed on purpose.
    "Jan 1 00:00:00 hostname postfix/smtp[12345]: 123456789AB: user@example.com, relay=example.com[123.45.67.89]:25, delay=2, delays=2/2/2/2, dsn=1.2.3, status=deferred (host example.com[123.45.67.89] said: 123-1.2.3 The recipient's inbox is out of storage space. Please direct the 123-1.2.3 recipient to 123 1.2.3  https://support.google.com/mail/?p=OverQuotaTemp 000-0000000000000000000000000000000000000000000.000 - gsmtp (in reply to RCPT TO command))",
    "Jan 1 00:00:00 hostname postfix/smtp[12345]: 123456789AB: user@example.com, relay=example.com[123.45.67.89]:25, delay=2, delays=2/2/2/2, dsn=1.2.3, status=deferred (host example.com[123.45.67.89] said: 12 Malformed (in reply to RCPT TO command))",
    // wazuh: an invalid four-digit reply code.
    "May  8 08:26:55 mail postfix/postscreen[22055]: NOQUEUE: reject: RCPT from [157.122.148.242]:47407: 9999 text ...",
];

fn corpus() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "corpus files missing: {files:?}");
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            (p, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

fn clock() -> Clock {
    Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0)
}

#[test]
fn corpus_lines_are_understood() {
    let mut seen = std::collections::HashMap::<Daemon, usize>::new();
    let mut unsupported = Vec::new();
    for (path, text) in corpus() {
        for line in text.lines() {
            // Lines whose envelope is malformed are the envelope's concern.
            let Some(log) = envelope::parse(line, &mut clock()) else {
                continue;
            };
            let (daemon, _) = parsers::daemon_of(&Program::split(log.program));
            if daemon == Daemon::Foreign {
                continue;
            }
            *seen.entry(daemon).or_default() += 1;
            if parsers::parse(daemon, log.message) == Parsed::Unsupported {
                unsupported.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    line.to_string(),
                ));
            }
        }
    }
    let lines: Vec<&str> = unsupported.iter().map(|(_, l)| l.as_str()).collect();
    let unexpected: Vec<String> = unsupported
        .iter()
        .filter(|(_, l)| !EXPECTED_UNSUPPORTED.contains(&l.as_str()))
        .map(|(f, l)| format!("{f}: {l}"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "not understood:\n{}",
        unexpected.join("\n")
    );
    let now_understood: Vec<&&str> = EXPECTED_UNSUPPORTED
        .iter()
        .filter(|l| !lines.contains(l))
        .collect();
    assert!(
        now_understood.is_empty(),
        "now understood (or gone): {now_understood:#?}"
    );
    // The corpus exercises the daemons it is for.
    for daemon in [
        Daemon::Smtpd,
        Daemon::Postscreen,
        Daemon::Cleanup,
        Daemon::Qmgr,
        Daemon::Delivery,
        Daemon::Postgrey,
        Daemon::PolicydWeight,
        Daemon::Rspamd,
        Daemon::PolicydSpf,
        Daemon::Opendkim,
        Daemon::Opendmarc,
    ] {
        assert!(
            seen.get(&daemon).copied().unwrap_or(0) > 0,
            "no {daemon:?} line in the corpus: {seen:?}"
        );
    }
    assert!(seen.values().sum::<usize>() > 300, "only {seen:?}");
}

/// Syslog daemons cut long lines anywhere: no prefix of a real message may panic any parser.
#[test]
fn truncated_messages_do_not_panic() {
    for (_, text) in corpus() {
        for line in text.lines() {
            let Some(log) = envelope::parse(line, &mut clock()) else {
                continue;
            };
            let m = log.message;
            for (cut, _) in m.char_indices().chain([(m.len(), ' ')]) {
                for spec in DAEMONS {
                    let _ = parsers::parse(spec.daemon, &m[..cut]);
                }
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_after_known_prefixes_does_not_panic(
        prefix in proptest::sample::select(vec![
            "", "4A1B2C3D4E: ", "4A1B2C3D4E: to=<", "4A1B2C3D4E: to=<a@b>, relay=",
            "4A1B2C3D4E: to=<a@b>, relay=x, status=", "4A1B2C3D4E: from=<",
            "4A1B2C3D4E: uid=0 from=<", "4A1B2C3D4E: host ", "connect to ",
            "Verified TLS connection established to ", "action=", "4A1B2C3D4E: action=",
            "decided action=", "weighted check: ", "<a1b2c3>; proxy; rspamd_task_write_log: ",
            "<a1b2c3>; proxy; rspamd_task_write_log: id: <", "<", "NOQUEUE: reject: RCPT from ",
            "connect from ", "CONNECT from [", "warning: ",
        ]),
        rest in "[ -~\u{e9}\u{4e2d}]{0,80}",
    ) {
        let message = format!("{prefix}{rest}");
        for spec in DAEMONS {
            let _ = parsers::parse(spec.daemon, &message);
        }
    }
}
