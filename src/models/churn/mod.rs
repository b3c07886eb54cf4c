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

mod fingerprint;
mod metrics;
mod reuse;
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
pub use spec::{BandsSpec, ChurnSpec, FeatureDetail, FeatureSpec, KEYS, Refit, SplitSpec};
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
    /// When a rebuild of some months fits again.
    pub refit: Refit,
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
            refit: m.refit.unwrap_or_default(),
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
        // A rebuild of some months that leaves the fit's rows as they were
        // scores them with the kept fit.
        if let Some(r) = rescore
            && let Some(kept) = self.kept_fit(ctx, &q, r).await?
        {
            let summary = format!(
                "the kept fit scored {} (its training and test months, and which months have \
                 an outcome, are as when it was fitted)",
                split::span(&r.periods.iter().filter_map(|p| p.parse().ok()).collect())
            );
            let fit = (kept.fitted, kept.impute, kept.sides);
            let stream = self.scored(ctx, &q, schema, fit, Some(r.periods)).await?;
            return Ok(Built {
                stream,
                side: None,
                summary,
                fit: r.last_fit.map(str::to_string),
                periods_only: true,
            });
        }
        // Which periods have a known outcome (the time split's), and the split.
        let outcomes: BTreeSet<Period> = match &self.split {
            Split::Fraction { .. } => BTreeSet::new(),
            Split::Time { .. } => self.labelled(ctx, &q, model).await?,
        };
        let sides = match self.split.sides(&outcomes) {
            Ok(s) => s,
            Err(why) => return Ok(not_fitted(why)),
        };

        // Pass 1: the training and test rows, sorted into scratch files.
        let k = self.features.len();
        let labelled_sql = labelled_rows(&q, k, None);
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
        let digest = fit_digest(&fitted, &means, &sides);
        let periods_only = rescore.and_then(|r| {
            (r.last_fit.map(reuse::digest_of) == Some(digest.as_str())).then_some(r.periods)
        });
        let fit = reuse::save(
            &digest,
            &fitted,
            &means,
            &sides,
            &outcomes,
            &labelled.months,
        );
        Ok(Built {
            stream: self
                .scored(ctx, &q, schema, (fitted, means, sides), periods_only)
                .await?,
            side: Some((MODEL_METRICS, side)),
            summary,
            fit: Some(fit),
            periods_only: periods_only.is_some(),
        })
    }

    /// The kept fit (`last_fit` in the tag), when `refit: on_change` and
    /// fitting again after rebuilding `r.periods` would give it (see
    /// [`reuse`]).
    async fn kept_fit(
        &self,
        ctx: &SessionContext,
        q: &str,
        r: Rescore<'_>,
    ) -> Result<Option<reuse::Reusable>> {
        // The months rebuilt are the table's `period`s: the split's months
        // must be the same column to compare them.
        let by_period = matches!(&self.split, Split::Time { period_column, .. }
            if period_column == crate::models::PERIOD);
        if self.refit != Refit::OnChange || !by_period {
            return Ok(None);
        }
        let Some(kept) = r
            .last_fit
            .and_then(reuse::load)
            .filter(|k| k.impute.len() == self.features.len())
        else {
            return Ok(None);
        };
        let Some(changed) = r
            .periods
            .iter()
            .map(|p| p.parse::<Period>().ok())
            .collect::<Option<BTreeSet<Period>>>()
        else {
            return Ok(None);
        };
        // Those months' labelled rows, as the fit would read them.
        let mut rows = fingerprint::Fingerprints::new();
        let sql = labelled_rows(q, self.features.len(), Some(r.periods));
        let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
        while let Some(b) = stream.next().await {
            fingerprint::add_batch(&mut rows, &b?, self.features.len());
        }
        let mut now = std::collections::BTreeMap::new();
        for (p, r) in rows {
            match p.parse::<Period>() {
                Ok(p) => now.insert(p, r),
                Err(_) => return Ok(None),
            };
        }
        Ok(kept.holds(&changed, &now).then_some(kept))
    }

    /// The periods with a known outcome.
    async fn labelled(
        &self,
        ctx: &SessionContext,
        q: &str,
        model: &str,
    ) -> Result<BTreeSet<Period>> {
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
                set.insert(p.parse::<Period>().map_err(|e| {
                    Error::step(
                        format!("churn model `{model}`: period column: {e}"),
                        "check the period column of the step's input",
                    )
                })?);
            }
        }
        Ok(set)
    }

    /// Every row of `q` scored by a fit, its imputed means and its split
    /// (of `periods` only, when given).
    async fn scored(
        &self,
        ctx: &SessionContext,
        q: &str,
        schema: SchemaRef,
        (fitted, means, sides): (Logistic, Vec<f64>, Sides),
        periods: Option<&BTreeSet<String>>,
    ) -> Result<datafusion::execution::SendableRecordBatchStream> {
        let input = match periods {
            Some(periods) => {
                let filtered = format!(
                    "SELECT * FROM ({q}) AS s WHERE arrow_cast(s.{}, 'Utf8') IN ({})",
                    ident(crate::models::PERIOD),
                    quoted(periods)
                );
                ctx.sql(&filtered).await?.execute_stream().await?
            }
            None => ctx.sql(q).await?.execute_stream().await?,
        };
        let step = self.clone();
        let out_schema = schema.clone();
        let scored_stream = input.map(move |b| {
            let b = b?;
            step.score_batch(&b, &fitted, &means, &out_schema, &sides)
                .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            scored_stream,
        )))
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

/// The labelled rows of the step's query `q` (of the months `among` only,
/// when given): `__unit`, `__label`, `__f0 ..`.
fn labelled_rows(q: &str, features: usize, among: Option<&BTreeSet<String>>) -> String {
    let within = match among {
        Some(periods) => format!(" AND __unit IN ({})", quoted(periods)),
        None => String::new(),
    };
    let cols: Vec<String> = (0..features).map(|j| format!("__f{j}")).collect();
    format!(
        "SELECT __unit, __label, {} FROM ({q}) AS l WHERE __label IS NOT NULL{within}",
        cols.join(", ")
    )
}

/// `'2024-01', '2024-02'`: SQL text literals.
fn quoted(periods: &BTreeSet<String>) -> String {
    let list: Vec<String> = periods
        .iter()
        .map(|p| format!("'{}'", p.replace('\'', "''")))
        .collect();
    list.join(", ")
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
