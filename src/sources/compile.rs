//! A source's spec → [`Source`]: format, typed columns and their rules, key,
//! period column, drift policy, control totals, and a path confined to the
//! extracts location.

use super::formats::csv::Csv;
use super::formats::jsonl::Jsonl;
use super::formats::parquet::Parquet;
use super::{Column, Compression, Format, SchemaChange, Source, SourceSpec, bounds, files_for};
use crate::period;
use crate::spec::types::{ColumnType, TYPE_NAMES};
use crate::spec::{Diags, Project, did_you_mean, normalize};
use chrono_tz::Tz;
use std::path::{Component, Path, PathBuf};

/// Where source paths start: a local folder or an object-store URL.
#[derive(Debug, Clone)]
pub enum Base {
    Local(PathBuf),
    Remote(String),
}

/// What compiling a source needs from the rest of the pipeline.
pub struct Context<'a> {
    pub project: &'a Project,
    /// Source paths are relative to this (`None`: `extracts:` itself is
    /// wrong, already reported).
    pub extracts: Option<Base>,
    /// Every source as declared (for `references`).
    pub all: &'a [(String, SourceSpec)],
    /// Do not list files (commands that only read the warehouse).
    pub skip_file_checks: bool,
}

impl Context<'_> {
    /// A source's absolute pattern: a URL as written, or its path joined to
    /// `extracts:` (which it may not leave).
    pub fn pattern(&self, at: &str, p: &str, diags: &mut Diags) -> Option<String> {
        if crate::store::is_url(p) {
            return Some(p.to_string());
        }
        let escapes = Path::new(p)
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir));
        match &self.extracts {
            Some(Base::Remote(base)) => {
                if escapes {
                    diags.err(
                        at,
                        format!("path `{p}` leaves the extracts location `{base}`"),
                        Some("write the path inside `extracts:`, or give a full URL".into()),
                    );
                    return None;
                }
                Some(format!("{base}/{p}"))
            }
            Some(Base::Local(dir)) => {
                let full = normalize(&dir.join(p));
                if !full.starts_with(&self.project.root) {
                    diags.err(
                        at,
                        format!(
                            "path `{p}` leaves the project folder `{}`",
                            self.project.root.display()
                        ),
                        Some("keep extracts inside the project, or use an object-store URL".into()),
                    );
                    return None;
                }
                Some(full.to_string_lossy().into_owned())
            }
            // `extracts:` itself is wrong; already reported.
            None => None,
        }
    }
}

