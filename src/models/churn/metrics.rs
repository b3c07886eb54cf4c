//! The churn step's report on itself: held-out quality, calibration, the
//! fit's numbers and each feature's standardisation and coefficient, as
//! `_model_metrics` rows.

use super::ChurnStep;
use crate::models::analytics::evaluate::{auc, deciles, top_decile_lift};
use crate::models::analytics::logistic::Logistic;
use crate::models::record::MetricRow;

/// Scores with outcomes: held out, training, the baseline's held out.
pub(super) struct Scored<'a> {
    pub test: &'a [(f64, bool)],
    pub train: &'a [(f64, bool)],
    pub baseline: Option<&'a [(f64, bool)]>,
    pub train_labels: &'a [bool],
}

/// The metric rows and the run summary's line.
pub(super) fn rows(
    step: &ChurnStep,
    fitted: &Logistic,
    s: &Scored,
    split: String,
) -> (Vec<MetricRow>, String) {
    let mut rows = Vec::new();
    let mut metric = |name: &str, value: Option<f64>, n: Option<usize>, detail: Option<String>| {
        rows.push(MetricRow {
            section: "metric",
            name: name.into(),
            value,
            observed: None,
            rows: n.map(|n| n as i64),
            detail,
        });
    };
    let test_auc = auc(s.test);
    let base_auc = s.baseline.and_then(auc);
    metric(
        "auc_test",
        test_auc,
        Some(s.test.len()),
        Some(split.clone()),
    );
    if s.baseline.is_some() {
        metric(
            "auc_test_baseline",
            base_auc,
            Some(s.test.len()),
            Some(format!(
                "logistic regression on {} only",
                step.baseline.join(", ")
            )),
        );
    }
    metric("auc_train", auc(s.train), Some(s.train.len()), None);
    metric(
        "lift_top_decile_test",
        top_decile_lift(s.test),
        Some(s.test.len()),
        None,
    );
    let n_test = s.test.len().max(1) as f64;
    let positives = s.test.iter().filter(|s| s.1).count();
    metric(
        "base_rate_test",
        Some(positives as f64 / n_test),
        Some(s.test.len()),
        None,
    );
    metric(
        "brier_test",
        Some(
            s.test
                .iter()
                .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
                .sum::<f64>()
                / n_test,
        ),
        Some(s.test.len()),
        None,
    );
    metric(
        "log_loss_test",
        Some(
            -s.test
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
        Some(s.test.len()),
        None,
    );
    metric(
        "train_positives",
        Some(s.train_labels.iter().filter(|y| **y).count() as f64),
        Some(s.train_labels.len()),
        None,
    );
    metric(
        "test_positives",
        Some(positives as f64),
        Some(s.test.len()),
        None,
    );
    metric(
        "iterations",
        Some(fitted.iterations as f64),
        None,
        Some(format!("converged: {}", fitted.converged)),
    );
    metric(
        "converged",
        Some(f64::from(u8::from(fitted.converged))),
        None,
        Some("1 when Newton's steps stopped moving the coefficients".into()),
    );
    metric(
        "log_likelihood_train",
        Some(fitted.log_likelihood),
        Some(s.train_labels.len()),
        Some("unpenalised, at the penalised (ridge) optimum".into()),
    );
    metric(
        "ridge",
        Some(fitted.ridge),
        Some(s.train_labels.len()),
        Some("penalty λ on the standardised slopes: λ/2 · Σβ², λ = 1e-6 × training rows".into()),
    );
    for d in deciles(s.test) {
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
    for (j, (f, _)) in step.features.iter().enumerate() {
        rows.push(MetricRow {
            section: "scale",
            name: f.clone(),
            value: Some(fitted.scales[j]),
            observed: Some(fitted.means[j]),
            rows: Some(s.train_labels.len() as i64),
            detail: Some("training standard deviation; observed = training mean".into()),
        });
    }
    for (j, (f, words)) in step.features.iter().enumerate() {
        rows.push(MetricRow {
            section: "coefficient",
            name: f.clone(),
            value: Some(fitted.coefficients[j + 1]),
            observed: Some(fitted.means[j]),
            rows: None,
            detail: Some(format!(
                "log-odds per standard deviation ({:.4}); observed = training mean; reason: {words}{}",
                fitted.scales[j],
                match step.risk_when[j] {
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
        s.test.len(),
        base_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
        top_decile_lift(s.test).map_or("n/a".into(), |l| format!("{l:.2}")),
    );
    (rows, summary)
}
