//! The syslog envelope: timestamp, host, program, pid and message of one log line.
//!
//! Accepted shapes:
//! - BSD syslog: `Nov 23 12:34:56 mx1 postfix/smtpd[1234]: msg` (optionally with `.123456`
//!   after the seconds and a leading `<PRI>`); the year comes from [`Clock`].
//! - RFC 3339 (rsyslog high precision): `2026-11-23T12:34:56.123456+01:00 mx1 prog[pid]: msg`.
//! - RFC 5424: `<34>1 2026-11-23T12:34:56.123Z mx1 prog 1234 - - msg`.
//! - rspamd's own log file: `2026-11-23 12:34:56 #1234(rspamd_proxy) <tag>; proxy; msg`.
//!
//! This module splits a line into its parts; `clock` turns the timestamp into [`Micros`] (with
//! the year and UTC offset that a BSD timestamp leaves out); `digits` reads numbers, some eight
//! digits at a time.

use memchr::memrchr;

use crate::scan::{LO, find_byte, zero_bytes};

mod clock;
mod digits;

pub use clock::{Clock, YearState, days_from_civil};
use clock::{bsd_time, rfc3339, time_of_day};
use digits::{digits, digits_ending_at};

/// Microseconds since the Unix epoch (UTC).
pub type Micros = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub timestamp: Micros,
    pub host: &'a str,
    pub program: &'a str,
    pub pid: Option<u32>,
    pub message: &'a str,
}

/// How the program name splits into a Postfix instance, a service and the daemon.
///
/// `postfix/submission/smtpd` -> instance `postfix`, service `submission/smtpd`, daemon `smtpd`;
/// `postgrey` -> no instance, service and daemon `postgrey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program<'a> {
    pub instance: Option<&'a str>,
    pub service: &'a str,
    pub daemon: &'a str,
}

impl<'a> Program<'a> {
    pub fn split(program: &'a str) -> Program<'a> {
        if program.starts_with("postfix")
            && let Some(slash) = find_byte(b'/', program.as_bytes())
        {
            // The instance is what precedes the first `/` (it starts with `postfix`).
            let service = &program[slash + 1..];
            let daemon = match memrchr(b'/', service.as_bytes()) {
                Some(at) => &service[at + 1..],
                None => service,
            };
            return Program {
                instance: Some(&program[..slash]),
                service,
                daemon,
            };
        }
        Program {
            instance: None,
            service: program,
            daemon: program,
        }
    }
}

/// Parses the envelope of one line (without its newline). `None`: not a syslog line.
pub fn parse<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let mut line = line;
    // Leading `<PRI>` as sent over the network.
    // Bytes, not `str` slicing: the sixth byte may be inside a multi-byte character.
    if line.starts_with('<')
        && let Some(end) = line.as_bytes()[..line.len().min(6)]
            .iter()
            .position(|&b| b == b'>')
    {
        line = &line[end + 1..];
        if let Some(rest) = line.strip_prefix("1 ") {
            return rfc5424(rest, clock);
        }
    }
    let b = line.as_bytes();
    if b.len() < 16 {
        return None;
    }
    if b[0] == b'#' {
        return rspamd_legacy_file(line, clock);
    }
    if b[0].is_ascii_digit() {
        if b[10] == b' ' {
            return rspamd_file(line, clock);
        }
        let (timestamp, len) = rfc3339(line, clock)?;
        if b.get(len) != Some(&b' ') {
            return None;
        }
        let (host, program, pid, message) = host_and_tag(line, len + 1)?;
        return Some(LogLine {
            timestamp,
            host,
            program,
            pid,
            message,
        });
    }
    // BSD: `Mmm dd HH:MM:SS host tag: msg`. Most lines fall in the hour of the line before.
    let (stamped, len) = match clock.same_hour(b) {
        Some((timestamp, len)) => (Ok(timestamp), len),
        None => {
            let (when, len) = bsd_time(b)?;
            (Err(when), len)
        }
    };
    if b.get(len) != Some(&b' ') {
        return None;
    }
    let (host, program, pid, message) = host_and_tag(line, len + 1)?;
    // Only a well-formed line moves the clock's year inference.
    let timestamp = match stamped {
        Ok(timestamp) => timestamp,
        Err(when) => clock.stamp(when),
    };
    Some(LogLine {
        timestamp,
        host,
        program,
        pid,
        message,
    })
}

