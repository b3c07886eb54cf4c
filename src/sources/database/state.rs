//! What a database source's runs remember between them: the high-water
//! mark of its cursor and how many incremental runs ago its keys were last
//! compared with the database's. Kept as JSON in `_loaded_files.version`
//! (one row per source and period), so it is committed with the run's
//! other bookkeeping: a failed or killed run leaves the mark where it was.

use super::Lookback;
use serde::{Deserialize, Serialize};

/// The kind of value a cursor holds, as the database stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// An instant (`timestamptz`): microseconds since 1970-01-01 UTC.
    Instant,
    /// A wall-clock time without a zone (`timestamp`): microseconds since
    /// 1970-01-01 00:00 in its own clock.
    Local,
    /// A date: days since 1970-01-01.
    Date,
    /// A whole number (a change sequence).
    Int,
}

/// The greatest cursor value a run read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub kind: MarkKind,
    pub value: i64,
}

const DAY_MICROS: i64 = 86_400_000_000;

impl Mark {
    /// The later of two marks (of the same kind).
    pub fn max(a: Option<Mark>, b: Option<Mark>) -> Option<Mark> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if y.value > x.value { y } else { x }),
            (x, None) => x,
            (None, y) => y,
        }
    }

    /// The mark moved back by the lookback (never below the smallest value).
    pub fn back(self, l: Lookback) -> Mark {
        let by = match (l, self.kind) {
            (Lookback::None, _) => 0,
            (Lookback::Units(u), _) => u,
            // A date cursor goes back whole days, rounding up.
            (Lookback::Micros(us), MarkKind::Date) => (us + DAY_MICROS - 1) / DAY_MICROS,
            (Lookback::Micros(us), _) => us,
        };
        Mark {
            kind: self.kind,
            value: self.value.saturating_sub(by),
        }
    }

    /// For people: `2024-06-01 10:00:00.5 UTC`, `2024-06-01`, `1234`.
    pub fn display(&self) -> String {
        let t = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|d| d.naive_utc().to_string())
                .unwrap_or_else(|| us.to_string())
        };
        match self.kind {
            MarkKind::Instant => format!("{} UTC", t(self.value)),
            MarkKind::Local => t(self.value),
            MarkKind::Date => chrono::DateTime::from_timestamp(self.value * 86_400, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_else(|| self.value.to_string()),
            MarkKind::Int => self.value.to_string(),
        }
    }
}

/// A database source's state after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The high-water mark: the greatest cursor value read so far.
    pub mark: Option<Mark>,
    /// Incremental runs since every key was last compared (deletes by
    /// reconcile); a full read resets it.
    pub runs: u32,
}

impl State {
    /// A state as `_loaded_files.version` holds it; `None` if it is not one.
    pub fn parse(text: &str) -> Option<State> {
        serde_json::from_str(text).ok()
    }

    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_move_back() {
        let m = Mark {
            kind: MarkKind::Instant,
            value: 1_717_236_000_000_000,
        };
        let s = State {
            mark: Some(m),
            runs: 3,
        };
        assert_eq!(State::parse(&s.text()), Some(s));
        assert_eq!(State::parse("1712345678"), None);
        assert_eq!(
            m.back(Lookback::Micros(3_600_000_000)).value,
            m.value - 3_600_000_000
        );
        let d = Mark {
            kind: MarkKind::Date,
            value: 19_875,
        };
        // 1h back on a date cursor is a whole day.
        assert_eq!(d.back(Lookback::Micros(3_600_000_000)).value, 19_874);
        assert_eq!(d.display(), "2024-06-01");
        assert_eq!(m.display(), "2024-06-01 10:00:00 UTC");
        let low = Mark {
            kind: MarkKind::Int,
            value: i64::MIN + 1,
        };
        assert_eq!(low.back(Lookback::Units(5)).value, i64::MIN);
        assert_eq!(Mark::max(Some(d), None), Some(d));
    }
}
