//! Mail authentication (issue 16) through the real binary, on the real stack's log
//! (`fixtures/auth/`: Debian's postfix-policyd-spf-python, OpenDKIM, OpenDMARC and rspamd
//! behind Postfix, captured by `tests/e2e/mailstack.sh --auth`).
//!
//! Every expected number is counted here from the log text with plain substring tests, not
//! with pflog's parsers, and compared with the exposition of `pflog replay`.

use std::collections::BTreeMap;

#[path = "support/replay.rs"]
mod replay_support;

use replay_support::fixture;

/// `pflog replay` of the auth fixture (mail log and rspamd's own log).
fn exposition() -> String {
    let rspamd = fixture("fixtures/auth/rspamd.log");
    replay_support::replay(
        None,
        &[
            "--year",
            "2026",
            "--utc",
            "--rspamd-log",
            rspamd.to_str().expect("UTF-8 path"),
        ],
        &fixture("fixtures/auth/mail.log"),
    )
}

fn log(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("fixtures/auth/{name}"))).expect("fixture")
}

/// The value of the sample of `family` whose labels include every `key="value"` of `labels`,
/// summed over the labels not named (0 when there is none).
fn sum(exposition: &str, family: &str, labels: &[(&str, &str)]) -> u64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| {
            let value = l.rsplit(' ').next().expect("a value");
            value.parse::<f64>().expect("a number") as u64
        })
        .sum()
}

/// Lines of `program` (the `program[` of the syslog tag) that contain `text`.
fn count(log: &str, program: &str, text: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains(&format!(" {program}[")) && l.contains(text))
        .count() as u64
}

#[test]
fn results_equal_the_counts_of_the_log() {
    let e = exposition();
    let mail = log("mail.log");
    let results = "mail_auth_results_total";
    let of = |daemon: &str, check: &str, result: &str| {
        sum(
            &e,
            results,
            &[("daemon", daemon), ("check", check), ("result", result)],
        )
    };
    // policyd-spf: `Received-SPF: RESULT ... identity=mailfrom|helo`, and its rejects.
    for (word, result) in [
        ("Pass", "pass"),
        ("Softfail", "softfail"),
        ("Neutral", "neutral"),
        ("None", "none"),
    ] {
        for (identity, check) in [("mailfrom", "spf"), ("helo", "spf_helo")] {
            let prepended = mail
                .lines()
                .filter(|l| l.contains(" policyd-spf["))
                .filter(|l| l.contains(&format!("Received-SPF: {word} ")))
                .filter(|l| l.contains(&format!("identity={identity};")))
                .count() as u64;
            assert_eq!(
                of("policyd-spf", check, result),
                prepended,
                "{check} {result}"
            );
        }
    }
    for (why, check) in [("Why?s=mfrom;", "spf"), ("Why?s=helo;", "spf_helo")] {
        let rejected = mail
            .lines()
            .filter(|l| l.contains(" policyd-spf[") && l.contains(": 550 5.7.23 "))
            .filter(|l| l.contains("SPF fail - not authorized") && l.contains(why))
            .count() as u64;
        assert!(rejected > 0, "the fixture has a {check} reject");
        assert_eq!(of("policyd-spf", check, "fail"), rejected, "{check} fail");
    }
    // opendkim.
    for (text, result) in [
        (": DKIM verification successful", "pass"),
        (": bad signature data", "fail"),
        (": no signature data", "none"),
        ("' record not found", "permerror"),
    ] {
        let n = count(&mail, "opendkim", text);
        assert!(n > 0, "the fixture has {text:?}");
        assert_eq!(of("opendkim", "dkim", result), n, "{text}");
    }
    let signed = count(
        &mail,
        "opendkim",
        ": DKIM-Signature field added (s=e2e, d=vmail.test)",
    );
    assert_eq!(
        sum(
            &e,
            "mail_dkim_signatures_total",
            &[("daemon", "opendkim"), ("domain", "vmail.test")]
        ),
        signed
    );
    assert!(signed > 0);
    // opendmarc: `QUEUEID: DOMAIN RESULT`.
    for result in ["pass", "fail", "none"] {
        let n = mail
            .lines()
            .filter(|l| l.contains(" opendmarc["))
            .filter(|l| l.ends_with(&format!(".test {result}")))
            .count() as u64;
        assert!(n > 0, "the fixture has opendmarc {result}");
        assert_eq!(of("opendmarc", "dmarc", result), n, "opendmarc {result}");
    }
    // rspamd: each task line's symbols, one result per check.
    let rspamd = log("rspamd.log");
    let tasks: Vec<&str> = rspamd
        .lines()
        .filter(|l| l.contains("rspamd_task_write_log"))
        .collect();
    for (symbol, check, result) in [
        ("R_SPF_ALLOW(", "spf", "pass"),
        ("R_SPF_SOFTFAIL(", "spf", "softfail"),
        ("R_SPF_NEUTRAL(", "spf", "neutral"),
        ("R_SPF_NA(", "spf", "none"),
        ("R_DKIM_ALLOW(", "dkim", "pass"),
        ("R_DKIM_REJECT(", "dkim", "fail"),
        ("R_DKIM_PERMFAIL(", "dkim", "permerror"),
        ("R_DKIM_NA(", "dkim", "none"),
        ("DMARC_NA(", "dmarc", "none"),
        ("ARC_NA(", "arc", "none"),
    ] {
        let n = tasks.iter().filter(|l| l.contains(symbol)).count() as u64;
        assert_eq!(of("rspamd", check, result), n, "{symbol}");
    }
    let dmarc_fail = tasks
        .iter()
        .filter(|l| {
            [
                "DMARC_POLICY_REJECT(",
                "DMARC_POLICY_QUARANTINE(",
                "DMARC_POLICY_SOFTFAIL(",
            ]
            .iter()
            .any(|s| l.contains(s))
        })
        .count() as u64;
    assert!(dmarc_fail > 0);
    assert_eq!(of("rspamd", "dmarc", "fail"), dmarc_fail);
    for (symbol, disposition) in [
        ("DMARC_POLICY_REJECT(", "reject"),
        ("DMARC_POLICY_QUARANTINE(", "quarantine"),
    ] {
        let n = tasks.iter().filter(|l| l.contains(symbol)).count() as u64;
        assert!(n > 0, "{symbol}");
        assert_eq!(
            sum(
                &e,
                "mail_dmarc_dispositions_total",
                &[("daemon", "rspamd"), ("disposition", disposition)]
            ),
            n
        );
    }
}