/// `1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG` (after `<PRI>`).
fn rfc5424<'a>(rest: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let (timestamp, len) = rfc3339(rest, clock)?;
    let rest = rest.get(len..)?.strip_prefix(' ')?;
    let (host, rest) = split_word(rest)?;
    let (program, rest) = split_word(rest)?;
    let (procid, rest) = split_word(rest)?;
    let (_msgid, rest) = split_word(rest)?;
    let message = if let Some(sd) = rest.strip_prefix('[') {
        // Structured data: skip `[...]` groups (a `]` inside a value is escaped as `\]`).
        let mut s = sd;
        loop {
            let bytes = s.as_bytes();
            let mut i = 0;
            while i < bytes.len() && !(bytes[i] == b']' && (i == 0 || bytes[i - 1] != b'\\')) {
                i += 1;
            }
            s = s.get(i + 1..)?;
            match s.strip_prefix('[') {
                Some(next) => s = next,
                None => break s.strip_prefix(' ').unwrap_or(s),
            }
        }
    } else if let Some(m) = rest.strip_prefix("- ") {
        m
    } else if rest == "-" {
        ""
    } else {
        rest
    };
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Some(LogLine {
        timestamp,
        host: if host == "-" { "" } else { host },
        program,
        pid: digits(procid.as_bytes()),
        message,
    })
}

/// rspamd's own log file before 1.x: `#81123(fuzzy): May 11 19:41:54 rspamd function: msg`.
fn rspamd_legacy_file<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let rest = &line[1..];
    let open = rest.find('(')?;
    let pid = digits(&rest.as_bytes()[..open])?;
    let after = rest[open..].find("): ")? + open + 3;
    // `May 11 19:41:54 rspamd msg`: a BSD timestamp and the program, but no host or colon.
    let stamped = rest.get(after..)?;
    let (when, len) = bsd_time(stamped.as_bytes())?;
    let message = stamped.get(len..)?.strip_prefix(" rspamd ")?;
    let timestamp = clock.stamp(when);
    Some(LogLine {
        timestamp,
        host: "",
        program: "rspamd",
        pid: Some(pid),
        message,
    })
}

/// rspamd's own log file: `2026-11-23 12:34:56[.frac] #1234(rspamd_proxy) <tag>; proxy; msg`,
/// in the clock's zone, as BSD timestamps. The message keeps `<tag>; module; ...` as rspamd's
/// syslog lines do.
fn rspamd_file<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let b = line.as_bytes();
    let ((y, mo, d), days) = clock.iso_date(b)?;
    let (secs, micros, tlen) = time_of_day(&b[11..])?;
    let rest = line.get(11 + tlen..)?.strip_prefix(" #")?;
    let open = rest.find('(')?;
    let pid = digits(&rest.as_bytes()[..open])?;
    let close = rest.find(") ")?;
    let message = &rest[close + 2..];
    let offset = clock.offset_for(days, secs / 3600, secs % 3600, (y, mo, d));
    Some(LogLine {
        timestamp: (days * 86_400 + i64::from(secs) - i64::from(offset)) * 1_000_000
            + i64::from(micros),
        host: "",
        program: "rspamd",
        pid: Some(pid),
        message,
    })
}

fn split_word(s: &str) -> Option<(&str, &str)> {
    let end = find_byte(b' ', s.as_bytes())?;
    Some((&s[..end], &s[end + 1..]))
}

