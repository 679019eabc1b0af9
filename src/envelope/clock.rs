//! Timestamps: what a line's time text stands for in microseconds since the epoch, given the
//! year and the UTC offset that a BSD timestamp leaves out.
//!
//! Most lines fall in the hour (BSD, RFC 3339) or on the date (rspamd's file) of the line
//! before: a clock remembers the last one's bytes and what they stood for, so the next line
//! of that hour only reads its minutes and seconds.

use chrono::{Local, LocalResult, NaiveDate, Offset, TimeZone};

use super::Micros;
use super::digits::{THREES, all_digits, digit, eight_digits, two_digits};

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
    /// Fixed offset (seconds east of UTC) for timestamps without a zone; `None`: the host's
    /// time zone.
    fixed_offset: Option<i32>,
    /// (days since epoch, hour) -> offsets, so that the time zone is asked once an hour.
    cached_offset: Option<(i64, u32, Offsets)>,
    /// Where the log stands in a repeated hour of local time.
    fold: Fold,
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

/// The UTC offsets (seconds east) of a local hour: two when the hour is repeated (daylight
/// saving time falls back: the hour is lived first at the earlier offset, then at the later),
/// else one, twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offsets {
    earlier: i32,
    later: i32,
}

impl Offsets {
    fn one(offset: i32) -> Offsets {
        Offsets {
            earlier: offset,
            later: offset,
        }
    }

    fn repeated(self) -> bool {
        self.earlier != self.later
    }
}

/// Where a log stands in a repeated local hour. A log does not go back an hour: its lines in
/// the repeated hour are read at the earlier offset until their local time goes back (by more
/// than [`FOLD_JITTER`]), and from then on at the later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// In no repeated hour.
    None,
    /// In the first pass of the repeated hour `hour` of day `days`; `latest`: the latest
    /// second into that hour read so far.
    First { days: i64, hour: u32, latest: u32 },
    /// In its second pass.
    Second { days: i64, hour: u32 },
}

/// How far a line may be behind the one before it (in seconds) and still be in the same pass
/// of a repeated hour: lines from several processes come slightly out of order, and the clock
/// going back by the repeated hour goes back much more.
const FOLD_JITTER: u32 = 300;

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

/// What a [`Clock`] carries from one timestamp without a zone to the next: the year it stands
/// in and the month of the last one (the year turns when December is followed by January),
/// and, in a repeated hour of local time, which pass of it the log is in. Everything else a
/// clock keeps is a setting (the time zone, today's date for inferring the year) or a cache.
/// It changes at New Year and on the lines of a repeated hour, and stays the same otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearState {
    year: Option<i32>,
    last_month: u32,
    fold: Fold,
}

impl Clock {
    pub fn year_state(&self) -> YearState {
        YearState {
            year: self.year,
            last_month: self.last_month,
            fold: self.fold,
        }
    }

