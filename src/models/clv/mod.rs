//! `kind: clv`: customer lifetime value from any transactions table
//! (customer, timestamp or date, amount). BG/NBD for how many purchases a
//! customer will make, Gamma-Gamma for how much each is worth, both by
//! maximum likelihood; per customer: frequency, recency, age, P(alive),
//! expected purchases over the horizon, expected spend and discounted CLV.
//!
//! Times are in weeks of the pipeline's local time. A purchase occasion is
//! a customer's local day by default (the BG/NBD literature's convention:
//! two payments on one day are one occasion); `occasion: exact` counts
//! every row at its own moment. Transactions are aggregated per customer
//! (and day) while they stream: memory grows with customers, not
//! transactions. Those after `calibration_end` are a hold-out whose actual
//! count is compared with the model's forecast.

mod history;
mod time;

use super::analytics::bgnbd::{BgNbd, History};
use super::analytics::gamma_gamma::{GammaGamma, Spend};
use super::record::{MODEL_PARAMS, ParamRow, params_batch};
use super::step::{Built, Problem, check_exists, check_numeric, not_fitted, subquery};
use super::{Error, Result};
use crate::engine::ident;
use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use history::{Acc, MICROS_PER_WEEK, Rows, Scored};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use time::{local_day_sql, local_micros, naive_micros};

/// 365.25 / 7 / 12.
const WEEKS_PER_MONTH: f64 = 365.25 / 7.0 / 12.0;

/// What one purchase is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Occasion {
    /// All of a customer's purchases on one local day are one occasion
    /// (their amounts summed); times are whole days.
    #[default]
    Day,
    /// Every row is a purchase at its own moment.
    Exact,
}

