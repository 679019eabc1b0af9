//! The syslog envelope: timestamp, host, program, pid and message of one log line.
//!
//! Accepted shapes:
//! - BSD syslog: `Nov 23 12:34:56 mx1 postfix/smtpd[1234]: msg` (optionally with `.123456`
//!   after the seconds and a leading `<PRI>`); the year comes from [`Clock`].
//! - RFC 3339 (rsyslog high precision): `2026-11-23T12:34:56.123456+01:00 mx1 prog[pid]: msg`.
//! - RFC 5424: `<34>1 2026-11-23T12:34:56.123Z mx1 prog 1234 - - msg`.
//! - rspamd's own log file: `2026-11-23 12:34:56 #1234(rspamd_proxy) <tag>; proxy; msg`.

use chrono::{Local, NaiveDate, Offset, TimeZone};
use memchr::memrchr;

use crate::scan::{LO, find_byte, zero_bytes};

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
    /// The hour of the last BSD timestamp, so that the next line of that hour only reads its
    /// minutes and seconds.
    bsd_hour: Option<BsdHour>,
    /// The last `YYYY-MM-DD` (rspamd file lines) and what it stands for.
    iso_date: Option<IsoDate>,
    /// The last RFC 3339 `YYYY-MM-DDTHH` (as two overlapping eight-byte words) and the
    /// microseconds of its start, before the offset that follows the time.
    iso_hour: Option<((u64, u64), Micros)>,
}

/// A BSD timestamp's leading `Mmm dd HH` as last stamped: its bytes and the start of its hour.
///
/// Equal bytes mean an equal month, day and hour; an equal month means [`Clock::year_for`] keeps
/// the year and changes nothing, so the start of the hour (year, local offset and all) still holds.
#[derive(Debug, Clone, Copy)]
struct BsdHour {
    /// The timestamp's first nine bytes: `Mmm dd HH` or `Mmm d HH:` (eight bytes, then one).
    head: (u64, u8),
    /// Where the time of day starts (6 or 7).
    tpos: u8,
    /// Microseconds since the epoch at `HH:00:00`.
    base: Micros,
}

/// A `YYYY-MM-DD` prefix as last read: its bytes, the date and its days since the epoch.
#[derive(Debug, Clone, Copy)]
struct IsoDate {
    head: (u64, u16),
    date: (i32, u32, u32),
    days: i64,
}

/// What a [`Clock`] carries from one BSD timestamp to the next: the year it stands in and the
/// month of the last one (the year turns when December is followed by January). Everything
/// else a clock keeps is a setting (the time zone, today's date for inferring the year) or a
/// cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearState {
    year: Option<i32>,
    last_month: u32,
}

impl Clock {
    pub fn year_state(&self) -> YearState {
        YearState {
            year: self.year,
            last_month: self.last_month,
        }
    }

    /// Continues from another clock's year state (one that read the lines just before).
    pub fn set_year_state(&mut self, state: YearState) {
        if state != self.year_state() {
            self.year = state.year;
            self.last_month = state.last_month;
            // The remembered hour stands in the old year.
            self.bsd_hour = None;
        }
    }

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
            bsd_hour: None,
            iso_date: None,
            iso_hour: None,
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

    /// A clock for the local machine: current year and local time zone.
    pub fn local(year: Option<i32>) -> Clock {
        use chrono::Datelike;
        let now = Local::now();
        Clock::new(year, (now.year(), now.month()))
    }

