//! Each customer's purchase history, accumulated while transactions
//! stream (constant size per customer, whatever their count), and the
//! output rows.

use super::{Occasion, Result};
use crate::models::analytics::bgnbd::History;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use std::sync::Arc;

pub(super) const MICROS_PER_WEEK: f64 = 7.0 * 86_400.0 * 1e6;

/// One customer's running totals. With `occasion: day` each input row is
/// already one day's purchases (summed by the step's query).
#[derive(Default)]
pub(super) struct Acc {
    pub birth: Option<i64>,
    purchases: u64,
    /// In millionths, so the total does not depend on the order rows arrive in.
    sum_micros: i128,
    /// Earliest purchase (time, amount) and latest purchase time.
    first: Option<(i64, f64)>,
    last: Option<i64>,
    pub holdout: i64,
}

impl Acc {
    /// Count a calibration-period purchase; with births, only those after
    /// it. A birth is the clock's start: at an exact moment a purchase then
    /// is not one of the model's; counted in days, a purchase on the birth
    /// day comes after the day's start and counts.
    pub fn add(&mut self, t: i64, amount: f64, born: bool, occasion: Occasion) {
        let before_birth = |b: i64| match occasion {
            Occasion::Exact => t <= b,
            Occasion::Day => t < b,
        };
        if born && self.birth.is_none_or(before_birth) {
            return;
        }
        self.purchases += 1;
        self.sum_micros += (amount * 1e6).round() as i128;
        // Ties on time keep the smaller amount, whatever the row order.
        if self
            .first
            .is_none_or(|(f, a)| t < f || (t == f && amount < a))
        {
            self.first = Some((t, amount));
        }
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// (history in weeks, mean amount of the repeat purchases). `cal_end`
    /// is the calibration's end: an exclusive instant for exact times, the
    /// last day itself (included) for days.
    pub fn history(
        &self,
        born: bool,
        cal_end: i64,
        occasion: Occasion,
    ) -> Option<(History, Option<f64>)> {
        let week = |d: i64| d as f64 / MICROS_PER_WEEK;
        let (start, x, sum) = if born {
            // The clock starts at birth, with no purchase at that moment.
            (self.birth?, self.purchases, self.sum_micros as f64 / 1e6)
        } else {
            // The first purchase starts the clock and is not a repeat.
            let (t0, a0) = self.first?;
            (t0, self.purchases - 1, self.sum_micros as f64 / 1e6 - a0)
        };
        let too_late = match occasion {
            Occasion::Exact => start >= cal_end,
            Occasion::Day => start > cal_end,
        };
        if too_late {
            return None;
        }
        let t_x = match self.last {
            Some(l) if x > 0 => week(l - start),
            _ => 0.0,
        };
        let mean = (x > 0).then(|| sum / x as f64);
        Some((
            History {
                x: x as f64,
                t_x,
                t: week(cal_end - start),
            },
            mean,
        ))
    }
}

/// The output table's columns, one entry per customer.
#[derive(Default)]
pub(super) struct Rows {
    id: Vec<String>,
    x: Vec<i64>,
    t_x: Vec<f64>,
    t: Vec<f64>,
    monetary: Vec<Option<f64>>,
    alive: Vec<f64>,
    expected: Vec<f64>,
    spend: Vec<f64>,
    clv: Vec<f64>,
    holdout: Vec<i64>,
}

/// What the model says of one history (shared by every customer with it).
#[derive(Clone, Copy)]
pub(super) struct Scored {
    pub alive: f64,
    pub expected: f64,
    /// Σ over the horizon's months of that month's expected purchases,
    /// discounted.
    pub discounted: f64,
    pub expected_holdout: f64,
}

/// One customer's expected spend per purchase and discounted CLV.
pub(super) struct Worth {
    pub spend: f64,
    pub clv: f64,
}

impl Rows {
    pub fn push(
        &mut self,
        id: &str,
        h: &History,
        m: Option<f64>,
        s: &Scored,
        w: Worth,
        holdout: i64,
    ) {
        self.id.push(id.to_string());
        self.x.push(h.x as i64);
        self.t_x.push(h.t_x);
        self.t.push(h.t);
        self.monetary.push(m);
        self.alive.push(s.alive);
        self.expected.push(s.expected);
        self.spend.push(w.spend);
        self.clv.push(w.clv);
        self.holdout.push(holdout);
    }

