//! `kind: clv`: customer lifetime value from any transactions table
//! (customer, timestamp or date, amount). BG/NBD for how many purchases a
//! customer will make, Gamma-Gamma for how much each is worth, both by
//! maximum likelihood; per customer: frequency, recency, age, P(alive),
//! expected purchases over the horizon, expected spend and discounted CLV.
//!
//! Times are in weeks of the pipeline's local time. Transactions are
//! aggregated per customer while they stream (memory grows with customers,
//! not transactions); those after `calibration_end` are a hold-out whose
//! actual count is compared with the model's forecast.

use super::analytics::bgnbd::{BgNbd, History};
use super::analytics::gamma_gamma::{GammaGamma, Spend};
use super::record::{MODEL_PARAMS, ParamRow, params_batch};
use super::step::{Built, Problem, check_exists, check_numeric, not_fitted, subquery};
use super::{Error, Result};
use crate::engine::ident;
use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

const MICROS_PER_WEEK: f64 = 7.0 * 86_400.0 * 1e6;
/// 365.25 / 7 / 12.
const WEEKS_PER_MONTH: f64 = 365.25 / 7.0 / 12.0;

/// `kind: clv`'s own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClvSpec {
    /// The CLV horizon in months (default 12).
    pub horizon_months: Option<u32>,
    /// The customer, timestamp (or date) and amount columns.
    pub customer: Option<String>,
    pub at: Option<String>,
    pub amount: Option<String>,
    /// When each customer's clock starts (no purchase at that moment);
    /// without it a customer's first purchase starts the clock.
    pub birth: Option<String>,
    /// The last day of the calibration period (default: the last
    /// transaction's day); later transactions are a hold-out.
    pub calibration_end: Option<String>,
    /// Annual discount rate (default 0.10).
    pub discount_rate: Option<f64>,
    /// Profit per unit of spend (default 1.0: CLV in spend).
    pub margin: Option<f64>,
}

/// [`ClvSpec`]'s keys, in the order help lists them.
pub const KEYS: &[&str] = &[
    "horizon_months",
    "customer",
    "at",
    "amount",
    "birth",
    "calibration_end",
    "discount_rate",
    "margin",
];

#[derive(Debug, Clone)]
pub struct ClvStep {
    pub customer: String,
    pub at: String,
    pub amount: String,
    pub birth: Option<String>,
    pub calibration_end: Option<NaiveDate>,
    pub horizon_months: u32,
    pub discount_rate: f64,
    pub margin: f64,
}

