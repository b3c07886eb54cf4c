//! The pipeline file: YAML → plain `…Spec` structs (syntax only).
//!
//! Every entry (a source, a model, …) is deserialised on its own so that one
//! bad entry does not hide the problems of the others; each failure becomes a
//! [`Diagnostic`] located with the [`Locator`]. Semantic checks (files, SQL,
//! dependencies) happen later, in `pipeline::compile`.

pub mod diagnostic;
pub mod locate;
pub mod types;

pub use diagnostic::{Diagnostic, did_you_mean};
pub use locate::Locator;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A YAML mapping that keeps the order it was written in (sources are shown,
/// and seeds written, in the order a person declared them).
#[derive(Debug, Clone, Default)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    if out.iter().any(|(name, _)| name == &k) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

impl<V> Ordered<V> {
    pub fn iter(&self) -> impl Iterator<Item = &(String, V)> {
        self.0.iter()
    }
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// CSV (or any delimited text) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// One character; `"|"` for pipe-delimited, `"\t"` for tabs.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether the first line names the columns.
    #[serde(default = "default_true")]
    pub header: bool,
    #[serde(default = "default_quote")]
    pub quote: String,
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn default_true() -> bool {
    true
}

/// JSON lines: one object per line; no options yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSpec {}

/// Fixed-width text (legacy core-banking exports): each declared column at
/// a 1-based byte position and width, in the source's encoding.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedWidthSpec {
    /// Lines to skip first (a title or header line).
    #[serde(default)]
    pub skip_lines: usize,
    /// Column → `[start, width]`, start counted from 1, in bytes.
    pub positions: Ordered<[usize; 2]>,
}

/// Parquet: typed already; declared columns are cast and checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSpec {}

/// How analysts see a personal-data column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Personal {
    /// Only the last four characters are shown (`****5678`).
    Mask,
    /// A stable SHA-256 digest: joinable, not readable.
    Hash,
    /// Personal, but this pipeline lets analysts read it.
    Clear,
}

/// One declared column of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// string, int, double, bool, date, timestamp, decimal(P,S).
    #[serde(rename = "type")]
    pub ty: String,
    /// chrono format for date / timestamp text (`%d/%m/%Y %H:%M:%S`).
    pub format: Option<String>,
    /// IANA time zone of timestamps written without an offset.
    pub timezone: Option<String>,
    #[serde(default)]
    pub required: bool,
    pub personal: Option<Personal>,
    pub min: Option<serde_yaml::Number>,
    pub max: Option<serde_yaml::Number>,
    /// Accepted values (enums).
    pub values: Option<Vec<String>>,
    /// `source.column` every value must exist in (checked at load).
    pub references: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Glob relative to the pipeline file, or an object-store URL. Periodic
    /// sources use `{period}` (YYYY-MM), `{yyyy}`, `{mm}` or `{yyyymm}`.
    pub path: String,
    pub description: Option<String>,
    pub csv: Option<CsvSpec>,
    pub jsonl: Option<JsonlSpec>,
    pub parquet: Option<ParquetSpec>,
    pub fixed_width: Option<FixedWidthSpec>,
    /// `gzip`, `zstd` or `none`; default by extension (`.gz`, `.zst`).
    pub compression: Option<String>,
    /// Text encoding: `utf-8` (default), `gbk`, `gb18030`, `big5`, or any
    /// WHATWG label.
    pub encoding: Option<String>,
    /// `fail` (default) or `ignore`: what a new, missing or retyped column
    /// in an extract does.
    pub on_schema_change: Option<String>,
    /// Fail the source's load (nothing committed) above this many rows in
    /// quarantine…
    pub max_bad_rows: Option<u64>,
    /// …or above this share (0-1) of the rows read.
    pub max_bad_fraction: Option<f64>,
    /// The date/timestamp column whose local month is the row's period. A
    /// source without one is a snapshot, replaced whole on every run.
    pub period_column: Option<String>,
    /// Columns that identify a record; later copies are quarantined.
    #[serde(default)]
    pub key: Vec<String>,
    pub columns: Ordered<ColumnSpec>,
    /// Data-quality checks run after the load (see [`CheckSpec`]).
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Control totals each file must match (a trailer record or a control
    /// file).
    pub control: Option<ControlSpec>,
}

