//! The numbers are those of the log, through the real `pflog replay`:
//! - the report tells what was observed: the count, minimum, mean and maximum of a latency are
//!   exact, and its percentiles, estimated from the histogram's buckets, are marked as such and
//!   never leave the observed range (one 6 s delivery was reported as "p50 7.5s p99 9.9s", the
//!   interpolation inside the bucket (5 s, 10 s]);
//! - every line written at a diagnostic level counts in `postfix_log_messages_total`, whatever
//!   else it is (a SASL failure, a rate limit, a TLS problem: 1 warning of 8 was counted);
//! - `pflog serve` following rspamd's own log beside the mail log joins a verdict read after
//!   its message's delivery (it counted as `rspamd_action="none"`), as replay does.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/serve.rs"]
mod serve_support;

#[path = "support/replay.rs"]
mod replay_support;

/// `pflog replay --year 2026 --utc ARGS LOG`: its standard output.
fn replay(log: &Path, args: &[&str]) -> String {
    replay_support::run(None, &[&["--year", "2026", "--utc"], args].concat(), log)
}

/// A message received at 00:00:05 and delivered at 00:00:11 (`delay=6`), and `more` messages
/// delivered after the delays given.
fn log_with(dir: &Path, more: &[u32]) -> std::path::PathBuf {
    let mut log = String::from(
        "Nov 23 00:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n\
         Nov 23 00:00:05 mx postfix/smtpd[1]: 4A1B2C3D4E: client=a[192.0.2.1]\n\
         Nov 23 00:00:06 mx postfix/qmgr[2]: 4A1B2C3D4E: from=<s@x>, size=100, nrcpt=1 (queue active)\n\
         Nov 23 00:00:11 mx postfix/smtp[4]: 4A1B2C3D4E: to=<u@y>, relay=r[192.0.2.2]:25, delay=6, delays=0/0/0/6, dsn=2.0.0, status=sent (250 ok)\n\
         Nov 23 00:00:11 mx postfix/qmgr[2]: 4A1B2C3D4E: removed\n",
    );
    for (i, delay) in more.iter().enumerate() {
        log.push_str(&format!(
            "Nov 23 01:00:00 mx postfix/smtp[4]: 5B{i:08X}: to=<u@y>, relay=r[192.0.2.2]:25, delay={delay}, delays=0/0/0/{delay}, dsn=2.0.0, status=sent (250 ok)\n"
        ));
    }
    let path = dir.join("mail.log");
    std::fs::write(&path, log).expect("write log");
    path
}

#[test]
fn one_value_is_reported_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = log_with(dir.path(), &[]);
    let json: serde_json::Value =
        serde_json::from_str(&replay(&log, &["--format", "json"])).expect("JSON");
    for (what, p) in [
        ("delivery delay", &json["delivery_delay_seconds"]["smtp"]),
        ("end to end", &json["end_to_end_seconds"]["delivered"]),
    ] {
        assert_eq!(p["count"], 1, "{what}: {p}");
        for key in ["min", "mean", "p50", "p90", "p99", "max"] {
            assert_eq!(p[key].as_f64(), Some(6.0), "{what} {key}: {p}");
        }
        assert_eq!(p["percentiles_estimated"], false, "{what}: {p}");
    }
    let text = replay(&log, &[]);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("smtp ") && !l.contains("sent"))
        .unwrap_or_else(|| panic!("no delay row for smtp:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["smtp", "1", "6.0s", "6.0s", "6.0s", "6.0s", "6.0s", "6.0s"],
        "{text}"
    );
}