/// `host program[pid]: message` or `host program: message` from byte `start` of `line` on:
/// (host, program, pid, message).
#[inline(always)]
fn host_and_tag(line: &str, start: usize) -> Option<(&str, &str, Option<u32>, &str)> {
    // Slices as `get(a..)` then `get(..n)`: one boundary check each, inlined.
    let rest = line.get(start..)?;
    let b = rest.as_bytes();
    let host_len = find_byte(b' ', b)?;
    let host = rest.get(..host_len)?;
    // The tag holds no space, so it ends at the first space, which must follow its `:`; or,
    // when the message is empty (`prog[1]:` at the end of the line), at the end.
    let after = rest.get(host_len + 1..)?;
    let tag = after.as_bytes();
    let (space, open) = space_and_bracket(tag);
    let colon = match space {
        Some(space) if space > 1 && tag[space - 1] == b':' => space - 1,
        Some(_) => return None,
        None if tag.len() > 1 && tag[tag.len() - 1] == b':' => tag.len() - 1,
        None => return None,
    };
    let message = after.get(colon + 2..).unwrap_or("");
    // A `[` before the space is before the colon.
    match open {
        Some(open) => {
            if open == 0 || tag[colon - 1] != b']' {
                return None;
            }
            let pid = pid(tag, open, colon - 1)?;
            Some((host, after.get(..open)?, Some(pid), message))
        }
        None => Some((host, after.get(..colon)?, None, message)),
    }
}

/// The pid between `[` at `open` and `]` at `close` in `tag`: one to nine digits.
#[inline(always)]
fn pid(tag: &[u8], open: usize, close: usize) -> Option<u32> {
    digits_ending_at(tag, close, close - open - 1)
}

/// The offset of the first space in `b` and of the first `[` before it (or before the end when
/// there is no space), in one pass of eight bytes at a time.
#[inline(always)]
fn space_and_bracket(b: &[u8]) -> (Option<usize>, Option<usize>) {
    const SPACES: u64 = LO * b' ' as u64;
    const BRACKETS: u64 = LO * b'[' as u64;
    let mut open = None;
    let mut chunks = b.chunks_exact(8);
    let mut i = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let spaces = zero_bytes(word ^ SPACES);
        if open.is_none() {
            let brackets = zero_bytes(word ^ BRACKETS);
            if brackets != 0 {
                open = Some(i + (brackets.trailing_zeros() / 8) as usize);
            }
        }
        if spaces != 0 {
            let space = i + (spaces.trailing_zeros() / 8) as usize;
            return (Some(space), open.filter(|&open| open < space));
        }
        i += 8;
    }
    for &c in chunks.remainder() {
        if c == b' ' {
            return (Some(i), open);
        }
        if c == b'[' && open.is_none() {
            open = Some(i);
        }
        i += 1;
    }
    (None, open)
}

/// A pinned clock and instants, for the envelope's and the clock's unit tests.
#[cfg(test)]
mod test_time {
    use super::{Clock, Micros, days_from_civil};

