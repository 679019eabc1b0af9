//! The envelope parser as it was before its fast paths (commit 50e851e), frozen as an oracle
//! for `tests/envelope_reference.rs`: the same lines through both, each with its own clock, must
//! give the same results. Do not optimise or "fix" it; it is only the old behaviour, written
//! plainly. Of pflog it uses only the types of the result.

use chrono::{Local, NaiveDate, Offset, TimeZone};

use pflog::envelope::{LogLine, Micros};

/// Supplies what a BSD timestamp leaves out: the year and the UTC offset.
///
/// The year starts as given (`--year`) or as inferred from the first line (a month later than the
/// current one belongs to last year); after that it only moves forward when the month wraps from
/// December to January, so a log that runs across New Year keeps increasing time.
#[derive(Debug, Clone)]
pub struct Clock {
    year: Option<i32>,
    now_year: i32,
    now_month: u32,
    last_month: u32,
    /// Fixed offset (seconds east of UTC) for BSD timestamps; `None` = local time zone.
    fixed_offset: Option<i32>,
    /// (days since epoch, hour) -> offset, so that the time zone is asked once an hour.
    cached_offset: Option<(i64, u32, i32)>,
    /// The last date and its days since the epoch (most lines share the previous line's date).
    cached_days: Option<((i32, u32, u32), i64)>,
}

impl Clock {
    /// `year`: from `--year`; `now`: wall-clock (year, month) used only to infer a missing year.
    pub fn new(year: Option<i32>, now: (i32, u32)) -> Clock {
        Clock {
            year,
            now_year: now.0,
            now_month: now.1,
            last_month: 0,
            fixed_offset: None,
            cached_offset: None,
            cached_days: None,
        }
    }

    /// [`days_from_civil`], remembered for the last date.
    fn days(&mut self, year: i32, month: u32, day: u32) -> i64 {
        match self.cached_days {
            Some((date, days)) if date == (year, month, day) => days,
            _ => {
                let days = days_from_civil(year, month, day);
                self.cached_days = Some(((year, month, day), days));
                days
            }
        }
    }

    /// Interpret BSD timestamps in a fixed UTC offset (tests, or `--utc` logs).
    pub fn with_fixed_offset(mut self, seconds_east: i32) -> Clock {
        self.fixed_offset = Some(seconds_east);
        self
    }

    fn year_for(&mut self, month: u32) -> i32 {
        let year = match self.year {
            Some(y) => {
                if self.last_month == 12 && month == 1 {
                    y + 1
                } else {
                    y
                }
            }
            None => {
                if month > self.now_month {
                    self.now_year - 1
                } else {
                    self.now_year
                }
            }
        };
        self.year = Some(year);
        self.last_month = month;
        year
    }

    fn offset_for(&mut self, days: i64, hour: u32, date: (i32, u32, u32)) -> i32 {
        if let Some(fixed) = self.fixed_offset {
            return fixed;
        }
        if let Some((d, h, off)) = self.cached_offset
            && d == days
            && h == hour
        {
            return off;
        }
        let off = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .and_then(|naive| Local.from_local_datetime(&naive).earliest())
            .map(|dt| dt.offset().fix().local_minus_utc())
            .unwrap_or(0);
        self.cached_offset = Some((days, hour, off));
        off
    }
}

/// A BSD timestamp without its year: (month, day, seconds of day, microseconds).
#[derive(Debug, Clone, Copy)]
struct BsdTime {
    month: u32,
    day: u32,
    secs: u32,
    micros: u32,
}

/// `Mmm dd HH:MM:SS[.frac]` at the start of `b`, day padded with a space or zero (or not at
/// all); returns it and its length.
fn bsd_time(b: &[u8]) -> Option<(BsdTime, usize)> {
    if b.len() < 15 {
        return None;
    }
    let month = month_number(&b[0..3])?;
    if b[3] != b' ' {
        return None;
    }
    let (day, tpos) = if b[4] == b' ' {
        (digits(&b[5..6])?, 7)
    } else if b[5] == b' ' {
        (digits(&b[4..5])?, 6)
    } else {
        (digits(&b[4..6])?, 7)
    };
    if !(1..=31).contains(&day) || b.get(tpos - 1) != Some(&b' ') {
        return None;
    }
    let (secs, micros, tlen) = time_of_day(&b[tpos..])?;
    Some((
        BsdTime {
            month,
            day,
            secs,
            micros,
        },
        tpos + tlen,
    ))
}

impl Clock {
    fn stamp(&mut self, t: BsdTime) -> Micros {
        let year = self.year_for(t.month);
        let days = self.days(year, t.month, t.day);
        let offset = self.offset_for(days, t.secs / 3600, (year, t.month, t.day));
        (days * 86_400 + i64::from(t.secs) - i64::from(offset)) * 1_000_000 + i64::from(t.micros)
    }
}

