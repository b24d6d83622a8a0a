//! Timestamp shapes the parsers meet, turned into microseconds since the Unix epoch without
//! allocating and without a calendar library on the hot path: RFC 3339 (and the near variants
//! loggers write), BSD `Mmm dd hh:mm:ss` with the year inferred, and epoch numbers in JSON.
//!
//! Shape and value are checked separately: `Nov 31 10:00:00` has the shape of a BSD timestamp
//! (the parser knows where the header goes on) but no valid value (the record gets no timestamp
//! and `Issues::bad_timestamp`).

use super::ParseContext;

const MICROS: i64 = 1_000_000;
const DAY_SECS: i64 = 86_400;
/// A timestamp without a year may lie this far in the future of the receive time (clock skew
/// between hosts, a relay's buffer); anything later is taken to be from the previous year.
const FUTURE_SLACK_MICROS: i64 = 31 * DAY_SECS * MICROS;

/// The last timestamp converted: its text and result (see `ParseContext::stamp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StampCache {
    text: [u8; 32],
    len: u8,
    micros: Option<i64>,
}

impl StampCache {
    /// Remembers `head[..n]` → `micros`; `None` when the timestamp is too long to keep.
    pub(crate) fn new(head: &[u8], (micros, n): (Option<i64>, usize)) -> Option<Self> {
        let mut text = [0u8; 32];
        text.get_mut(..n)?.copy_from_slice(head.get(..n)?);
        Some(StampCache {
            text,
            len: u8::try_from(n).ok()?,
            micros,
        })
    }