#[test]
fn estimated_percentiles_are_marked_and_within_the_observed_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Delays 6, 7 and 8 s: all in the bucket (5 s, 10 s], where interpolation alone put the
    // p99 at 9.9 s.
    let log = log_with(dir.path(), &[7, 8]);
    let json: serde_json::Value =
        serde_json::from_str(&replay(&log, &["--format", "json"])).expect("JSON");
    let p = &json["delivery_delay_seconds"]["smtp"];
    assert_eq!(p["count"], 3, "{p}");
    assert_eq!(
        (p["min"].as_f64(), p["mean"].as_f64(), p["max"].as_f64()),
        (Some(6.0), Some(7.0), Some(8.0)),
        "{p}"
    );
    assert_eq!(p["percentiles_estimated"], true, "{p}");
    for key in ["p50", "p90", "p99"] {
        let v = p[key].as_f64().expect("a percentile");
        assert!((6.0..=8.0).contains(&v), "{key} = {v}, outside 6-8 s: {p}");
    }
    let text = replay(&log, &[]);
    assert!(
        text.contains("~") && text.contains("estimated from the histogram's buckets"),
        "estimates are not marked:\n{text}"
    );
}

/// Real lines written at a level (from `fixtures/corpus/`, the parsers' tables and the mail
/// stack), most of which a parser reads as an event of its own: (line, service, level).
const LEVELED: &[(&str, &str, &str)] = &[
    (
        "Sep  6 00:44:56 trianon postfix/submission/smtpd[11538]: warning: unknown[82.221.106.233]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "submission/smtpd",
        "warning",
    ),
    (
        "Aug 14 10:00:01 mail postfix/smtpd[1234]: warning: hostname bad.example.com does not resolve to address 192.0.2.44: Name or service not known",
        "smtpd",
        "warning",
    ),
    (
        "Mar  2 10:00:27 mx postfix/smtpd[123]: warning: non-SMTP command from unknown[203.0.113.9]: GET / HTTP/1.1",
        "smtpd",
        "warning",
    ),
    (
        "Sep 19 12:10:57 hostname postfix/smtpd[23244]: warning: Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd",
        "smtpd",
        "warning",
    ),
    (
        "Mar  2 10:00:28 mx postfix/smtpd[124]: warning: TLS library problem: error:0A000126:SSL routines::unexpected eof while reading:../ssl/record/rec_layer_s3.c:317:",
        "smtpd",
        "warning",
    ),
    (
        "Mar  2 10:00:29 mx postfix/smtpd[125]: warning: milter inet:127.0.0.1:11332: can't read SMFIC_DATA reply packet header: Connection reset by peer",
        "smtpd",
        "warning",
    ),
    (
        "Mar  2 10:00:02 mx postfix/postscreen[77]: warning: psc_cache_update: btree:/var/lib/postfix/postscreen_cache update for address 203.0.113.5 failed",
        "postscreen",
        "warning",
    ),
    (
        "Mar  2 10:00:03 mx postfix/postscreen[77]: warning: dnsblog reply timeout 10s for zen.spamhaus.org",
        "postscreen",
        "warning",
    ),
    (
        "Jan  1 00:00:00 hostname postfix/postscreen[12345]: error: open /example: No such file or directory",
        "postscreen",
        "error",
    ),
    (
        "Mar 16 12:28:02 123-mail postfix/smtpd[16268]: fatal: file /etc/postfix/main.cf: parameter default_privs: unknown user name value: nobody",
        "smtpd",
        "fatal",
    ),
    (
        "Nov 24 00:32:43 mail postfix/cleanup[19509]: warning: DF83398CA5E: queue file size limit exceeded",
        "cleanup",
        "warning",
    ),
    (
        "Nov 24 00:32:43 mail postfix/policyd-weight[20260]: warning: child: err: Died at /usr/sbin/policyd-weight line 1346.#012",
        "policyd-weight",
        "warning",
    ),
    (
        "Nov 24 00:32:44 mail postgrey[900]: WARNING: attribute missing: client_address",
        "postgrey",
        "warning",
    ),
];

/// The lines around them, at no level (an info line that quotes `warning:` is not one).
const UNLEVELED: &[&str] = &[
    "Nov 24 00:32:43 mail postfix/smtpd[19410]: connect from localhost[127.0.0.1]",
    "Nov 24 00:32:43 mail postfix/cleanup[19509]: 4A1B2C3D4E: warning: header Subject: hello from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
    "Nov 24 00:32:44 mail dovecot: warning: not a program pflog reads",
];

