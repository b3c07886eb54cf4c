//! Spec → [`Pipeline`]: the orchestrating compile. Each concept compiles its
//! own part (sources, seeds, models, checks, reports, tests, access) into
//! one shared list of located problems; this file decides the order, what
//! each part needs from the others, and the names they share.

use super::Pipeline;
use super::spec::{self, PipelineSpec};
use crate::access::Policy;
use crate::engine::Engine;
use crate::models::{Schemas, Seed};
use crate::sources::{Base, Source, history};
use crate::spec::{Diagnostic, Diags, Project, valid_name};
use crate::warehouse::log::{
    LOADED_FILES, LOADED_FILES_SCHEMA, QUARANTINE, QUARANTINE_SCHEMA, RUNS, RUNS_SCHEMA,
};
use crate::warehouse::versions::{VERSIONS, VERSIONS_SCHEMA};
use chrono_tz::Tz;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

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

/// [`compile`], with settings from outside the file. Every problem is
/// collected before returning.
pub async fn compile_with(file: &Path, over: &Overrides) -> Result<Pipeline, Vec<Diagnostic>> {
    let (mut spec, loc, problems) = spec::load(file)?;
    if let Some(e) = &over.extracts {
        spec.extracts = Some(e.clone());
    }
    let project = Project::of(&spec.file);
    let mut diags = Diags::new(&spec.file, &loc, problems);
    let timezone: Tz = match spec.timezone.parse() {
        Ok(tz) => tz,
        Err(_) => {
            diags.err(
                "timezone",
                format!("unknown time zone `{}`", spec.timezone),
                Some("use an IANA name such as Asia/Hong_Kong or UTC".into()),
            );
            Tz::UTC
        }
    };
    check_names(&spec, &mut diags);

    let seeds: Vec<Seed> = spec
        .seeds
        .iter()
        .filter_map(|(n, s)| Seed::compile(n, s, &mut diags))
        .collect();
    let cx = crate::sources::compile::Context {
        project: &project,
        extracts: extracts_base(&spec, &project, &mut diags),
        all: &spec.sources,
        skip_file_checks: over.skip_file_checks,
    };
    let mut sources: Vec<Source> = Vec::new();
    for (n, s) in &spec.sources {
        sources.extend(crate::sources::compile(n, s, &cx, &mut diags).await);
    }

    let mut schemas = bookkeeping_schemas();
    schemas.extend(seeds.iter().map(|s| (s.name.clone(), s.schema())));
    schemas.extend(
        sources
            .iter()
            .map(|s| (s.name.clone(), crate::sources::table_schema(s))),
    );
    histories(&spec, &sources, &mut schemas, &mut diags);
    // Tables declared but not compiled: a model reading one is not checked
    // further (its error would only echo theirs).
    let broken: BTreeSet<String> = spec
        .seeds
        .iter()
        .map(|(n, _)| n)
        .chain(spec.sources.iter().map(|(n, _)| n))
        .filter(|n| !schemas.contains_key(*n))
        .chain(spec.unreadable.iter())
        .cloned()
        .collect();
    let personal_sources: BTreeSet<(String, String)> = personal_of_sources(&sources)
        .into_iter()
        .map(|(t, c, _)| (t, c))
        .collect();
    let models = crate::models::compile(
        &spec.models,
        &project,
        &mut schemas,
        &broken,
        personal_sources,
        &mut diags,
    )
    .await;

    let currency = spec.currency.clone().unwrap_or_default();
    let retention = match spec
        .retention
        .as_deref()
        .map(crate::warehouse::maintain::parse_retention)
    {
        None => crate::warehouse::maintain::DEFAULT_RETENTION,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            diags.err(
                "retention",
                e,
                Some(
                    "e.g. `retention: 30d` (h, d or w): how long replaced versions stay readable"
                        .into(),
                ),
            );
            crate::warehouse::maintain::DEFAULT_RETENTION
        }
    };
    let engine = compile_engine(&spec, &mut diags);
    let declared: BTreeSet<String> = spec
        .seeds
        .iter()
        .map(|(n, _)| n)
        .chain(spec.sources.iter().map(|(n, _)| n))
        .chain(spec.models.iter().map(|(n, _)| n))
        .cloned()
        .collect();
    let reports = crate::report::compile(
        &spec.reports,
        &schemas,
        &declared,
        &project,
        &currency,
        &mut diags,
    );
    let check_tables: Vec<(&str, &str, &[crate::checks::CheckSpec], bool)> = spec
        .sources
        .iter()
        .map(|(n, s)| {
            let periodic = sources.iter().any(|x| &x.name == n && x.is_periodic());
            ("sources", n.as_str(), s.checks.as_slice(), periodic)
        })
        .chain(
            spec.models
                .iter()
                .map(|(n, m)| ("models", n.as_str(), m.common.checks.as_slice(), false)),
        )
        .collect();
    let personal_columns: BTreeSet<(String, String)> = personal_of_sources(&sources)
        .into_iter()
        .map(|(t, c, _)| (t, c))
        .chain(
            models
                .iter()
                .flat_map(|m| m.personal.iter().map(|(c, _)| (m.name.clone(), c.clone()))),
        )
        .collect();
    let checks = crate::checks::compile(&check_tables, &schemas, &personal_columns, &mut diags);
    let tests = crate::models::UnitTest::compile(&spec.tests, &models, &schemas, &mut diags);

    let mut personal = personal_of_sources(&sources);
    personal.extend(models.iter().flat_map(|m| {
        m.personal
            .iter()
            .map(|(c, p)| (m.name.clone(), c.clone(), *p))
    }));
    let mut tables: Vec<(String, Vec<String>)> = schemas
        .iter()
        .map(|(t, s)| {
            (
                t.clone(),
                s.fields().iter().map(|f| f.name().clone()).collect(),
            )
        })
        .collect();
    tables.sort();
    let access = Policy::compile(&spec.access, personal, &tables, &mut diags);

    let problems = diags.into_vec();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Pipeline {
        project,
        name: spec.name.clone(),
        description: spec.description.clone(),
        timezone,
        currency,
        warehouse: spec.warehouse.clone(),
        engine,
        retention,
        profiles: spec.profiles.clone(),
        seeds,
        sources,
        models,
        reports,
        checks,
        tests,
        access,
        schemas,
    })
}