/// Where an extract states its own record count (and hash total).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    /// The last record starts with this field (`TRL`): it is the trailer,
    /// not data.
    pub trailer: Option<String>,
    /// A control file beside each extract: `{name}` is the extract's file
    /// name, `{stem}` the name without its last extension.
    pub file: Option<String>,
    /// 1-based field of the trailer (or the control file's last line)
    /// holding the record count.
    pub count: usize,
    /// 1-based field holding the hash total of `total_column`.
    pub total: Option<usize>,
    pub total_column: Option<String>,
}

/// One data-quality check on a table, like a dbt test:
/// `{check: not_null, column: customer_id, severity: warn}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `not_null`, `unique`, `accepted_values`, `range`, `relationships`,
    /// `freshness` or `row_count_change`.
    pub check: String,
    pub column: Option<String>,
    /// `unique` over several columns.
    pub columns: Option<Vec<String>>,
    /// `accepted_values`.
    pub values: Option<Vec<String>>,
    /// `range` (inclusive).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `relationships`: `table.column` that must hold every value.
    pub to: Option<String>,
    /// `freshness`: the newest value may be at most this old, measured at
    /// the end of the run's last period (or now, if earlier).
    pub max_age_hours: Option<f64>,
    /// `row_count_change`: the largest allowed change against the previous
    /// period, as a fraction (0.5 = ±50%).
    pub max_change: Option<f64>,
    /// `error` (default: the run fails and is rolled back) or `warn`.
    pub severity: Option<String>,
}

/// A model: a SQL file (`kind: sql`, the default) or an analytics step
/// (`kind: churn_model` or `kind: clv`) that reads a table or a query and
/// fits a statistical model. Keys of the other kinds are rejected when the
/// pipeline is compiled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `sql` (default), `churn_model` or `clv`.
    pub kind: Option<String>,
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
    /// churn_model: the 0/1 (or boolean) outcome column; null = not known yet.
    pub label: Option<String>,
    /// churn_model: feature column → the reason in words (`{value}` is
    /// replaced by the customer's value), or `{reason, risk_when}`.
    pub features: Option<Ordered<FeatureSpec>>,
    /// churn_model: the features of the baseline model it must beat.
    pub baseline: Option<Vec<String>>,
    /// churn_model: input columns copied to the output.
    pub keep: Option<Vec<String>>,
    /// churn_model: the balance that is at risk (`balance_at_risk` = balance × score).
    pub balance: Option<String>,
    /// churn_model: the `YYYY-MM` period column (default `period`).
    pub period_column: Option<String>,
    /// churn_model: how many of the last labelled periods are held out.
    pub test_periods: Option<usize>,
    /// churn_model: score thresholds of the `high` and `medium` bands.
    pub bands: Option<BandsSpec>,
    /// churn_model: months the label looks ahead; clv: the CLV horizon.
    pub horizon_months: Option<u32>,
    /// clv: the customer, timestamp (or date) and amount columns.
    pub customer: Option<String>,
    pub at: Option<String>,
    pub amount: Option<String>,
    /// clv: when each customer's clock starts (no purchase at that moment);
    /// without it a customer's first purchase starts the clock.
    pub birth: Option<String>,
    /// clv: the last day of the calibration period (default: the last
    /// transaction's day); later transactions are a hold-out.
    pub calibration_end: Option<String>,
    /// clv: annual discount rate (default 0.10).
    pub discount_rate: Option<f64>,
    /// clv: profit per unit of spend (default 1.0: CLV in spend).
    pub margin: Option<f64>,
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    pub description: Option<String>,
    /// Column name → type, in order.
    pub columns: Ordered<String>,
    pub rows: Vec<Vec<serde_yaml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// minijinja template relative to the pipeline file (`*.html.j2`).
    pub template: String,
    pub title: Option<String>,
    /// Warehouse tables the template reads (each becomes a list of rows).
    pub tables: Vec<String>,
    /// `en` (default) or `zh-CN`: labels, numbers and dates.
    pub locale: Option<String>,
    /// The currency amounts are shown in (default: the pipeline's).
    pub currency: Option<String>,
    /// `month` (default) or `quarter` (`--period 2024-Q4`).
    pub cadence: Option<String>,
    /// Cells with fewer responses than this are suppressed (default 30).
    pub min_cell: Option<u32>,
    /// A source whose newest row is older than this many days before the
    /// period's end is stale, and every figure built from it says so (default 7).
    pub stale_after_days: Option<u32>,
    /// Parameters (`--param name=value`, `--each name`); a table with the
    /// parameter's column shows only the rows for its value.
    #[serde(default)]
    pub params: Ordered<ParamSpec>,
    /// "What to act on": rules over the report's tables for the period.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub description: Option<String>,
    /// The allowed values...
    pub values: Option<Vec<String>>,
    /// ...or `table.column`: its distinct values in the warehouse.
    pub values_from: Option<String>,
    pub default: Option<String>,
    /// The column holding the parameter in the report's tables (default: its name).
    pub column: Option<String>,
}

