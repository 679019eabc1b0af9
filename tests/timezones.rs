//! `pflog replay --utc` gives the same numbers whatever the host's time zone (the mailstack
//! test with rspamd's log is the one that failed before the one clock; the others guard the
//! rest of the envelope): every timestamp,
//! the mail log's and those of rspamd's own log merged in by time (`--rspamd-log`), is read
//! with the one clock that `--utc` and `--year` set.
//!
//! The zones are POSIX `TZ` strings, which need no tzdata installed: one with daylight saving
//! west of UTC, one half an hour off east of it, one half an hour off west of it.
//!
//! Without `--utc`, local BSD timestamps across daylight saving time give the durations the
//! mail took: in the hour that the fall-back repeats, lines are read at the earlier offset
//! until the local time goes back, then at the later one (a 3 s delivery across the fold gave
//! -3597 s end to end, another +3604 s); and a duration that still comes out negative (a log
//! that went back) is counted in `pflog_negative_durations_total`, never observed.

#[path = "support/replay.rs"]
mod replay_support;

use replay_support::{fixture, golden_of, scenario_logs, sorted_samples};

const ZONES: [&str; 4] = [
    "UTC0",
    "EST5EDT,M3.2.0,M11.1.0",
    "IST-5:30",
    "NST3:30NDT,M3.2.0,M11.1.0",
];

/// `pflog replay ARGS LOG --format prometheus` with `TZ=tz`.
fn replay(tz: &str, args: &[&str], log: &std::path::Path) -> String {
    replay_support::replay(Some(tz), args, log)
}

/// Messages whose outcome was joined with an rspamd verdict (an action other than `none`).
fn rspamd_joined(exposition: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| {
            l.starts_with("postfix_message_rspamd_outcomes_total{")
                && !l.contains("rspamd_action=\"none\"")
        })
        .map(|l| {
            let value = l.rsplit(' ').next().expect("a value");
            value.parse::<f64>().expect("a number")
        })
        .sum()
}

/// The mail stack's logs (November 2026), rspamd's own log merged in.
fn mailstack(tz: &str, utc: bool) -> String {
    let rspamd = fixture("fixtures/mailstack/rspamd.log");
    let mut args = vec![
        "--year",
        "2026",
        "--rspamd-log",
        rspamd.to_str().expect("path"),
    ];
    if utc {
        args.push("--utc");
    }
    replay(tz, &args, &fixture("fixtures/mailstack/mail.log"))
}

#[test]
fn utc_replay_is_the_same_in_every_zone() {
    let reference = mailstack(ZONES[0], true);
    assert!(
        rspamd_joined(&reference) > 0.0,
        "no rspamd verdict joined a message under TZ={}:\n{reference}",
        ZONES[0]
    );
    for tz in &ZONES[1..] {
        let exposition = mailstack(tz, true);
        assert!(
            rspamd_joined(&exposition) > 0.0,
            "no rspamd verdict joined a message under TZ={tz}"
        );
        assert_eq!(
            sorted_samples(&reference),
            sorted_samples(&exposition),
            "TZ={tz} changes the numbers of `replay --utc`"
        );
    }
}

/// Without `--utc` both logs are read in the host's zone, alike: rspamd's verdicts still join.
#[test]
fn local_replay_reads_both_logs_in_the_same_zone() {
    for tz in ZONES {
        let exposition = mailstack(tz, false);
        assert!(
            rspamd_joined(&exposition) > 0.0,
            "no rspamd verdict joined a message under TZ={tz} without --utc"
        );
    }
}

/// The golden scenarios (pinned to 2026 and UTC) give their golden numbers in other zones too.
#[test]
fn golden_scenarios_are_the_same_in_every_zone() {
    let mut failures = Vec::new();
    for log in &scenario_logs() {
        let golden = golden_of(log);
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        for tz in &ZONES[1..] {
            let actual = sorted_samples(&replay(tz, &["--year", "2026", "--utc"], log));
            if actual != expected {
                failures.push(format!("{} under TZ={tz}", log.display()));
            }
        }
    }
    assert!(failures.is_empty(), "not the golden numbers: {failures:#?}");
}

