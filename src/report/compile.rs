//! `reports:` → [`Report`]s: tables known (and windowed only where they
//! have periods), template inside the project, locale a known catalog,
//! cadence, parameters and action rules consistent with the tables.

use super::locale::{ENGLISH, Locale};
use super::{Report, ReportSpec, TableSpec};
use crate::models::Schemas;
use crate::period::{self, Cadence};
use crate::spec::{Diags, Project, did_you_mean};
use std::collections::BTreeSet;
use std::path::Path;

/// Compile every report. `schemas` holds every compiled table; `declared`
/// names every table the pipeline declares (one that failed to compile is
/// not reported again here); `currency` is the pipeline's.
pub fn compile(
    specs: &[(String, ReportSpec)],
    schemas: &Schemas,
    declared: &BTreeSet<String>,
    project: &Project,
    currency: &str,
    diags: &mut Diags,
) -> Vec<Report> {
    let mut out = Vec::new();
    for (name, r) in specs {
        let at = format!("reports.{name}");
        // A report's name starts its files' names.
        if !crate::spec::valid_name(name) {
            diags.err(
                &at,
                format!("`{name}` is not a valid report name"),
                Some("use lowercase letters, digits and `_`, starting with a letter".into()),
            );
            continue;
        }
        for (i, t) in r.tables.iter().enumerate() {
            let Some(schema) = schemas.get(&t.name) else {
                if declared.contains(&t.name) {
                    continue; // it failed to compile: already reported
                }
                let mut known: Vec<&str> = schemas.keys().map(String::as_str).collect();
                known.sort();
                let near = did_you_mean(&t.name, known.iter().copied());
                diags.err(
                    &format!("{at}.tables.{i}"),
                    format!("unknown table `{}`", t.name),
                    near.map(|n| format!("did you mean `{n}`?")),
                );
                continue;
            };
            if t.periods.is_some() && schema.field_with_name(period::COLUMN).is_err() {
                diags.err(
                    &format!("{at}.tables.{i}"),
                    format!(
                        "`{}` has no `{}` column to take periods of",
                        t.name,
                        period::COLUMN
                    ),
                    Some(format!("write just `{}` to read every row", t.name)),
                );
            }
        }
        let Some(template) = project.resolve(&format!("{at}.template"), &r.template, diags) else {
            continue;
        };
        if !template.is_file() {
            diags.err(
                &format!("{at}.template"),
                format!("template `{}` not found", r.template),
                Some("the path is relative to the pipeline file".into()),
            );
            continue;
        }
        let dir = template.parent().unwrap_or(Path::new("."));
        let Some(locales) = editions(&at, r, dir, project, diags) else {
            continue;
        };
        let cadence = match r.cadence.as_deref() {
            None | Some("month") => Cadence::Month,
            Some("quarter") => Cadence::Quarter,
            Some(other) => {
                diags.err(
                    &format!("{at}.cadence"),
                    format!("unknown cadence `{other}`"),
                    Some("cadences: month, quarter".into()),
                );
                continue;
            }
        };
        for (p, spec) in &r.params.0 {
            if spec.values.is_some() == spec.values_from.is_some() {
                diags.err(
                    &format!("{at}.params.{p}"),
                    format!("parameter `{p}` needs `values: [...]` or `values_from: table.column` (one of them)"),
                    None,
                );
            }
            if let Some(vf) = &spec.values_from {
                let ok = vf
                    .split_once('.')
                    .is_some_and(|(t, _)| r.tables.iter().any(|x| x.name == t));
                if !ok {
                    diags.err(
                        &format!("{at}.params.{p}.values_from"),
                        format!("`{vf}` is not `table.column` of a table this report reads"),
                        Some(format!("tables: {}", names(&r.tables))),
                    );
                }
            }
            if let (Some(d), Some(vals)) = (&spec.default, &spec.values)
                && !vals.contains(d)
            {
                diags.err(
                    &format!("{at}.params.{p}.default"),
                    format!("default `{d}` is not one of the values"),
                    Some(format!("values: {}", vals.join(", "))),
                );
            }
        }
        for (i, a) in r.actions.iter().enumerate() {
            if !r.tables.iter().any(|t| t.name == a.table) {
                diags.err(
                    &format!("{at}.actions.{i}.table"),
                    format!("`{}` is not one of this report's tables", a.table),
                    Some(format!("tables: {}", names(&r.tables))),
                );
            }
            if !matches!(
                a.priority.as_deref(),
                None | Some("high" | "medium" | "low")
            ) {
                diags.err(
                    &format!("{at}.actions.{i}.priority"),
                    "priority is high, medium or low",
                    None,
                );
            }
        }
        // Every edition after the first has the title and each rule in its
        // own language (`say` is written in the first edition's).
        for l in locales.iter().skip(1).filter(|l| l.tag != ENGLISH) {
            let said = r.title.iter().map(|t| ("title".to_string(), t));
            let rules = r.actions.iter().enumerate();
            let said = said.chain(rules.map(|(i, a)| (format!("actions.{i}.say"), &a.say)));
            for (path, text) in said {
                if !l.messages.contains_key(text) {
                    diags.err(
                        &format!("{at}.{path}"),
                        format!("the `{}` edition has no translation of this text", l.tag),
                        Some(format!(
                            "add `{text:?}: <translation>` to {}",
                            shown(&Locale::catalog_path(dir, &l.tag), project)
                        )),
                    );
                }
            }
        }
        out.push(Report {
            name: name.clone(),
            template,
            title: r.title.clone(),
            tables: r.tables.clone(),
            locales,
            currency: r.currency.clone().unwrap_or_else(|| currency.to_string()),
            cadence,
            min_cell: r.min_cell.unwrap_or(30),
            stale_after_days: r.stale_after_days.unwrap_or(7),
            params: r.params.0.clone(),
            actions: r.actions.clone(),
            default: r.default,
        });
    }
    let defaults: Vec<&str> = specs
        .iter()
        .filter(|(_, r)| r.default)
        .map(|(n, _)| n.as_str())
        .collect();
    if defaults.len() > 1 {
        diags.err(
            &format!("reports.{}.default", defaults[1]),
            format!("reports {} are all marked `default`", defaults.join(", ")),
            Some("mark one report `default: true`: the one `touchpoint demo` prints".into()),
        );
    }
    out
}

