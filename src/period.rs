//! Periods: one calendar month in the bank's time zone, quarters of them,
//! ranges, and how a period is written in paths, partitions and report file
//! names. Every other module asks this one.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// The partition column of periodic tables (`YYYY-MM` text).
pub const COLUMN: &str = "period";

/// The period key of a snapshot source's bookkeeping rows (it has no period).
pub const SNAPSHOT: &str = "snapshot";

/// A period as bookkeeping tables key it: `YYYY-MM`, or [`SNAPSHOT`].
pub fn key_of(period: Option<Period>) -> String {
    period
        .map(|p| p.to_string())
        .unwrap_or_else(|| SNAPSHOT.into())
}

/// A period given on the command line or in a file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not a period; write it as YYYY-MM, e.g. 2024-06")]
    NotAPeriod(String),
    #[error("`{0}`: the range ends before it starts")]
    Backwards(String),
    #[error("`{0}` is not a quarter")]
    NotAQuarter(String),
    #[error("`{0}`: this report is monthly")]
    Monthly(String),
    #[error("`{given}` does not end a quarter")]
    NotQuarterEnd { given: String, quarter: String },
}

impl Error {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Error::NotAPeriod(_) | Error::Backwards(_) => {
                "e.g. --period 2024-06 or --period 2024-01..2024-12".into()
            }
            Error::NotAQuarter(_) => "e.g. --period 2024-Q4".into(),
            Error::Monthly(_) => "e.g. --period 2024-12".into(),
            Error::NotQuarterEnd { quarter, .. } => format!("e.g. --period {quarter}"),
        })
    }
}

/// How often a report (or anything periodic above months) comes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cadence {
    #[default]
    Month,
    Quarter,
}

impl Cadence {
    /// `2024-12`, or for quarters `2024-Q4` (or the quarter's last month).
    /// A quarter is named by its last month.
    pub fn parse(self, s: &str) -> Result<Period, Error> {
        if let Some((y, q)) = s.split_once("-Q") {
            let (Ok(year), Ok(q)) = (y.parse::<i32>(), q.parse::<u32>()) else {
                return Err(Error::NotAQuarter(s.into()));
            };
            if self != Cadence::Quarter || !(1..=4).contains(&q) {
                return Err(Error::Monthly(s.into()));
            }
            return Ok(Period { year, month: q * 3 });
        }
        let p: Period = s.parse()?;
        if self == Cadence::Quarter && !p.month.is_multiple_of(3) {
            return Err(Error::NotQuarterEnd {
                given: s.into(),
                quarter: format!("{}-Q{}", p.year, p.month.div_ceil(3)),
            });
        }
        Ok(p)
    }

    /// How a period of this cadence is written: `2024-12` or `2024-Q4`.
    pub fn key(self, period: Period) -> String {
        match self {
            Cadence::Month => period.to_string(),
            Cadence::Quarter => format!("{}-Q{}", period.year, period.month.div_ceil(3)),
        }
    }

    /// The months a period of this cadence covers, oldest first.
    pub fn months(self, period: Period) -> Vec<Period> {
        (0..self.step()).rev().map(|i| period.back(i)).collect()
    }

    /// Months from one period of this cadence to the next.
    pub fn step(self) -> u32 {
        match self {
            Cadence::Month => 1,
            Cadence::Quarter => 3,
        }
    }