/// Berlin, as a POSIX rule (Central European Time; summer time from the last Sunday of March,
/// 02:00, to the last Sunday of October, 03:00): 2026-10-25 repeats 02:00-03:00, 2026-03-29
/// skips it.
const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

/// One message of queue ID `id`: `client=` at `received`, sent `delay` seconds later at `sent`
/// (local BSD times, `Mmm dd HH:MM:SS`), removed then.
fn message(id: &str, received: &str, sent: &str, delay: u32) -> String {
    format!(
        "{received} mx postfix/smtpd[100]: {id}: client=a[192.0.2.1]\n\
         {received} mx postfix/qmgr[2]: {id}: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n\
         {sent} mx postfix/smtp[4]: {id}: to=<u@example.net>, relay=r[192.0.2.2]:25, delay={delay}, delays=0/0/0/{delay}, dsn=2.0.0, status=sent (250 ok)\n\
         {sent} mx postfix/qmgr[2]: {id}: removed\n"
    )
}

/// The value of the sample `series` (name and labels exactly as exposed), if any.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("a number"))
}

const E2E: &str = r#"postfix_message_end_to_end_seconds"#;
const DELIVERED: &str = r#"{postfix_instance="postfix",outcome="delivered"}"#;

/// `(count, sum, count at most 5 s, negative durations counted)` of the delivered mail's
/// end-to-end times.
fn end_to_end(exposition: &str) -> (f64, f64, f64, f64) {
    let le5 = r#"{le="5.0",postfix_instance="postfix",outcome="delivered"}"#;
    (
        sample(exposition, &format!("{E2E}_count{DELIVERED}")).unwrap_or(0.0),
        sample(exposition, &format!("{E2E}_sum{DELIVERED}")).unwrap_or(0.0),
        sample(exposition, &format!("{E2E}_bucket{le5}")).unwrap_or(0.0),
        sample(
            exposition,
            &format!(r#"pflog_negative_durations_total{{metric="{E2E}"}}"#),
        )
        .expect("pflog_negative_durations_total for the end-to-end family"),
    )
}

fn replay_text(tz: &str, args: &[&str], log: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mail.log");
    std::fs::write(&path, log).expect("write log");
    replay(tz, args, &path)
}

/// Deliveries of 3 and 4 s across the fall-back, read in Berlin's zone: across the fold (the
/// first 02:59:58 to the second 02:00:01), in the second pass, and from it into 03:00.
#[test]
fn durations_across_the_fall_back_are_those_of_the_mail() {
    let log = [
        message("1A00000001", "Oct 25 01:59:59", "Oct 25 02:00:02", 3),
        message("1A00000002", "Oct 25 02:30:00", "Oct 25 02:30:03", 3),
        // A line a second out of order is still in the first pass.
        "Oct 25 02:30:02 mx postfix/anvil[9]: statistics: max connection rate 1/60s\n".into(),
        message("1A00000003", "Oct 25 02:59:58", "Oct 25 02:00:01", 3),
        message("1A00000004", "Oct 25 02:30:00", "Oct 25 02:30:03", 3),
        message("1A00000005", "Oct 25 02:59:59", "Oct 25 03:00:03", 4),
        message("1A00000006", "Oct 25 03:30:00", "Oct 25 03:30:04", 4),
    ]
    .concat();
    for tz in [BERLIN, "Europe/Berlin"] {
        if tz == "Europe/Berlin"
            && !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists()
        {
            continue;
        }
        let exposition = replay_text(tz, &["--year", "2026"], &log);
        assert_eq!(
            end_to_end(&exposition),
            (6.0, 20.0, 6.0, 0.0),
            "TZ={tz}: end-to-end (count, sum, at most 5 s, negative):\n{exposition}"
        );
        // The delivery agents' own delays agree.
        let delay = r#"postfix_delivery_delay_seconds_sum{postfix_instance="postfix",service="smtp",status="sent"}"#;
        assert_eq!(sample(&exposition, delay), Some(20.0), "TZ={tz}");
    }
}

/// Deliveries across the spring-forward (01:59:58 then 03:00:01 is 3 s), and from a clock that
/// has not jumped yet into the hour that does not exist (read at the offset before it).
#[test]
fn durations_across_the_spring_forward_are_those_of_the_mail() {
    let log = [
        message("2B00000001", "Mar 29 01:59:58", "Mar 29 03:00:01", 3),
        message("2B00000002", "Mar 29 01:59:59", "Mar 29 02:00:02", 3),
        message("2B00000003", "Mar 29 03:10:00", "Mar 29 03:10:04", 4),
    ]
    .concat();
    let exposition = replay_text(BERLIN, &["--year", "2026"], &log);
    assert_eq!(
        end_to_end(&exposition),
        (3.0, 10.0, 3.0, 0.0),
        "end-to-end (count, sum, at most 5 s, negative):\n{exposition}"
    );
}

/// A day of log around the fall-back, a line a second and a message a minute, replayed in
/// chunks by several threads: every message took 3 s, as with one thread, though the
/// repeated hour's lines are split among chunks staged on different threads.
#[test]
fn the_fall_back_reads_alike_in_chunks_on_every_thread() {
    let mut log = String::new();
    let mut id = 0u32;
    // Local hours as the log shows them: 00, 01, 02 (summer time), 02 again (winter time), 03.
    for hour in [0u32, 1, 2, 2, 3] {
        for minute in 0..60u32 {
            for second in 0..60u32 {
                log.push_str(&format!(
                    "Oct 25 {hour:02}:{minute:02}:{second:02} mx postfix/anvil[9]: statistics: max cache size 1 at Oct 25 {hour:02}:{minute:02}:{second:02}\n"
                ));
                if second == 10 {
                    id += 1;
                    log.push_str(&message(
                        &format!("3C{id:08X}"),
                        &format!("Oct 25 {hour:02}:{minute:02}:10"),
                        &format!("Oct 25 {hour:02}:{minute:02}:13"),
                        3,
                    ));
                }
            }
        }
    }
    assert!(log.len() > 4 * 256 * 1024, "the log spans several chunks");
    let mut expositions = Vec::new();
    for threads in ["1", "3"] {
        let exposition = replay_text(BERLIN, &["--year", "2026", "--threads", threads], &log);
        assert_eq!(
            end_to_end(&exposition),
            (300.0, 900.0, 300.0, 0.0),
            "--threads {threads}: end-to-end (count, sum, at most 5 s, negative)"
        );
        expositions.push(sorted_samples(&exposition));
    }
    assert_eq!(expositions[0], expositions[1], "--threads 1 and 3 differ");
}

/// A log whose lines go back (its writer's clock was set back) gives a negative time: it is
/// counted, and the histogram holds only the real durations.
#[test]
fn negative_durations_are_counted_not_observed() {
    let log = [
        message("4D00000001", "Nov 23 12:00:10", "Nov 23 12:00:05", 0),
        message("4D00000002", "Nov 23 12:01:00", "Nov 23 12:01:02", 2),
    ]
    .concat();
    let exposition = replay_text(ZONES[0], &["--year", "2026", "--utc"], &log);
    assert_eq!(
        end_to_end(&exposition),
        (1.0, 2.0, 1.0, 1.0),
        "end-to-end (count, sum, at most 5 s, negative):\n{exposition}"
    );
    // Both outcomes still count.
    let outcomes = r#"postfix_message_outcomes_total{postfix_instance="postfix",outcome="delivered",inbound_tls="unknown"}"#;
    assert_eq!(sample(&exposition, outcomes), Some(2.0), "{exposition}");
}