    /// Continues from another clock's year state (one that read the lines just before).
    pub fn set_year_state(&mut self, state: YearState) {
        if state != self.year_state() {
            self.year = state.year;
            self.last_month = state.last_month;
            self.fold = state.fold;
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
            fold: Fold::None,
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

    /// The clock that reads a log: `year` from `--year` (else inferred from today's date), and
    /// timestamps without a zone (BSD, rspamd's own file) at `utc_offset` seconds east of UTC
    /// (`--utc`: 0) or else in the host's time zone. Every line of a run, whatever log it comes
    /// from, is to be read by the one clock built here from the run's settings: two clocks
    /// would place the same text at different times, and lines of one log would no longer meet
    /// those of another.
    pub fn for_logs(year: Option<i32>, utc_offset: Option<i32>) -> Clock {
        use chrono::Datelike;
        let now = Local::now();
        let clock = Clock::new(year, (now.year(), now.month()));
        match utc_offset {
            Some(offset) => clock.with_fixed_offset(offset),
            None => clock,
        }
    }

    /// Interpret timestamps without a zone at a fixed UTC offset (tests, or `--utc` logs).
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

    /// The offsets of the local `hour` of `date` (`days` since the epoch).
    fn offsets_for(&mut self, days: i64, hour: u32, date: (i32, u32, u32)) -> Offsets {
        if let Some(fixed) = self.fixed_offset {
            return Offsets::one(fixed);
        }
        if let Some((d, h, offsets)) = self.cached_offset
            && d == days
            && h == hour
        {
            return offsets;
        }
        let offset = |dt: chrono::DateTime<Local>| dt.offset().fix().local_minus_utc();
        // Asked in the middle of the hour: chrono counts the instant a repeated hour ends
        // (`03:00:00` after `02:59:59` the second time) as repeated too.
        let offsets = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
            .and_then(|d| d.and_hms_opt(hour, 30, 0))
            .map(|naive| match Local.from_local_datetime(&naive) {
                LocalResult::Single(dt) => Offsets::one(offset(dt)),
                // The hour is lived first at the greater offset (summer time), then at the
                // smaller; chrono does not order the two by instant.
                LocalResult::Ambiguous(a, b) => Offsets {
                    earlier: offset(a).max(offset(b)),
                    later: offset(a).min(offset(b)),
                },
                // Skipped (daylight saving time springs forward): read as if the clock had not
                // jumped yet, at the offset of the hour before, so that the log stays in order.
                LocalResult::None => Local
                    .from_local_datetime(&(naive - chrono::TimeDelta::hours(1)))
                    .earliest()
                    .map_or(Offsets::one(0), |dt| Offsets::one(offset(dt))),
            })
            .unwrap_or(Offsets::one(0));
        self.cached_offset = Some((days, hour, offsets));
        offsets
    }

    /// The offset of a local time, `secs` into the `hour` of `date`: in a repeated hour, the
    /// earlier offset until the log's local time goes back, then the later ([`Fold`]).
    pub(super) fn offset_for(
        &mut self,
        days: i64,
        hour: u32,
        secs: u32,
        date: (i32, u32, u32),
    ) -> i32 {
        let offsets = self.offsets_for(days, hour, date);
        if !offsets.repeated() {
            if let Fold::First {
                days: d, hour: h, ..
            }
            | Fold::Second { days: d, hour: h } = self.fold
                && (days, hour) > (d, h)
            {
                // Past the repeated hour.
                self.fold = Fold::None;
            }
            return offsets.earlier;
        }
        let (fold, offset) = match self.fold {
            Fold::Second { days: d, hour: h } if (d, h) == (days, hour) => {
                (self.fold, offsets.later)
            }
            Fold::First {
                days: d,
                hour: h,
                latest,
            } if (d, h) == (days, hour) => {
                if secs + FOLD_JITTER < latest {
                    (Fold::Second { days, hour }, offsets.later)
                } else {
                    let latest = latest.max(secs);
                    (Fold::First { days, hour, latest }, offsets.earlier)
                }
            }
            _ => (
                Fold::First {
                    days,
                    hour,
                    latest: secs,
                },
                offsets.earlier,
            ),
        };
        self.fold = fold;
        offset
    }

    /// The BSD timestamp at the start of `b` if it is in the hour of the last one stamped:
    /// (micros, length). `None` when it is not (or is malformed): [`bsd_time`] then decides.
    ///
    /// Reads nothing but the clock, as a line whose tag turns out malformed must not move it;
    /// and needs no [`Clock::stamp`], since the same month leaves the year inference as it is.
    #[inline]
    pub(super) fn same_hour(&self, b: &[u8]) -> Option<(Micros, usize)> {
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

    pub(super) fn stamp(&mut self, t: BsdTime) -> Micros {
        let year = self.year_for(t.month);
        let days = self.days(year, t.month, t.day);
        let hour = t.secs / 3600;
        let offset = self.offset_for(days, hour, t.secs % 3600, (year, t.month, t.day));
        let base = (days * 86_400 + i64::from(hour * 3600) - i64::from(offset)) * 1_000_000;
        // Not after a leap second `HH:59:60`: that was the next hour's start, not `HH`'s; nor in
        // a repeated hour, whose lines each decide their pass; and the hour remembered before it
        // is forgotten, since this line may have turned the year.
        let repeated = self
            .offsets_for(days, hour, (year, t.month, t.day))
            .repeated();
        self.bsd_hour = (hour == t.hour && !repeated).then_some(BsdHour {
            head: t.head,
            tpos: t.tpos,
            base,
        });
        base + i64::from(t.secs % 3600) * 1_000_000 + i64::from(t.micros)
    }

    /// `YYYY-MM-DD` at the start of `b`: the date and its days since the epoch.
    #[inline]
    pub(super) fn iso_date(&mut self, b: &[u8]) -> Option<((i32, u32, u32), i64)> {
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
pub(super) struct BsdTime {
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
pub(super) fn bsd_time(b: &[u8]) -> Option<(BsdTime, usize)> {
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

/// Parses `HH:MM:SS[.frac]` at the start of `b`; returns (seconds of day, micros, length).
#[inline]
pub(super) fn time_of_day(b: &[u8]) -> Option<(u32, u32, usize)> {
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
pub(super) fn rfc3339(s: &str, clock: &mut Clock) -> Option<(Micros, usize)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::parse;
    use crate::envelope::test_time::{at, utc};

    #[test]
    fn for_logs_takes_the_year_and_the_offset() {
        let mut c = Clock::for_logs(Some(2025), Some(-3600));
        let l = parse("Nov 23 12:00:00 h p[1]: x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2025, 11, 23, 13, 0, 0));
        // rspamd's own file has no zone either: the same offset.
        let l = parse("2025-11-23 12:00:00 #1(normal) <a>; task; x", &mut c).unwrap();
        assert_eq!(l.timestamp, at(2025, 11, 23, 13, 0, 0));
        // Without an offset, the host's zone: as `Clock::new` reads it.
        let line = "Mar 30 02:30:00 h p[1]: x";
        assert_eq!(
            parse(line, &mut Clock::for_logs(Some(2025), None)),
            parse(line, &mut Clock::new(Some(2025), (2025, 11)))
        );
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
}
