//! `kind: churn_model`: a logistic regression of an outcome (the customer
//! closes within the horizon) on explainable features, with a time split:
//! the last `test_periods` labelled periods are held out, and the model
//! trains only on periods whose outcome window closes before the first of
//! them, so nothing it learns comes from the test months. Every row is then
//! scored: probability, band, the top three reasons in words, balance at risk.
//!
//! Memory: the training and test rows are sorted into scratch files that
//! the fit reads once per pass (`rows`); what is held is a score and a label
//! per test and training row for the held-out metrics. Scoring streams.

use crate::engine::ident;
use crate::models::analytics::logistic::{Logistic, Rows, RowsError};
use crate::models::record::{MODEL_METRICS, metrics_batch};
use crate::models::step::{
    Built, Problem, Rescore, check_exists, check_numeric, not_fitted, subquery,
};
use crate::models::{Error, Result};

mod metrics;
mod rows;
mod spec;
mod split;
use crate::period::Period;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
pub use spec::{BandsSpec, ChurnSpec, FeatureDetail, FeatureSpec, KEYS, SplitSpec};
pub use split::{Side, Sides, Split};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ChurnStep {
    pub label: String,
    /// (column, reason in words)
    pub features: Vec<(String, String)>,
    /// Per feature: `Some(true)` when the reason describes a value above
    /// average (`risk_when: higher`), `Some(false)` below, `None` either.
    pub risk_when: Vec<Option<bool>>,
    pub baseline: Vec<String>,
    pub keep: Vec<String>,
    pub balance: Option<String>,
    /// Which labelled rows train and which test.
    pub split: Split,
    pub high: f64,
    pub medium: f64,
}

/// A feature is a reason only if it raises the log-odds by at least this
/// much (10% higher odds): below it the words would explain nothing.
const MIN_REASON_LOG_ODDS: f64 = 0.1;

/// Output columns after the kept ones.
const OUTPUT: [(&str, DataType, bool); 8] = [
    ("score", DataType::Float64, false),
    ("band", DataType::Utf8, false),
    ("reason_1", DataType::Utf8, true),
    ("reason_2", DataType::Utf8, true),
    ("reason_3", DataType::Utf8, true),
    ("balance_at_risk", DataType::Float64, true),
    ("outcome", DataType::Float64, true),
    ("sample", DataType::Utf8, false),
];