    /// The latest period of this cadence that ends no later than `month`.
    pub fn last_complete(self, month: Period) -> Period {
        let mut p = month;
        while self == Cadence::Quarter && !p.month.is_multiple_of(3) {
            p = p.prev();
        }
        p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl FromStr for Period {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::NotAPeriod(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period { year, month })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Period {
    pub fn of(d: NaiveDate) -> Self {
        Period {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    pub fn next(&self) -> Self {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(&self) -> Self {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The period `n` months before this one.
    pub fn back(&self, n: u32) -> Self {
        (0..n).fold(*self, |p, _| p.prev())
    }

    /// The period `n` months after this one.
    pub fn forward(&self, n: u32) -> Self {
        (0..n).fold(*self, |p, _| p.next())
    }

    /// Whole months from `self` to `later` (negative when `later` is earlier).
    pub fn months_until(&self, later: Period) -> i64 {
        i64::from(later.year - self.year) * 12 + i64::from(later.month) - i64::from(self.month)
    }

    pub fn last_day(&self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or_default()
    }

    /// Parse `2024-01` or an inclusive range `2024-01..2024-12`.
    pub fn parse_range(s: &str) -> Result<Vec<Period>, Error> {
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a.parse::<Period>()?, b.parse::<Period>()?),
            None => {
                let p = s.parse::<Period>()?;
                (p, p)
            }
        };
        if b < a {
            return Err(Error::Backwards(s.to_string()));
        }
        let mut out = vec![a];
        while *out.last().unwrap_or(&b) < b {
            let n = out.last().map(|p| p.next()).unwrap_or(b);
            out.push(n);
        }
        Ok(out)
    }

    /// Fill `{period}`, `{yyyy}`, `{mm}`, `{yyyymm}` in a path pattern.
    pub fn expand(&self, pattern: &str) -> String {
        pattern
            .replace("{period}", &self.to_string())
            .replace("{yyyymm}", &format!("{:04}{:02}", self.year, self.month))
            .replace("{yyyy}", &format!("{:04}", self.year))
            .replace("{mm}", &format!("{:02}", self.month))
    }
}

pub const PLACEHOLDERS: [&str; 4] = ["{period}", "{yyyymm}", "{yyyy}", "{mm}"];

/// The pattern with placeholders replaced by wildcards: matches every period.
/// A placeholder next to a `*` adds none (`{period}*` is `*`, not the
/// recursive `**`).
pub fn any_period(pattern: &str) -> String {
    const MARK: char = '\u{0}';
    let marked = PLACEHOLDERS
        .iter()
        .fold(pattern.to_string(), |p, ph| p.replace(ph, "\u{0}"));
    let mut out = String::with_capacity(marked.len());
    // Whether the last character out is a `*`, and whether a placeholder made it.
    let (mut star, mut from_mark) = (false, false);
    for c in marked.chars() {
        match c {
            MARK if star => {}
            MARK => {
                out.push('*');
                (star, from_mark) = (true, true);
            }
            '*' if from_mark => from_mark = false,
            c => {
                out.push(c);
                (star, from_mark) = (c == '*', false);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_expands() {
        let p: Period = "2024-02".parse().expect("period");
        assert_eq!(
            p.last_day(),
            NaiveDate::from_ymd_opt(2024, 2, 29).expect("date")
        );
        assert_eq!(
            p.expand("a/{yyyy}/{mm}/x_{yyyymm}_{period}.csv"),
            "a/2024/02/x_202402_2024-02.csv"
        );
        assert_eq!(
            Period::parse_range("2023-11..2024-02")
                .expect("range")
                .len(),
            4
        );
        assert!("2024-13".parse::<Period>().is_err());
        assert_eq!(any_period("s/{period}*.parquet"), "s/*.parquet");
        assert_eq!(any_period("a/{yyyy}/{mm}/x_*.csv"), "a/*/*/x_*.csv");
        assert_eq!(any_period("a/**/x_{period}.csv"), "a/**/x_*.csv");
        assert_eq!(any_period("a/*{mm}/x.csv"), "a/*/x.csv");
        assert!(Period::parse_range("2024-05..2024-01").is_err());
    }

    #[test]
    fn quarters() {
        let q = Cadence::Quarter;
        let dec = Period {
            year: 2024,
            month: 12,
        };
        assert_eq!(q.parse("2024-Q4"), Ok(dec));
        assert_eq!(q.parse("2024-12"), Ok(dec));
        assert!(matches!(
            q.parse("2024-11"),
            Err(Error::NotQuarterEnd { .. })
        ));
        assert!(matches!(
            Cadence::Month.parse("2024-Q4"),
            Err(Error::Monthly(_))
        ));
        assert!(matches!(q.parse("2024-Qx"), Err(Error::NotAQuarter(_))));
        assert_eq!(q.key(dec), "2024-Q4");
        assert_eq!(Cadence::Month.key(dec), "2024-12");
        let months: Vec<String> = q.months(dec).iter().map(|p| p.to_string()).collect();
        assert_eq!(months, ["2024-10", "2024-11", "2024-12"]);
        assert_eq!(
            q.last_complete(Period {
                year: 2025,
                month: 2
            }),
            dec
        );
        assert_eq!(dec.back(12).to_string(), "2023-12");
        assert_eq!(dec.back(12).months_until(dec), 12);
    }
}