/// A rule: every row of `table` in the period matching `when` (a SQL
/// condition) becomes an action, `say` with `{column}` filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub table: String,
    pub when: String,
    pub say: String,
    /// `high` (default), `medium` or `low`: the list is ordered by it.
    pub priority: Option<String>,
}

/// A YAML scalar as text (seed rows, test rows); `None` for null.
pub fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::Null => None,
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A model unit test: rows given for the tables the model reads, and the
/// rows it must produce (only the columns named in `expect` are compared,
/// in any order). Run by `touchpoint test`, never against the warehouse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub model: String,
    pub description: Option<String>,
    /// Table → its rows (`{column: value}`); tables the model reads and
    /// not given here are empty. Columns left out are null.
    #[serde(default)]
    pub given: Ordered<Vec<serde_yaml::Mapping>>,
    pub expect: Vec<serde_yaml::Mapping>,
}

/// Named credential profiles for the extracts' and the warehouse's stores
/// (their secrets live in `TOUCHPOINT_PROFILE_<NAME>_*` variables).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesSpec {
    pub extracts: Option<String>,
    pub warehouse: Option<String>,
}

/// Who may read personal data in clear: reader name → the personal columns
/// granted (`source.column`, `table.*` or `*`). A reader is named by
/// `TOUCHPOINT_READER`, else the login name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    #[serde(default)]
    pub grants: Ordered<Vec<String>>,
}

/// The whole pipeline file, after per-entry deserialisation.
#[derive(Debug, Clone, Default)]
pub struct PipelineSpec {
    pub file: PathBuf,
    pub name: String,
    pub description: Option<String>,
    /// Business time zone: periods are local months here.
    pub timezone: String,
    pub currency: String,
    pub warehouse: Option<String>,
    /// Folder or object-store URL that source paths are relative to.
    pub extracts: Option<String>,
    pub seeds: Vec<(String, SeedSpec)>,
    pub sources: Vec<(String, SourceSpec)>,
    pub models: Vec<(String, ModelSpec)>,
    pub reports: Vec<(String, ReportSpec)>,
    pub tests: Vec<(String, TestSpec)>,
    pub profiles: ProfilesSpec,
    pub access: AccessSpec,
    /// Entries whose YAML could not be read (already reported); checks that
    /// depend on them are skipped so one typo gives one error.
    pub unreadable: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "timezone",
    "currency",
    "warehouse",
    "extracts",
    "seeds",
    "sources",
    "models",
    "reports",
    "tests",
    "profiles",
    "access",
];

/// A parsed pipeline: the spec holds every entry that could be read, and
/// `problems` what could not, so later checks still run on the rest.
pub type Parsed = (PipelineSpec, Locator, Vec<Diagnostic>);

/// Parse a pipeline file; every problem is returned, not only the first.
/// `Err` only when the file is not a readable YAML mapping at all.
pub fn load(file: &Path) -> Result<Parsed, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        vec![
            Diagnostic::new(file, None, "", format!("cannot read pipeline file: {e}"))
                .with_help("check the path; pipelines usually live in `pipelines/`"),
        ]
    })?;
    parse(file, &text)
}

