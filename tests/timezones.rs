//! `pflog replay --utc` gives the same numbers whatever the host's time zone (the mailstack
//! test with rspamd's log is the one that failed before the one clock; the others guard the
//! rest of the envelope): every timestamp,
//! the mail log's and those of rspamd's own log merged in by time (`--rspamd-log`), is read
//! with the one clock that `--utc` and `--year` set.
//!
//! The zones are POSIX `TZ` strings, which need no tzdata installed: one with daylight saving
//! west of UTC, one half an hour off east of it, one half an hour off west of it.

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