impl ClvStep {
    pub fn from_spec(m: &ClvSpec) -> std::result::Result<ClvStep, Vec<Problem>> {
        let mut problems = Vec::new();
        let calibration_end = match &m.calibration_end {
            None => None,
            Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    problems.push((
                        "calibration_end".into(),
                        format!("`{s}` is not a date"),
                        Some("write it as YYYY-MM-DD, e.g. 2024-09-30".into()),
                    ));
                    None
                }
            },
        };
        let discount_rate = m.discount_rate.unwrap_or(0.10);
        if !(0.0..1.0).contains(&discount_rate) {
            problems.push((
                "discount_rate".into(),
                format!("annual discount rate {discount_rate} is outside 0..1"),
                Some("e.g. 0.10 for 10% a year".into()),
            ));
        }
        let horizon_months = m.horizon_months.unwrap_or(12);
        if horizon_months == 0 || horizon_months > 600 {
            problems.push((
                "horizon_months".into(),
                "the horizon must be 1 to 600 months".into(),
                None,
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ClvStep {
            customer: m.customer.clone().unwrap_or_else(|| "customer_id".into()),
            at: m.at.clone().unwrap_or_else(|| "at".into()),
            amount: m.amount.clone().unwrap_or_else(|| "amount".into()),
            birth: m.birth.clone(),
            calibration_end,
            horizon_months,
            discount_rate,
            margin: m.margin.unwrap_or(1.0),
        })
    }

    pub fn check(&self, input: &Schema) -> Vec<Problem> {
        let mut out = Vec::new();
        check_exists(input, "customer", &self.customer, &mut out);
        check_numeric(input, "amount", &self.amount, &mut out);
        for (key, col) in [("at", Some(&self.at)), ("birth", self.birth.as_ref())] {
            let Some(col) = col else { continue };
            check_exists(input, key, col, &mut out);
            if let Ok(f) = input.field_with_name(col)
                && !matches!(
                    f.data_type(),
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
                )
            {
                out.push((
                    key.into(),
                    format!(
                        "column `{col}` is {}, not a date or timestamp",
                        f.data_type()
                    ),
                    Some("declare it `type: date` or `type: timestamp` in the source".into()),
                ));
            }
        }
        out
    }

    /// Each output column and the input columns whose values it carries:
    /// the customer column; the rest are computed numbers.
    pub fn carries(&self, output: &Schema) -> Vec<(String, Vec<String>)> {
        output
            .fields()
            .iter()
            .map(|f| {
                let n = f.name().clone();
                let from = if n == self.customer {
                    vec![n.clone()]
                } else {
                    Vec::new()
                };
                (n, from)
            })
            .collect()
    }

    pub fn output_schema(&self) -> SchemaRef {
        let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
        Arc::new(Schema::new(vec![
            f(&self.customer, DataType::Utf8, false),
            f("frequency", DataType::Int64, false),
            f("recency_weeks", DataType::Float64, false),
            f("age_weeks", DataType::Float64, false),
            f("monetary", DataType::Float64, true),
            f("p_alive", DataType::Float64, false),
            f("expected_purchases", DataType::Float64, false),
            f("expected_spend", DataType::Float64, false),
            f("clv", DataType::Float64, false),
            f("holdout_purchases", DataType::Int64, false),
        ]))
    }

    pub async fn execute(
        &self,
        ctx: &SessionContext,
        input_sql: &str,
        model: &str,
        run_id: &str,
        tz: Tz,
    ) -> Result<Built> {
        let fail = |msg: String| {
            Error::step(
                format!("clv model `{model}`: {msg}"),
                "check the transactions the step reads (`from` / `sql`)",
            )
        };
        let not_fitted =
            |why: &str| not_fitted(self.output_schema(), run_id, model, why.to_string());
        let birth = match &self.birth {
            Some(b) => ident(b),
            None => "CAST(NULL AS TIMESTAMP)".into(),
        };
        let q = format!(
            "SELECT arrow_cast({}, 'Utf8') AS c, {} AS t, CAST({} AS DOUBLE) AS m, {birth} AS b FROM {}",
            ident(&self.customer),
            ident(&self.at),
            ident(&self.amount),
            subquery(input_sql)
        );
        // Calibration ends at the end of `calibration_end` (local), or at
        // the last transaction.
        let cal_end = match self.calibration_end {
            Some(d) => naive_micros(d.succ_opt().unwrap_or(d)),
            None => {
                let batches = ctx
                    .sql(&format!("SELECT MAX(t) FROM ({q}) AS x"))
                    .await?
                    .collect()
                    .await?;
                let last = batches
                    .first()
                    .and_then(|b| local_micros(b.column(0), tz).ok())
                    .and_then(|v| v.first().copied().flatten());
                match last {
                    Some(t) => t,
                    None => return Ok(not_fitted("there are no transactions")),
                }
            }
        };
        let born = self.birth.is_some();
        let mut acc: HashMap<String, Acc> = HashMap::new();
        let mut last_seen = cal_end;
        let mut stream = ctx.sql(&q).await?.execute_stream().await?;
        while let Some(b) = stream.next().await {
            let b = b?;
            let cust = b.column(0).as_string::<i32>();
            let times = local_micros(b.column(1), tz).map_err(|e| fail(e.to_string()))?;
            let amounts = b.column(2).as_primitive::<Float64Type>();
            let births = local_micros(b.column(3), tz).map_err(|e| fail(e.to_string()))?;
            for r in 0..b.num_rows() {
                if cust.is_null(r) {
                    continue;
                }
                let id = cust.value(r);
                if !acc.contains_key(id) {
                    acc.insert(id.to_string(), Acc::default());
                }
                let Some(a) = acc.get_mut(id) else { continue };
                // A customer's birth is on each of their rows.
                if let Some(bt) = births[r] {
                    a.birth = Some(bt);
                }
                let Some(t) = times[r] else { continue };
                if t > cal_end {
                    a.holdout += 1;
                    last_seen = last_seen.max(t);
                    continue;
                }
                let amount = if amounts.is_null(r) {
                    0.0
                } else {
                    amounts.value(r)
                };
                a.add(t, amount, born);
            }
        }
        let mut customers: Vec<(String, History, Option<f64>, i64)> = Vec::with_capacity(acc.len());
        for (id, a) in acc {
            if let Some(h) = a.history(born, cal_end) {
                customers.push((id, h.0, h.1, a.holdout));
            }
        }
        customers.sort_by(|p, q| p.0.cmp(&q.0));
        let histories: Vec<History> = customers.iter().map(|c| c.1).collect();
        let Some(bg) = BgNbd::fit(&histories) else {
            return Ok(not_fitted("no customer to fit"));
        };
        let spends: Vec<Spend> = customers
            .iter()
            .filter_map(|c| c.2.map(|m| Spend { x: c.1.x, m }))
            .collect();
        let Some(gg) = GammaGamma::fit(&spends) else {
            return Ok(not_fitted(
                "fewer than two customers with a repeat purchase",
            ));
        };
        let holdout_weeks = (last_seen - cal_end) as f64 / MICROS_PER_WEEK;
        let params = bg.params;
        let spend_model = gg.params;
        let mut expected_holdout = 0.0;
        let mut actual_holdout = 0i64;
        let monthly = (1.0 + self.discount_rate).powf(1.0 / 12.0);
        let mut rows = Rows::default();
        for (id, h, monetary, holdout) in &customers {
            let expected =
                params.expected_purchases(h, f64::from(self.horizon_months) * WEEKS_PER_MONTH);
            let spend = match monetary {
                Some(m) => spend_model.expected_spend(&Spend { x: h.x, m: *m }),
                None => spend_model.mean_spend(),
            };
            // Discount each month's expected purchases to today.
            let mut discounted = 0.0;
            let mut before = 0.0;
            for k in 1..=self.horizon_months {
                let upto = params.expected_purchases(h, f64::from(k) * WEEKS_PER_MONTH);
                discounted += (upto - before) / monthly.powi(k as i32);
                before = upto;
            }
            if holdout_weeks > 0.0 {
                expected_holdout += params.expected_purchases(h, holdout_weeks);
            }
            actual_holdout += holdout;
            rows.push(
                id,
                h,
                *monetary,
                params.p_alive(h),
                expected,
                spend,
                self.margin * spend * discounted,
                *holdout,
            );
        }
        let summary = format!(
            "BG/NBD r={:.3} alpha={:.3} a={:.3} b={:.3}; Gamma-Gamma p={:.3} q={:.3} gamma={:.1}; {} customers",
            params.r,
            params.alpha,
            params.a,
            params.b,
            spend_model.p,
            spend_model.q,
            spend_model.gamma,
            customers.len()
        );
        let cal_date = chrono::DateTime::from_timestamp_micros(cal_end - 1)
            .map(|d| d.date_naive().to_string())
            .unwrap_or_default();
        let param_rows: Vec<ParamRow> = vec![
            (
                "bgnbd",
                "r",
                Some(params.r),
                Some("purchase-rate shape".into()),
            ),
            (
                "bgnbd",
                "alpha",
                Some(params.alpha),
                Some("purchase-rate scale (weeks)".into()),
            ),
            ("bgnbd", "a", Some(params.a), Some("dropout Beta a".into())),
            ("bgnbd", "b", Some(params.b), Some("dropout Beta b".into())),
            (
                "bgnbd",
                "log_likelihood",
                Some(bg.log_likelihood),
                Some(format!("converged: {}", bg.converged)),
            ),
            ("bgnbd", "customers", Some(bg.customers as f64), None),
            (
                "gamma_gamma",
                "p",
                Some(spend_model.p),
                Some("spend shape".into()),
            ),
            (
                "gamma_gamma",
                "q",
                Some(spend_model.q),
                Some("shape of the spend rate across customers".into()),
            ),
            (
                "gamma_gamma",
                "gamma",
                Some(spend_model.gamma),
                Some("scale of the spend rate across customers".into()),
            ),
            (
                "gamma_gamma",
                "log_likelihood",
                Some(gg.log_likelihood),
                Some(format!("converged: {}", gg.converged)),
            ),
            (
                "gamma_gamma",
                "customers",
                Some(gg.customers as f64),
                Some("customers with a purchase".into()),
            ),
            (
                "gamma_gamma",
                "mean_spend",
                Some(spend_model.mean_spend()),
                None,
            ),
            ("clv", "calibration_end", None, Some(cal_date)),
            (
                "clv",
                "horizon_months",
                Some(f64::from(self.horizon_months)),
                None,
            ),
            (
                "clv",
                "discount_rate",
                Some(self.discount_rate),
                Some("annual".into()),
            ),
            (
                "clv",
                "margin",
                Some(self.margin),
                Some("profit per unit of spend".into()),
            ),
            ("holdout", "weeks", Some(holdout_weeks), None),
            (
                "holdout",
                "actual_purchases",
                Some(actual_holdout as f64),
                None,
            ),
            (
                "holdout",
                "expected_purchases",
                Some(expected_holdout),
                Some("sum of E[purchases] over the hold-out".into()),
            ),
        ];
        let schema = self.output_schema();
        let batch = rows.batch(&schema)?;
        Ok(Built {
            stream: crate::engine::batch_stream(batch),
            side: Some((MODEL_PARAMS, params_batch(run_id, model, &param_rows))),
            summary,
        })
    }
}

