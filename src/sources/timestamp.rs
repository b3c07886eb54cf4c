//! Date and timestamp text → UTC, fast. chrono re-reads its format string
//! for every value and looks the offset up in the zone's history for every
//! row; extracts hold millions of values in a handful of fixed-width
//! layouts, so a layout made only of `%Y %m %d %H %M %S` and literal
//! characters is compiled once and read digit by digit, and a day's UTC
//! offset is remembered while it cannot change within the day. Anything else
//! (other specifiers, lenient widths, invalid dates) goes to chrono, which
//! also words the errors: the fast path only ever accepts what chrono
//! accepts, with the same result.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Item {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Literal(u8),
}

/// A compiled fixed-width layout.
#[derive(Clone, Debug)]
pub struct Layout {
    items: Vec<Item>,
    width: usize,
}

impl Layout {
    /// `None` when the format has anything but the six numeric fields and
    /// literal ASCII. (chrono reads a space as any run of whitespace; here
    /// it is exactly one space, a subset of what chrono accepts.)
    pub fn compile(format: &str) -> Option<Layout> {
        let mut items = Vec::new();
        let mut bytes = format.bytes();
        while let Some(b) = bytes.next() {
            let item = if b == b'%' {
                match bytes.next()? {
                    b'Y' => Item::Year,
                    b'm' => Item::Month,
                    b'd' => Item::Day,
                    b'H' => Item::Hour,
                    b'M' => Item::Minute,
                    b'S' => Item::Second,
                    _ => return None,
                }
            } else if b == b' ' || (b.is_ascii_graphic() && !b.is_ascii_digit()) {
                Item::Literal(b)
            } else {
                return None;
            };
            items.push(item);
        }
        let width = items
            .iter()
            .map(|i| match i {
                Item::Year => 4,
                Item::Literal(_) => 1,
                _ => 2,
            })
            .sum();
        Some(Layout { items, width })
    }

    /// The fields of `s` (already trimmed), or `None` to fall back.
    fn fields(&self, s: &str) -> Option<[u32; 6]> {
        let b = s.as_bytes();
        if b.len() != self.width {
            return None;
        }
        // year, month, day, hour, minute, second; a date-only layout leaves
        // the time at midnight.
        let mut f = [0u32, 0, 0, 0, 0, 0];
        let mut seen = [false; 6];
        let mut at = 0;
        let digits = |at: usize, n: usize| -> Option<u32> {
            b[at..at + n].iter().try_fold(0u32, |v, &d| {
                d.is_ascii_digit().then(|| v * 10 + u32::from(d - b'0'))
            })
        };
        for item in &self.items {
            let (slot, n) = match item {
                Item::Literal(l) => {
                    if b[at] != *l {
                        return None;
                    }
                    at += 1;
                    continue;
                }
                Item::Year => (0, 4),
                Item::Month => (1, 2),
                Item::Day => (2, 2),
                Item::Hour => (3, 2),
                Item::Minute => (4, 2),
                Item::Second => (5, 2),
            };
            // A field twice: leave the conflict to chrono.
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
            f[slot] = digits(at, n)?;
            at += n;
        }
        // chrono needs the whole date; a time needs at least the hour and
        // minute.
        let time_ok = if seen[3] {
            seen[4]
        } else {
            !seen[4] && !seen[5]
        };
        (seen[0] && seen[1] && seen[2] && time_ok).then_some(f)
    }

    pub fn date(&self, s: &str) -> Option<NaiveDate> {
        let f = self.fields(s)?;
        if f[3..].iter().any(|&x| x != 0) {
            return None;
        }
        NaiveDate::from_ymd_opt(f[0] as i32, f[1], f[2])
    }

    pub fn datetime(&self, s: &str) -> Option<NaiveDateTime> {
        let f = self.fields(s)?;
        let d = NaiveDate::from_ymd_opt(f[0] as i32, f[1], f[2])?;
        // A leap second (60) is chrono's to handle.
        let t = NaiveTime::from_hms_opt(f[3], f[4], f[5])?;
        Some(d.and_time(t))
    }
}

/// Local time → UTC in one zone, remembering the last day's offset when it
/// is the same at the start, middle and end of that day (so no transition
/// falls inside it; zones move their clocks at most twice a year, never
/// there and back within a day).
#[derive(Debug, Clone)]
pub struct Zone {
    tz: Tz,
    day: Option<(NaiveDate, i64)>,
}