/// A report's editions: `locales: [en, zh-CN]`, or the one `locale:`
/// (default English), each a known catalog; `None` after reporting why not.
fn editions(
    at: &str,
    r: &ReportSpec,
    dir: &Path,
    project: &Project,
    diags: &mut Diags,
) -> Option<Vec<Locale>> {
    let tags: Vec<(String, String)> = match (&r.locale, &r.locales) {
        (Some(_), Some(_)) => {
            diags.err(
                &format!("{at}.locales"),
                "`locale` and `locales` are both given",
                Some(
                    "keep `locales: [en, zh-CN]` alone: one file per language, the first the default edition"
                        .into(),
                ),
            );
            return None;
        }
        (None, Some(list)) if list.is_empty() => {
            diags.err(
                &format!("{at}.locales"),
                "`locales` names no language",
                Some("name one or more, the default edition first: `locales: [en, zh-CN]`".into()),
            );
            return None;
        }
        (None, Some(list)) => list
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), format!("{at}.locales.{i}")))
            .collect(),
        (Some(t), None) => vec![(t.clone(), format!("{at}.locale"))],
        (None, None) => vec![(ENGLISH.to_string(), at.to_string())],
    };
    let before = diags.count();
    let mut out: Vec<Locale> = Vec::new();
    for (tag, path) in &tags {
        let available = || format!("locales: {}", available_locales(dir).join(", "));
        if out.iter().any(|l| &l.tag == tag) {
            diags.err(
                path,
                format!("locale `{tag}` is listed twice"),
                Some("each language is one edition: list it once".into()),
            );
            continue;
        }
        if !Locale::valid_tag(tag) {
            diags.err(
                path,
                format!("`{tag}` is not a locale tag"),
                Some(format!(
                    "a tag is letters, digits and `-`, like `zh-CN`; {}",
                    available()
                )),
            );
            continue;
        }
        let catalog = Locale::catalog_path(dir, tag);
        if tag != ENGLISH && !catalog.is_file() {
            diags.err(
                path,
                format!(
                    "unknown locale `{tag}`: no catalog `{}`",
                    shown(&catalog, project)
                ),
                Some(format!(
                    "{}; a new language is a new catalog file in that folder",
                    available()
                )),
            );
            continue;
        }
        // A catalog that is a link out of the project is not read.
        if catalog.is_file() && !crate::spec::real(&catalog).starts_with(&project.real_root) {
            diags.err(
                path,
                format!(
                    "catalog `{}` resolves to a file outside the project",
                    shown(&catalog, project)
                ),
                Some("copy the catalog into the project's `i18n/` folder".into()),
            );
            continue;
        }
        match Locale::load(dir, tag) {
            Ok(l) => out.push(l),
            Err(reason) => diags.err(
                path,
                reason.replace(&catalog.display().to_string(), &shown(&catalog, project)),
                Some(
                    "fix the catalog: English text → translation, plus `_format` and `_values`"
                        .into(),
                ),
            ),
        }
    }
    (diags.count() == before).then_some(out)
}

/// A path as the user knows it: relative to the project folder.
fn shown(p: &Path, project: &Project) -> String {
    p.strip_prefix(&project.root)
        .unwrap_or(p)
        .display()
        .to_string()
}

fn names(tables: &[TableSpec]) -> String {
    tables
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// English and every catalog in the templates' `i18n/` folder.
fn available_locales(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("i18n"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".yaml"))
                .map(String::from)
        })
        .collect();
    out.sort();
    out.insert(0, ENGLISH.into());
    out
}