/// `postfix_log_messages_total` by (service, level), from an exposition.
fn log_messages(exposition: &str) -> std::collections::BTreeMap<(String, String), u64> {
    let mut counts = std::collections::BTreeMap::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("postfix_log_messages_total{") else {
            continue;
        };
        let label = |name: &str| {
            let at = rest.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            rest[at..].split('"').next().expect("value").to_string()
        };
        let value: u64 = line
            .rsplit(' ')
            .next()
            .expect("value")
            .parse()
            .expect("count");
        *counts
            .entry((label("service"), label("level")))
            .or_default() += value;
    }
    counts
}

#[test]
fn every_line_at_a_level_counts_whatever_else_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("mail.log");
    let mut text = String::new();
    for line in LEVELED.iter().map(|l| l.0).chain(UNLEVELED.iter().copied()) {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&log, text).expect("write log");
    let exposition = replay(&log, &["--format", "prometheus"]);
    let mut expected = std::collections::BTreeMap::new();
    for (_, service, level) in LEVELED {
        *expected
            .entry((service.to_string(), level.to_string()))
            .or_insert(0u64) += 1;
    }
    assert_eq!(log_messages(&exposition), expected, "{exposition}");
    // Each line still counts as what else it is.
    assert!(
        exposition.contains(r#"postfix_smtpd_sasl_auth_failures_total{postfix_instance="postfix",service="submission/smtpd",method="LOGIN"} 1"#),
        "{exposition}"
    );
}

/// The mail stack's log: as many as `grep` counts, by service.
#[test]
fn the_mail_stack_counts_what_grep_counts() {
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mailstack/mail.log");
    let grep = |service: &str| -> u64 {
        let pattern = format!(
            r"^[A-Z][a-z]{{2}} [ 0-9][0-9] [0-9:]{{8}} [^ ]+ postfix/{service}\[[0-9]+\]: (warning|error|fatal|panic): "
        );
        let out = Command::new("grep")
            .args(["-cE", &pattern])
            .arg(&log)
            .output()
            .expect("run grep");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a count")
    };
    let exposition = replay(&log, &["--format", "prometheus"]);
    let counted = log_messages(&exposition);
    let mut total = 0;
    for service in ["smtpd", "submission/smtpd", "cleanup", "policyd-weight"] {
        let n = grep(service);
        total += n;
        assert_eq!(
            counted
                .get(&(service.to_string(), "warning".to_string()))
                .copied(),
            Some(n).filter(|n| *n > 0),
            "{service}: {counted:?}"
        );
    }
    assert_eq!(counted.values().sum::<u64>(), total, "{counted:?}");
    assert_eq!(total, 6, "the mail stack's log has six warnings");
}

use serve_support::scrape;

/// The value of the sample `series` (name and labels exactly as exposed), 0 when absent.
fn value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().expect("a number"))
}