/// Compile the source `name`: its format, columns and their rules, key,
/// period column, compression, encoding, drift policy, control totals and
/// path (which must match at least one file unless `cx.skip_file_checks`).
pub async fn compile(
    name: &str,
    s: &SourceSpec,
    cx: &Context<'_>,
    diags: &mut Diags<'_>,
) -> Option<Source> {
    let at = format!("sources.{name}");
    let before = diags.count();
    let names: Vec<&str> = s.columns.iter().map(|(n, _)| n.as_str()).collect();
    let database = s
        .postgres
        .as_ref()
        .and_then(|pg| pg.compile(&at, &s.key, cx.project, diags))
        .map(super::database::Database::Postgres);
    let is_database = s.postgres.is_some();
    let format = match (&s.csv, &s.jsonl, &s.parquet, &s.fixed_width) {
        // A database source has no file format (the placeholder is unused).
        (None, None, None, None) if is_database => Format::Parquet(Parquet),
        _ if is_database => {
            diags.err(
                &at,
                "a database source has no file format",
                Some(
                    "remove `csv`/`jsonl`/`parquet`/`fixed_width`, or the `postgres:` block".into(),
                ),
            );
            Format::Parquet(Parquet)
        }
        (None, None, None, Some(fw)) => Format::FixedWidth(fw.compile(&at, &names, diags)),
        (Some(c), None, None, None) => Format::Csv(c.compile(&at, diags)),
        (None, Some(_), None, None) => Format::Jsonl(Jsonl),
        (None, None, Some(_), None) => Format::Parquet(Parquet),
        _ => {
            diags.err(
                &at,
                "a source needs exactly one format: `csv`, `jsonl`, `parquet` or `fixed_width` (or a database: `postgres`)",
                Some("add e.g. `csv: {delimiter: \",\"}`".into()),
            );
            Format::Csv(Csv::default())
        }
    };
    let mut columns = Vec::new();
    for (cname, c) in s.columns.iter() {
        let cat = format!("{at}.columns.{cname}");
        let ty = match c.ty.parse::<ColumnType>() {
            Ok(t) => t,
            Err(e) => {
                diags.err(
                    &format!("{cat}.type"),
                    e,
                    Some(format!("types: {TYPE_NAMES}")),
                );
                continue;
            }
        };
        let timezone = match &c.timezone {
            Some(z) => match z.parse::<Tz>() {
                Ok(t) => Some(t),
                Err(_) => {
                    diags.err(
                        &format!("{cat}.timezone"),
                        format!("unknown time zone `{z}`"),
                        Some("use an IANA name such as Asia/Hong_Kong".into()),
                    );
                    None
                }
            },
            None => None,
        };
        if (c.min.is_some() || c.max.is_some()) && !ty.is_numeric() {
            diags.err(
                &cat,
                format!("`min`/`max` need a numeric column, `{cname}` is {ty}"),
                None,
            );
        }
        // A bound as written (serde_yaml reads numbers as floats), and
        // checked to apply exactly to the column's type.
        let bound_text = |key: &str, n: &Option<serde_yaml::Number>| -> Option<String> {
            let n = n.as_ref()?;
            Some(
                diags
                    .locator()
                    .scalar(&format!("{cat}.{key}"))
                    .map(str::to_string)
                    .unwrap_or_else(|| n.to_string()),
            )
        };
        let (min, max) = (bound_text("min", &c.min), bound_text("max", &c.max));
        if ty.is_numeric() {
            let mut compiled = |key: &str, text: &Option<String>| {
                let t = text.as_deref()?;
                bounds::compile(t, ty)
                    .map_err(|e| {
                        diags.err(
                            &format!("{cat}.{key}"),
                            format!("`{key}` of `{cname}`: {e}"),
                            Some(bound_help(ty)),
                        )
                    })
                    .ok()
            };
            if let (Some(lo), Some(hi)) = (compiled("min", &min), compiled("max", &max))
                && bounds::crossed(lo, hi)
            {
                diags.err(
                    &format!("{cat}.min"),
                    format!("`min` of `{cname}` is above its `max`: no value could pass"),
                    None,
                );
            }
        }
        let references = c.references.as_ref().and_then(|r| {
            let Some((src, rc)) = r.split_once('.') else {
                diags.err(
                    &format!("{cat}.references"),
                    format!("`{r}` must be `source.column`"),
                    None,
                );
                return None;
            };
            match cx.all.iter().find(|(n, _)| n == src) {
                None => {
                    let near = did_you_mean(src, cx.all.iter().map(|(n, _)| n.as_str()));
                    diags.err(
                        &format!("{cat}.references"),
                        format!("unknown source `{src}`"),
                        near.map(|n| format!("did you mean `{n}`?")),
                    );
                    None
                }
                Some((_, other)) if other.columns.get(rc).is_none() => {
                    diags.err(
                        &format!("{cat}.references"),
                        format!("source `{src}` has no column `{rc}`"),
                        None,
                    );
                    None
                }
                Some(_) if src == name => {
                    diags.err(
                        &format!("{cat}.references"),
                        "a source cannot reference itself",
                        None,
                    );
                    None
                }
                Some(_) => Some((src.to_string(), rc.to_string())),
            }
        });
        columns.push(Column {
            name: cname.clone(),
            ty,
            format: c.format.clone(),
            timezone,
            required: c.required,
            personal: c.personal,
            min,
            max,
            values: c.values.as_ref().and_then(|v| {
                accepted_values(&ty, v)
                    .map_err(|(e, help)| diags.err(&format!("{cat}.values"), e, Some(help)))
                    .ok()
            }),
            references,
            description: c.description.clone(),
        });
    }
    if let Some(pc) = &s.period_column {
        match columns.iter().find(|c| &c.name == pc) {
            Some(c) if matches!(c.ty, ColumnType::Date | ColumnType::Timestamp) => {}
            Some(c) => diags.err(
                &format!("{at}.period_column"),
                format!(
                    "period column `{pc}` is {}, it must be a date or timestamp",
                    c.ty
                ),
                None,
            ),
            None => diags.err(
                &format!("{at}.period_column"),
                format!("`{pc}` is not a declared column"),
                Some(format!("columns: {}", names.join(", "))),
            ),
        }
    }
    for (i, k) in s.key.iter().enumerate() {
        if !names.contains(&k.as_str()) {
            diags.err(
                &format!("{at}.key.{i}"),
                format!("key column `{k}` is not declared"),
                Some(format!("columns: {}", names.join(", "))),
            );
        }
    }
    if names.contains(&period::COLUMN) && s.period_column.is_some() {
        diags.err(
            &format!("{at}.columns.{}", period::COLUMN),
            "`period` is reserved for the partition column of periodic sources",
            None,
        );
    }
    let compression = match s.compression.as_deref() {
        None => None,
        Some("gzip") => Some(Compression::Gzip),
        Some("zstd") => Some(Compression::Zstd),
        Some("none") => Some(Compression::None),
        Some(other) => {
            diags.err(
                &format!("{at}.compression"),
                format!("unknown compression `{other}`"),
                Some("use gzip, zstd or none (default: by extension, .gz / .zst)".into()),
            );
            None
        }
    };
    let encoding = match s.encoding.as_deref() {
        None => None,
        Some(label) => match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => None,
            Some(e) if !format.reader().is_text() => {
                diags.err(
                    &format!("{at}.encoding"),
                    format!(
                        "Parquet text is always UTF-8; `encoding: {}` does not apply",
                        e.name()
                    ),
                    Some("remove `encoding:` from this source".into()),
                );
                None
            }
            Some(e) => Some(e),
            None => {
                diags.err(
                    &format!("{at}.encoding"),
                    format!("unknown text encoding `{label}`"),
                    Some("use utf-8, gbk, gb18030 or big5 (any WHATWG label)".into()),
                );
                None
            }
        },
    };
    let on_schema_change = match s.on_schema_change.as_deref() {
        None | Some("fail") => SchemaChange::Fail,
        Some("ignore") => SchemaChange::Ignore,
        Some("evolve") if !format.reader().names_columns() => {
            diags.err(
                &format!("{at}.on_schema_change"),
                "`evolve` needs column names in the extract (a CSV header, JSON keys or Parquet)",
                Some("use `fail` or `ignore` for fixed-width and header-less files".into()),
            );
            SchemaChange::Fail
        }
        Some("evolve") => SchemaChange::Evolve,
        Some(other) => {
            let help = if other == "evolve" || other == "append_new_columns" {
                "evolving the table's schema is not supported yet; use fail or ignore"
            } else {
                "use fail (default) or ignore"
            };
            diags.err(
                &format!("{at}.on_schema_change"),
                format!("unknown on_schema_change `{other}`"),
                Some(help.into()),
            );
            SchemaChange::Fail
        }
    };
    if let Some(f) = s.max_bad_fraction
        && !(0.0..=1.0).contains(&f)
    {
        diags.err(
            &format!("{at}.max_bad_fraction"),
            format!("max_bad_fraction {f} is not a share"),
            Some("use a number from 0 to 1, e.g. 0.01 for 1%".into()),
        );
    }
    let control = s
        .control
        .as_ref()
        .and_then(|c| c.compile(&at, &format, &columns, diags));
    // A periodic file source whose path names no period takes each row's
    // period from its value, and replaces the periods present: a table of
    // the same columns throughout.
    if s.period_column.is_some()
        && on_schema_change == SchemaChange::Evolve
        && s.path
            .as_ref()
            .is_some_and(|p| !period::PLACEHOLDERS.iter().any(|x| p.contains(x)))
    {
        diags.err(
            &format!("{at}.on_schema_change"),
            "`evolve` is not supported when periods come from the rows' values (the path names no period)",
            Some("use `fail` or `ignore`, or put `{period}` in the path".into()),
        );
    }
    let (cursor, deletes) = super::database::spec::compile(&at, s, &columns, is_database, diags);
    let history = s
        .history
        .as_ref()
        .and_then(|h| super::history::compile(&at, h, s, &columns, diags));
    if is_database {
        for (key, set) in [
            ("path", s.path.is_some()),
            ("compression", s.compression.is_some()),
            ("encoding", s.encoding.is_some()),
            ("control", s.control.is_some()),
        ] {
            if set {
                diags.err(
                    &format!("{at}.{key}"),
                    format!("`{key}` applies to file sources, not to a database"),
                    Some("remove the key".into()),
                );
            }
        }
        if on_schema_change == SchemaChange::Evolve {
            diags.err(
                &format!("{at}.on_schema_change"),
                "`evolve` is not supported for database sources yet",
                Some("use `fail` (default) or `ignore`".into()),
            );
        }
        if diags.count() > before {
            return None;
        }
        return Some(Source {
            name: name.into(),
            path: String::new(),
            pattern: String::new(),
            root: None,
            format,
            compression: None,
            encoding: None,
            on_schema_change,
            max_bad_rows: s.max_bad_rows,
            max_bad_fraction: s.max_bad_fraction,
            period_column: s.period_column.clone(),
            key: s.key.clone(),
            columns,
            description: s.description.clone(),
            control: None,
            database,
            cursor,
            deletes,
            history,
        });
    }
    let Some(path) = s.path.as_deref() else {
        diags.err(
            &at,
            "a file source needs a `path`",
            Some("add e.g. `path: crm/customers_*.csv` (relative to `extracts:`)".into()),
        );
        return None;
    };
    let pattern = cx.pattern(&format!("{at}.path"), path, diags);
    if let Some(p) = pattern.as_ref().filter(|_| !cx.skip_file_checks) {
        let mut probe = Source::new(name, p.clone(), format.clone());
        probe.root = (!crate::store::is_url(p)).then(|| cx.project.root.clone());
        match files_for(&probe, None).await {
            Ok(files) if !files.is_empty() => {}
            Ok(_) => diags.err(
                &format!("{at}.path"),
                format!("no file matches `{path}` (looked for `{p}`)"),
                Some("check the path (it is relative to `extracts:`, else to the pipeline file); for the demo data run `touchpoint generate`".into()),
            ),
            Err(e) => diags.err(
                &format!("{at}.path"),
                e.to_string(),
                Some("check the pattern; for object stores, the AWS_*/GOOGLE_*/AZURE_* environment variables".into()),
            ),
        }
    }
    if diags.count() > before {
        return None;
    }
    let root = (!crate::store::is_url(pattern.as_deref()?)).then(|| cx.project.root.clone());
    Some(Source {
        name: name.into(),
        path: path.to_string(),
        pattern: pattern?,
        root,
        format,
        compression,
        encoding,
        on_schema_change,
        max_bad_rows: s.max_bad_rows,
        max_bad_fraction: s.max_bad_fraction,
        period_column: s.period_column.clone(),
        key: s.key.clone(),
        columns,
        description: s.description.clone(),
        control,
        database: None,
        cursor,
        deletes,
        history,
    })
}

