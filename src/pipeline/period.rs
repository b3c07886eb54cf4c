//! A reporting period: one calendar month in the bank's time zone.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a period; write it as YYYY-MM, e.g. 2024-06");
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

    pub fn last_day(&self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or_default()
    }

    /// Parse `2024-01` or an inclusive range `2024-01..2024-12`.
    pub fn parse_range(s: &str) -> Result<Vec<Period>, String> {
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a.parse::<Period>()?, b.parse::<Period>()?),
            None => {
                let p = s.parse::<Period>()?;
                (p, p)
            }
        };
        if b < a {
            return Err(format!("`{s}`: the range ends before it starts"));
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
}
