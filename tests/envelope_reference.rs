//! The envelope parser (`pflog::envelope::parse` and its [`Clock`]) against the parser it was
//! before its fast paths (the word-at-a-time digits, the remembered hour and date), kept frozen
//! in `envelope_reference/frozen.rs`: runs of lines of every shape, with the edges around valid
//! fields, cut short and with a byte changed, must read the same through both.

use pflog::envelope::{Clock, parse};

#[path = "envelope_reference/frozen.rs"]
mod reference;

/// One line from an entropy stream: every shape the parser knows, with the fields drawn from
/// valid values and the edges around them.
fn line_from(r: &mut impl Iterator<Item = u32>) -> String {
    let mut pick = |options: &[&str]| -> String {
        let n = r.next().unwrap_or(0) as usize;
        options[n % options.len()].to_string()
    };
    let month = pick(&["Nov", "Dec", "Jan", "Feb", "Mar", "Oct", "Foo", "nov"]);
    let day = pick(&["23", " 3", "3", "03", "1", "31", "0", "32", "3x", "  3"]);
    let hour = pick(&["00", "12", "12", "13", "23", "24", "1", "0a"]);
    let minute = pick(&["00", "34", "34", "59", "60", "5"]);
    let second = pick(&["00", "56", "59", "60", "61", "5"]);
    let frac = pick(&[
        "", "", "", ".5", ".123456", ".1234567", ".", ".03286", ".000000", ".999999", ".12345a",
        ".12a456",
    ]);
    let sep = pick(&[" ", " ", " ", "", "  ", "x"]);
    let host = pick(&["mx1", "mx1", "h", "", "héllo", "-"]);
    let tag = pick(&[
        "postfix/smtpd[1234]:",
        "postfix/smtpd[1234]:",
        "postfix/qmgr[99]:",
        "postgrey:",
        "p[1]:",
        "[1]:",
        "p[]:",
        "p[1",
        "p[a]:",
        "p]:",
        "p[1][2]:",
        "prög[7]:",
        "p[1234567890]:",
        "p[123456789]:",
        ":",
        "p[1]",
        "a[b[1]:",
        "postfix/submission/smtpd[12345]:",
        "postfix/submission/smtpd[12345]",
        "a-very-long-program-name-without-a-pid-at-all:",
        "a-very-long-program-name-with-a-pid-at-the-end[42]:",
        "x[1]]:",
        "p[1]:x",
        "p[1]:[2]:",
        "postfix/smtpd[1234]:",
        "postfix/smtpd[12345678]:",
        "p[12345678]:",
        "p[00000001]:",
        "postfix/smtpd[1]:",
        "postfix/smtpd[1x34]:",
        "postfix/smtpd[ 1234]:",
    ]);
    let message = pick(&[" connect from a[1.2.3.4]", " x: y", "", " ", " é"]);
    let date = pick(&[
        "2026-11-23",
        "2026-11-23",
        "2026-12-31",
        "2027-01-01",
        "2016-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-11-32",
        "20x6-11-23",
    ]);
    let offset = pick(&["Z", "+01:00", "-05:30", "z", "+0100", "+01:0", ""]);
    let time = format!("{hour}:{minute}:{second}{frac}");
    match r.next().unwrap_or(0) % 10 {
        0..=4 => format!("{month} {day} {time}{sep}{host} {tag}{message}"),
        5 | 6 => format!("{date}T{time}{offset}{sep}{host} {tag}{message}"),
        7 => format!("<34>1 {date}T{time}{offset} {host} postfix/smtpd 12 - - m{message}"),
        8 => format!("{date} {time} #29588(normal) <b120f6>; task;{message}"),
        _ => format!("#81123(fuzzy): {month} {day} {time} rspamd f:{message}"),
    }
}

fn same_as_reference(lines: &[String], clock: Clock, old: reference::Clock) {
    let (mut clock, mut old) = (clock, old);
    for line in lines {
        assert_eq!(
            parse(line, &mut clock),
            reference::parse(line, &mut old),
            "{line:?} in {lines:#?}"
        );
    }
}

proptest::proptest! {
    // Past failures, tried first.
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/envelope.txt",
            ),
        )),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Runs of lines (which exercise the remembered hour and date), each also cut short and
    /// with one byte changed, give what the parser gave before its fast paths.
    #[test]
    fn same_as_before_the_fast_paths(
        entropy in proptest::collection::vec(proptest::prelude::any::<u32>(), 12..400),
        cut in proptest::prelude::any::<usize>(),
        poke in proptest::prelude::any::<(usize, u8)>(),
        year in proptest::option::of(2020i32..2030),
        now in (2020i32..2030, 1u32..=12),
    ) {
        let mut r = entropy.into_iter();
        let mut lines = Vec::new();
        while r.len() >= 12 {
            let line = line_from(&mut r);
            lines.push(line.clone());
            // Twice: the second finds its hour remembered.
            lines.push(line.clone());
            let mut bytes = line.clone().into_bytes();
            bytes.truncate(cut % (bytes.len() + 1));
            lines.push(String::from_utf8_lossy(&bytes).into_owned());
            let mut bytes = line.into_bytes();
            if !bytes.is_empty() {
                let at = poke.0 % bytes.len();
                bytes[at] = poke.1;
            }
            lines.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for offset in [Some(0), Some(3600), Some(-19_800), None] {
            let (mut clock, mut old) = (Clock::new(year, now), reference::Clock::new(year, now));
            if let Some(offset) = offset {
                clock = clock.with_fixed_offset(offset);
                old = old.with_fixed_offset(offset);
            }
            same_as_reference(&lines, clock, old);
        }
    }
}

/// A leap second that turns the year is not remembered as an hour, and must not leave the
/// hour before it remembered either: that hour stands in the old year.
#[test]
fn a_leap_second_that_turns_the_year_forgets_the_hour() {
    let lines = [
        "Dec 31 23:00:00 h p[1]: x",
        "Jan  1 00:59:60 h p[1]: x",
        "Dec 31 23:00:01 h p[1]: x",
    ]
    .map(String::from);
    for year in [Some(2026), None] {
        let now = (2026, 11);
        same_as_reference(
            &lines,
            Clock::new(year, now).with_fixed_offset(0),
            reference::Clock::new(year, now).with_fixed_offset(0),
        );
    }
}

#[test]
fn local_offset_is_read_per_hour() {
    // The local zone here may have DST or not: whatever it says for each hour, a line in a
    // remembered hour must get the same offset as the first line of that hour.
    let mut c = Clock::new(Some(2026), (2026, 11));
    let mut old = reference::Clock::new(Some(2026), (2026, 11));
    for month in ["Mar", "Oct"] {
        for day in 1..=31 {
            for hour in 0..24 {
                for second in ["00", "30"] {
                    let line = format!("{month} {day:2} {hour:02}:00:{second} h p[1]: x");
                    assert_eq!(parse(&line, &mut c), reference::parse(&line, &mut old));
                }
            }
        }
    }
}