impl ChurnStep {
    pub fn from_spec(m: &ChurnSpec) -> std::result::Result<ChurnStep, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut features: Vec<(String, String)> = Vec::new();
        let mut risk_when: Vec<Option<bool>> = Vec::new();
        for (name, f) in m.features.iter().flat_map(|f| f.iter()) {
            let (reason, when) = match f {
                FeatureSpec::Reason(r) => (r.clone(), None),
                FeatureSpec::Full(d) => (d.reason.clone(), d.risk_when.as_deref()),
            };
            let side = match when {
                None => None,
                Some("higher") => Some(true),
                Some("lower") => Some(false),
                Some(other) => {
                    problems.push((
                        format!("features.{name}.risk_when"),
                        format!("`risk_when: {other}` must be `higher` or `lower`"),
                        None,
                    ));
                    None
                }
            };
            features.push((name.clone(), reason));
            risk_when.push(side);
        }
        if features.is_empty() {
            problems.push((
                "features".into(),
                "a churn_model needs `features`".into(),
                Some(
                    "e.g. `features: {months_inactive: \"no activity for {value} months\"}`".into(),
                ),
            ));
        }
        let label = m.label.clone().unwrap_or_else(|| {
            problems.push((
                "label".into(),
                "a churn_model needs a `label` column (1 = churned, 0 = stayed, null = not known yet)".into(),
                None,
            ));
            String::new()
        });
        let baseline = m.baseline.clone().unwrap_or_default();
        for (i, b) in baseline.iter().enumerate() {
            if !features.iter().any(|(f, _)| f == b) {
                problems.push((
                    format!("baseline.{i}"),
                    format!("baseline feature `{b}` is not one of `features`"),
                    Some("the baseline is a smaller model over some of the features".into()),
                ));
            }
        }
        let (high, medium) = m.bands.as_ref().map_or((0.5, 0.2), |b| (b.high, b.medium));
        if !(0.0 < medium && medium < high && high <= 1.0) {
            problems.push((
                "bands".into(),
                format!("bands need 0 < medium < high <= 1, got medium {medium}, high {high}"),
                None,
            ));
        }
        let split = match &m.split {
            None => {
                let test_periods = m.test_periods.unwrap_or(3);
                if test_periods == 0 {
                    problems.push((
                        "test_periods".into(),
                        "hold out at least one period".into(),
                        None,
                    ));
                }
                Split::Time {
                    period_column: m
                        .period_column
                        .clone()
                        .unwrap_or_else(|| crate::period::COLUMN.into()),
                    test_periods,
                    horizon_months: m.horizon_months.unwrap_or(3),
                }
            }
            Some(f) => {
                for (key, given) in [
                    ("period_column", m.period_column.is_some()),
                    ("test_periods", m.test_periods.is_some()),
                    ("horizon_months", m.horizon_months.is_some()),
                ] {
                    if given {
                        problems.push((
                            key.into(),
                            format!("`{key}` belongs to the time split, and `split` is declared"),
                            Some("keep `split` for data without a time axis, or drop it to split by time".into()),
                        ));
                    }
                }
                if !(f.test_fraction > 0.0 && f.test_fraction < 1.0) {
                    problems.push((
                        "split.test_fraction".into(),
                        format!(
                            "test_fraction must be between 0 and 1, got {}",
                            f.test_fraction
                        ),
                        Some("e.g. `split: {test_fraction: 0.25, seed: 7}`".into()),
                    ));
                }
                Split::Fraction {
                    by: f.by.clone().unwrap_or_else(|| "customer_id".into()),
                    test_fraction: f.test_fraction,
                    seed: f.seed,
                }
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ChurnStep {
            label,
            features,
            risk_when,
            baseline,
            keep: m.keep.clone().unwrap_or_else(|| match &split {
                Split::Time { .. } => vec!["customer_id".into(), crate::period::COLUMN.into()],
                Split::Fraction { by, .. } => vec![by.clone()],
            }),
            balance: m.balance.clone(),
            split,
            high,
            medium,
        })
    }

    /// Problems with the input's columns.
    pub fn check(&self, input: &Schema) -> Vec<Problem> {
        let mut out = Vec::new();
        check_numeric(input, "label", &self.label, &mut out);
        for (f, _) in &self.features {
            check_numeric(input, &format!("features.{f}"), f, &mut out);
        }
        if let Some(b) = &self.balance {
            check_numeric(input, "balance", b, &mut out);
        }
        let key = match self.split {
            Split::Time { .. } => "period_column",
            Split::Fraction { .. } => "split.by",
        };
        check_exists(input, key, self.split.column(), &mut out);
        for (i, k) in self.keep.iter().enumerate() {
            // The split's column is checked above (a default `keep` holds it).
            if k != self.split.column() {
                check_exists(input, &format!("keep.{i}"), k, &mut out);
            }
            if OUTPUT.iter().any(|(o, _, _)| o == k) {
                out.push((
                    format!("keep.{i}"),
                    format!("`{k}` is one of the step's own output columns"),
                    Some("rename it in the input query".into()),
                ));
            }
        }
        out
    }