pub fn parse(file: &Path, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let locator = Locator::new(text);
    let root: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| (l.line(), l.column()));
        vec![Diagnostic::new(file, pos, "", format!("invalid YAML: {e}"))]
    })?;
    let mut diags = Vec::new();
    let mut spec = PipelineSpec {
        file: file.to_path_buf(),
        ..Default::default()
    };
    let Some(map) = root.as_mapping() else {
        return Err(vec![
            Diagnostic::new(file, None, "", "a pipeline file must be a mapping of keys")
                .with_help(format!("top-level keys: {}", TOP_KEYS.join(", "))),
        ]);
    };
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        let scalar = |diags: &mut Vec<Diagnostic>| -> Option<String> {
            match v {
                serde_yaml::Value::String(s) => Some(s.clone()),
                _ => {
                    diags.push(Diagnostic::new(
                        file,
                        locator.value(key),
                        key,
                        format!("`{key}` must be a string"),
                    ));
                    None
                }
            }
        };
        match key {
            "name" => spec.name = scalar(&mut diags).unwrap_or_default(),
            "description" => spec.description = scalar(&mut diags),
            "timezone" => spec.timezone = scalar(&mut diags).unwrap_or_default(),
            "currency" => spec.currency = scalar(&mut diags).unwrap_or_default(),
            "warehouse" => spec.warehouse = scalar(&mut diags),
            "extracts" => spec.extracts = scalar(&mut diags),
            "profiles" => match serde_yaml::from_value::<ProfilesSpec>(v.clone()) {
                Ok(p) => spec.profiles = p,
                Err(e) => diags.push(
                    Diagnostic::new(file, locator.value(key), key, format!("`profiles`: {e}"))
                        .with_help("e.g. `profiles: {extracts: raw_reader, warehouse: dw_writer}`"),
                ),
            },
            "access" => match serde_yaml::from_value::<AccessSpec>(v.clone()) {
                Ok(a) => spec.access = a,
                Err(e) => diags.push(
                    Diagnostic::new(file, locator.value(key), key, format!("`access`: {e}"))
                        .with_help("e.g. `access: {grants: {fraud_team: [atm.card_number]}}`"),
                ),
            },
            "seeds" => {
                spec.seeds = entries(file, &locator, key, v, &mut diags, &mut spec.unreadable)
            }
            "sources" => {
                spec.sources = entries(file, &locator, key, v, &mut diags, &mut spec.unreadable)
            }
            "models" => {
                spec.models = entries(file, &locator, key, v, &mut diags, &mut spec.unreadable)
            }
            "reports" => {
                spec.reports = entries(file, &locator, key, v, &mut diags, &mut spec.unreadable)
            }
            "tests" => {
                spec.tests = entries(file, &locator, key, v, &mut diags, &mut spec.unreadable)
            }
            other => diags.push(unknown_key(file, &locator, "", other, TOP_KEYS)),
        }
    }
    if spec.name.is_empty() {
        diags.push(
            Diagnostic::new(file, Some((1, 1)), "name", "missing required key `name`")
                .with_help("add `name: my_pipeline` at the top of the file"),
        );
    }
    if spec.timezone.is_empty() {
        spec.timezone = "UTC".into();
    }
    if spec.currency.is_empty() {
        spec.currency = "HKD".into();
    }
    Ok((spec, locator, diags))
}

fn unknown_key(file: &Path, loc: &Locator, parent: &str, key: &str, valid: &[&str]) -> Diagnostic {
    let path = if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
    let d = Diagnostic::new(file, loc.key(&path), &path, format!("unknown key `{key}`"));
    match did_you_mean(key, valid.iter().copied()) {
        Some(s) => d.with_help(format!(
            "did you mean `{s}`? valid keys: {}",
            valid.join(", ")
        )),
        None => d.with_help(format!("valid keys: {}", valid.join(", "))),
    }
}