    /// Interpret BSD timestamps in a fixed UTC offset (tests, or `--utc` logs).
    pub fn with_fixed_offset(mut self, seconds_east: i32) -> Clock {
        self.fixed_offset = Some(seconds_east);
        // The remembered hour includes the offset it was stamped with.
        self.bsd_hour = None;
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

    /// The BSD timestamp at the start of `b` if it is in the hour of the last one stamped:
    /// (micros, length). `None` when it is not (or is malformed): [`bsd_time`] then decides.
    ///
    /// Reads nothing but the clock, as a line whose tag turns out malformed must not move it;
    /// and needs no [`Clock::stamp`], since the same month leaves the year inference as it is.
    #[inline]
    fn same_hour(&self, b: &[u8]) -> Option<(Micros, usize)> {
        let cached = self.bsd_hour.as_ref()?;
        if head9(b)? != cached.head {
            return None;
        }
        // The hour's digits were checked when it was stamped; `:MM:SS[.frac]` follows them.
        let at = usize::from(cached.tpos) + 2;
        let (secs, micros, len) = minutes_seconds(b.get(at..)?)?;
        if secs >= 3600 {
            // `HH:59:60` is a second of the next hour, whose offset may differ.
            return None;
        }
        Some((
            cached.base + i64::from(secs) * 1_000_000 + i64::from(micros),
            at + len,
        ))
    }

    fn stamp(&mut self, t: BsdTime) -> Micros {
        let year = self.year_for(t.month);
        let days = self.days(year, t.month, t.day);
        let hour = t.secs / 3600;
        let offset = self.offset_for(days, hour, (year, t.month, t.day));
        let base = (days * 86_400 + i64::from(hour * 3600) - i64::from(offset)) * 1_000_000;
        // Not after a leap second `HH:59:60`: that was the next hour's start, not `HH`'s; and
        // the hour remembered before it is forgotten, since this line may have turned the year.
        self.bsd_hour = (hour == t.hour).then_some(BsdHour {
            head: t.head,
            tpos: t.tpos,
            base,
        });
        base + i64::from(t.secs % 3600) * 1_000_000 + i64::from(t.micros)
    }

    /// `YYYY-MM-DD` at the start of `b`: the date and its days since the epoch.
    #[inline]
    fn iso_date(&mut self, b: &[u8]) -> Option<((i32, u32, u32), i64)> {
        let head = (
            u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            u16::from_le_bytes(b.get(8..10)?.try_into().ok()?),
        );
        if let Some(c) = self.iso_date
            && c.head == head
        {
            return Some((c.date, c.days));
        }
        let date = date(b)?;
        let days = days_from_civil(date.0, date.1, date.2);
        self.iso_date = Some(IsoDate { head, date, days });
        Some((date, days))
    }
}

/// The first nine bytes of `b` as a `u64` and a byte.
#[inline]
fn head9(b: &[u8]) -> Option<(u64, u8)> {
    let head: &[u8; 9] = b.get(..9)?.try_into().ok()?;
    let (lo, hi) = head.split_at(8);
    Some((u64::from_le_bytes(lo.try_into().ok()?), hi[0]))
}

/// A BSD timestamp without its year: (month, day, seconds of day, microseconds).
#[derive(Debug, Clone, Copy)]
struct BsdTime {
    month: u32,
    day: u32,
    secs: u32,
    micros: u32,
    /// `HH` as written (`secs / 3600` is one more for a leap second `HH:59:60`).
    hour: u32,
    /// The first nine bytes, for [`BsdHour`].
    head: (u64, u8),
    /// Where the time of day starts.
    tpos: u8,
}

/// `Mmm dd HH:MM:SS[.frac]` at the start of `b`, day padded with a space or zero (or not at
/// all); returns it and its length.
#[inline]
fn bsd_time(b: &[u8]) -> Option<(BsdTime, usize)> {
    if b.len() < 15 {
        return None;
    }
    let month = month_number(&b[0..3])?;
    if b[3] != b' ' {
        return None;
    }
    let (day, tpos) = if b[4] == b' ' {
        (digit(b[5])?, 7)
    } else if b[5] == b' ' {
        (digit(b[4])?, 6)
    } else {
        (two_digits(b[4], b[5])?, 7)
    };
    if !(1..=31).contains(&day) || b[tpos - 1] != b' ' {
        return None;
    }
    let (secs, micros, tlen) = time_of_day(&b[tpos..])?;
    Some((
        BsdTime {
            month,
            day,
            secs,
            micros,
            hour: two_digits(b[tpos], b[tpos + 1])?,
            head: head9(b)?,
            tpos: tpos as u8,
        },
        tpos + tlen,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
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

/// A decimal number of one to nine ASCII digits.
#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        v = v * 10 + digit(c)?;
    }
    Some(v)
}

#[inline]
fn digit(c: u8) -> Option<u32> {
    let d = c.wrapping_sub(b'0');
    if d < 10 { Some(u32::from(d)) } else { None }
}

#[inline]
fn two_digits(a: u8, b: u8) -> Option<u32> {
    Some(digit(a)? * 10 + digit(b)?)
}

/// Parses `HH:MM:SS[.frac]` at the start of `b`; returns (seconds of day, micros, length).
#[inline]
fn time_of_day(b: &[u8]) -> Option<(u32, u32, usize)> {
    if b.len() < 8 {
        return None;
    }
    let h = two_digits(b[0], b[1])?;
    if h > 23 {
        return None;
    }
    let (secs, micros, len) = minutes_seconds(&b[2..])?;
    Some((h * 3600 + secs, micros, len + 2))
}

/// Parses `:MM:SS[.frac]` at the start of `b`; returns (seconds into the hour, micros, length).
#[inline(always)]
fn minutes_seconds(b: &[u8]) -> Option<(u32, u32, usize)> {
    let (m, s) = if let Some(eight) = b.get(..8) {
        // `:MM:SS` checked as one word: the colons exactly, the digits with the other bytes
        // made `0`s.
        const COLONS: u64 = 0x0000_0000_FF00_00FF;
        const DIGITS: u64 = 0x0000_FFFF_00FF_FF00;
        let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
        if word & COLONS != 0x3A00_003A || !all_digits(word & DIGITS | THREES & !DIGITS) {
            return None;
        }
        let d = word & 0x0000_0F0F_000F_0F00;
        let m = ((d >> 8) & 0xF) * 10 + ((d >> 16) & 0xF);
        let s = ((d >> 32) & 0xF) * 10 + ((d >> 40) & 0xF);
        (m as u32, s as u32)
    } else {
        if b.len() < 6 || b[0] != b':' || b[3] != b':' {
            return None;
        }
        (two_digits(b[1], b[2])?, two_digits(b[4], b[5])?)
    };
    if m > 59 || s > 60 {
        return None;
    }
    if b.get(6) != Some(&b'.') {
        return Some((m * 60 + s, 0, 6));
    }
    // The fraction: at least one digit; those past the sixth are read but dropped. Commonly
    // exactly six, read at once.
    if let Some(eight) = b.get(7..15) {
        let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
        let six = word & 0xFFFF_FFFF_FFFF;
        if all_digits(six | 0x3030 << 48) && !b[13].is_ascii_digit() {
            return Some((m * 60 + s, eight_digits(six << 16), 13));
        }
    }
    const SCALE: [u32; 7] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
    let mut len = 7;
    let mut v = 0u32;
    while let Some(d) = b.get(len).and_then(|&c| digit(c)) {
        if len < 13 {
            v = v * 10 + d;
        }
        len += 1;
    }
    if len == 7 {
        return None;
    }
    Some((m * 60 + s, v * SCALE[(len - 7).min(6)], len))
}

/// Eight ASCII `0`s.
const THREES: u64 = 0x3030_3030_3030_3030;

/// Whether all eight bytes of `word` are ASCII digits.
#[inline(always)]
fn all_digits(word: u64) -> bool {
    // Each byte is 0x30..=0x39: high nibble 3, and adding 6 leaves it 3 (no byte carries out,
    // as 0x3F + 6 < 0x100).
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    word & NIBBLES == THREES && word.wrapping_add(0x0606_0606_0606_0606) & NIBBLES == THREES
}

/// The number written by eight ASCII digits (the first in the lowest byte).
#[inline(always)]
fn eight_digits(word: u64) -> u32 {
    let v = word & 0x0F0F_0F0F_0F0F_0F0F;
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF;
    v as u32
}

/// Parses `YYYY-MM-DD` at the start of `b`.
fn date(b: &[u8]) -> Option<(i32, u32, u32)> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = (two_digits(b[0], b[1])? * 100 + two_digits(b[2], b[3])?) as i32;
    let m = two_digits(b[5], b[6])?;
    let d = two_digits(b[8], b[9])?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some((y, m, d))
}

/// Parses an RFC 3339 timestamp (`2026-11-23T12:34:56.123+01:00` or `...Z`) at the start of
/// `s`; returns micros and the length consumed.
#[inline]
fn rfc3339(s: &str, clock: &mut Clock) -> Option<(Micros, usize)> {
    let b = s.as_bytes();
    if b.get(10) != Some(&b'T') {
        return None;
    }
    // `YYYY-MM-DDTHH`, thirteen bytes, as the words at 0 and 5.
    let head = (
        u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
        u64::from_le_bytes(b.get(5..13)?.try_into().ok()?),
    );
    let (base, secs, micros, tlen) = match clock.iso_hour {
        // The date and hour were checked when they were remembered.
        Some((h, base)) if h == head => {
            let (secs, micros, len) = minutes_seconds(&b[13..])?;
            (base, secs, micros, len + 2)
        }
        _ => {
            let (y, mo, d) = date(b)?;
            let (secs, micros, tlen) = time_of_day(&b[11..])?;
            let hour = two_digits(b[11], b[12])?;
            let base = (days_from_civil(y, mo, d) * 86_400 + i64::from(hour * 3600)) * 1_000_000;
            clock.iso_hour = Some((head, base));
            (base, secs - hour * 3600, micros, tlen)
        }
    };
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
            let oh = i64::from(two_digits(rest[0], rest[1])?);
            let om = i64::from(two_digits(rest[3], rest[4])?);
            pos += 6;
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let ts = base + (i64::from(secs) - offset) * 1_000_000 + i64::from(micros);
    Some((ts, pos))
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
    let n = close - open - 1;
    // Up to eight digits at once: the eight bytes that end before the `]`, the ones before the
    // pid turned into leading zeros.
    if (1..=8).contains(&n) && close >= 8 {
        let word = u64::from_le_bytes(tag[close - 8..close].try_into().unwrap_or_default());
        let before = u64::MAX.checked_shr(8 * n as u32).unwrap_or(0);
        let word = word & !before | THREES & before;
        return if all_digits(word) {
            Some(eight_digits(word))
        } else {
            None
        };
    }
    digits(&tag[open + 1..close])
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
/// in the local time zone. The message keeps `<tag>; module; ...` as rspamd's syslog lines do.
fn rspamd_file<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
    let b = line.as_bytes();
    let ((y, mo, d), days) = clock.iso_date(b)?;
    let (secs, micros, tlen) = time_of_day(&b[11..])?;
    let rest = line.get(11 + tlen..)?.strip_prefix(" #")?;
    let open = rest.find('(')?;
    let pid = digits(&rest.as_bytes()[..open])?;
    let close = rest.find(") ")?;
    let message = &rest[close + 2..];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Clock {
        Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0)
    }

