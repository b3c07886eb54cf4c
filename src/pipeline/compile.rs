//! Spec → [`Pipeline`]: resolve and confine paths, parse types, check names and
//! references, plan every model's SQL against the declared schemas, and order
//! models by the tables they read. Collects every problem before returning.

use super::UnitTest;
use super::{Column, Format, Model, Pipeline, Report, Seed, Source, Step, graph, period};
use crate::quality::{Check, CheckKind, Severity};
use crate::spec::types::{ColumnType, TYPE_NAMES};
use crate::spec::{self, Diagnostic, Locator, PipelineSpec, SourceSpec, did_you_mean};
use crate::warehouse::log::{
    LOADED_FILES, LOADED_FILES_SCHEMA, QUARANTINE, QUARANTINE_SCHEMA, RUNS, RUNS_SCHEMA,
};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Settings given outside the pipeline file (flags, environment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces the pipeline's `extracts:` (e.g. the same pipeline reading
    /// a bucket instead of a local folder).
    pub extracts: Option<String>,
    /// Skip checking that every source has files: for commands that only
    /// read the warehouse (`query`, `report`, `tables`, `graph`), where
    /// listing a bucket's extracts would only cost time.
    pub skip_file_checks: bool,
}

/// Load and validate a pipeline file.
pub async fn compile(file: &Path) -> Result<Pipeline, Vec<Diagnostic>> {
    compile_with(file, &Overrides::default()).await
}

/// [`compile`], with settings from outside the file.
pub async fn compile_with(file: &Path, over: &Overrides) -> Result<Pipeline, Vec<Diagnostic>> {
    let (mut spec, loc, problems) = spec::load(file)?;
    if let Some(e) = &over.extracts {
        spec.extracts = Some(e.clone());
    }
    let mut compiler = Compiler::new(&spec, &loc);
    compiler.diags = problems;
    compiler.skip_file_checks = over.skip_file_checks;
    compiler.run(&spec).await
}

/// Where source paths start: a local folder or an object-store URL.
enum Base {
    Local(PathBuf),
    Remote(String),
}

struct Compiler<'a> {
    file: &'a Path,
    loc: &'a Locator,
    dir: PathBuf,
    root: PathBuf,
    /// Source paths are relative to this (the pipeline folder by default).
    extracts: Option<Base>,
    skip_file_checks: bool,
    diags: Vec<Diagnostic>,
    /// Every table's schema once the models are planned (for the checks).
    schemas: HashMap<String, SchemaRef>,
}