impl Occasion {
    fn name(self) -> &'static str {
        match self {
            Occasion::Day => "day",
            Occasion::Exact => "exact",
        }
    }
}

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
    /// What one purchase is: `day` (default) or `exact`.
    pub occasion: Option<Occasion>,
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
    "occasion",
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
    pub occasion: Occasion,
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
            occasion: m.occasion.unwrap_or_default(),
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

    /// The step's input as (customer `c`, time `t`, amount `m`, birth `b`):
    /// each row as it is, or, counted in days, one row per customer and
    /// local day with the day's amounts summed exactly.
    async fn purchases_sql(&self, ctx: &SessionContext, input_sql: &str, tz: Tz) -> Result<String> {
        let birth = match &self.birth {
            Some(b) => ident(b),
            None => "CAST(NULL AS TIMESTAMP)".into(),
        };
        let (c, at, amount) = (ident(&self.customer), ident(&self.at), ident(&self.amount));
        let input = subquery(input_sql);
        let exact = format!(
            "SELECT arrow_cast({c}, 'Utf8') AS c, {at} AS t, CAST({amount} AS DOUBLE) AS m, {birth} AS b FROM {input}"
        );
        if self.occasion == Occasion::Exact {
            return Ok(exact);
        }
        let plan = ctx.sql(&exact).await?;
        let ty = |i: usize| plan.schema().field(i).data_type().clone();
        let (t, b) = (
            local_day_sql(&at, &ty(1), tz),
            local_day_sql(&birth, &ty(3), tz),
        );
        // Summed as decimals of six places: the total does not depend on
        // the order rows arrive in.
        Ok(format!(
            "SELECT c, t, CAST(SUM(m) AS DOUBLE) AS m, MAX(b) AS b FROM (\
             SELECT arrow_cast({c}, 'Utf8') AS c, {t} AS t, CAST({amount} AS DECIMAL(38, 6)) AS m, {b} AS b FROM {input}\
             ) AS p GROUP BY c, t"
        ))
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
        let q = self.purchases_sql(ctx, input_sql, tz).await?;
        let occasion = self.occasion;
        // Exact times: calibration ends at the end of `calibration_end`
        // (local), or at the last transaction. Days: at that day itself
        // (the day is inside), or the last transaction's day.
        let cal_end = match self.calibration_end {
            Some(d) if occasion == Occasion::Exact => naive_micros(d.succ_opt().unwrap_or(d)),
            Some(d) => naive_micros(d),
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
                a.add(t, amount, born, occasion);
            }
        }
        let mut customers: Vec<(String, History, Option<f64>, i64)> = Vec::with_capacity(acc.len());
        for (id, a) in acc {
            if let Some(h) = a.history(born, cal_end, occasion) {
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
        // Customers sharing a history share its forecast: computed once
        // (a forecast is 2 + horizon series evaluations).
        let mut scored: HashMap<[u64; 3], Scored> = HashMap::new();
        for (_, h, _, holdout) in &customers {
            let s = *scored.entry(history_key(h)).or_insert_with(|| {
                // Discount each month's expected purchases to today.
                let mut discounted = 0.0;
                let mut before = 0.0;
                for k in 1..=self.horizon_months {
                    let upto = params.expected_purchases(h, f64::from(k) * WEEKS_PER_MONTH);
                    discounted += (upto - before) / monthly.powi(k as i32);
                    before = upto;
                }
                Scored {
                    alive: params.p_alive(h),
                    // The horizon's last month is the whole horizon.
                    expected: before,
                    discounted,
                    expected_holdout: if holdout_weeks > 0.0 {
                        params.expected_purchases(h, holdout_weeks)
                    } else {
                        0.0
                    },
                }
            });
            expected_holdout += s.expected_holdout;
            actual_holdout += holdout;
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
        let last_day = match occasion {
            Occasion::Exact => cal_end - 1,
            Occasion::Day => cal_end,
        };
        let cal_date = chrono::DateTime::from_timestamp_micros(last_day)
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
                "bgnbd",
                "distinct_histories",
                Some(bg.distinct as f64),
                Some("distinct (x, t_x, T): the cost of one likelihood evaluation".into()),
            ),
            (
                "bgnbd",
                "evaluations",
                Some(bg.evaluations as f64),
                Some("likelihood evaluations the fit took".into()),
            ),
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
                "evaluations",
                Some(gg.evaluations as f64),
                Some("likelihood evaluations the fit took".into()),
            ),
            (
                "gamma_gamma",
                "mean_spend",
                Some(spend_model.mean_spend()),
                None,
            ),
            ("clv", "calibration_end", None, Some(cal_date)),
            ("clv", "occasion", None, Some(occasion.name().into())),
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
        let scoring = Scoring {
            customers,
            scored,
            spend_model,
            margin: self.margin,
            schema: self.output_schema(),
        };
        // The rows are made a batch at a time as the write reads them: a
        // million customers' output columns are never all in memory.
        let batches = futures::stream::unfold((scoring, 0usize), |(sc, at)| async move {
            (at < sc.customers.len()).then(|| {
                let end = (at + BATCH_ROWS).min(sc.customers.len());
                let batch = sc.batch(at..end);
                (batch, (sc, end))
            })
        });
        Ok(Built {
            stream: Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    self.output_schema(),
                    batches,
                ),
            ),
            side: Some((MODEL_PARAMS, params_batch(run_id, model, &param_rows))),
            summary,
            fit: None,
            periods_only: false,
        })
    }
}

/// Output rows per batch.
const BATCH_ROWS: usize = 8192;

/// A history's key: customers with the same (x, t_x, T) share a forecast.
fn history_key(h: &History) -> [u64; 3] {
    [h.x.to_bits(), h.t_x.to_bits(), h.t.to_bits()]
}

/// What scoring a customer needs once the models are fitted.
struct Scoring {
    /// (customer, history, mean repeat spend, hold-out purchases), by customer.
    customers: Vec<(String, History, Option<f64>, i64)>,
    scored: HashMap<[u64; 3], Scored>,
    spend_model: GammaGamma,
    margin: f64,
    schema: SchemaRef,
}

impl Scoring {
    /// The output rows of customers `range`.
    fn batch(
        &self,
        range: std::ops::Range<usize>,
    ) -> datafusion::error::Result<datafusion::arrow::record_batch::RecordBatch> {
        let mut rows = Rows::default();
        for (id, h, monetary, holdout) in &self.customers[range] {
            let Some(s) = self.scored.get(&history_key(h)) else {
                return Err(datafusion::error::DataFusionError::Internal(
                    "a customer's history was not scored".into(),
                ));
            };
            let spend = match monetary {
                Some(m) => self.spend_model.expected_spend(&Spend { x: h.x, m: *m }),
                None => self.spend_model.mean_spend(),
            };
            rows.push(
                id,
                h,
                *monetary,
                s,
                history::Worth {
                    spend,
                    clv: self.margin * spend * s.discounted,
                },
                *holdout,
            );
        }
        rows.batch(&self.schema)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }
}
