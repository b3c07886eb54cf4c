//! The pipeline file as a whole: its top-level keys, each section read
//! entry by entry into the concepts' own specs, every problem located.

use crate::access::AccessSpec;
use crate::models::ModelSpec;
use crate::models::seeds::SeedSpec;
use crate::models::unit_test::TestSpec;
use crate::report::ReportSpec;
use crate::sources::SourceSpec;
use crate::spec::{Diagnostic, Locator, entries, entries_with, unknown_key};
use crate::store::ProfilesSpec;
use std::path::{Path, PathBuf};

/// The whole pipeline file, after per-entry deserialisation.
#[derive(Debug, Clone, Default)]
pub struct PipelineSpec {
    pub file: PathBuf,
    pub name: String,
    pub description: Option<String>,
    /// Business time zone: periods are local months here.
    pub timezone: String,
    /// The currency amounts are in (ISO 4217); reports show it.
    pub currency: Option<String>,
    pub warehouse: Option<String>,
    /// Where SQL executes: `local` or `ballista://host:port`.
    pub engine: Option<String>,
    /// How long replaced table versions stay readable (`30d`, `12h`, `2w`).
    pub retention: Option<String>,
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
    "engine",
    "retention",
    "extracts",
    "seeds",
    "sources",
    "models",
    "reports",
    "tests",
    "profiles",
    "access",
];

const MAX_NAME: usize = 64;

/// A pipeline's name goes into the run lock, `_runs` and messages: plain
/// text, no control characters or spaces.
pub fn valid_pipeline_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.len() <= MAX_NAME
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

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
    crate::spec::guard::check(text).map_err(|(msg, pos)| {
        vec![
            Diagnostic::new(file, pos, "", msg)
                .with_help("a pipeline file is a few hundred lines of plain YAML"),
        ]
    })?;
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
            "currency" => spec.currency = scalar(&mut diags),
            "warehouse" => spec.warehouse = scalar(&mut diags),
            "engine" => spec.engine = scalar(&mut diags),
            "retention" => spec.retention = scalar(&mut diags),
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
                spec.models = entries_with(
                    file,
                    &locator,
                    key,
                    v,
                    &mut diags,
                    &mut spec.unreadable,
                    |at, v| ModelSpec::parse(file, &locator, at, v),
                )
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
    if !spec.name.is_empty() && !valid_pipeline_name(&spec.name) {
        diags.push(
            Diagnostic::new(
                file,
                locator.value("name"),
                "name",
                format!("`{}` is not a valid pipeline name", spec.name.escape_debug()),
            )
            .with_help(format!(
                "use letters, digits, `_` and `-`, starting with a letter, at most {MAX_NAME} characters"
            )),
        );
    }
    if spec.timezone.is_empty() {
        spec.timezone = "UTC".into();
    }
    Ok((spec, locator, diags))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: t\nsources:\n  atm:\n    path: a.csv\n    csv: {}\n    columns:\n      id: {type: string}\n";

    #[test]
    fn a_pipeline_name_is_plain_text() {
        for good in ["t", "monthly_cx", "Monthly-CX2"] {
            assert!(valid_pipeline_name(good), "{good}");
        }
        for bad in [
            "",
            "2024",
            "_x",
            "a b",
            "p\nT\tcustomers\t0",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!valid_pipeline_name(bad), "{bad}");
        }
        let text = GOOD.replace("name: t", "name: \"p\\nT\\tcustomers\\t0\"");
        let (_, _, diags) = parse(Path::new("p.yaml"), &text).expect("parses");
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].path, "name");
        assert!(
            diags[0].message.contains("p\\nT\\tcustomers"),
            "{}",
            diags[0].message
        );
    }

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