/// `lib.rs`-style lexical normalisation: `a/b/../c` → `a/c`, without touching
/// the file system (the file may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl<'a> Compiler<'a> {
    fn new(spec: &'a PipelineSpec, loc: &'a Locator) -> Self {
        let file = spec.file.as_path();
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        // A pipeline in `<project>/pipelines/` belongs to `<project>`.
        let root = if dir.file_name().is_some_and(|n| n == "pipelines") {
            dir.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone())
        } else {
            dir.clone()
        };
        Compiler {
            file,
            loc,
            dir: normalize(&dir),
            root: normalize(&root),
            extracts: None,
            skip_file_checks: false,
            diags: Vec::new(),
            schemas: HashMap::new(),
        }
    }

    fn err(&mut self, path: &str, msg: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::new(self.file, self.loc.value(path), path, msg);
        d.help = help;
        self.diags.push(d);
    }

    /// Resolve a YAML path against the pipeline folder; it must stay in the project.
    fn resolve(&mut self, at: &str, p: &str) -> Option<PathBuf> {
        let full = normalize(&self.dir.join(p));
        if !full.starts_with(&self.root) {
            self.err(
                at,
                format!("path `{p}` leaves the project folder `{}`", self.root.display()),
                Some("keep extracts, SQL and templates inside the project, or use an object-store URL".into()),
            );
            return None;
        }
        Some(full)
    }

    /// A source's absolute pattern: a URL as written, or its path joined to
    /// `extracts:` (which it may not leave).
    fn source_pattern(&mut self, at: &str, p: &str) -> Option<String> {
        if crate::store::is_url(p) {
            return Some(p.to_string());
        }
        let escapes = Path::new(p)
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir));
        match &self.extracts {
            Some(Base::Remote(base)) => {
                if escapes {
                    self.err(
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
                if !full.starts_with(&self.root) {
                    self.err(
                        at,
                        format!(
                            "path `{p}` leaves the project folder `{}`",
                            self.root.display()
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

    async fn run(mut self, spec: &PipelineSpec) -> Result<Pipeline, Vec<Diagnostic>> {
        let timezone: Tz = match spec.timezone.parse() {
            Ok(tz) => tz,
            Err(_) => {
                self.err(
                    "timezone",
                    format!("unknown time zone `{}`", spec.timezone),
                    Some("use an IANA name such as Asia/Hong_Kong or UTC".into()),
                );
                Tz::UTC
            }
        };
        self.extracts = match &spec.extracts {
            Some(e) if crate::store::is_url(e) => {
                // Listing the extracts below already needs the profile.
                crate::store::bind_profile(e, spec.profiles.extracts.as_deref());
                Some(Base::Remote(e.trim_end_matches('/').into()))
            }
            Some(e) => self.resolve("extracts", e).map(Base::Local),
            None => Some(Base::Local(self.dir.clone())),
        };
        self.check_names(spec);
        let seeds: Vec<Seed> = spec
            .seeds
            .iter()
            .filter_map(|(n, s)| self.seed(n, s))
            .collect();
        let mut sources: Vec<Source> = Vec::new();
        for (n, s) in &spec.sources {
            sources.extend(self.source(n, s, spec).await);
        }
        let reports = self.reports(spec);
        let models = self.models(spec, &seeds, &sources).await;
        let checks = self.checks(spec, &sources);
        let tests = self.unit_tests(spec, &models);
        let grants = self.grants(spec, &sources, &models);
        if !self.diags.is_empty() {
            return Err(self.diags);
        }
        Ok(Pipeline {
            file: spec.file.clone(),
            dir: self.dir,
            root: self.root,
            name: spec.name.clone(),
            description: spec.description.clone(),
            timezone,
            currency: spec.currency.clone(),
            warehouse: spec.warehouse.clone(),
            profiles: spec.profiles.clone(),
            seeds,
            sources,
            models,
            reports,
            checks,
            tests,
            grants,
            schemas: std::mem::take(&mut self.schemas),
        })
    }

    /// Compile `tests:`: the model exists, given tables are ones it reads,
    /// and every column named exists.
    fn unit_tests(&mut self, spec: &PipelineSpec, models: &[Model]) -> Vec<UnitTest> {
        let mut out = Vec::new();
        for (name, t) in &spec.tests {
            let at = format!("tests.{name}");
            let before = self.diags.len();
            let Some(model) = models.iter().find(|m| m.name == t.model) else {
                let near = did_you_mean(&t.model, models.iter().map(|m| m.name.as_str()));
                self.err(
                    &format!("{at}.model"),
                    format!("unknown model `{}`", t.model),
                    near.map(|n| format!("did you mean `{n}`?")),
                );
                continue;
            };
            for (table, rows) in t.given.iter() {
                if !model.depends_on.contains(table) {
                    self.err(
                        &format!("{at}.given.{table}"),
                        format!("model `{}` does not read `{table}`", model.name),
                        Some(format!("it reads {}", model.depends_on.join(", "))),
                    );
                    continue;
                }
                if let Some(schema) = self.schemas.get(table).cloned() {
                    self.test_columns(&format!("{at}.given.{table}"), rows, &schema);
                }
            }
            if let Some(schema) = self.schemas.get(&model.name).cloned() {
                self.test_columns(&format!("{at}.expect"), &t.expect, &schema);
            }
            if self.diags.len() == before {
                out.push(UnitTest {
                    name: name.clone(),
                    model: model.name.clone(),
                    description: t.description.clone(),
                    given: t
                        .given
                        .iter()
                        .map(|(n, r)| (n.clone(), r.clone()))
                        .collect(),
                    expect: t.expect.clone(),
                });
            }
        }
        out
    }

    fn test_columns(&mut self, at: &str, rows: &[serde_yaml::Mapping], schema: &SchemaRef) {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for (i, row) in rows.iter().enumerate() {
            for k in row.keys() {
                let k = k.as_str().unwrap_or_default();
                if !names.contains(&k) {
                    let near = did_you_mean(k, names.iter().copied());
                    self.err(
                        &format!("{at}.{i}.{k}"),
                        format!("unknown column `{k}`"),
                        Some(
                            near.map(|n| format!("did you mean `{n}`?"))
                                .unwrap_or_else(|| format!("columns: {}", names.join(", "))),
                        ),
                    );
                }
            }
        }
    }

    /// Compile the `checks:` of sources and models against their schemas.
    fn checks(&mut self, spec: &PipelineSpec, sources: &[Source]) -> Vec<Check> {
        let tables = spec
            .sources
            .iter()
            .map(|(n, s)| ("sources", n, &s.checks))
            .chain(spec.models.iter().map(|(n, m)| ("models", n, &m.checks)));
        let mut out = Vec::new();
        for (section, table, specs) in tables {
            let Some(schema) = self.schemas.get(table.as_str()).cloned() else {
                continue; // the table itself failed to compile
            };
            let periodic = sources.iter().any(|s| &s.name == table && s.is_periodic());
            for (i, c) in specs.iter().enumerate() {
                let at = format!("{section}.{table}.checks.{i}");
                if let Some(kind) = self.check_kind(&at, c, &schema, periodic) {
                    let severity = match c.severity.as_deref() {
                        None | Some("error") => Severity::Error,
                        Some("warn") => Severity::Warn,
                        Some(other) => {
                            self.err(
                                &format!("{at}.severity"),
                                format!("unknown severity `{other}`"),
                                Some("use `error` (fails the run) or `warn`".into()),
                            );
                            continue;
                        }
                    };
                    out.push(Check {
                        table: table.clone(),
                        kind,
                        severity,
                        periodic,
                    });
                }
            }
        }
        out
    }

    fn check_kind(
        &mut self,
        at: &str,
        c: &spec::CheckSpec,
        schema: &SchemaRef,
        periodic: bool,
    ) -> Option<CheckKind> {
        const KINDS: [&str; 7] = [
            "not_null",
            "unique",
            "accepted_values",
            "range",
            "relationships",
            "freshness",
            "row_count_change",
        ];
        let has = |col: &str| schema.field_with_name(col).is_ok();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let column = |this: &mut Self, key: &str, name: Option<&String>| -> Option<String> {
            let Some(name) = name else {
                this.err(at, format!("`{}` needs `{key}`", c.check), None);
                return None;
            };
            if !has(name) {
                let near = did_you_mean(name, names.iter().map(String::as_str));
                this.err(
                    &format!("{at}.{key}"),
                    format!("unknown column `{name}`"),
                    near.map(|n| format!("did you mean `{n}`?")),
                );
                return None;
            }
            Some(name.clone())
        };
        let kind = match c.check.as_str() {
            "not_null" => CheckKind::NotNull {
                column: column(self, "column", c.column.as_ref())?,
            },
            "unique" => {
                let list: Vec<String> = match (&c.columns, &c.column) {
                    (Some(cols), _) => cols.clone(),
                    (None, Some(one)) => vec![one.clone()],
                    (None, None) => {
                        self.err(at, "`unique` needs `column` or `columns`", None);
                        return None;
                    }
                };
                let mut ok = Vec::new();
                for n in &list {
                    ok.push(column(self, "columns", Some(n))?);
                }
                CheckKind::Unique { columns: ok }
            }
            "accepted_values" => {
                let col = column(self, "column", c.column.as_ref())?;
                let Some(values) = c.values.clone() else {
                    self.err(at, "`accepted_values` needs `values`", None);
                    return None;
                };
                CheckKind::AcceptedValues {
                    column: col,
                    values,
                }
            }
            "range" => {
                let col = column(self, "column", c.column.as_ref())?;
                if c.min.is_none() && c.max.is_none() {
                    self.err(at, "`range` needs `min`, `max` or both", None);
                    return None;
                }
                CheckKind::Range {
                    column: col,
                    min: c.min,
                    max: c.max,
                }
            }
            "relationships" => {
                let col = column(self, "column", c.column.as_ref())?;
                let target = c.to.clone().unwrap_or_default();
                let Some((t, tc)) = target.split_once('.') else {
                    self.err(
                        &format!("{at}.to"),
                        "`relationships` needs `to: table.column`",
                        None,
                    );
                    return None;
                };
                let ok = self.schemas.get(t).map(|s| s.field_with_name(tc).is_ok());
                if ok != Some(true) {
                    let what = if ok.is_none() { "table" } else { "column" };
                    self.err(
                        &format!("{at}.to"),
                        format!("unknown {what} in `{target}`"),
                        Some("`to` names a seed, source or model and one of its columns".into()),
                    );
                    return None;
                }
                CheckKind::Relationships {
                    column: col,
                    table: t.to_string(),
                    to_column: tc.to_string(),
                }
            }
            "freshness" => {
                let col = column(self, "column", c.column.as_ref())?;
                let ty = schema
                    .field_with_name(&col)
                    .map(|f| f.data_type().clone())
                    .ok();
                if !matches!(
                    ty,
                    Some(datafusion::arrow::datatypes::DataType::Timestamp(..))
                        | Some(datafusion::arrow::datatypes::DataType::Date32)
                ) {
                    self.err(
                        &format!("{at}.column"),
                        format!("`freshness` needs a date or timestamp column; `{col}` is not"),
                        None,
                    );
                    return None;
                }
                let Some(h) = c.max_age_hours.filter(|h| *h > 0.0) else {
                    self.err(at, "`freshness` needs `max_age_hours` (> 0)", None);
                    return None;
                };
                CheckKind::Freshness {
                    column: col,
                    max_age_hours: h,
                }
            }
            "row_count_change" => {
                let default = if periodic {
                    Some("period".to_string())
                } else {
                    None
                };
                let col = column(self, "column", c.column.as_ref().or(default.as_ref()))?;
                let Some(m) = c.max_change.filter(|m| *m >= 0.0) else {
                    self.err(
                        at,
                        "`row_count_change` needs `max_change` (a fraction, 0.5 = ±50%)",
                        None,
                    );
                    return None;
                };
                CheckKind::RowCountChange {
                    column: col,
                    max_change: m,
                }
            }
            other => {
                let near = did_you_mean(other, KINDS.iter().copied());
                self.err(
                    &format!("{at}.check"),
                    format!("unknown check `{other}`"),
                    Some(
                        near.map(|n| format!("did you mean `{n}`?"))
                            .unwrap_or_else(|| format!("checks are {}", KINDS.join(", "))),
                    ),
                );
                return None;
            }
        };
        Some(kind)
    }

    fn check_names(&mut self, spec: &PipelineSpec) {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let all = spec
            .seeds
            .iter()
            .map(|(n, _)| ("seeds", n))
            .chain(spec.sources.iter().map(|(n, _)| ("sources", n)))
            .chain(spec.models.iter().map(|(n, _)| ("models", n)));
        for (section, name) in all {
            let at = format!("{section}.{name}");
            if !valid_name(name) {
                self.err(
                    &at,
                    format!("`{name}` is not a valid table name"),
                    Some("use lowercase letters, digits and `_`, starting with a letter".into()),
                );
            }
            if let Some(prev) = seen.insert(name, section) {
                self.err(
                    &at,
                    format!("`{name}` is already defined in `{prev}`"),
                    Some("table names must be unique across seeds, sources and models".into()),
                );
            }
        }
    }

    fn seed(&mut self, name: &str, s: &crate::spec::SeedSpec) -> Option<Seed> {
        let mut cols = Vec::new();
        for (c, t) in s.columns.iter() {
            match t.parse::<ColumnType>() {
                Ok(ty) => cols.push((c.clone(), ty)),
                Err(e) => self.err(
                    &format!("seeds.{name}.columns.{c}"),
                    e,
                    Some(format!("types: {TYPE_NAMES}")),
                ),
            }
        }
        for (i, row) in s.rows.iter().enumerate() {
            if row.len() != s.columns.0.len() {
                self.err(
                    &format!("seeds.{name}.rows.{i}"),
                    format!(
                        "row has {} values, the seed declares {} columns",
                        row.len(),
                        s.columns.0.len()
                    ),
                    None,
                );
            }
        }
        (cols.len() == s.columns.0.len()).then(|| Seed {
            name: name.into(),
            columns: cols,
            spec: s.clone(),
        })
    }

    async fn source(&mut self, name: &str, s: &SourceSpec, spec: &PipelineSpec) -> Option<Source> {
        let at = format!("sources.{name}");
        let before = self.diags.len();
        let format = match (&s.csv, &s.jsonl, &s.parquet, &s.fixed_width) {
            (None, None, None, Some(fw)) => {
                let mut ranges = Vec::new();
                for (cname, _) in s.columns.iter() {
                    match fw.positions.get(cname) {
                        Some([start, width]) if *start >= 1 && *width >= 1 => {
                            ranges.push((start - 1, *width));
                        }
                        Some(_) => self.err(
                            &format!("{at}.fixed_width.positions.{cname}"),
                            "start and width must be at least 1",
                            Some(
                                "positions are [start, width] in bytes, start counted from 1"
                                    .into(),
                            ),
                        ),
                        None => self.err(
                            &format!("{at}.fixed_width.positions"),
                            format!("column `{cname}` has no position"),
                            Some(format!("add `{cname}: [start, width]`")),
                        ),
                    }
                }
                for (pname, _) in fw.positions.iter() {
                    if s.columns.get(pname).is_none() {
                        self.err(
                            &format!("{at}.fixed_width.positions.{pname}"),
                            format!("position for undeclared column `{pname}`"),
                            None,
                        );
                    }
                }
                Format::FixedWidth {
                    skip_lines: fw.skip_lines,
                    ranges: ranges.into(),
                }
            }
            (Some(c), None, None, None) => {
                let one = |v: &str| -> Option<u8> {
                    let v = if v == "\\t" { "\t" } else { v };
                    (v.len() == 1).then(|| v.as_bytes()[0])
                };
                let delimiter = one(&c.delimiter);
                let quote = one(&c.quote);
                if delimiter.is_none() {
                    self.err(
                        &format!("{at}.csv.delimiter"),
                        format!("delimiter `{}` must be one character", c.delimiter),
                        Some("for example \",\", \"|\" or \"\\t\"".into()),
                    );
                }
                if quote.is_none() {
                    self.err(
                        &format!("{at}.csv.quote"),
                        "quote must be one character",
                        None,
                    );
                }
                Format::Csv {
                    delimiter: delimiter.unwrap_or(b','),
                    header: c.header,
                    quote: quote.unwrap_or(b'"'),
                }
            }
            (None, Some(_), None, None) => Format::Jsonl,
            (None, None, Some(_), None) => Format::Parquet,
            _ => {
                self.err(
                    &at,
                    "a source needs exactly one format: `csv`, `jsonl`, `parquet` or `fixed_width`",
                    Some("add e.g. `csv: {delimiter: \",\"}`".into()),
                );
                Format::Csv {
                    delimiter: b',',
                    header: true,
                    quote: b'"',
                }
            }
        };
        let mut columns = Vec::new();
        for (cname, c) in s.columns.iter() {
            let cat = format!("{at}.columns.{cname}");
            let ty = match c.ty.parse::<ColumnType>() {
                Ok(t) => t,
                Err(e) => {
                    self.err(
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
                        self.err(
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
                self.err(
                    &cat,
                    format!("`min`/`max` need a numeric column, `{cname}` is {ty}"),
                    None,
                );
            }
            let references = c.references.as_ref().and_then(|r| {
                let Some((src, rc)) = r.split_once('.') else {
                    self.err(
                        &format!("{cat}.references"),
                        format!("`{r}` must be `source.column`"),
                        None,
                    );
                    return None;
                };
                match spec.sources.iter().find(|(n, _)| n == src) {
                    None => {
                        let near = did_you_mean(src, spec.sources.iter().map(|(n, _)| n.as_str()));
                        self.err(
                            &format!("{cat}.references"),
                            format!("unknown source `{src}`"),
                            near.map(|n| format!("did you mean `{n}`?")),
                        );
                        None
                    }
                    Some((_, other)) if other.columns.get(rc).is_none() => {
                        self.err(
                            &format!("{cat}.references"),
                            format!("source `{src}` has no column `{rc}`"),
                            None,
                        );
                        None
                    }
                    Some(_) if src == name => {
                        self.err(
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
                min: c.min.as_ref().map(|n| n.to_string()),
                max: c.max.as_ref().map(|n| n.to_string()),
                values: c.values.clone(),
                references,
                description: c.description.clone(),
            });
        }
        let names: Vec<&str> = s.columns.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(pc) = &s.period_column {
            match columns.iter().find(|c| &c.name == pc) {
                Some(c) if matches!(c.ty, ColumnType::Date | ColumnType::Timestamp) => {}
                Some(c) => self.err(
                    &format!("{at}.period_column"),
                    format!(
                        "period column `{pc}` is {}, it must be a date or timestamp",
                        c.ty
                    ),
                    None,
                ),
                None => self.err(
                    &format!("{at}.period_column"),
                    format!("`{pc}` is not a declared column"),
                    Some(format!("columns: {}", names.join(", "))),
                ),
            }
            if !period::PLACEHOLDERS.iter().any(|p| s.path.contains(p)) {
                self.err(
                    &format!("{at}.path"),
                    "a periodic source's path must say which files hold a period",
                    Some(
                        "use `{period}` (YYYY-MM), `{yyyy}`, `{mm}` or `{yyyymm}` in the path"
                            .into(),
                    ),
                );
            }
        }
        for (i, k) in s.key.iter().enumerate() {
            if !names.contains(&k.as_str()) {
                self.err(
                    &format!("{at}.key.{i}"),
                    format!("key column `{k}` is not declared"),
                    Some(format!("columns: {}", names.join(", "))),
                );
            }
        }
        if names.contains(&"period") && s.period_column.is_some() {
            self.err(
                &format!("{at}.columns.period"),
                "`period` is reserved for the partition column of periodic sources",
                None,
            );
        }
        let compression = match s.compression.as_deref() {
            None => None,
            Some("gzip") => Some(super::Compression::Gzip),
            Some("zstd") => Some(super::Compression::Zstd),
            Some("none") => Some(super::Compression::None),
            Some(other) => {
                self.err(
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
                Some(e) if matches!(format, Format::Parquet) => {
                    self.err(
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
                    self.err(
                        &format!("{at}.encoding"),
                        format!("unknown text encoding `{label}`"),
                        Some("use utf-8, gbk, gb18030 or big5 (any WHATWG label)".into()),
                    );
                    None
                }
            },
        };
        let on_schema_change = match s.on_schema_change.as_deref() {
            None | Some("fail") => super::SchemaChange::Fail,
            Some("ignore") => super::SchemaChange::Ignore,
            Some("evolve")
                if matches!(format, Format::FixedWidth { .. })
                    || matches!(format, Format::Csv { header: false, .. }) =>
            {
                self.err(
                    &format!("{at}.on_schema_change"),
                    "`evolve` needs column names in the extract (a CSV header, JSON keys or Parquet)",
                    Some("use `fail` or `ignore` for fixed-width and header-less files".into()),
                );
                super::SchemaChange::Fail
            }
            Some("evolve") => super::SchemaChange::Evolve,
            Some(other) => {
                let help = if other == "evolve" || other == "append_new_columns" {
                    "evolving the table's schema is not supported yet; use fail or ignore"
                } else {
                    "use fail (default) or ignore"
                };
                self.err(
                    &format!("{at}.on_schema_change"),
                    format!("unknown on_schema_change `{other}`"),
                    Some(help.into()),
                );
                super::SchemaChange::Fail
            }
        };
        if let Some(f) = s.max_bad_fraction
            && !(0.0..=1.0).contains(&f)
        {
            self.err(
                &format!("{at}.max_bad_fraction"),
                format!("max_bad_fraction {f} is not a share"),
                Some("use a number from 0 to 1, e.g. 0.01 for 1%".into()),
            );
        }
        let control = s
            .control
            .as_ref()
            .and_then(|c| self.control(&at, c, &format, &columns));
        let pattern = self.source_pattern(&format!("{at}.path"), &s.path);
        if let Some(p) = pattern.as_ref().filter(|_| !self.skip_file_checks) {
            let probe = Source {
                name: name.into(),
                pattern: p.clone(),
                format: format.clone(),
                compression: None,
                encoding: None,
                on_schema_change: super::SchemaChange::Fail,
                max_bad_rows: None,
                max_bad_fraction: None,
                period_column: None,
                key: vec![],
                columns: vec![],
                description: None,
                control: None,
            };
            match crate::sources::files_for(&probe, None).await {
                Ok(files) if !files.is_empty() => {}
                Ok(_) => self.err(
                    &format!("{at}.path"),
                    format!("no file matches `{}` (looked for `{p}`)", s.path),
                    Some("check the path (it is relative to `extracts:`, else to the pipeline file); for the demo data run `touchpoint generate`".into()),
                ),
                Err(e) => self.err(
                    &format!("{at}.path"),
                    e.to_string(),
                    Some("check the pattern; for object stores, the AWS_*/GOOGLE_*/AZURE_* environment variables".into()),
                ),
            }
        }
        if self.diags.len() > before {
            return None;
        }
        Some(Source {
            name: name.into(),
            pattern: pattern?,
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
        })
    }

    fn control(
        &mut self,
        at: &str,
        c: &spec::ControlSpec,
        format: &super::Format,
        columns: &[super::Column],
    ) -> Option<super::Control> {
        let at = format!("{at}.control");
        if !matches!(
            format,
            super::Format::Csv { .. } | super::Format::FixedWidth { .. }
        ) {
            self.err(
                &at,
                "control totals are read from text extracts (csv or fixed_width)",
                Some(
                    "remove `control`, or check the file's count with a `row_count_change` check"
                        .into(),
                ),
            );
            return None;
        }
        let where_ = match (&c.trailer, &c.file) {
            (Some(t), None) if !t.is_empty() => super::ControlAt::Trailer(t.clone()),
            (None, Some(f)) if f.contains("{name}") || f.contains("{stem}") => {
                super::ControlAt::File(f.clone())
            }
            (None, Some(_)) => {
                self.err(
                    &format!("{at}.file"),
                    "the control file's name must use `{name}` or `{stem}`",
                    Some(
                        "e.g. `file: \"{stem}.ctl\"` for atm_20240101.ctl beside atm_20240101.csv"
                            .into(),
                    ),
                );
                return None;
            }
            _ => {
                self.err(
                    &at,
                    "declare exactly one of `trailer` (the marker of the last record) or `file`",
                    None,
                );
                return None;
            }
        };
        if c.count == 0 {
            self.err(&format!("{at}.count"), "fields are counted from 1", None);
            return None;
        }
        let total = match (c.total, &c.total_column) {
            (None, None) => None,
            (Some(f), Some(col)) if f >= 1 => {
                let Some(i) = columns.iter().position(|x| &x.name == col) else {
                    let near = did_you_mean(col, columns.iter().map(|x| x.name.as_str()));
                    self.err(
                        &format!("{at}.total_column"),
                        format!("unknown column `{col}`"),
                        near.map(|n| format!("did you mean `{n}`?")),
                    );
                    return None;
                };
                let scale = match columns[i].ty {
                    crate::spec::types::ColumnType::Decimal { scale, .. } => scale,
                    crate::spec::types::ColumnType::Int => 0,
                    _ => {
                        self.err(
                            &format!("{at}.total_column"),
                            format!("`{col}` is not a decimal or int column"),
                            None,
                        );
                        return None;
                    }
                };
                Some((f - 1, i, scale))
            }
            _ => {
                self.err(
                    &at,
                    "`total` (a field, from 1) and `total_column` go together",
                    None,
                );
                return None;
            }
        };
        Some(super::Control {
            at: where_,
            count_field: c.count - 1,
            total,
        })
    }

    /// `access.grants`: every entry names a personal column (or `table.*`, `*`).
    fn grants(
        &mut self,
        spec: &PipelineSpec,
        sources: &[Source],
        models: &[Model],
    ) -> Vec<(String, Vec<String>)> {
        let mut personal: Vec<String> = sources
            .iter()
            .flat_map(|s| {
                s.columns
                    .iter()
                    .filter(|c| c.personal.is_some())
                    .map(|c| format!("{}.{}", s.name, c.name))
            })
            .collect();
        personal.extend(
            models
                .iter()
                .flat_map(|m| m.personal.iter().map(|(c, _)| format!("{}.{c}", m.name))),
        );
        for (reader, granted) in &spec.access.grants.0 {
            for (i, g) in granted.iter().enumerate() {
                let table_wide = g
                    .strip_suffix(".*")
                    .is_some_and(|t| personal.iter().any(|p| p.starts_with(&format!("{t}."))));
                if g == "*" || table_wide || personal.contains(g) {
                    continue;
                }
                self.err(
                    &format!("access.grants.{reader}.{i}"),
                    format!("`{g}` is not a personal column"),
                    Some(match did_you_mean(g, personal.iter().map(String::as_str)) {
                        Some(n) => format!(
                            "did you mean `{n}`? personal columns: {}",
                            personal.join(", ")
                        ),
                        None => format!("personal columns: {}", personal.join(", ")),
                    }),
                );
            }
        }
        spec.access.grants.0.clone()
    }

    fn reports(&mut self, spec: &PipelineSpec) -> Vec<Report> {
        let mut known: BTreeSet<String> = [
            RUNS,
            QUARANTINE,
            LOADED_FILES,
            crate::quality::CHECKS,
            crate::steps::MODEL_METRICS,
            crate::steps::MODEL_PARAMS,
            crate::warehouse::versions::VERSIONS,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        known.extend(spec.seeds.iter().map(|(n, _)| n.clone()));
        known.extend(spec.sources.iter().map(|(n, _)| n.clone()));
        known.extend(spec.models.iter().map(|(n, _)| n.clone()));
        let mut out = Vec::new();
        for (name, r) in &spec.reports {
            let at = format!("reports.{name}");
            for (i, t) in r.tables.iter().enumerate() {
                if !known.contains(t) {
                    let near = did_you_mean(t, known.iter().map(String::as_str));
                    self.err(
                        &format!("{at}.tables.{i}"),
                        format!("unknown table `{t}`"),
                        near.map(|n| format!("did you mean `{n}`?")),
                    );
                }
            }
            let Some(template) = self.resolve(&format!("{at}.template"), &r.template) else {
                continue;
            };
            if !template.is_file() {
                self.err(
                    &format!("{at}.template"),
                    format!("template `{}` not found", r.template),
                    Some("the path is relative to the pipeline file".into()),
                );
                continue;
            }
            let locale = match r.locale.as_deref() {
                None | Some("en") => crate::report::format::Locale::En,
                Some("zh-CN") => crate::report::format::Locale::ZhCn,
                Some(other) => {
                    self.err(
                        &format!("{at}.locale"),
                        format!("unknown locale `{other}`"),
                        Some("locales: en, zh-CN".into()),
                    );
                    continue;
                }
            };
            let quarterly = match r.cadence.as_deref() {
                None | Some("month") => false,
                Some("quarter") => true,
                Some(other) => {
                    self.err(
                        &format!("{at}.cadence"),
                        format!("unknown cadence `{other}`"),
                        Some("cadences: month, quarter".into()),
                    );
                    continue;
                }
            };
            for (p, spec) in &r.params.0 {
                if spec.values.is_some() == spec.values_from.is_some() {
                    self.err(
                        &format!("{at}.params.{p}"),
                        format!("parameter `{p}` needs `values: [...]` or `values_from: table.column` (one of them)"),
                        None,
                    );
                }
                if let Some(vf) = &spec.values_from {
                    let ok = vf
                        .split_once('.')
                        .is_some_and(|(t, _)| r.tables.iter().any(|x| x == t));
                    if !ok {
                        self.err(
                            &format!("{at}.params.{p}.values_from"),
                            format!("`{vf}` is not `table.column` of a table this report reads"),
                            Some(format!("tables: {}", r.tables.join(", "))),
                        );
                    }
                }
                if let (Some(d), Some(vals)) = (&spec.default, &spec.values)
                    && !vals.contains(d)
                {
                    self.err(
                        &format!("{at}.params.{p}.default"),
                        format!("default `{d}` is not one of the values"),
                        Some(format!("values: {}", vals.join(", "))),
                    );
                }
            }
            for (i, a) in r.actions.iter().enumerate() {
                if !r.tables.contains(&a.table) {
                    self.err(
                        &format!("{at}.actions.{i}.table"),
                        format!("`{}` is not one of this report's tables", a.table),
                        Some(format!("tables: {}", r.tables.join(", "))),
                    );
                }
                if !matches!(
                    a.priority.as_deref(),
                    None | Some("high" | "medium" | "low")
                ) {
                    self.err(
                        &format!("{at}.actions.{i}.priority"),
                        "priority is high, medium or low",
                        None,
                    );
                }
            }
            out.push(Report {
                name: name.clone(),
                template,
                title: r.title.clone(),
                tables: r.tables.clone(),
                locale,
                currency: r.currency.clone().unwrap_or_else(|| spec.currency.clone()),
                quarterly,
                min_cell: r.min_cell.unwrap_or(30),
                stale_after_days: r.stale_after_days.unwrap_or(7),
                params: r.params.0.clone(),
                actions: r.actions.clone(),
            });
        }
        out
    }

    /// A model's kind and its settings; keys of another kind are errors.
    fn step(&mut self, name: &str, m: &crate::spec::ModelSpec) -> Option<Step> {
        let at = format!("models.{name}");
        let kind = m.kind.as_deref().unwrap_or("sql");
        const KINDS: [&str; 3] = ["sql", "churn_model", "clv"];
        let set: [(&str, bool, &str); 17] = [
            ("from", m.from.is_some(), "churn_model, clv"),
            ("label", m.label.is_some(), "churn_model"),
            ("features", m.features.is_some(), "churn_model"),
            ("baseline", m.baseline.is_some(), "churn_model"),
            ("keep", m.keep.is_some(), "churn_model"),
            ("balance", m.balance.is_some(), "churn_model"),
            ("period_column", m.period_column.is_some(), "churn_model"),
            ("test_periods", m.test_periods.is_some(), "churn_model"),
            ("bands", m.bands.is_some(), "churn_model"),
            (
                "horizon_months",
                m.horizon_months.is_some(),
                "churn_model, clv",
            ),
            ("customer", m.customer.is_some(), "clv"),
            ("at", m.at.is_some(), "clv"),
            ("amount", m.amount.is_some(), "clv"),
            ("birth", m.birth.is_some(), "clv"),
            ("calibration_end", m.calibration_end.is_some(), "clv"),
            ("discount_rate", m.discount_rate.is_some(), "clv"),
            ("margin", m.margin.is_some(), "clv"),
        ];
        if !KINDS.contains(&kind) {
            self.err(
                &format!("{at}.kind"),
                format!("unknown model kind `{kind}`"),
                Some(match did_you_mean(kind, KINDS.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? kinds: {}", KINDS.join(", ")),
                    None => format!("kinds: {}", KINDS.join(", ")),
                }),
            );
            return None;
        }
        let mut ok = true;
        for (key, present, kinds) in set {
            if present && !kinds.split(", ").any(|k| k == kind) {
                self.err(
                    &format!("{at}.{key}"),
                    format!("`{key}` is a key of kind {kinds}, and this model is kind {kind}"),
                    Some(format!("remove it, or set `kind:` to {kinds}")),
                );
                ok = false;
            }
        }
        let step = match kind {
            "churn_model" => crate::steps::churn::ChurnStep::from_spec(m).map(Step::Churn),
            "clv" => crate::steps::clv::ClvStep::from_spec(m).map(Step::Clv),
            _ => Ok(Step::Sql),
        };
        match step {
            Ok(s) if ok => Some(s),
            Ok(_) => None,
            Err(problems) => {
                for (key, msg, help) in problems {
                    self.err(&format!("{at}.{key}"), msg, help);
                }
                None
            }
        }
    }

    async fn models(
        &mut self,
        spec: &PipelineSpec,
        seeds: &[Seed],
        sources: &[Source],
    ) -> Vec<Model> {
        let ctx = SessionContext::new();
        let mut schemas: HashMap<String, SchemaRef> = HashMap::new();
        for s in seeds {
            schemas.insert(s.name.clone(), crate::pipeline::run::seed_schema(s));
        }
        for s in sources {
            schemas.insert(s.name.clone(), crate::sources::table_schema(s));
        }
        schemas.insert(RUNS.into(), RUNS_SCHEMA.clone());
        schemas.insert(QUARANTINE.into(), QUARANTINE_SCHEMA.clone());
        schemas.insert(LOADED_FILES.into(), LOADED_FILES_SCHEMA.clone());
        schemas.insert(
            crate::quality::CHECKS.into(),
            crate::quality::CHECKS_SCHEMA.clone(),
        );
        schemas.insert(
            crate::steps::MODEL_METRICS.into(),
            crate::steps::MODEL_METRICS_SCHEMA.clone(),
        );
        schemas.insert(
            crate::steps::MODEL_PARAMS.into(),
            crate::steps::MODEL_PARAMS_SCHEMA.clone(),
        );
        // Tables that exist in the spec but failed to compile: a model reading
        // them is not checked further (its error would only echo theirs).
        let broken: BTreeSet<&str> = spec
            .seeds
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(spec.sources.iter().map(|(n, _)| n.as_str()))
            .filter(|n| !schemas.contains_key(*n))
            .chain(spec.unreadable.iter().map(String::as_str))
            .collect();
        let model_names: BTreeSet<&str> = spec.models.iter().map(|(n, _)| n.as_str()).collect();

        // Read SQL (or a step's input) and find dependencies.
        let mut parsed: Vec<Model> = Vec::new();
        for (name, m) in &spec.models {
            let Some(step) = self.step(name, m) else {
                continue;
            };
            let (sql, path) = match (&m.sql, &m.from) {
                (Some(file), None) => {
                    let at = format!("models.{name}.sql");
                    let Some(path) = self.resolve(&at, file) else {
                        continue;
                    };
                    match std::fs::read_to_string(&path) {
                        Ok(s) => (s, path),
                        Err(e) => {
                            self.err(
                                &at,
                                format!("cannot read SQL file `{file}`: {e}"),
                                Some("the path is relative to the pipeline file".into()),
                            );
                            continue;
                        }
                    }
                }
                (None, Some(table)) if !matches!(step, Step::Sql) => (
                    format!("SELECT * FROM {}", crate::steps::ident(table)),
                    self.file.to_path_buf(),
                ),
                (Some(_), Some(_)) => {
                    self.err(
                        &format!("models.{name}.from"),
                        "give a step's input as `sql` or as `from`, not both",
                        None,
                    );
                    continue;
                }
                _ => {
                    let key = if matches!(step, Step::Sql) {
                        "sql"
                    } else {
                        "from"
                    };
                    self.err(
                        &format!("models.{name}"),
                        format!("model `{name}` needs `{key}`"),
                        Some(if matches!(step, Step::Sql) {
                            "e.g. `sql: ../queries/my_model.sql` (relative to the pipeline file)"
                                .into()
                        } else {
                            "`from: table` (or `sql: file.sql`) names the step's input".into()
                        }),
                    );
                    continue;
                }
            };
            let mut deps = match crate::sql::table_references(&ctx, &sql) {
                Ok(d) => d,
                Err((msg, pos)) => {
                    self.diags
                        .push(Diagnostic::new(&path, pos, "", msg).with_help("fix the SQL syntax"));
                    continue;
                }
            };
            // A model reading what steps record runs after those steps.
            for (table, kind) in [
                (crate::steps::MODEL_METRICS, "churn_model"),
                (crate::steps::MODEL_PARAMS, "clv"),
            ] {
                if deps.iter().any(|d| d == table) {
                    deps.extend(
                        spec.models
                            .iter()
                            .filter(|(_, o)| o.kind.as_deref() == Some(kind))
                            .map(|(n, _)| n.clone()),
                    );
                }
            }
            parsed.push(Model {
                name: name.clone(),
                sql_file: path,
                sql,
                description: m.description.clone(),
                depends_on: deps,
                step,
                personal: m.personal.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
            });
        }
        let nodes: Vec<(String, Vec<String>)> = parsed
            .iter()
            .map(|m| (m.name.clone(), m.depends_on.clone()))
            .collect();
        let order = match graph::order(&nodes) {
            Ok(o) => o,
            Err(cycle) => {
                let first = cycle.first().cloned().unwrap_or_default();
                self.err(
                    &format!("models.{first}"),
                    format!(
                        "models depend on each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                    Some("break the cycle: a model cannot read a table built from itself".into()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        // (table, column) of every personal column so far, `clear` ones too:
        // a model copying one must say how it carries it.
        let mut personal: BTreeSet<(String, String)> = sources
            .iter()
            .flat_map(|s| {
                s.columns
                    .iter()
                    .filter(|c| c.personal.is_some())
                    .map(|c| (s.name.clone(), c.name.clone()))
            })
            .collect();
        for name in order {
            let Some(m) = parsed.iter().find(|m| m.name == name) else {
                continue;
            };
            // Skip models downstream of a broken table.
            if m.depends_on
                .iter()
                .any(|d| broken.contains(d.as_str()) || failed.contains(d))
            {
                failed.insert(m.name.clone());
                continue;
            }
            let mut unknown = false;
            for d in &m.depends_on {
                if !schemas.contains_key(d) && !model_names.contains(d.as_str()) {
                    let mut known: Vec<&str> = schemas.keys().map(String::as_str).collect();
                    known.extend(model_names.iter());
                    let near = did_you_mean(d, known.iter().copied());
                    let pos = crate::sql::find_word(&m.sql, d);
                    self.diags.push(
                        Diagnostic::new(&m.sql_file, pos, "", format!("unknown table `{d}`"))
                            .with_help(
                                near.map(|n| format!("did you mean `{n}`?"))
                                    .unwrap_or_else(|| {
                                        "tables are the pipeline's seeds, sources and models".into()
                                    }),
                            ),
                    );
                    unknown = true;
                }
            }
            if unknown {
                failed.insert(m.name.clone());
                continue;
            }
            for d in &m.depends_on {
                if let Some(schema) = schemas.get(d) {
                    let _ = ctx.deregister_table(d.as_str());
                    if let Ok(t) = MemTable::try_new(schema.clone(), vec![vec![]]) {
                        let _ = ctx.register_table(d.as_str(), Arc::new(t));
                    }
                }
            }
            match crate::sql::plan_schema(&ctx, &m.sql).await {
                Ok(schema) => {
                    let (problems, output) = match &m.step {
                        Step::Sql => (Vec::new(), schema),
                        Step::Churn(c) => (c.check(&schema), c.output_schema(&schema)),
                        Step::Clv(c) => (c.check(&schema), c.output_schema()),
                    };
                    if !problems.is_empty() {
                        for (key, msg, help) in problems {
                            self.err(&format!("models.{}.{key}", m.name), msg, help);
                        }
                        failed.insert(m.name.clone());
                        continue;
                    }
                    if !self.personal_lineage(&ctx, m, &output, &personal).await {
                        failed.insert(m.name.clone());
                        continue;
                    }
                    personal.extend(m.personal.iter().map(|(c, _)| (m.name.clone(), c.clone())));
                    schemas.insert(m.name.clone(), output);
                    out.push(m.clone());
                }
                Err((msg, pos, help)) => {
                    let mut d = Diagnostic::new(&m.sql_file, pos, "", msg);
                    d.help = help;
                    self.diags.push(d);
                    failed.insert(m.name.clone());
                }
            }
        }
        self.schemas = schemas;
        out
    }

    /// A model that reads a personal column must declare (`personal:`)
    /// which of its columns carry it, and those must be output columns, so
    /// masking follows personal data into every table built from it.
    async fn personal_lineage(
        &mut self,
        ctx: &SessionContext,
        m: &Model,
        output: &datafusion::arrow::datatypes::SchemaRef,
        personal: &BTreeSet<(String, String)>,
    ) -> bool {
        let at = format!("models.{}", m.name);
        let mut ok = true;
        for (c, _) in &m.personal {
            if output.field_with_name(c).is_err() {
                let names: Vec<&str> = output.fields().iter().map(|f| f.name().as_str()).collect();
                self.err(
                    &format!("{at}.personal"),
                    format!("`{c}` is not a column of model `{}`", m.name),
                    Some(match did_you_mean(c, names.iter().copied()) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("columns: {}", names.join(", ")),
                    }),
                );
                ok = false;
            }
        }
        if !m.personal.is_empty() {
            return ok;
        }
        let read = crate::sql::scanned_columns(ctx, &m.sql).await;
        let hits: Vec<String> = read
            .iter()
            .filter(|(t, c)| personal.contains(&(t.clone(), c.clone())))
            .map(|(t, c)| format!("{t}.{c}"))
            .collect();
        if !hits.is_empty() {
            let pos = hits
                .first()
                .and_then(|h| h.split('.').nth(1))
                .and_then(|c| crate::sql::find_word(&m.sql, c));
            self.diags.push(
                Diagnostic::new(
                    &m.sql_file,
                    pos,
                    "",
                    format!(
                        "model `{}` reads personal data ({}) but does not say which of its columns carry it",
                        m.name,
                        hits.join(", ")
                    ),
                )
                .with_help(format!(
                    "add `personal: {{column: mask}}` (or hash, or clear) to models.{} for each output column holding it",
                    m.name
                )),
            );
            ok = false;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("atm_txn2"));
        assert!(!valid_name("_runs"));
        assert!(!valid_name("Atm"));
    }
}