    /// Each output column and the input columns whose values it carries:
    /// kept columns themselves, and the reasons the features' values (a
    /// reason's words hold its feature's `{value}`).
    pub fn carries(&self, output: &Schema) -> Vec<(String, Vec<String>)> {
        let features: Vec<String> = self.features.iter().map(|(f, _)| f.clone()).collect();
        output
            .fields()
            .iter()
            .map(|f| {
                let n = f.name().clone();
                let from = if self.keep.contains(&n) {
                    vec![n.clone()]
                } else if n.starts_with("reason_") {
                    features.clone()
                } else {
                    Vec::new()
                };
                (n, from)
            })
            .collect()
    }

    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .keep
            .iter()
            .filter_map(|k| input.field_with_name(k).ok().cloned())
            .collect();
        fields.extend(
            OUTPUT
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null)),
        );
        Arc::new(Schema::new(fields))
    }

    fn query(&self, input_sql: &str) -> String {
        let mut cols: Vec<String> = self.keep.iter().map(|k| ident(k)).collect();
        cols.push(format!(
            "arrow_cast({}, 'Utf8') AS __unit",
            ident(self.split.column())
        ));
        cols.push(format!("CAST({} AS DOUBLE) AS __label", ident(&self.label)));
        cols.push(match &self.balance {
            Some(b) => format!("CAST({} AS DOUBLE) AS __balance", ident(b)),
            None => "CAST(NULL AS DOUBLE) AS __balance".into(),
        });
        for (i, (f, _)) in self.features.iter().enumerate() {
            cols.push(format!("CAST({} AS DOUBLE) AS __f{i}", ident(f)));
        }
        format!("SELECT {} FROM {}", cols.join(", "), subquery(input_sql))
    }

    pub async fn execute(
        &self,
        ctx: &SessionContext,
        input_sql: &str,
        model: &str,
        run_id: &str,
        rescore: Option<Rescore<'_>>,
    ) -> Result<Built> {
        let q = self.query(input_sql);
        // Too little history is a state, not an error (a new warehouse's
        // first months): the table is empty and `_model_metrics` says why.
        let schema = self.output_schema(ctx.sql(&q).await?.schema().as_arrow());
        let not_fitted = |why: String| not_fitted(schema.clone(), run_id, model, why);
        let fail = |msg: String| {
            Error::step(
                format!("churn model `{model}`: {msg}"),
                "check the period column of the step's input",
            )
        };
        // Which periods have a known outcome (the time split's), and the split.
        let labelled: BTreeSet<Period> = match &self.split {
            Split::Fraction { .. } => BTreeSet::new(),
            Split::Time { .. } => {
                let df = ctx
                    .sql(&format!(
                        "SELECT DISTINCT __unit FROM ({q}) AS l WHERE __label IS NOT NULL"
                    ))
                    .await?;
                let mut set = BTreeSet::new();
                for b in df.collect().await? {
                    let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)
                        .map_err(DataFusionError::from)?;
                    for p in col.as_string::<i32>().iter().flatten() {
                        set.insert(
                            p.parse::<Period>()
                                .map_err(|e| fail(format!("period column: {e}")))?,
                        );
                    }
                }
                set
            }
        };
        let sides = match self.split.sides(&labelled) {
            Ok(s) => s,
            Err(why) => return Ok(not_fitted(why)),
        };

        // Pass 1: the training and test rows, sorted into scratch files.
        let k = self.features.len();
        let labelled_sql = format!(
            "SELECT __unit, __label, {} FROM ({q}) AS l WHERE __label IS NOT NULL",
            (0..k)
                .map(|j| format!("__f{j}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let input = ctx.sql(&labelled_sql).await?.execute_stream().await?;
        let labelled = rows::spill(input, &sides, k).await?;
        let (train_n, test_n) = (labelled.train.rows as usize, labelled.test.rows as usize);
        if test_n == 0 {
            return Ok(not_fitted(format!(
                "no labelled row is in the test sample ({})",
                sides.describe(&self.split, train_n, 0)
            )));
        }
        let read = |e: RowsError| {
            Error::step(
                format!("churn model `{model}`: {e}"),
                "check free space in the temporary folder",
            )
        };
        let raw = rows::SpilledRows {
            file: &labelled.train,
            features: k,
            impute: None,
            pick: None,
        };
        // Missing values take the training mean (they then explain nothing).
        let means = nan_means(&raw, k).map_err(read)?;
        let train = rows::SpilledRows {
            impute: Some(&means),
            ..raw
        };
        let test = rows::SpilledRows {
            file: &labelled.test,
            ..train
        };
        let Some(fitted) = Logistic::fit_rows(&train).map_err(read)? else {
            let mut positives = 0;
            train
                .pass(&mut |_, y| positives += usize::from(y))
                .map_err(read)?;
            return Ok(not_fitted(format!(
                "{train_n} training rows with {positives} positive: both outcomes must occur"
            )));
        };
        let base_idx: Vec<usize> = self
            .baseline
            .iter()
            .filter_map(|b| self.features.iter().position(|(f, _)| f == b))
            .collect();
        let baseline = if base_idx.is_empty() {
            None
        } else {
            Logistic::fit_rows(&rows::SpilledRows {
                pick: Some(&base_idx),
                ..train
            })
            .map_err(read)?
        };

        // Held-out quality.
        let score = |rows: &dyn Rows, m: &Logistic| -> Result<Vec<(f64, bool)>> {
            let mut out = Vec::new();
            rows.pass(&mut |x, y| out.push((m.predict(x), y)))
                .map_err(read)?;
            Ok(out)
        };
        let scored = score(&test, &fitted)?;
        let scored_train = score(&train, &fitted)?;
        let train_y: Vec<bool> = scored_train.iter().map(|(_, y)| *y).collect();
        let base_scored = match &baseline {
            Some(m) => Some(score(
                &rows::SpilledRows {
                    pick: Some(&base_idx),
                    ..test
                },
                m,
            )?),
            None => None,
        };
        let split = sides.describe(&self.split, train_n, test_n);
        let (rows, summary) = metrics::rows(
            self,
            &fitted,
            &metrics::Scored {
                test: &scored,
                train: &scored_train,
                baseline: base_scored.as_deref(),
                train_labels: &train_y,
            },
            split,
        );
        let side = metrics_batch(run_id, model, &rows);

        // Pass 2: score every row — or, when the fit is the one that scored
        // the rows the table holds, only the periods asked for (every other
        // row would come out the same).
        let fit = fit_digest(&fitted, &means, &sides);
        let periods_only =
            rescore.and_then(|r| (r.last_fit == Some(fit.as_str())).then_some(r.periods));
        let input = match periods_only {
            Some(periods) => {
                let list: Vec<String> = periods
                    .iter()
                    .map(|p| format!("'{}'", p.replace('\'', "''")))
                    .collect();
                let filtered = format!(
                    "SELECT * FROM ({q}) AS s WHERE arrow_cast(s.{}, 'Utf8') IN ({})",
                    ident(crate::models::PERIOD),
                    list.join(", ")
                );
                ctx.sql(&filtered).await?.execute_stream().await?
            }
            None => ctx.sql(&q).await?.execute_stream().await?,
        };
        let step = self.clone();
        let out_schema = schema.clone();
        let sides = Arc::new(sides);
        let scored_stream = input.map(move |b| {
            let b = b?;
            step.score_batch(&b, &fitted, &means, &out_schema, &sides)
                .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
        });
        Ok(Built {
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, scored_stream)),
            side: Some((MODEL_METRICS, side)),
            summary,
            fit: Some(fit),
            periods_only: periods_only.is_some(),
        })
    }

    fn score_batch(
        &self,
        b: &RecordBatch,
        m: &Logistic,
        means: &[f64],
        schema: &SchemaRef,
        sides: &Sides,
    ) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        let base = self.keep.len();
        let k = self.features.len();
        let n = b.num_rows();
        let units = b.column(base).as_string::<i32>();
        let labels = b.column(base + 1).as_primitive::<Float64Type>();
        let balance = b.column(base + 2).as_primitive::<Float64Type>();
        let feats: Vec<&Float64Array> = (0..k)
            .map(|j| b.column(base + 3 + j).as_primitive::<Float64Type>())
            .collect();
        let mut score = Vec::with_capacity(n);
        let mut band = Vec::with_capacity(n);
        let mut reasons: [Vec<Option<String>>; 3] = Default::default();
        let mut at_risk = Vec::with_capacity(n);
        let mut sample = Vec::with_capacity(n);
        let mut x = vec![0.0; k];
        for r in 0..n {
            for j in 0..k {
                x[j] = if feats[j].is_null(r) {
                    means[j]
                } else {
                    feats[j].value(r)
                };
            }
            let p = m.predict(&x);
            let contributions = m.contributions(&x);
            // A reason raises this customer's risk, on the side its words describe.
            let mut order: Vec<usize> = (0..k)
                .filter(|&j| {
                    contributions[j] >= MIN_REASON_LOG_ODDS
                        && self.risk_when[j]
                            .is_none_or(|higher| (m.coefficients[j + 1] > 0.0) == higher)
                })
                .collect();
            order.sort_by(|&i, &j| contributions[j].total_cmp(&contributions[i]));
            for (slot, list) in reasons.iter_mut().enumerate() {
                list.push(order.get(slot).map(|&j| words(&self.features[j].1, x[j])));
            }
            score.push(p);
            band.push(if p >= self.high {
                "high"
            } else if p >= self.medium {
                "medium"
            } else {
                "low"
            });
            at_risk.push((!balance.is_null(r)).then(|| balance.value(r) * p));
            let side =
                (!units.is_null(r) && !labels.is_null(r)).then(|| sides.side(units.value(r)));
            sample.push(match side {
                Some(Side::Train) => "train",
                Some(Side::Test) => "test",
                _ => "score",
            });
        }
        let mut cols: Vec<ArrayRef> = (0..base).map(|i| b.column(i).clone()).collect();
        cols.push(Arc::new(Float64Array::from(score)));
        cols.push(Arc::new(StringArray::from(band)));
        for list in reasons {
            cols.push(Arc::new(StringArray::from(list)));
        }
        cols.push(Arc::new(Float64Array::from(at_risk)));
        cols.push(b.column(base + 1).clone());
        cols.push(Arc::new(StringArray::from(sample)));
        RecordBatch::try_new(schema.clone(), cols)
    }
}

