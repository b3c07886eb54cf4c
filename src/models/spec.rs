//! A model as written in the pipeline file: the keys every model has, and
//! its kind's own keys as a variant of [`KindSpec`] (each kind's spec lives
//! beside its code). An entry is read key by key so that a key of another
//! kind is named as such, and an unknown key lists every valid one.

use super::{churn, clv};
use crate::access::Personal;
use crate::checks::CheckSpec;
use crate::spec::{Diagnostic, Locator, Ordered, did_you_mean, serde_diagnostic};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The keys of every model kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonSpec {
    /// SQL file relative to the pipeline file (for a step: its input).
    pub sql: Option<String>,
    /// A step's input table (instead of `sql`).
    pub from: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Output columns that carry personal data and how analysts see them;
    /// required when the model reads a personal column.
    pub personal: Option<Ordered<Personal>>,
    /// How the model depends on periods: `false` (rebuilt whole when an
    /// input changed) or `{by: period, lookback: N}`.
    pub incremental: Option<IncrementalSpec>,
}

/// `incremental:` of a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IncrementalSpec {
    Flag(bool),
    By(ByPeriodSpec),
}

/// `incremental: {by: period, lookback: 3, lookahead: 0}`: a month of the
/// model reads its inputs' same month, the `lookback` months before it and
/// the `lookahead` months after it, no others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByPeriodSpec {
    pub by: String,
    #[serde(default)]
    pub lookback: u32,
    #[serde(default)]
    pub lookahead: u32,
}

/// A model's kind (`kind:`, default `sql`) with its own keys.
#[derive(Debug, Clone)]
pub enum KindSpec {
    Sql,
    ChurnModel(churn::ChurnSpec),
    Clv(clv::ClvSpec),
}

/// A model: a SQL file (`kind: sql`, the default) or an analytics step
/// (`kind: churn_model` or `kind: clv`) that reads a table or a query and
/// fits a statistical model.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub common: CommonSpec,
    pub kind: KindSpec,
    /// Keys of another kind, with the kinds that take them (reported when
    /// the pipeline is compiled).
    pub foreign: Vec<(String, String)>,
}

/// Every model kind: its name, whether it reads `from:` a table, and its
/// own keys. A new kind is a line here and a variant of [`KindSpec`].
const KINDS: [(&str, bool, &[&str]); 3] = [
    ("sql", false, &[]),
    ("churn_model", true, churn::KEYS),
    ("clv", true, clv::KEYS),
];

const COMMON: [&str; 7] = [
    "kind",
    "sql",
    "from",
    "description",
    "checks",
    "personal",
    "incremental",
];

impl ModelSpec {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            KindSpec::Sql => "sql",
            KindSpec::ChurnModel(_) => "churn_model",
            KindSpec::Clv(_) => "clv",
        }
    }

    /// Every kind's name.
    pub fn kinds() -> impl Iterator<Item = &'static str> {
        KINDS.iter().map(|(k, _, _)| *k)
    }

    /// Whether the kind reads `from:` a table.
    pub fn takes_from(kind: &str) -> bool {
        KINDS.iter().any(|(k, from, _)| *k == kind && *from)
    }

    /// The kinds that take a key, as `churn_model, clv`.
    fn kinds_with(key: &str) -> String {
        KINDS
            .iter()
            .filter(|(_, from, keys)| keys.contains(&key) || (key == "from" && *from))
            .map(|(k, _, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Read the entry `models.<name>`: the first problem is returned as a
    /// located diagnostic (like any entry that cannot be read).
    pub fn parse(
        file: &Path,
        loc: &Locator,
        at: &str,
        value: &serde_yaml::Value,
    ) -> Result<ModelSpec, Diagnostic> {
        let Some(map) = value.as_mapping() else {
            // Serde's own words for a model that is not a mapping.
            #[derive(Debug, Deserialize)]
            #[serde(rename = "ModelSpec")]
            struct Shape {}
            return match serde_path_to_error::deserialize::<_, Shape>(value.clone()) {
                Err(e) => Err(serde_diagnostic(file, loc, at, e)),
                Ok(_) => Err(Diagnostic::new(
                    file,
                    loc.value(at),
                    at,
                    "a model is a mapping",
                )),
            };
        };
        let kind = match map.get("kind") {
            None => "sql".to_string(),
            Some(v) => de::<String>(file, loc, &format!("{at}.kind"), v)?,
        };
        let Some(&(_, _, own)) = KINDS.iter().find(|(k, _, _)| *k == kind) else {
            let names: Vec<&str> = Self::kinds().collect();
            return Err(Diagnostic::new(
                file,
                loc.value(&format!("{at}.kind")),
                &format!("{at}.kind"),
                format!("unknown model kind `{kind}`"),
            )
            .with_help(match did_you_mean(&kind, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? kinds: {}", names.join(", ")),
                None => format!("kinds: {}", names.join(", ")),
            }));
        };
        let mut common = serde_yaml::Mapping::new();
        let mut mine = serde_yaml::Mapping::new();
        let mut foreign = Vec::new();
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default();
            if key == "kind" {
                continue;
            }
            if COMMON.contains(&key) {
                common.insert(k.clone(), v.clone());
            } else if own.contains(&key) {
                mine.insert(k.clone(), v.clone());
            } else if KINDS.iter().any(|(_, _, keys)| keys.contains(&key)) {
                foreign.push((key.to_string(), Self::kinds_with(key)));
            } else {
                return Err(unknown(file, loc, at, key));
            }
        }
        let common: CommonSpec = de(file, loc, at, &serde_yaml::Value::Mapping(common))?;
        let mine = serde_yaml::Value::Mapping(mine);
        let kind = match kind.as_str() {
            "churn_model" => KindSpec::ChurnModel(de(file, loc, at, &mine)?),
            "clv" => KindSpec::Clv(de(file, loc, at, &mine)?),
            _ => KindSpec::Sql,
        };
        if kind_takes_no_from(&kind) && common.from.is_some() {
            foreign.insert(0, ("from".into(), Self::kinds_with("from")));
        }
        Ok(ModelSpec {
            common,
            kind,
            foreign,
        })
    }
}

fn kind_takes_no_from(kind: &KindSpec) -> bool {
    matches!(kind, KindSpec::Sql)
}

fn de<T: DeserializeOwned>(
    file: &Path,
    loc: &Locator,
    at: &str,
    v: &serde_yaml::Value,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize::<_, T>(v.clone())
        .map_err(|e| serde_diagnostic(file, loc, at, e))
}

/// An unknown key, with every valid key of every kind listed.
fn unknown(file: &Path, loc: &Locator, at: &str, key: &str) -> Diagnostic {
    let mut valid: Vec<&str> = COMMON.to_vec();
    for (_, _, keys) in KINDS {
        for k in keys {
            if !valid.contains(k) {
                valid.push(k);
            }
        }
    }
    crate::spec::unknown_key(file, loc, at, key, &valid)
}