    /// November 2026, UTC.
    pub(super) fn utc() -> Clock {
        Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0)
    }

    pub(super) fn at(y: i32, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> Micros {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::test_time::{at, utc};
    use super::*;

    #[test]
    fn multibyte_char_after_a_leading_angle_bracket() {
        // Found by the `envelope` fuzz target: `<` then a multi-byte character across byte 6
        // panicked slicing the `<PRI>` prefix (a crash of the ingest thread on one log line).
        for line in [
            "<    \u{fffd}\u{fffd} >",
            "<\u{e9}\u{e9}\u{e9}>1 x",
            "<12\u{fffd}>Nov 23 12:34:56 h p: m",
        ] {
            assert_eq!(parse(line, &mut utc()), None, "{line:?}");
        }
        let l = parse("<34>Nov 23 12:34:56 h postfix/smtpd[1]: \u{e9}", &mut utc()).unwrap();
        assert_eq!(l.message, "\u{e9}");
    }

    #[test]
    fn bsd_line() {
        let l = parse(
            "Nov 23 12:34:56 mx1 postfix/smtpd[1234]: connect from a[1.2.3.4]",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.timestamp, at(2026, 11, 23, 12, 34, 56));
        assert_eq!(l.host, "mx1");
        assert_eq!(l.program, "postfix/smtpd");
        assert_eq!(l.pid, Some(1234));
        assert_eq!(l.message, "connect from a[1.2.3.4]");
    }

    #[test]
    fn bsd_single_digit_day_and_fraction() {
        let mut c = utc();
        let l = parse("May  8 08:26:55 mail postfix/postscreen[22055]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 5, 8, 8, 26, 55));
        let l = parse("Jan 1 00:00:00.250000 h postgrey[1]: y", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 1, 1, 0, 0, 0) + 250_000);
    }

    #[test]
    fn rfc3339_line() {
        let l = parse(
            "2016-03-23T01:09:28.962188+01:00 tron postfix/smtpd[472]: warning: x",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.timestamp, at(2016, 3, 23, 0, 9, 28) + 962_188);
        assert_eq!(l.host, "tron");
        assert_eq!(l.program, "postfix/smtpd");
        assert_eq!(l.pid, Some(472));
        assert_eq!(l.message, "warning: x");
        let z = parse(
            "2026-11-23T12:34:56Z mx postgrey[9]: action=pass",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(z.timestamp, at(2026, 11, 23, 12, 34, 56));
    }

    #[test]
    fn rfc5424_line() {
        let l = parse(
            "<22>1 2026-11-23T12:34:56.5Z mx1 postfix/smtpd 1234 - - connect from a[1.2.3.4]",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.timestamp, at(2026, 11, 23, 12, 34, 56) + 500_000);
        assert_eq!(
            (l.host, l.program, l.pid, l.message),
            (
                "mx1",
                "postfix/smtpd",
                Some(1234),
                "connect from a[1.2.3.4]"
            )
        );
        let sd = parse(
            r#"<22>1 2026-11-23T12:34:56Z mx1 app - ID1 [ex@1 k="a\]b"][x@2 y="z"] hello"#,
            &mut utc(),
        )
        .unwrap();
        assert_eq!((sd.pid, sd.message), (None, "hello"));
    }

    #[test]
    fn rspamd_log_file_line() {
        let l = parse(
            "2016-03-18 15:15:01 #29588(normal) <b120f6>; task; rspamd_task_write_log: id: <x>",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.timestamp, at(2016, 3, 18, 15, 15, 1));
        assert_eq!(l.program, "rspamd");
        assert_eq!(l.pid, Some(29588));
        assert_eq!(l.message, "<b120f6>; task; rspamd_task_write_log: id: <x>");
        let f = parse(
            "2018-10-13 09:34:20.03286 #97398(controller) <0260c3>; csession; x",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(f.timestamp, at(2018, 10, 13, 9, 34, 20) + 32_860);
    }

    #[test]
    fn rspamd_legacy_log_file_line() {
        let l = parse(
            "#81123(fuzzy): May 11 19:41:54 rspamd file_log_function: Last message repeated 155 times",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.timestamp, at(2026, 5, 11, 19, 41, 54));
        assert_eq!((l.program, l.pid), ("rspamd", Some(81123)));
        assert_eq!(
            l.message,
            "file_log_function: Last message repeated 155 times"
        );
    }

    #[test]
    fn program_split() {
        let p = Program::split("postfix/submission/smtpd");
        assert_eq!(
            (p.instance, p.service, p.daemon),
            (Some("postfix"), "submission/smtpd", "smtpd")
        );
        let p = Program::split("postfix-out/relay/smtp");
        assert_eq!(
            (p.instance, p.service, p.daemon),
            (Some("postfix-out"), "relay/smtp", "smtp")
        );
        let p = Program::split("postfix/policyd-weight");
        assert_eq!(p.daemon, "policyd-weight");
        let p = Program::split("postgrey");
        assert_eq!(
            (p.instance, p.service, p.daemon),
            (None, "postgrey", "postgrey")
        );
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "",
            "Jan",
            "Jan 1 00:00:00",
            "Foo 1 00:00:00 hostname",
            "Jan: 1 00:00:00 hostname postfix/postscreen[12345]: foo",
            "Jan 1 00:00:00 hostname postfix/postscreen[abcde]: foo",
            "Jan 1 00:00:00 hostname postfix/postscreen[12345",
            "Jan 1 00:00:00 hostname postfix/postscreen",
            "Jan 41 00:00:00 hostname p[1]: foo",
            "Jan 1 25:00:00 hostname p[1]: foo",
            "2026-13-01T00:00:00Z h p[1]: x",
            "<999999999",
        ] {
            assert_eq!(parse(bad, &mut utc()), None, "{bad:?}");
        }
    }

    #[test]
    fn message_may_contain_colons_and_brackets() {
        let l = parse(
            "Jan 1 00:00:00 h postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 550 y",
            &mut utc(),
        )
        .unwrap();
        assert_eq!(l.message, "NOQUEUE: reject: RCPT from x[1.2.3.4]: 550 y");
    }
}