/// What decides every score: the coefficients with their standardising
/// means and scales, the imputed means and which rows trained or tested.
/// `{:?}` prints each float's exact shortest form.
fn fit_digest(m: &Logistic, means: &[f64], sides: &Sides) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{sides:?}",
        m.coefficients, m.means, m.scales, means
    );
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}

/// A reason in words, with `{value}` filled in.
fn words(template: &str, v: f64) -> String {
    let value = if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    };
    template.replace("{value}", &value)
}

/// Each feature's mean over the rows where it is not missing (0 where it
/// always is).
fn nan_means(rows: &dyn Rows, k: usize) -> std::result::Result<Vec<f64>, RowsError> {
    let mut sums = vec![(0.0, 0usize); k];
    rows.pass(&mut |r, _| {
        for ((s, n), v) in sums.iter_mut().zip(r) {
            if !v.is_nan() {
                *s += v;
                *n += 1;
            }
        }
    })?;
    Ok(sums
        .into_iter()
        .map(|(s, n)| if n == 0 { 0.0 } else { s / n as f64 })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fill_in_the_value() {
        assert_eq!(
            words("no activity for {value} months", 3.0),
            "no activity for 3 months"
        );
        assert_eq!(
            words("balance change {value}", -0.354),
            "balance change -0.35"
        );
    }

    #[test]
    fn split_gap_counts_months_across_years() {
        let p = |s: &str| s.parse::<Period>().expect("period");
        assert_eq!(p("2023-11").months_until(p("2024-02")), 3);
    }
}