/// Deserialise every entry of a `name: {…}` section on its own.
fn entries<T: DeserializeOwned>(
    file: &Path,
    loc: &Locator,
    section: &str,
    value: &serde_yaml::Value,
    diags: &mut Vec<Diagnostic>,
    unreadable: &mut Vec<String>,
) -> Vec<(String, T)> {
    let Some(map) = value.as_mapping() else {
        if !value.is_null() {
            diags.push(Diagnostic::new(
                file,
                loc.value(section),
                section,
                format!("`{section}` must be a mapping of names to entries"),
            ));
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            diags.push(Diagnostic::new(
                file,
                loc.value(section),
                section,
                "entry names must be strings",
            ));
            continue;
        };
        let base = format!("{section}.{name}");
        match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) => out.push((name.to_string(), t)),
            Err(e) => {
                diags.push(serde_diagnostic(file, loc, &base, e));
                unreadable.push(name.to_string());
            }
        }
    }
    out
}

fn serde_diagnostic(
    file: &Path,
    loc: &Locator,
    base: &str,
    e: serde_path_to_error::Error<serde_yaml::Error>,
) -> Diagnostic {
    let inner = e.path().to_string();
    let mut path = if inner.is_empty() || inner == "." {
        base.to_string()
    } else {
        format!("{base}.{inner}")
    };
    let msg = e.inner().to_string();
    // serde: "unknown field `delimter`, expected one of `delimiter`, `header`"
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let valid: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        if !path.ends_with(&format!(".{field}")) {
            path = format!("{path}.{field}");
        }
        let d = Diagnostic::new(
            file,
            loc.key(&path),
            &path,
            format!("unknown key `{field}`"),
        );
        return match did_you_mean(field, valid.iter().copied()) {
            Some(s) => d.with_help(format!(
                "did you mean `{s}`? valid keys: {}",
                valid.join(", ")
            )),
            None => d.with_help(format!("valid keys: {}", valid.join(", "))),
        };
    }
    let help = if msg.starts_with("missing field") {
        "add the missing key; see the YAML reference in README.md"
    } else {
        "see the YAML reference in README.md"
    };
    Diagnostic::new(file, loc.value(&path), &path, msg).with_help(help)
}

/// Free text as a name: ASCII letters and digits lowercased, anything
/// else `_` (extract names in `discover`, parameter values in report file
/// names).
pub fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: t\nsources:\n  atm:\n    path: a.csv\n    csv: {}\n    columns:\n      id: {type: string}\n";

    #[test]
    fn parses_a_minimal_pipeline() {
        let (spec, _, problems) = parse(Path::new("p.yaml"), GOOD).expect("parses");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(spec.sources.len(), 1);
        assert_eq!(spec.timezone, "UTC");
        let csv = spec.sources[0].1.csv.as_ref().expect("csv");
        assert_eq!(csv.delimiter, ",");
        assert!(csv.header);
    }

    #[test]
    fn reports_every_unknown_key_with_position() {
        let text = "name: t\nsourcs: {}\nsources:\n  atm:\n    path: a.csv\n    csv: {delimter: '|'}\n    columns:\n      id: {type: string, requird: true}\n";
        let (_, _, diags) = parse(Path::new("p.yaml"), text).expect("parses");
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert_eq!((diags[0].line, diags[0].column), (2, 1));
        assert_eq!(diags[0].path, "sourcs");
        assert!(diags[0].help.as_deref().unwrap_or("").contains("`sources`"));
        // The first error inside one entry is reported for that entry.
        assert_eq!(diags[1].path, "sources.atm.csv.delimter");
        assert_eq!((diags[1].line, diags[1].column), (6, 11));
        assert!(
            diags[1]
                .help
                .as_deref()
                .unwrap_or("")
                .contains("`delimiter`")
        );
    }

    #[test]
    fn rejects_duplicate_names() {
        let text = "name: t\nsources:\n  a:\n    path: a.csv\n    csv: {}\n    columns:\n      id: {type: string}\n      id: {type: int}\n";
        // A duplicate key is a YAML error: nothing after it can be trusted.
        let diags = parse(Path::new("p.yaml"), text).expect_err("fails");
        assert!(diags[0].message.contains("duplicate"), "{diags:?}");
        assert_eq!((diags[0].line, diags[0].column), (7, 7));
    }
}