/// Polls `/metrics` until `series` has `want` (the machine may be loaded: a generous deadline).
fn wait_for(addr: &str, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exposition = scrape(addr);
        if value(&exposition, series) == want {
            return exposition;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never became {want}:\n{exposition}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("append");
}

/// The lines of message `id` in the mail log, received at `hh:mm:ss` of Nov 23 and delivered
/// two seconds later.
fn mail_lines(id: &str, at: (u32, u32, u32)) -> String {
    let (h, m, s) = at;
    format!(
        "Nov 23 {h:02}:{m:02}:{s:02} mx postfix/smtpd[100]: {id}: client=a[192.0.2.1]\n\
         Nov 23 {h:02}:{m:02}:{s:02} mx postfix/qmgr[2]: {id}: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n\
         Nov 23 {h:02}:{m:02}:{s2:02} mx postfix/smtp[4]: {id}: to=<u@example.net>, relay=r[192.0.2.2]:25, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (250 ok)\n\
         Nov 23 {h:02}:{m:02}:{s2:02} mx postfix/qmgr[2]: {id}: removed\n",
        s2 = s + 2
    )
}

/// rspamd's own log line with its verdict on message `id` at `hh:mm:ss` of 2026-11-23.
fn verdict_line(id: &str, at: (u32, u32, u32), action: &str) -> String {
    let (h, m, s) = at;
    format!(
        "2026-11-23 {h:02}:{m:02}:{s:02} #19506(rspamd_proxy) <63ce70>; proxy; rspamd_task_write_log: id: <{id}@example.org>, qid: <{id}>, ip: 192.0.2.1, from: <s@example.org>, (default: F ({action}): [6.00/15.00] [TEST(6.00){{}}]), len: 252, time: 45.782ms, dns req: 0, digest: <c2bfdf567828ccc002cc4d373f666bcd>, rcpts: <u@example.net>, mime_rcpts: <u@example.net>\n"
    )
}

/// `pflog serve` following the mail log and rspamd's own log, written in both orders: the
/// verdict read after its message's delivery (it counted as `rspamd_action="none"`), and
/// before it. Each outcome counts with its verdict, as `pflog replay` of the same two files
/// counts it.
#[test]
fn serve_joins_verdicts_read_before_or_after_the_delivery_as_replay_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = dir.path().join("mail.log");
    let rspamd = dir.path().join("rspamd.log");
    std::fs::write(&mail, "").expect("mail.log");
    std::fs::write(&rspamd, "").expect("rspamd.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pflog"));
    cmd.args([
        "serve",
        "--web.listen-address",
        "127.0.0.1:0",
        "--year",
        "2026",
        "--utc",
        "--from-start",
        // Far longer than the test may take (the window also ends after as long without any
        // line): only log time ends it here.
        "--join-window",
        "10m",
    ])
    .arg("--log")
    .arg(&mail)
    .arg("--log")
    .arg(&rspamd);
    let server = serve_support::start(cmd, Duration::from_secs(30));
    let addr = server.addr.clone();
    let sent =
        r#"postfix_deliveries_total{postfix_instance="postfix",service="smtp",status="sent"}"#;
    let actions = |action: &str| format!(r#"rspamd_actions_total{{action="{action}"}}"#);
    let joined = |action: &str| {
        format!(
            r#"postfix_message_rspamd_outcomes_total{{postfix_instance="postfix",outcome="delivered",rspamd_action="{action}"}}"#
        )
    };

    // 1. The delivery first; its verdict read afterwards (rspamd's log is behind).
    append(&mail, &mail_lines("1A0000001", (12, 0, 0)));
    wait_for(&addr, sent, 1.0);
    append(
        &rspamd,
        &verdict_line("1A0000001", (12, 0, 1), "add header"),
    );
    wait_for(&addr, &actions("add_header"), 1.0);
    // 2. The verdict first, then the delivery.
    append(&rspamd, &verdict_line("2B0000002", (12, 1, 0), "no action"));
    wait_for(&addr, &actions("no_action"), 1.0);
    append(&mail, &mail_lines("2B0000002", (12, 1, 1)));
    wait_for(&addr, sent, 2.0);
    // 3. A message rspamd never scans; then log time passes the window.
    append(&mail, &mail_lines("3C0000003", (12, 2, 0)));
    append(
        &mail,
        "Nov 23 12:30:00 mx postfix/anvil[9]: statistics: max connection rate 1/60s\n",
    );
    let live = wait_for(&addr, &joined("none"), 1.0);
    assert_eq!(value(&live, &joined("add_header")), 1.0, "{live}");
    assert_eq!(value(&live, &joined("no_action")), 1.0, "{live}");

    let replayed = Command::new(env!("CARGO_BIN_EXE_pflog"))
        .args([
            "replay",
            "--year",
            "2026",
            "--utc",
            "--format",
            "prometheus",
        ])
        .arg(&mail)
        .arg("--rspamd-log")
        .arg(&rspamd)
        .output()
        .expect("run pflog replay");
    assert!(replayed.status.success());
    let replayed = String::from_utf8(replayed.stdout).expect("UTF-8");
    let outcome_samples = |exposition: &str| -> Vec<String> {
        exposition
            .lines()
            .filter(|l| {
                l.starts_with("postfix_message_rspamd_outcomes_total{")
                    || l.starts_with("postfix_message_outcomes_total{")
                    || l.starts_with("postfix_message_end_to_end_seconds_count{")
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(outcome_samples(&live), outcome_samples(&replayed));
    drop(server);
}