/// One customer's running totals (constant size, whatever their count).
#[derive(Default)]
struct Acc {
    birth: Option<i64>,
    purchases: u64,
    /// In millionths, so the total does not depend on the order rows arrive in.
    sum_micros: i128,
    /// Earliest purchase (time, amount) and latest purchase time.
    first: Option<(i64, f64)>,
    last: Option<i64>,
    holdout: i64,
}

impl Acc {
    /// Count a calibration-period purchase; with births, only those after it.
    fn add(&mut self, t: i64, amount: f64, born: bool) {
        if born && self.birth.is_none_or(|b| t <= b) {
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

    /// (history in weeks, mean amount of the repeat purchases).
    fn history(&self, born: bool, cal_end: i64) -> Option<(History, Option<f64>)> {
        let week = |d: i64| d as f64 / MICROS_PER_WEEK;
        let (start, x, sum) = if born {
            // The clock starts at birth, with no purchase at that moment.
            (self.birth?, self.purchases, self.sum_micros as f64 / 1e6)
        } else {
            // The first purchase starts the clock and is not a repeat.
            let (t0, a0) = self.first?;
            (t0, self.purchases - 1, self.sum_micros as f64 / 1e6 - a0)
        };
        if start >= cal_end {
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

#[derive(Default)]
struct Rows {
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

impl Rows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        h: &History,
        m: Option<f64>,
        alive: f64,
        expected: f64,
        spend: f64,
        clv: f64,
        holdout: i64,
    ) {
        self.id.push(id.to_string());
        self.x.push(h.x as i64);
        self.t_x.push(h.t_x);
        self.t.push(h.t);
        self.monetary.push(m);
        self.alive.push(alive);
        self.expected.push(expected);
        self.spend.push(spend);
        self.clv.push(clv);
        self.holdout.push(holdout);
    }

    fn batch(self, schema: &SchemaRef) -> Result<RecordBatch> {
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

fn naive_micros(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}

/// Dates and timestamps as microseconds of local wall-clock time (a
/// zoned timestamp is moved to `tz`; a date or naive timestamp is taken
/// as local already).
fn local_micros(
    a: &ArrayRef,
    tz: Tz,
) -> Result<Vec<Option<i64>>, datafusion::arrow::error::ArrowError> {
    let zoned = matches!(a.data_type(), DataType::Timestamp(_, Some(_)));
    let naive = match a.data_type() {
        DataType::Null => return Ok(vec![None; a.len()]),
        DataType::Timestamp(_, Some(z)) => cast(
            a,
            &DataType::Timestamp(TimeUnit::Microsecond, Some(z.clone())),
        )?,
        _ => cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    let v = naive.as_primitive::<TimestampMicrosecondType>();
    Ok(v.iter()
        .map(|t| {
            t.map(|utc| {
                if zoned {
                    let at = chrono::DateTime::from_timestamp_micros(utc)
                        .unwrap_or_default()
                        .naive_utc();
                    let offset = tz.offset_from_utc_datetime(&at).fix().local_minus_utc();
                    utc + i64::from(offset) * 1_000_000
                } else {
                    utc
                }
            })
        })
        .collect())
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
        a.add(micros("2024-01-22 10:00"), 40.0, false);
        a.add(micros("2024-01-01 10:00"), 10.0, false);
        a.add(micros("2024-01-08 10:00"), 20.0, false);
        let (h, m) = a
            .history(false, micros("2024-01-29 10:00"))
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
        a.add(micros("2024-01-01 00:00"), 99.0, true);
        a.add(micros("2024-01-15 00:00"), 50.0, true);
        let (h, m) = a
            .history(true, micros("2024-01-29 00:00"))
            .expect("history");
        assert_eq!((h.x, h.t_x, h.t), (1.0, 2.0, 4.0));
        assert_eq!(m, Some(50.0));
        // Born after the calibration end: not scored.
        let late = Acc {
            birth: Some(micros("2024-02-01 00:00")),
            ..Acc::default()
        };
        assert!(late.history(true, micros("2024-01-29 00:00")).is_none());
        // No purchase and no birth: nothing to score.
        assert!(
            Acc::default()
                .history(false, micros("2024-01-29 00:00"))
                .is_none()
        );
    }
}
