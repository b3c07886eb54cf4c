//! Calendar and timestamp helpers for the simulated window.
//!
//! All local times are Asia/Hong_Kong (UTC+8, no daylight saving). Days are
//! addressed by their offset from the first day of the window; civil dates
//! are converted with Howard Hinnant's `days_from_civil` algorithm so that
//! formatting a timestamp never needs a time-zone database.

use std::fmt::Write as _;

/// Offset of Hong Kong local time from UTC, in seconds.
pub(crate) const HK_OFFSET_SECS: i64 = 8 * 3600;

/// One simulated day.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Day {
    /// Offset from the first day of the window.
    pub index: i32,
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// 0 = Monday .. 6 = Sunday.
    pub weekday: u32,
    pub days_in_month: u32,
    /// UTC epoch seconds of local midnight.
    pub midnight_utc: i64,
}

/// The simulated window: `months` whole months from `start_days` (days since 1970-01-01).
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    pub start_days: i64,
    pub days: Vec<Day>,
    /// Index into `days` of the first day of each month, plus one past the end.
    pub month_starts: Vec<usize>,
    /// `YYYY-MM` label of each month.
    pub periods: Vec<String>,
}

impl Calendar {
    pub(crate) fn new(year: i32, month: u32, months: u32) -> Calendar {
        let start_days = days_from_civil(year, month, 1);
        let mut days = Vec::new();
        let mut month_starts = Vec::new();
        let mut periods = Vec::new();
        let (mut y, mut m) = (year, month);
        for _ in 0..months {
            month_starts.push(days.len());
            periods.push(format!("{y:04}-{m:02}"));
            let dim = days_in_month(y, m);
            for d in 1..=dim {
                let abs = days_from_civil(y, m, d);
                days.push(Day {
                    index: (abs - start_days) as i32,
                    year: y,
                    month: m,
                    day: d,
                    weekday: weekday(abs),
                    days_in_month: dim,
                    midnight_utc: abs * 86_400 - HK_OFFSET_SECS,
                });
            }
            if m == 12 {
                y += 1;
                m = 1;
            } else {
                m += 1;
            }
        }
        month_starts.push(days.len());
        Calendar {
            start_days,
            days,
            month_starts,
            periods,
        }
    }

    /// Number of simulated days.
    pub(crate) fn len(&self) -> i32 {
        self.days.len() as i32
    }

    /// The days of month `m` (0-based).
    pub(crate) fn month_days(&self, m: usize) -> &[Day] {
        &self.days[self.month_starts[m]..self.month_starts[m + 1]]
    }

    /// Civil date of a day offset (which may lie outside the window).
    pub(crate) fn civil(&self, offset: i32) -> (i32, u32, u32) {
        civil_from_days(self.start_days + i64::from(offset))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a number of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

pub(crate) fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
pub(crate) fn weekday(days: i64) -> u32 {
    (days + 3).rem_euclid(7) as u32
}

fn hms(secs: u32) -> (u32, u32, u32) {
    (secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYY-MM-DD`.
pub(crate) fn fmt_date(s: &mut String, (y, m, d): (i32, u32, u32)) {
    let _ = write!(s, "{y:04}-{m:02}-{d:02}");
}

/// `YYYY-MM-DD HH:MM:SS` (local).
pub(crate) fn fmt_iso_space(s: &mut String, day: &Day, secs: u32) {
    let (h, mi, se) = hms(secs);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02} {h:02}:{mi:02}:{se:02}",
        day.year, day.month, day.day
    );
}

/// `YYYY-MM-DDTHH:MM:SS+08:00` (local with offset).
pub(crate) fn fmt_rfc3339_hk(s: &mut String, day: &Day, secs: u32) {
    let (h, mi, se) = hms(secs);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{h:02}:{mi:02}:{se:02}+08:00",
        day.year, day.month, day.day
    );
}

/// `DD/MM/YYYY HH:MM:SS` (local).
pub(crate) fn fmt_dmy(s: &mut String, day: &Day, secs: u32) {
    let (h, mi, se) = hms(secs);
    let _ = write!(
        s,
        "{:02}/{:02}/{:04} {h:02}:{mi:02}:{se:02}",
        day.day, day.month, day.year
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ` from UTC epoch seconds.
pub(crate) fn fmt_utc_z(s: &mut String, epoch: i64) {
    let (y, m, d) = civil_from_days(epoch.div_euclid(86_400));
    let (h, mi, se) = hms(epoch.rem_euclid(86_400) as u32);
    let _ = write!(s, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in -30_000..30_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(weekday(days_from_civil(2024, 1, 1)), 0); // Monday
    }

    #[test]
    fn calendar_months() {
        let cal = Calendar::new(2024, 1, 2);
        assert_eq!(cal.len(), 31 + 29);
        assert_eq!(cal.periods, vec!["2024-01", "2024-02"]);
        let mut s = String::new();
        fmt_utc_z(&mut s, cal.days[0].midnight_utc);
        assert_eq!(s, "2023-12-31T16:00:00Z");
        s.clear();
        fmt_dmy(&mut s, &cal.days[40], 3661);
        assert_eq!(s, "10/02/2024 01:01:01");
    }
}