    /// The remembered result if `head` starts with the same timestamp, followed by a space or
    /// the end (so that the parsers would have stopped at the same place).
    pub(crate) fn lookup(&self, head: &[u8]) -> Option<(Option<i64>, usize)> {
        let n = usize::from(self.len);
        // A plain loop: the text is ~20 bytes and a `memcmp` call costs more.
        let same = head
            .get(..n)
            .is_some_and(|h| h.iter().zip(&self.text).all(|(a, b)| a == b));
        (n > 0 && same && matches!(head.get(n), None | Some(b' '))).then_some((self.micros, n))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian year of a day number (inverse of [`days_from_civil`], year only).
pub(crate) fn year_of_day(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400;
    // Months January and February (mp 10, 11) belong to the next civil year.
    if mp >= 10 { y + 1 } else { y }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A wall-clock date and time as written in a log line, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) hour: u8,
    pub(crate) minute: u8,
    pub(crate) second: u8,
    pub(crate) micros: u32,
}

impl Civil {
    /// Microseconds since the epoch when this wall-clock time is at `offset_secs` east of UTC;
    /// `None` when it names no real instant (month 13, `Feb 30`, hour 24). A leap second (`:60`)
    /// is accepted and lands on the next minute's first second, as most loggers expect.
    pub(crate) fn to_micros(self, offset_secs: i64) -> Option<i64> {
        if !(0..=9999).contains(&self.year)
            || !(1..=12).contains(&self.month)
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
        {
            return None;
        }
        let days = days_from_civil(self.year, u32::from(self.month), u32::from(self.day));
        let secs = days * DAY_SECS
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - offset_secs;
        Some(secs * MICROS + i64::from(self.micros))
    }
}

/// `n` ASCII digits at `b[at..]` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// A fraction of a second after the `.`: its microseconds (digits past the sixth are dropped)
/// and the number of bytes it spans (0 when there is no `.digit`).
fn fraction(b: &[u8], at: usize) -> (u32, usize) {
    if b.get(at) != Some(&b'.') {
        return (0, 0);
    }
    let mut micros = 0u32;
    let mut n = 0;
    while let Some(&c) = b.get(at + 1 + n) {
        if !c.is_ascii_digit() {
            break;
        }
        if n < 6 {
            micros = micros * 10 + u32::from(c - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..6 {
        micros *= 10;
    }
    (micros, n + 1)
}

/// An RFC 3339-like timestamp: `YYYY-MM-DD(T|t| )hh:mm:ss[.frac][Z|z|±hh:mm|±hhmm]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Iso {
    civil: Civil,
    /// Seconds east of UTC when the timestamp names its offset; `Err(())` when it names an
    /// impossible one (`+25:00`).
    offset: Option<Result<i64, ()>>,
}

impl Iso {
    /// Microseconds since the epoch; a timestamp without offset is taken to be local time.
    pub(crate) fn to_micros(self, local_offset_secs: i64) -> Option<i64> {
        let offset = match self.offset {
            None => local_offset_secs,
            Some(Ok(o)) => o,
            Some(Err(())) => return None,
        };
        self.civil.to_micros(offset)
    }
}

/// Parses an RFC 3339-like timestamp at the start of `b`; returns it and the bytes it spans,
/// or `None` when `b` does not start with that shape.
pub(crate) fn parse_iso(b: &[u8]) -> Option<(Iso, usize)> {
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(13) != Some(&b':') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(16) != Some(&b':') {
        return None;
    }
    let (month, day) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let (micros, flen) = fraction(b, 19);
    let mut pos = 19 + flen;
    let offset = match b.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            Some(Ok(0))
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(b, pos + 1, 2)?;
            let (mm, len) = match b.get(pos + 3) {
                Some(b':') => (digits(b, pos + 4, 2)?, 6),
                _ => (digits(b, pos + 3, 2)?, 5),
            };
            pos += len;
            if hh > 23 || mm > 59 {
                Some(Err(()))
            } else {
                let secs = i64::from(hh * 3600 + mm * 60);
                Some(Ok(if sign == b'-' { -secs } else { secs }))
            }
        }
        _ => None,
    };
    // Every component was at most four digits: the narrowing casts cannot truncate a value
    // that validation would accept, and larger ones (`99`) stay invalid after the cast.
    let civil = Civil {
        year: i64::from(year),
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        micros,
    };
    Some((Iso { civil, offset }, pos))
}

pub(crate) fn month_number(b: &[u8]) -> Option<u8> {
    let m = [b.first()? | 0x20, b.get(1)? | 0x20, b.get(2)? | 0x20];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// A BSD syslog timestamp: `Mmm dd hh:mm:ss`, the day space- or zero-padded or bare, optionally
/// with a year after the day (`Nov 23 2026 00:28:48`) and a fraction after the seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bsd {
    civil: Civil,
    has_year: bool,
}

impl Bsd {
    /// Microseconds since the epoch, in the context's local time. Without a year, the latest of
    /// next, this and last year that is at most [`FUTURE_SLACK_MICROS`] after the receive time
    /// (rsyslog and fail2ban do the same): a December line read on January 2nd is last year's,
    /// a January 1st line received on December 31st (sender's clock ahead) is next year's.
    pub(crate) fn to_micros(self, ctx: &ParseContext) -> Option<i64> {
        let offset = i64::from(ctx.utc_offset_secs());
        if self.has_year {
            return self.civil.to_micros(offset);
        }
        let limit = ctx.received_micros().saturating_add(FUTURE_SLACK_MICROS);
        let year = i64::from(ctx.year());
        let at = |y: i64| {
            Civil {
                year: y,
                ..self.civil
            }
            .to_micros(offset)
            .filter(|&t| t <= limit)
        };
        // The current year first: next year's date is a year later, so it can only qualify
        // when this year's is that far back; if this year's is too far ahead, so is next year's.
        let this_year = Civil { year, ..self.civil }.to_micros(offset);
        match this_year {
            Some(t) if t <= limit => {
                if t.saturating_add(365 * DAY_SECS * MICROS) <= limit {
                    return at(year + 1).or(Some(t));
                }
                Some(t)
            }
            Some(_) => at(year - 1),
            // Only February 29th is valid in some years and not others.
            None => at(year + 1).or_else(|| at(year - 1)),
        }
    }
}

/// Parses a BSD timestamp at the start of `b`; returns it and the bytes it spans, or `None`
/// when `b` does not start with that shape.
pub(crate) fn parse_bsd(b: &[u8]) -> Option<(Bsd, usize)> {
    let month = month_number(b)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    // Day: " 3" (RFC 3164), "03" or "3".
    let mut pos = 4;
    if b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let d1 = digits(b, pos, 1)?;
    pos += 1;
    let day = match digits(b, pos, 1) {
        Some(d2) => {
            pos += 1;
            d1 * 10 + d2
        }
        None => d1,
    };
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let mut year = None;
    if let Some(y) = digits(b, pos, 4)
        && b.get(pos + 4) == Some(&b' ')
    {
        year = Some(y);
        pos += 5;
    }
    if b.get(pos + 2) != Some(&b':') || b.get(pos + 5) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (
        digits(b, pos, 2)?,
        digits(b, pos + 3, 2)?,
        digits(b, pos + 6, 2)?,
    );
    let (micros, flen) = fraction(b, pos + 8);
    // Components are at most two digits (the year four): the casts cannot truncate.
    let civil = Civil {
        year: i64::from(year.unwrap_or(0)),
        month,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        micros,
    };
    let bsd = Bsd {
        civil,
        has_year: year.is_some(),
    };
    Some((bsd, pos + 8 + flen))
}

/// An epoch number as JSON loggers write it (`1731221746`, `1731221746.25`, `1731221746250`):
/// seconds, milliseconds, microseconds or nanoseconds told apart by magnitude, as Vector and
/// Elasticsearch do. Negative numbers, exponents and anything before 1973 in seconds are
/// refused rather than guessed.
pub(crate) fn epoch_to_micros(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: i64 = int.parse().ok()?;
    // The fraction of the unit in millionths (digits past the sixth are dropped).
    let mut frac_millionths = 0i64;
    for k in 0..6 {
        let d = frac.as_bytes().get(k).map_or(0, |c| c - b'0');
        frac_millionths = frac_millionths * 10 + i64::from(d);
    }
    if n < 100_000_000 {
        None
    } else if n < 100_000_000_000 {
        Some(n * MICROS + frac_millionths)
    } else if n < 100_000_000_000_000 {
        Some(n * 1000 + frac_millionths / 1000)
    } else if n < 100_000_000_000_000_000 {
        Some(n)
    } else {
        Some(n / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        let mut days = days_from_civil(1900, 1, 1);
        for year in 1900..2300i64 {
            assert_eq!(days_from_civil(year, 1, 1), days, "year {year}");
            assert_eq!(year_of_day(days), year);
            assert_eq!(year_of_day(days - 1), year - 1);
            days += if is_leap(year) { 366 } else { 365 };
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 10), 20_767);
    }

    #[test]
    fn iso_shapes() {
        let (ts, n) = parse_iso(b"2026-11-10T06:55:46Z x").unwrap();
        assert_eq!(n, 20);
        assert_eq!(ts.to_micros(0), Some(1_794_293_746 * MICROS));
        let (ts, n) = parse_iso(b"2026-11-10T08:55:46.5+02:00").unwrap();
        assert_eq!(n, 27);
        assert_eq!(ts.to_micros(0), Some(1_794_293_746 * MICROS + 500_000));
        let (ts, _) = parse_iso(b"2026-11-10 06:55:46-0130").unwrap();
        assert_eq!(ts.to_micros(0), Some((1_794_293_746 + 5400) * MICROS));
        assert!(parse_iso(b"2026-11-10").is_none());
        let (ts, _) = parse_iso(b"2026-02-30T00:00:00Z").unwrap();
        assert_eq!(ts.to_micros(0), None);
        let (ts, _) = parse_iso(b"2026-02-10T00:00:00+24:00").unwrap();
        assert_eq!(ts.to_micros(0), None);
    }

    #[test]
    fn epoch_magnitudes() {
        let s = 1_794_293_746i64;
        assert_eq!(epoch_to_micros("1794293746"), Some(s * MICROS));
        assert_eq!(epoch_to_micros("1794293746.25"), Some(s * MICROS + 250_000));
        assert_eq!(epoch_to_micros("1794293746250"), Some(s * MICROS + 250_000));
        assert_eq!(
            epoch_to_micros("1794293746250001"),
            Some(s * MICROS + 250_001)
        );
        assert_eq!(
            epoch_to_micros("1794293746250001999"),
            Some(s * MICROS + 250_001)
        );
        assert_eq!(epoch_to_micros("12"), None);
        assert_eq!(epoch_to_micros("-1794293746"), None);
        assert_eq!(epoch_to_micros("1e9"), None);
    }
}