/// A column's accepted values as the loaded values print: text as written;
/// an `int`, `bool` or `date` value must be one of the type (`01` is `1`).
fn accepted_values(ty: &ColumnType, values: &[String]) -> Result<Vec<String>, (String, String)> {
    let one = |v: &String| -> Option<String> {
        match ty {
            ColumnType::String => Some(v.clone()),
            ColumnType::Int => v.trim().parse::<i64>().ok().map(|i| i.to_string()),
            ColumnType::Bool => match v.trim() {
                "true" | "false" => Some(v.trim().to_string()),
                _ => None,
            },
            ColumnType::Date => chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .ok()
                .map(|d| d.to_string()),
            _ => None,
        }
    };
    if !matches!(
        ty,
        ColumnType::String | ColumnType::Int | ColumnType::Bool | ColumnType::Date
    ) {
        return Err((
            format!("accepted values do not apply to a {ty} column"),
            "use `min:` / `max:` for numbers and times, or `values:` on a string, int, bool or date column".into(),
        ));
    }
    values
        .iter()
        .map(|v| {
            one(v).ok_or_else(|| {
                (
                    format!("accepted value `{v}` is not of type {ty}"),
                    "write each value as the column's type would load it".into(),
                )
            })
        })
        .collect()
}

/// What a bound of a column of this type may be.
fn bound_help(ty: ColumnType) -> String {
    match ty {
        ColumnType::Int => "an int column's bounds are whole numbers".into(),
        ColumnType::Decimal { scale, .. } => format!(
            "a {ty} column's bounds have at most {scale} decimal places and fit its precision"
        ),
        _ => "a bound is a finite number (not .nan or .inf)".into(),
    }
}