/// The daemons' lines are all understood: `parsed`, none `unsupported` or `ignored`.
#[test]
fn every_line_of_the_daemons_is_parsed() {
    let e = exposition();
    let mail = log("mail.log");
    for program in ["policyd-spf", "opendkim", "opendmarc"] {
        let lines = count(&mail, program, "");
        assert!(lines > 0, "{program}");
        let total = sum(&e, "pflog_lines_total", &[("program", program)]);
        let parsed = sum(
            &e,
            "pflog_lines_total",
            &[("program", program), ("result", "parsed")],
        );
        assert_eq!((total, parsed), (lines, lines), "{program}");
    }
    assert_eq!(
        sum(&e, "pflog_lines_total", &[("result", "unsupported")]),
        0
    );
}

/// Rejects keep their class: policyd-spf's as `spf`, OpenDMARC's (a milter's) as `dmarc`.
#[test]
fn spf_and_dmarc_rejects_keep_their_class() {
    let e = exposition();
    let mail = log("mail.log");
    let spf = mail
        .lines()
        .filter(|l| l.contains("postfix/smtpd[") && l.contains(": reject: RCPT from "))
        .filter(|l| l.contains("SPF fail - not authorized"))
        .count() as u64;
    let dmarc = mail
        .lines()
        .filter(|l| l.contains("postfix/cleanup[") && l.contains(": milter-reject: "))
        .filter(|l| l.contains("rejected by DMARC policy for "))
        .count() as u64;
    assert!(spf > 0 && dmarc > 0);
    assert_eq!(sum(&e, "postfix_rejects_total", &[("reason", "spf")]), spf);
    assert_eq!(
        sum(&e, "postfix_rejects_total", &[("reason", "dmarc")]),
        dmarc
    );
}

/// Final outcomes by the results joined to their message: each outcome counts once per check,
/// and a message's result is the one its queue ID's lines report.
#[test]
fn outcomes_are_split_by_the_results_of_their_message() {
    let e = exposition();
    let mail = log("mail.log");
    let family = "postfix_message_auth_outcomes_total";
    for check in ["spf", "dkim", "dmarc"] {
        for outcome in ["delivered", "rejected"] {
            assert_eq!(
                sum(&e, family, &[("check", check), ("outcome", outcome)]),
                sum(
                    &e,
                    "postfix_message_outcomes_total",
                    &[("outcome", outcome)]
                ),
                "{check} {outcome}"
            );
        }
    }
    // The DMARC result of each delivered recipient's message, from opendmarc's line of its
    // queue ID (messages OpenDMARC did not see: unknown).
    let dmarc_of: BTreeMap<&str, &str> = mail
        .lines()
        .filter(|l| l.contains(" opendmarc["))
        .filter_map(|l| {
            let (_, rest) = l.split_once("]: ")?;
            let (queue_id, rest) = rest.split_once(": ")?;
            let (_domain, result) = rest.split_once(' ')?;
            matches!(result, "pass" | "fail" | "none").then_some((queue_id, result))
        })
        .collect();
    let mut delivered: BTreeMap<&str, u64> = BTreeMap::new();
    for l in mail.lines().filter(|l| l.contains("status=sent")) {
        let (_, rest) = l.split_once("]: ").expect("a tag");
        let (queue_id, _) = rest.split_once(": ").expect("a queue ID");
        *delivered
            .entry(dmarc_of.get(queue_id).copied().unwrap_or("unknown"))
            .or_default() += 1;
    }
    assert!(delivered.len() >= 3, "{delivered:?}");
    for (result, n) in &delivered {
        assert_eq!(
            sum(
                &e,
                family,
                &[
                    ("outcome", "delivered"),
                    ("check", "dmarc"),
                    ("result", result)
                ]
            ),
            *n,
            "delivered with dmarc={result}"
        );
    }
    // The message OpenDMARC rejected: its DMARC result joined before the reject.
    assert_eq!(
        sum(
            &e,
            family,
            &[
                ("outcome", "rejected"),
                ("check", "dmarc"),
                ("result", "fail")
            ]
        ),
        mail.lines()
            .filter(|l| l.contains("rejected by DMARC policy for "))
            .count() as u64
    );
}