/// The engine (`TOUCHPOINT_ENGINE` wins over `engine:`): one this build can
/// use, and that can read the declared warehouse.
fn compile_engine(spec: &PipelineSpec, diags: &mut Diags) -> Engine {
    let help = "`engine: local` (the default) or `engine: ballista://HOST:PORT` (README: Cluster)";
    let engine = match Engine::chosen(spec.engine.as_deref()) {
        Ok(e) => e,
        Err(e) => {
            diags.err("engine", e, Some(help.into()));
            return Engine::Local;
        }
    };
    if engine != Engine::Local && !crate::cluster::BUILT {
        diags.err(
            "engine",
            format!(
                "this touchpoint was built without cluster support, so it cannot use `{engine}`"
            ),
            Some(
                format!(
                    "build with `cargo build --release --features cluster`, or remove `engine:` (and unset {})",
                    crate::engine::ENGINE_VAR
                ),
            ),
        );
    }
    let location = std::env::var("TOUCHPOINT_WAREHOUSE")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| spec.warehouse.clone())
        .unwrap_or_else(|| "warehouse".into());
    if let Err(e) = crate::cluster::check_reaches(&engine, &location) {
        diags.err("engine", e.to_string(), e.help());
    }
    engine
}

/// Where source paths start: `extracts:` (a folder inside the project, or
/// an object-store URL), else the pipeline's folder.
fn extracts_base(spec: &PipelineSpec, project: &Project, diags: &mut Diags) -> Option<Base> {
    match &spec.extracts {
        Some(e) if crate::store::is_url(e) => {
            // Listing the extracts already needs the profile.
            crate::store::bind_profile(e, spec.profiles.extracts.as_deref());
            Some(Base::Remote(e.trim_end_matches('/').into()))
        }
        Some(e) => project.resolve("extracts", e, diags).map(Base::Local),
        None => Some(Base::Local(project.dir.clone())),
    }
}

/// Each source's personal columns, and those of its history (the same
/// policy: a history holds the key and tracked columns of its source).
fn personal_of_sources(sources: &[Source]) -> Vec<(String, String, crate::access::Personal)> {
    let mut out = Vec::new();
    for s in sources {
        for (c, p) in s.personal() {
            out.push((s.name.clone(), c.to_string(), p));
        }
    }
    for s in sources {
        let Some(h) = &s.history else { continue };
        for (c, p) in s.personal() {
            if s.key.iter().chain(&h.track).any(|k| k == c) {
                out.push((history::table_name(&s.name), c.to_string(), p));
            }
        }
    }
    out
}

/// Declare each source's history table (`<source>_history`), whose name
/// must not be another table's.
fn histories(
    spec: &PipelineSpec,
    sources: &[Source],
    schemas: &mut crate::models::Schemas,
    diags: &mut Diags,
) {
    for s in sources {
        let Some(h) = &s.history else { continue };
        let name = history::table_name(&s.name);
        let taken = spec
            .seeds
            .iter()
            .map(|(n, _)| ("seeds", n))
            .chain(spec.sources.iter().map(|(n, _)| ("sources", n)))
            .chain(spec.models.iter().map(|(n, _)| ("models", n)))
            .find(|(_, n)| **n == name);
        if let Some((section, _)) = taken {
            diags.err(
                &format!("sources.{}.history", s.name),
                format!("the history table `{name}` is already defined in `{section}`"),
                Some(format!(
                    "rename `{section}.{name}`: a source's history is `<source>_history`"
                )),
            );
            continue;
        }
        schemas.insert(name, history::schema(s, h));
    }
}

/// The tables every run writes besides the pipeline's own.
fn bookkeeping_schemas() -> Schemas {
    HashMap::from([
        (RUNS.to_string(), RUNS_SCHEMA.clone()),
        (QUARANTINE.to_string(), QUARANTINE_SCHEMA.clone()),
        (LOADED_FILES.to_string(), LOADED_FILES_SCHEMA.clone()),
        (VERSIONS.to_string(), VERSIONS_SCHEMA.clone()),
        (
            crate::checks::CHECKS.to_string(),
            crate::checks::CHECKS_SCHEMA.clone(),
        ),
        (
            crate::models::MODEL_METRICS.to_string(),
            crate::models::MODEL_METRICS_SCHEMA.clone(),
        ),
        (
            crate::models::MODEL_PARAMS.to_string(),
            crate::models::MODEL_PARAMS_SCHEMA.clone(),
        ),
    ])
}

/// Table names are identifiers, unique across seeds, sources and models.
fn check_names(spec: &PipelineSpec, diags: &mut Diags) {
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
            diags.err(
                &at,
                format!("`{name}` is not a valid table name"),
                Some("use lowercase letters, digits and `_`, starting with a letter".into()),
            );
        }
        if let Some(prev) = seen.insert(name, section) {
            diags.err(
                &at,
                format!("`{name}` is already defined in `{prev}`"),
                Some("table names must be unique across seeds, sources and models".into()),
            );
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("atm_txn2"));
        assert!(!valid_name("_runs"));
        assert!(!valid_name("Atm"));
    }
}