fn month_number(name: &[u8]) -> Option<u32> {
    Some(match name {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `HH:MM:SS[.frac]` at the start of `b`; returns (seconds of day, micros, length).
fn time_of_day(b: &[u8]) -> Option<(u32, u32, usize)> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let m = digits(&b[3..5])?;
    let s = digits(&b[6..8])?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut len = 8;
    let mut micros = 0u32;
    if b.len() > 8 && b[8] == b'.' {
        let mut scale = 100_000u32;
        len = 9;
        while len < b.len() && b[len].is_ascii_digit() {
            micros += u32::from(b[len] - b'0') * scale;
            scale /= 10;
            len += 1;
        }
        if len == 9 {
            return None;
        }
    }
    Some((h * 3600 + m * 60 + s, micros, len))
}

/// Parses `YYYY-MM-DD` at the start of `b`.
fn date(b: &[u8]) -> Option<(i32, u32, u32)> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])? as i32;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some((y, m, d))
}

/// Parses an RFC 3339 timestamp (`2026-11-23T12:34:56.123+01:00` or `...Z`) at the start of
/// `s`; returns micros and the length consumed.
fn rfc3339(s: &str) -> Option<(Micros, usize)> {
    let b = s.as_bytes();
    let (y, mo, d) = date(b)?;
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let (secs, micros, tlen) = time_of_day(&b[11..])?;
    let mut pos = 11 + tlen;
    let offset: i64 = match b.get(pos) {
        Some(b'Z') | Some(b'z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let rest = b.get(pos + 1..pos + 6)?;
            if rest[2] != b':' {
                return None;
            }
            let oh = i64::from(digits(&rest[0..2])?);
            let om = i64::from(digits(&rest[3..5])?);
            pos += 6;
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let ts = (days * 86_400 + i64::from(secs) - offset) * 1_000_000 + i64::from(micros);
    Some((ts, pos))
}

fn split_word(s: &str) -> Option<(&str, &str)> {
    let end = find_byte(b' ', s.as_bytes())?;
    Some((&s[..end], &s[end + 1..]))
}

/// `program[pid]: message` or `program: message`.
fn tag(rest: &str) -> Option<(&str, Option<u32>, &str)> {
    // The tag holds no space, so it ends at the first space, which must follow its `:`; or,
    // when the message is empty (`prog[1]:` at the end of the line), at the end.
    let b = rest.as_bytes();
    let colon = match find_byte(b' ', b) {
        Some(space) if space > 0 && b[space - 1] == b':' => space - 1,
        Some(_) => return None,
        None if rest.ends_with(':') => rest.len() - 1,
        None => return None,
    };
    let tag = &rest[..colon];
    let message = rest.get(colon + 2..).unwrap_or("");
    if tag.is_empty() {
        return None;
    }
    if let Some(open) = find_byte(b'[', tag.as_bytes()) {
        if !tag.ends_with(']') || open == 0 {
            return None;
        }
        let pid = digits(&tag.as_bytes()[open + 1..tag.len() - 1])?;
        Some((&tag[..open], Some(pid), message))
    } else {
        Some((tag, None, message))
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
            return rfc5424(rest);
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
        if b.get(10) == Some(&b' ') {
            return rspamd_file(line, clock);
        }
        let (timestamp, len) = rfc3339(line)?;
        let rest = line.get(len..)?.strip_prefix(' ')?;
        let (host, rest) = split_word(rest)?;
        let (program, pid, message) = tag(rest)?;
        return Some(LogLine {
            timestamp,
            host,
            program,
            pid,
            message,
        });
    }
    // BSD: `Mmm dd HH:MM:SS host tag: msg`.
    let (when, len) = bsd_time(b)?;
    let rest = line.get(len..)?.strip_prefix(' ')?;
    let (host, rest) = split_word(rest)?;
    let (program, pid, message) = tag(rest)?;
    // Only a well-formed line moves the clock's year inference.
    let timestamp = clock.stamp(when);
    Some(LogLine {
        timestamp,
        host,
        program,
        pid,
        message,
    })
}

/// `1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG` (after `<PRI>`).
fn rfc5424(rest: &str) -> Option<LogLine<'_>> {
    let (timestamp, len) = rfc3339(rest)?;
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
/// in the local time zone. The message keeps `<tag>; module; ...` as rspamd's syslog lines do.
fn rspamd_file<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let b = line.as_bytes();
    let (y, mo, d) = date(b)?;
    let (secs, micros, tlen) = time_of_day(&b[11..])?;
    let rest = line.get(11 + tlen..)?.strip_prefix(" #")?;
    let open = rest.find('(')?;
    let pid = digits(&rest.as_bytes()[..open])?;
    let close = rest.find(") ")?;
    let message = &rest[close + 2..];
    let days = days_from_civil(y, mo, d);
    let offset = clock.offset_for(days, secs / 3600, (y, mo, d));
    Some(LogLine {
        timestamp: (days * 86_400 + i64::from(secs) - i64::from(offset)) * 1_000_000
            + i64::from(micros),
        host: "",
        program: "rspamd",
        pid: Some(pid),
        message,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The first `needle` in `hay`.
fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}
