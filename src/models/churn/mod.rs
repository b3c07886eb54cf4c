//! `kind: churn_model`: a logistic regression of an outcome (the customer
//! closes within the horizon) on explainable features, with a time split:
//! the last `test_periods` labelled periods are held out, and the model
//! trains only on periods whose outcome window closes before the first of
//! them, so nothing it learns comes from the test months. Every row is then
//! scored: probability, band, the top three reasons in words, balance at risk.
//!
//! Memory: the training and test rows' features are held (8 bytes per
//! feature per row); scoring streams.

use crate::engine::ident;
use crate::models::analytics::evaluate::{auc, deciles, top_decile_lift};
use crate::models::analytics::logistic::Logistic;
use crate::models::record::{MODEL_METRICS, MetricRow, metrics_batch};
use crate::models::step::{Built, Problem, check_exists, check_numeric, not_fitted, subquery};
use crate::models::{Error, Result};

mod spec;
use crate::period::Period;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
pub use spec::{BandsSpec, ChurnSpec, FeatureDetail, FeatureSpec, KEYS};
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
    pub period_column: String,
    pub test_periods: usize,
    pub horizon_months: u32,
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
        let test_periods = m.test_periods.unwrap_or(3);
        if test_periods == 0 {
            problems.push((
                "test_periods".into(),
                "hold out at least one period".into(),
                None,
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ChurnStep {
            label,
            features,
            risk_when,
            baseline,
            keep: m
                .keep
                .clone()
                .unwrap_or_else(|| vec!["customer_id".into(), crate::period::COLUMN.into()]),
            balance: m.balance.clone(),
            period_column: m
                .period_column
                .clone()
                .unwrap_or_else(|| crate::period::COLUMN.into()),
            test_periods,
            horizon_months: m.horizon_months.unwrap_or(3),
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
        check_exists(input, "period_column", &self.period_column, &mut out);
        for (i, k) in self.keep.iter().enumerate() {
            check_exists(input, &format!("keep.{i}"), k, &mut out);
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
            "arrow_cast({}, 'Utf8') AS __period",
            ident(&self.period_column)
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
        // Which periods have a known outcome, and the split.
        let labelled: BTreeSet<Period> = {
            let df = ctx
                .sql(&format!(
                    "SELECT DISTINCT __period FROM ({q}) AS l WHERE __label IS NOT NULL"
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
        };
        let test: Vec<Period> = labelled
            .iter()
            .rev()
            .take(self.test_periods)
            .rev()
            .copied()
            .collect();
        let Some(&first_test) = test.first() else {
            return Ok(not_fitted("no row has a known outcome yet".into()));
        };
        let train: BTreeSet<Period> = labelled
            .iter()
            .filter(|p| p.months_until(first_test) > i64::from(self.horizon_months))
            .copied()
            .collect();
        if train.is_empty() || labelled.len() <= self.test_periods {
            return Ok(not_fitted(format!(
                "{} labelled period(s) ({}): none is {} or more months before the first test period {first_test}",
                labelled.len(),
                span(&labelled.iter().copied().collect::<Vec<_>>()),
                self.horizon_months + 1
            )));
        }
        let test_set: BTreeSet<Period> = test.iter().copied().collect();

        // Pass 1: the training and test rows.
        let k = self.features.len();
        let (mut train_x, mut train_y, mut test_x, mut test_y) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut stream = ctx.sql(&q).await?.execute_stream().await?;
        let base = self.keep.len();
        while let Some(b) = stream.next().await {
            let b = b?;
            let periods = b.column(base).as_string::<i32>().clone();
            let labels = b.column(base + 1).as_primitive::<Float64Type>().clone();
            let feats: Vec<Float64Array> = (0..k)
                .map(|j| b.column(base + 3 + j).as_primitive::<Float64Type>().clone())
                .collect();
            for r in 0..b.num_rows() {
                if labels.is_null(r) || periods.is_null(r) {
                    continue;
                }
                let Ok(p) = periods.value(r).parse::<Period>() else {
                    continue;
                };
                let row: Vec<f64> = feats
                    .iter()
                    .map(|a| if a.is_null(r) { f64::NAN } else { a.value(r) })
                    .collect();
                let y = labels.value(r) > 0.5;
                if train.contains(&p) {
                    train_x.push(row);
                    train_y.push(y);
                } else if test_set.contains(&p) {
                    test_x.push(row);
                    test_y.push(y);
                }
            }
        }
        // Rows arrive in whatever order the scan produces; sorted, the fit's
        // floating-point sums (and so every score) are the same on every run.
        sort_rows(&mut train_x, &mut train_y);
        sort_rows(&mut test_x, &mut test_y);
        // Missing values take the training mean (they then explain nothing).
        let means = nan_means(&train_x, k);
        for row in train_x.iter_mut().chain(test_x.iter_mut()) {
            for (v, m) in row.iter_mut().zip(&means) {
                if v.is_nan() {
                    *v = *m;
                }
            }
        }
        let Some(fitted) = Logistic::fit(&train_x, &train_y) else {
            return Ok(not_fitted(format!(
                "{} training rows with {} positive: both outcomes must occur",
                train_y.len(),
                train_y.iter().filter(|y| **y).count()
            )));
        };
        let base_idx: Vec<usize> = self
            .baseline
            .iter()
            .filter_map(|b| self.features.iter().position(|(f, _)| f == b))
            .collect();
        let pick = |rows: &[Vec<f64>]| -> Vec<Vec<f64>> {
            rows.iter()
                .map(|r| base_idx.iter().map(|&j| r[j]).collect())
                .collect()
        };
        let baseline = if base_idx.is_empty() {
            None
        } else {
            Logistic::fit(&pick(&train_x), &train_y)
        };

        // Held-out quality.
        let scored: Vec<(f64, bool)> = test_x
            .iter()
            .zip(&test_y)
            .map(|(x, &y)| (fitted.predict(x), y))
            .collect();
        let scored_train: Vec<(f64, bool)> = train_x
            .iter()
            .zip(&train_y)
            .map(|(x, &y)| (fitted.predict(x), y))
            .collect();
        let base_scored: Option<Vec<(f64, bool)>> = baseline.as_ref().map(|m| {
            pick(&test_x)
                .iter()
                .zip(&test_y)
                .map(|(x, &y)| (m.predict(x), y))
                .collect()
        });
        let split = format!(
            "train {} ({} rows), test {} ({} rows); outcome window {} months",
            span(&train.iter().copied().collect::<Vec<_>>()),
            train_y.len(),
            span(&test),
            test_y.len(),
            self.horizon_months
        );
        let mut rows = Vec::new();
        let mut metric =
            |name: &str, value: Option<f64>, n: Option<usize>, detail: Option<String>| {
                rows.push(MetricRow {
                    section: "metric",
                    name: name.into(),
                    value,
                    observed: None,
                    rows: n.map(|n| n as i64),
                    detail,
                });
            };
        let test_auc = auc(&scored);
        let base_auc = base_scored.as_deref().and_then(auc);
        metric(
            "auc_test",
            test_auc,
            Some(scored.len()),
            Some(split.clone()),
        );
        metric(
            "auc_test_baseline",
            base_auc,
            Some(scored.len()),
            Some(format!(
                "logistic regression on {} only",
                self.baseline.join(", ")
            )),
        );
        metric(
            "auc_train",
            auc(&scored_train),
            Some(scored_train.len()),
            None,
        );
        metric(
            "lift_top_decile_test",
            top_decile_lift(&scored),
            Some(scored.len()),
            None,
        );
        let n_test = scored.len().max(1) as f64;
        let positives = scored.iter().filter(|s| s.1).count();
        metric(
            "base_rate_test",
            Some(positives as f64 / n_test),
            Some(scored.len()),
            None,
        );
        metric(
            "brier_test",
            Some(
                scored
                    .iter()
                    .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
                    .sum::<f64>()
                    / n_test,
            ),
            Some(scored.len()),
            None,
        );
        metric(
            "log_loss_test",
            Some(
                -scored
                    .iter()
                    .map(|(p, y)| {
                        if *y {
                            p.max(1e-15).ln()
                        } else {
                            (1.0 - p).max(1e-15).ln()
                        }
                    })
                    .sum::<f64>()
                    / n_test,
            ),
            Some(scored.len()),
            None,
        );
        metric(
            "train_positives",
            Some(train_y.iter().filter(|y| **y).count() as f64),
            Some(train_y.len()),
            None,
        );
        metric(
            "test_positives",
            Some(positives as f64),
            Some(scored.len()),
            None,
        );
        metric(
            "iterations",
            Some(fitted.iterations as f64),
            None,
            Some(format!("converged: {}", fitted.converged)),
        );
        for d in deciles(&scored) {
            rows.push(MetricRow {
                section: "calibration",
                name: format!("decile {:02}", d.decile),
                value: Some(d.mean_score),
                observed: Some(d.observed_rate),
                rows: Some(d.rows as i64),
                detail: None,
            });
        }
        rows.push(MetricRow {
            section: "coefficient",
            name: "intercept".into(),
            value: Some(fitted.coefficients[0]),
            observed: None,
            rows: None,
            detail: Some("log-odds of an average customer".into()),
        });
        for (j, (f, words)) in self.features.iter().enumerate() {
            rows.push(MetricRow {
                section: "coefficient",
                name: f.clone(),
                value: Some(fitted.coefficients[j + 1]),
                observed: Some(fitted.means[j]),
                rows: None,
                detail: Some(format!(
                    "log-odds per standard deviation ({:.4}); observed = training mean; reason: {words}{}",
                    fitted.scales[j],
                    match self.risk_when[j] {
                        Some(higher) if (fitted.coefficients[j + 1] > 0.0) != higher => {
                            " (the fit disagrees with risk_when, so it is never given as a reason)"
                        }
                        _ => "",
                    }
                )),
            });
        }
        let summary = format!(
            "AUC {} on {} held-out rows (baseline {}), lift {} in the top decile",
            test_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
            scored.len(),
            base_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
            top_decile_lift(&scored).map_or("n/a".into(), |l| format!("{l:.2}")),
        );
        let side = metrics_batch(run_id, model, &rows);

        // Pass 2: score every row.
        let input = ctx.sql(&q).await?.execute_stream().await?;
        let step = self.clone();
        let out_schema = schema.clone();
        let (train, test_set) = (Arc::new(train), Arc::new(test_set));
        let scored_stream = input.map(move |b| {
            let b = b?;
            step.score_batch(&b, &fitted, &means, &out_schema, &train, &test_set)
                .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
        });
        Ok(Built {
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, scored_stream)),
            side: Some((MODEL_METRICS, side)),
            summary,
        })
    }

    fn score_batch(
        &self,
        b: &RecordBatch,
        m: &Logistic,
        means: &[f64],
        schema: &SchemaRef,
        train: &BTreeSet<Period>,
        test: &BTreeSet<Period>,
    ) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        let base = self.keep.len();
        let k = self.features.len();
        let n = b.num_rows();
        let periods = b.column(base).as_string::<i32>();
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
            let period = (!periods.is_null(r))
                .then(|| periods.value(r).parse::<Period>().ok())
                .flatten();
            sample.push(match period {
                Some(p) if !labels.is_null(r) && train.contains(&p) => "train",
                Some(p) if !labels.is_null(r) && test.contains(&p) => "test",
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

/// A reason in words, with `{value}` filled in.
fn words(template: &str, v: f64) -> String {
    let value = if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    };
    template.replace("{value}", &value)
}

fn sort_rows(x: &mut Vec<Vec<f64>>, y: &mut Vec<bool>) {
    let mut rows: Vec<(Vec<f64>, bool)> = std::mem::take(x).into_iter().zip(y.drain(..)).collect();
    rows.sort_by(|a, b| {
        a.0.iter()
            .zip(&b.0)
            .map(|(p, q)| p.total_cmp(q))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    for (r, l) in rows {
        x.push(r);
        y.push(l);
    }
}

fn nan_means(rows: &[Vec<f64>], k: usize) -> Vec<f64> {
    (0..k)
        .map(|j| {
            let (s, n) = rows
                .iter()
                .map(|r| r[j])
                .filter(|v| !v.is_nan())
                .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            if n == 0 { 0.0 } else { s / n as f64 }
        })
        .collect()
}

fn span(ps: &[Period]) -> String {
    match (ps.first(), ps.last()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => "none".into(),
    }
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
