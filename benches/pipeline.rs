//! Criterion micro-benchmarks of the hot path: envelope, each daemon parser, the correlator and
//! the whole `Pipeline::process_line`.
//!
//!     cargo bench --bench pipeline                      # ~1-2 min (settings below)
//!     cargo bench --bench pipeline -- parser/smtpd      # one group or benchmark
//!     cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 2
//!
//! Every group is configured with a 1 s warm-up, 2 s of measurement and 20 samples, so that a
//! whole run stays short on a 2-core machine; command-line options override these. The lines are
//! real ones, copied from `fixtures/mailstack/mail.log`, `fixtures/scenarios/*.log` and
//! `fixtures/corpus/*.log`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prometheus_client::registry::Registry;

use pflog::correlator::{Correlator, CorrelatorConfig, InstanceKey, Observation, Session};
use pflog::envelope::{self, Clock, Program};
use pflog::event::Event;
use pflog::parsers::{self, Daemon, Parsed};
use pflog::pipeline::{Pipeline, PipelineConfig};

const BSD: &str = "Nov 24 01:22:13 mail postfix/submission/smtpd[20312]: E826A992221: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice@vmail.test";
const RFC3339: &str = "2026-11-23T10:00:02.000000+00:00 mx1 postfix/lmtp[2020]: 3F2A1C0A51: to=<bob@vmail.test>, relay=mx1.vmail.test[private/dovecot-lmtp], delay=0.62, delays=0.51/0.01/0.03/0.07, dsn=2.0.0, status=sent (250 2.0.0 <bob@vmail.test> mM3nKk6pQ2Xh7wAAtu3Gbw Saved)";

/// (benchmark name, daemon, message after `program[pid]: `).
const MESSAGES: &[(&str, Daemon, &str)] = &[
    (
        "smtpd/connect",
        Daemon::Smtpd,
        "connect from localhost[127.0.0.1]",
    ),
    (
        "smtpd/tls",
        Daemon::Smtpd,
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
    ),
    (
        "smtpd/client",
        Daemon::Smtpd,
        "E826A992221: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice@vmail.test",
    ),
    (
        "smtpd/reject",
        Daemon::Smtpd,
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 450 4.2.0 <grey@vmail.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/vmail.test.html; from=<sender@sender.test> to=<grey@vmail.test> proto=ESMTP helo=<mail.sender.test>",
    ),
    (
        "smtpd/disconnect",
        Daemon::Smtpd,
        "disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
    ),
    (
        "postscreen/connect",
        Daemon::Postscreen,
        "CONNECT from [1.2.3.4]:5678 to [5.6.7.8]:25",
    ),
    (
        "postscreen/reject",
        Daemon::Postscreen,
        "NOQUEUE: reject: RCPT from [216.245.194.173]:60591: 550 5.7.1 Service unavailable; client [216.245.194.173] blocked using rbl.example.com; from=<spammer@example.com>, to=<goodguy@example.com>, proto=ESMTP, helo=<badguy.example.com>",
    ),
    (
        "cleanup/message-id",
        Daemon::Cleanup,
        "1A72E9921C4: message-id=<pflog-e2e-m01-plain@sender.test>",
    ),
    (
        "qmgr/active",
        Daemon::Qmgr,
        "1A72E9921C4: from=<sender@sender.test>, size=464, nrcpt=1 (queue active)",
    ),
    ("qmgr/removed", Daemon::Qmgr, "1A72E9921C4: removed"),
    (
        "postfix_misc/statistics",
        Daemon::PostfixMisc,
        "statistics: max connection rate 1/60s for (smtp:192.0.2.1) at Nov 23 10:00:00",
    ),
    (
        "pickup",
        Daemon::Pickup,
        "D931F992217: uid=0 from=<root@pflog.test>",
    ),
    (
        "bounce",
        Daemon::Bounce,
        "0C06899222B: sender non-delivery notification: 22DEB99222F",
    ),
    (
        "lmtp/sent",
        Daemon::Delivery,
        "1A72E9921C4: to=<alice@vmail.test>, relay=127.0.0.1[127.0.0.1]:2424, delay=0.12, delays=0.1/0.01/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 <alice@vmail.test> yinpDMXmBGsQTwAAg+zDdQ Saved)",
    ),
    (
        "smtp/bounced",
        Daemon::Delivery,
        "0C06899222B: to=<nobody@bounce.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.09, delays=0.04/0/0.04/0, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nobody@bounce.test>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
    ),
    (
        "postgrey",
        Daemon::Postgrey,
        "action=greylist, reason=new, client_name=mta.newsender.example, client_address=198.51.100.99/32, sender=news@newsender.example, recipient=bob@vmail.test",
    ),
    (
        "policyd-weight/decided",
        Daemon::PolicydWeight,
        "decided action=PREPEND X-policyd-weight: NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 NOT_BL_NJABL=-1.5 DSBL_ORG=-0 <client=198.51.100.7> <helo=mail.sender.example> <from=alice@sender.example> <to=bob@vmail.test>; delay: 0s",
    ),
    (
        "rspamd",
        Daemon::Rspamd,
        "<5ab3c1>; proxy; rspamd_task_write_log: id: <20261123100000.1@sender.example>, qid: <3F2A1C0A51>, ip: 198.51.100.7, from: <alice@sender.example>, (default: F (no action): [-0.40/15.00] [MIME_GOOD(-0.10){text/plain;},R_SPF_ALLOW(-0.20){+ip4:198.51.100.0/24;},ARC_NA(0.00){}]), len: 1530, time: 87.512ms, dns req: 4, digest: <8e0ba3f1c1d4a6e2b2b0d8c5b91b2f3a>, rcpts: <bob@vmail.test>, mime_rcpts: <bob@vmail.test>",
    ),
    (
        "policyd-spf",
        Daemon::PolicydSpf,
        ": prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=127.0.0.1; helo=mail.pass.test; envelope-from=test@pass.test; receiver=vmail.test ",
    ),
    (
        "opendkim",
        Daemon::Opendkim,
        "BC35199233A: DKIM verification successful",
    ),
    (
        "opendmarc",
        Daemon::Opendmarc,
        "BC35199233A: pass.test pass",
    ),
];