    pub fn batch(self, schema: &SchemaRef) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.id)),
            Arc::new(Int64Array::from(self.x)),
            Arc::new(Float64Array::from(self.t_x)),
            Arc::new(Float64Array::from(self.t)),
            Arc::new(Float64Array::from(self.monetary)),
            Arc::new(Float64Array::from(self.alive)),
            Arc::new(Float64Array::from(self.expected)),
            Arc::new(Float64Array::from(self.spend)),
            Arc::new(Float64Array::from(self.clv)),
            Arc::new(Int64Array::from(self.holdout)),
        ];
        Ok(RecordBatch::try_new(schema.clone(), cols)
            .map_err(datafusion::error::DataFusionError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .expect("time")
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn first_purchase_starts_the_clock_without_a_birth() {
        // Purchases on days 0, 7 and 21 (amounts 10, 20, 40), calibration
        // ends on day 28: x = 2 repeats, t_x = 3 weeks, T = 4 weeks, the
        // first purchase's amount is not a repeat's: mean (20 + 40) / 2.
        let mut a = Acc::default();
        a.add(micros("2024-01-22 10:00"), 40.0, false, Occasion::Exact);
        a.add(micros("2024-01-01 10:00"), 10.0, false, Occasion::Exact);
        a.add(micros("2024-01-08 10:00"), 20.0, false, Occasion::Exact);
        let (h, m) = a
            .history(false, micros("2024-01-29 10:00"), Occasion::Exact)
            .expect("history");
        assert_eq!((h.x, h.t_x, h.t), (2.0, 3.0, 4.0));
        assert_eq!(m, Some(30.0));
    }

    #[test]
    fn a_birth_starts_the_clock_and_every_later_purchase_counts() {
        let mut a = Acc {
            birth: Some(micros("2024-01-01 00:00")),
            ..Acc::default()
        };
        // At the birth itself: not a purchase of the model (clock start).
        a.add(micros("2024-01-01 00:00"), 99.0, true, Occasion::Exact);
        a.add(micros("2024-01-15 00:00"), 50.0, true, Occasion::Exact);
        let (h, m) = a
            .history(true, micros("2024-01-29 00:00"), Occasion::Exact)
            .expect("history");
        assert_eq!((h.x, h.t_x, h.t), (1.0, 2.0, 4.0));
        assert_eq!(m, Some(50.0));
        // Born after the calibration end: not scored.
        let late = Acc {
            birth: Some(micros("2024-02-01 00:00")),
            ..Acc::default()
        };
        assert!(
            late.history(true, micros("2024-01-29 00:00"), Occasion::Exact)
                .is_none()
        );
        // No purchase and no birth: nothing to score.
        assert!(
            Acc::default()
                .history(false, micros("2024-01-29 00:00"), Occasion::Exact)
                .is_none()
        );
    }

    #[test]
    fn counted_in_days_the_birth_day_and_the_last_day_are_inside() {
        // Days (the step's query hands one row per customer and day): born
        // 1 Jan, buys on 1 Jan (after the day's start: counts), 8 Jan and
        // on 29 Jan, the calibration's last day (included).
        let mut a = Acc {
            birth: Some(micros("2024-01-01 00:00")),
            ..Acc::default()
        };
        for (d, amount) in [
            ("2024-01-01", 10.0),
            ("2024-01-08", 20.0),
            ("2024-01-29", 60.0),
        ] {
            a.add(micros(&format!("{d} 00:00")), amount, true, Occasion::Day);
        }
        let (h, m) = a
            .history(true, micros("2024-01-29 00:00"), Occasion::Day)
            .expect("history");
        // x = 3, t_x = T = 28 days / 7 = 4 weeks, mean (10 + 20 + 60) / 3.
        assert_eq!((h.x, h.t_x, h.t), (3.0, 4.0, 4.0));
        assert_eq!(m, Some(30.0));
        // A first purchase on the calibration's last day: T = 0, scored.
        let mut last_day = Acc::default();
        last_day.add(micros("2024-01-29 00:00"), 5.0, false, Occasion::Day);
        let (h, _) = last_day
            .history(false, micros("2024-01-29 00:00"), Occasion::Day)
            .expect("scored");
        assert_eq!((h.x, h.t_x, h.t), (0.0, 0.0, 0.0));
    }
}