    fn at(y: i32, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> Micros {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000
    }

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
    fn year_inferred_from_now() {
        // A December line read in January belongs to last year.
        let mut c = Clock::new(None, (2027, 1)).with_fixed_offset(0);
        let l = parse("Dec 31 23:59:59 h postfix/qmgr[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 12, 31, 23, 59, 59));
        // ... and the log keeps increasing across New Year.
        let l = parse("Jan  1 00:00:01 h postfix/qmgr[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2027, 1, 1, 0, 0, 1));
    }

    #[test]
    fn explicit_year_wraps_forward() {
        let mut c = Clock::new(Some(2025), (2030, 6)).with_fixed_offset(0);
        parse("Dec 31 23:59:59 h p[1]: x", &mut c).unwrap();
        let l = parse("Jan  1 00:00:00 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 1, 1, 0, 0, 0));
    }

    #[test]
    fn fixed_offset_applies_to_bsd() {
        let mut c = Clock::new(Some(2026), (2026, 11)).with_fixed_offset(3600);
        let l = parse("Nov 23 12:00:00 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 11, 23, 11, 0, 0));
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
            "", "", "", ".5", ".123456", ".1234567", ".", ".03286", ".000000", ".999999",
            ".12345a", ".12a456",
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
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

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
    fn lines_within_the_hour_of_the_line_before() {
        let mut c = utc();
        for (line, want) in [
            (
                "Nov 23 12:34:56 h p[1]: x",
                Some(at(2026, 11, 23, 12, 34, 56)),
            ),
            (
                "Nov 23 12:59:59.5 h p[1]: x",
                Some(at(2026, 11, 23, 12, 59, 59) + 500_000),
            ),
            ("Nov 23 12:60:00 h p[1]: x", None),
            ("Nov 23 12:00:61 h p[1]: x", None),
            (
                "Nov 23 12:00:60 h p[1]: x",
                Some(at(2026, 11, 23, 12, 1, 0)),
            ),
            ("Nov 23 12:00:0x h p[1]: x", None),
            ("Nov 23 12:00:00. h p[1]: x", None),
            ("Nov 23 12-00:00 h p[1]: x", None),
            (
                "Nov 23 12:00:00.1234567 h p[1]: x",
                Some(at(2026, 11, 23, 12, 0, 0) + 123_456),
            ),
            ("Nov 23 12:00:00xh p[1]: x", None),
            ("Nov 23 12:00:00 h p[1] x", None),
            (
                "Nov 23 13:00:00 h p[1]: x",
                Some(at(2026, 11, 23, 13, 0, 0)),
            ),
            (
                "Nov 23 12:00:00 h p[1]: x",
                Some(at(2026, 11, 23, 12, 0, 0)),
            ),
            ("Nov  3 12:00:00 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 0))),
            ("Nov  3 12:00:01 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 1))),
            ("Nov 3 12:00:02 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 2))),
            ("Nov 3 12:00:03 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 3))),
            ("Nov 03 12:00:04 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 4))),
            // A leap second belongs to the next hour (and its offset); the hour is still `12`.
            ("Nov 03 12:59:60 h p[1]: x", Some(at(2026, 11, 3, 13, 0, 0))),
            ("Nov 03 12:00:05 h p[1]: x", Some(at(2026, 11, 3, 12, 0, 5))),
            ("Nov 03 12:59:60 h p[1]: x", Some(at(2026, 11, 3, 13, 0, 0))),
        ] {
            assert_eq!(parse(line, &mut c).map(|l| l.timestamp), want, "{line:?}");
        }
    }

    #[test]
    fn malformed_tag_in_the_same_hour_leaves_the_year_alone() {
        // A December line with a malformed tag must not count as "the last month" for the
        // January line that follows, whether or not its hour is remembered.
        let mut c = Clock::new(Some(2026), (2026, 11)).with_fixed_offset(0);
        parse("Jan  1 00:00:00 h p[1]: x", &mut c).unwrap();
        assert_eq!(parse("Dec 31 23:00:00 h p[x]: x", &mut c), None);
        let l = parse("Jan  1 00:00:01 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 1, 1, 0, 0, 1));
        // A well-formed December line does move it: the next January is the next year's, even
        // for the very hour remembered before.
        parse("Dec 31 23:00:00 h p[1]: x", &mut c).unwrap();
        let l = parse("Jan  1 00:00:02 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2027, 1, 1, 0, 0, 2));
    }

    #[test]
    fn an_rspamd_legacy_line_then_a_syslog_line_of_its_hour() {
        let mut c = utc();
        let l = parse("#81123(fuzzy): May 11 19:41:54 rspamd f: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 5, 11, 19, 41, 54));
        let l = parse("May 11 19:42:00 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 5, 11, 19, 42, 0));
    }

    #[test]
    fn fixed_offset_set_after_lines_is_used() {
        let c = utc();
        let mut c = {
            let mut c = c;
            parse("Nov 23 12:00:00 h p[1]: x", &mut c).unwrap();
            c.with_fixed_offset(3600)
        };
        let l = parse("Nov 23 12:00:01 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2026, 11, 23, 11, 0, 1));
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

    #[test]
    fn rfc3339_dates_are_remembered_only_for_the_same_bytes() {
        let mut c = utc();
        for (line, want) in [
            (
                "2026-11-23T12:00:00Z h p[1]: x",
                Some(at(2026, 11, 23, 12, 0, 0)),
            ),
            (
                "2026-11-23T13:00:00+01:00 h p[1]: x",
                Some(at(2026, 11, 23, 12, 0, 0)),
            ),
            (
                "2026-11-24T00:00:00-00:30 h p[1]: x",
                Some(at(2026, 11, 24, 0, 30, 0)),
            ),
            (
                "2026-11-24 00:00:00 #1(normal) x",
                Some(at(2026, 11, 24, 0, 0, 0)),
            ),
            ("2026-11-32T00:00:00Z h p[1]: x", None),
            ("2026-11-24T24:00:00Z h p[1]: x", None),
            ("2026-11-24T00:00:00+0100 h p[1]: x", None),
            (
                "2027-01-01T00:00:00.25Z h p[1]: x",
                Some(at(2027, 1, 1, 0, 0, 0) + 250_000),
            ),
        ] {
            assert_eq!(parse(line, &mut c).map(|l| l.timestamp), want, "{line:?}");
        }
    }

    /// The parser as it was before the fast paths (commit 50e851e), as an oracle: the same
    /// lines through both, each with its own clock, must give the same results.
    #[allow(dead_code)]
    mod reference {
        use chrono::{Local, NaiveDate, Offset, TimeZone};

        use super::super::{LogLine, Micros, days_from_civil};
        use crate::scan::find_byte;

        /// Supplies what a BSD timestamp leaves out: the year and the UTC offset.
        ///
        /// The year starts as given (`--year`) or as inferred from the first line (a month later than the
        /// current one belongs to last year); after that it only moves forward when the month wraps from
        /// December to January, so a log that runs across New Year keeps increasing time.
        #[derive(Debug, Clone)]
        pub(super) struct Clock {
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
            pub(super) fn new(year: Option<i32>, now: (i32, u32)) -> Clock {
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
            pub(super) fn with_fixed_offset(mut self, seconds_east: i32) -> Clock {
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
                (days * 86_400 + i64::from(t.secs) - i64::from(offset)) * 1_000_000
                    + i64::from(t.micros)
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
        pub(super) fn parse<'a>(line: &'a str, clock: &mut Clock) -> Option<LogLine<'a>> {
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
                    while i < bytes.len()
                        && !(bytes[i] == b']' && (i == 0 || bytes[i - 1] != b'\\'))
                    {
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
    }
}
