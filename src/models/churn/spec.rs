//! `kind: churn_model` as written in the pipeline file.

use crate::spec::Ordered;
use serde::Deserialize;

/// `kind: churn_model`'s own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// The 0/1 (or boolean) outcome column; null = not known yet.
    pub label: Option<String>,
    /// Feature column → the reason in words (`{value}` is replaced by the
    /// customer's value), or `{reason, risk_when}`.
    pub features: Option<Ordered<FeatureSpec>>,
    /// The features of the baseline model it must beat.
    pub baseline: Option<Vec<String>>,
    /// Input columns copied to the output.
    pub keep: Option<Vec<String>>,
    /// The balance that is at risk (`balance_at_risk` = balance × score).
    pub balance: Option<String>,
    /// The `YYYY-MM` period column (default `period`).
    pub period_column: Option<String>,
    /// How many of the last labelled periods are held out.
    pub test_periods: Option<usize>,
    /// Score thresholds of the `high` and `medium` bands.
    pub bands: Option<BandsSpec>,
    /// Months the label looks ahead.
    pub horizon_months: Option<u32>,
    /// A seeded fraction split for data without a time axis (instead of
    /// `period_column` / `test_periods` / `horizon_months`).
    pub split: Option<SplitSpec>,
    /// When a rebuild of some months fits again (default `on_change`).
    pub refit: Option<Refit>,
}

/// `refit:` — when a rebuild of some months fits the model again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refit {
    /// Only when the rows it fits on may have changed: a changed month is
    /// one of its training or test months, or gained or lost outcomes.
    /// Otherwise the last fit scores the changed months (the rows come out
    /// as a fit on the same rows would make them).
    #[default]
    OnChange,
    /// On every rebuild.
    Always,
}

/// `split: {test_fraction, seed, by}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// The share of units held out, in (0, 1).
    pub test_fraction: f64,
    /// Another seed, another (equally fair) split.
    #[serde(default)]
    pub seed: u64,
    /// The column naming a unit (default `customer_id`): all of a unit's
    /// rows fall on one side.
    pub by: Option<String>,
}

/// [`ChurnSpec`]'s keys, in the order help lists them.
pub const KEYS: &[&str] = &[
    "label",
    "features",
    "baseline",
    "keep",
    "balance",
    "period_column",
    "test_periods",
    "bands",
    "horizon_months",
    "split",
    "refit",
];

/// A churn-model feature: its reason in words, and optionally which side
/// of the average the words describe (`higher` or `lower`): the reason is
/// only given when the fitted model agrees that side is the risky one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FeatureSpec {
    Reason(String),
    Full(FeatureDetail),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDetail {
    pub reason: String,
    pub risk_when: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsSpec {
    pub high: f64,
    pub medium: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refit_is_on_change_unless_told_and_names_its_choices() {
        let spec: ChurnSpec = serde_yaml::from_str("label: y\n").expect("spec");
        assert_eq!(spec.refit.unwrap_or_default(), Refit::OnChange);
        let spec: ChurnSpec = serde_yaml::from_str("refit: always\n").expect("spec");
        assert_eq!(spec.refit, Some(Refit::Always));
        let e = serde_yaml::from_str::<ChurnSpec>("refit: sometimes\n")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("on_change") && e.contains("always"), "{e}");
    }
}