impl Zone {
    pub fn new(tz: Tz) -> Self {
        Zone { tz, day: None }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Microseconds since the epoch, UTC; `None` when the local time does
    /// not exist (a spring-forward gap). An ambiguous time takes the
    /// earlier instant.
    pub fn to_utc_micros(&mut self, local: NaiveDateTime) -> Option<i64> {
        let date = local.date();
        if self.day.is_none_or(|(d, _)| d != date) {
            self.day = self.steady_offset(date).map(|o| (date, o));
        }
        match self.day {
            Some((_, offset)) => {
                Some((local.and_utc().timestamp() - offset) * 1_000_000 + micros_of(local))
            }
            None => self
                .tz
                .from_local_datetime(&local)
                .earliest()
                .map(|d| d.with_timezone(&Utc).timestamp_micros()),
        }
    }

    fn steady_offset(&self, date: NaiveDate) -> Option<i64> {
        let at = |h, m, s| {
            let t = NaiveTime::from_hms_opt(h, m, s)?;
            self.tz
                .from_local_datetime(&date.and_time(t))
                .single()
                .map(|d| i64::from(d.offset().fix().local_minus_utc()))
        };
        let (a, b, c) = (at(0, 0, 0)?, at(12, 0, 0)?, at(23, 59, 59)?);
        (a == b && b == c).then_some(a)
    }
}

fn micros_of(t: NaiveDateTime) -> i64 {
    i64::from(t.and_utc().timestamp_subsec_micros())
}

/// The UTC instants `[start, end)` of a local calendar range in `tz`, when
/// both ends exist unambiguously (else `None`: check row by row).
pub fn utc_range(tz: Tz, first: NaiveDate, next: NaiveDate) -> Option<(i64, i64)> {
    let at = |d: NaiveDate| -> Option<i64> {
        let local = d.and_hms_opt(0, 0, 0)?;
        tz.from_local_datetime(&local)
            .single()
            .map(|x: DateTime<Tz>| x.with_timezone(&Utc).timestamp_micros())
    };
    Some((at(first)?, at(next)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with chrono wherever it answers, and answers
    /// for the layouts extracts use.
    #[test]
    fn layouts_agree_with_chrono() {
        let cases = [
            ("%Y-%m-%d %H:%M:%S", "2024-01-03 09:00:00", true),
            ("%d/%m/%Y %H:%M:%S", "03/01/2024 09:05:59", true),
            ("%Y%m%d%H%M%S", "20240229235959", true),
            ("%Y-%m-%d %H:%M:%S", "2024-02-30 10:00:00", false), // no such day
            ("%Y-%m-%d %H:%M:%S", "2024-13-01 10:00:00", false),
            ("%Y-%m-%d %H:%M:%S", "2024-1-03 09:00:00", false), // chrono's lenient width
            ("%Y-%m-%d %H:%M:%S", "2024-01-03 09:00:60", false), // leap second
            ("%Y-%m-%d %H:%M:%S", "2024-01-03T09:00:00", false),
            ("%Y-%m-%d %H:%M:%S", "2024-01-03  09:00:00", false), // chrono: any whitespace
            ("%Y-%m-%d %H:%M", "2024-01-03 09:07", true),
        ];
        for (fmt, s, fast) in cases {
            let layout = Layout::compile(fmt).expect("compiles");
            let got = layout.datetime(s);
            assert_eq!(got.is_some(), fast, "{fmt} {s}");
            if let Some(g) = got {
                assert_eq!(Some(g), NaiveDateTime::parse_from_str(s, fmt).ok(), "{s}");
            }
        }
        let d = Layout::compile("%d.%m.%Y").expect("compiles");
        assert_eq!(d.date("29.02.2024"), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(d.date("29.02.2023"), None);
        // Not compiled: chrono handles these.
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S %z",
            "%b %d %Y",
            "%y%m%d",
        ] {
            assert!(Layout::compile(fmt).is_none(), "{fmt}");
        }
    }

    /// The remembered offset gives chrono's answer on ordinary days, on
    /// the days clocks change, and in the gap and overlap.
    #[test]
    fn zone_matches_chrono_across_transitions() {
        for tz in [
            chrono_tz::Asia::Hong_Kong,
            chrono_tz::Europe::London,
            chrono_tz::America::New_York,
        ] {
            let mut zone = Zone::new(tz);
            let start = NaiveDate::from_ymd_opt(2024, 3, 1).expect("date");
            // Every 20 minutes across March and October-November 2024.
            for days in (0..45).chain(210..250) {
                let day = start + chrono::Days::new(days);
                for minute in (0..24 * 60).step_by(20) {
                    let local = day.and_hms_opt(minute / 60, minute % 60, 7).expect("time");
                    let want = tz
                        .from_local_datetime(&local)
                        .earliest()
                        .map(|d| d.with_timezone(&Utc).timestamp_micros());
                    assert_eq!(zone.to_utc_micros(local), want, "{tz} {local}");
                }
            }
        }
    }

    #[test]
    fn month_bounds_in_utc() {
        let hk = chrono_tz::Asia::Hong_Kong;
        let (a, b) = utc_range(
            hk,
            NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
            NaiveDate::from_ymd_opt(2024, 2, 1).expect("date"),
        )
        .expect("range");
        // Hong Kong is UTC+8: the month starts at 16:00 UTC the day before.
        let want = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("ts")
                .timestamp_micros()
        };
        assert_eq!(a, want("2023-12-31T16:00:00Z"));
        assert_eq!(b, want("2024-01-31T16:00:00Z"));
    }
}