/// One message's life, as the lines of `fixtures/scenarios/lmtp_accepted.log` tell it.
const LIFECYCLE: &[(Daemon, Option<u32>, &str)] = &[
    (
        Daemon::Smtpd,
        Some(2001),
        "connect from mail.sender.example[198.51.100.7]",
    ),
    (
        Daemon::Smtpd,
        Some(2001),
        "Anonymous TLS connection established from mail.sender.example[198.51.100.7]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
    ),
    (
        Daemon::Smtpd,
        Some(2001),
        "3F2A1C0A51: client=mail.sender.example[198.51.100.7]",
    ),
    (
        Daemon::Cleanup,
        Some(2010),
        "3F2A1C0A51: message-id=<20261123100000.1@sender.example>",
    ),
    (
        Daemon::Qmgr,
        Some(1000),
        "3F2A1C0A51: from=<alice@sender.example>, size=1530, nrcpt=1 (queue active)",
    ),
    (
        Daemon::Smtpd,
        Some(2001),
        "disconnect from mail.sender.example[198.51.100.7] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
    ),
    (
        Daemon::Delivery,
        Some(2020),
        "3F2A1C0A51: to=<bob@vmail.test>, relay=mx1.vmail.test[private/dovecot-lmtp], delay=0.62, delays=0.51/0.01/0.03/0.07, dsn=2.0.0, status=sent (250 2.0.0 <bob@vmail.test> mM3nKk6pQ2Xh7wAAtu3Gbw Saved)",
    ),
    (Daemon::Qmgr, Some(1000), "3F2A1C0A51: removed"),
];

/// The real logs the mixed `process_line` benchmark replays.
const MIXED: &[&str] = &[
    include_str!("../fixtures/mailstack/mail.log"),
    include_str!("../fixtures/scenarios/content_filter.log"),
    include_str!("../fixtures/scenarios/deferred_then_sent.log"),
    include_str!("../fixtures/scenarios/greylisted_then_passed.log"),
    include_str!("../fixtures/scenarios/lmtp_accepted.log"),
    include_str!("../fixtures/scenarios/milter_reject.log"),
    include_str!("../fixtures/scenarios/multi_rcpt_bounce.log"),
    include_str!("../fixtures/scenarios/queue_id_reuse.log"),
];

fn utc() -> Clock {
    Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0)
}

fn envelope_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope");
    let mut clock = utc();
    for (name, line) in [("bsd", BSD), ("rfc3339", RFC3339)] {
        assert!(envelope::parse(line, &mut clock).is_some(), "{name}");
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| envelope::parse(black_box(line), &mut clock).map(|l| l.timestamp))
        });
    }
    g.finish();
}

fn parser_benches(c: &mut Criterion) {
    // Every daemon of the table has its benchmark.
    for spec in parsers::DAEMONS {
        assert!(
            MESSAGES.iter().any(|&(_, d, _)| d == spec.daemon),
            "no benchmark message for {:?}",
            spec.daemon
        );
    }
    let mut g = c.benchmark_group("parser");
    for &(name, daemon, message) in MESSAGES {
        assert!(
            matches!(parsers::parse(daemon, message), Parsed::Event(_)),
            "{name}: not understood"
        );
        g.bench_function(name, |b| {
            b.iter(|| matches!(parsers::parse(daemon, black_box(message)), Parsed::Event(_)))
        });
    }
    g.finish();
}

fn correlator_benches(c: &mut Criterion) {
    let events: Vec<(Session, Event<'static>)> = LIFECYCLE
        .iter()
        .map(|&(daemon, pid, message)| {
            let Parsed::Event(e) = parsers::parse(daemon, message) else {
                panic!("not understood: {message}");
            };
            (pid.map_or(Session::Unknown, Session::Pid), e)
        })
        .collect();
    let mut g = c.benchmark_group("correlator");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("lifecycle", |b| {
        let mut corr = Correlator::new(CorrelatorConfig::default());
        let mut out: Vec<Observation> = Vec::with_capacity(8);
        let mut ts = 1_000_000i64;
        let instance = InstanceKey::of(Some("postfix"));
        b.iter(|| {
            for (session, event) in &events {
                ts += 1_000;
                corr.handle(ts, instance, *session, black_box(event), &mut out);
            }
            let n = out.len();
            out.clear();
            n
        })
    });
    g.finish();
}

fn pipeline_benches(c: &mut Criterion) {
    let lines: Vec<&str> = MIXED.iter().flat_map(|log| log.lines()).collect();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(format!("process_line/mixed_{}_lines", lines.len()), |b| {
        let mut registry = Registry::default();
        let mut p = Pipeline::new(PipelineConfig::default(), &mut registry)
            .expect("default config")
            .with_clock(utc());
        b.iter(|| {
            for line in &lines {
                black_box(p.process_line(black_box(line.as_bytes())));
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("program");
    g.bench_function("split_classify", |b| {
        b.iter(|| {
            let p = Program::split(black_box("postfix/submission/smtpd"));
            parsers::daemon_of(&p)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = envelope_benches, parser_benches, correlator_benches, pipeline_benches
}
criterion_main!(benches);
