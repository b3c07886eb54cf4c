//! One section of the pipeline file (`sources:`, `models:` …) read entry
//! by entry, each failure a located [`Diagnostic`].

use super::{Diagnostic, Locator, did_you_mean};
use serde::de::DeserializeOwned;
use std::path::Path;

pub fn unknown_key(
    file: &Path,
    loc: &Locator,
    parent: &str,
    key: &str,
    valid: &[&str],
) -> Diagnostic {
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
pub fn entries<T: DeserializeOwned>(
    file: &Path,
    loc: &Locator,
    section: &str,
    value: &serde_yaml::Value,
    diags: &mut Vec<Diagnostic>,
    unreadable: &mut Vec<String>,
) -> Vec<(String, T)> {
    entries_with(file, loc, section, value, diags, unreadable, |at, v| {
        serde_path_to_error::deserialize::<_, T>(v.clone())
            .map_err(|e| serde_diagnostic(file, loc, at, e))
    })
}

/// [`entries`], each entry read by `parse(its path, its value)`; an entry
/// that cannot be read is named in `unreadable` (checks that depend on it
/// are skipped, so one typo gives one error).
pub fn entries_with<T>(
    file: &Path,
    loc: &Locator,
    section: &str,
    value: &serde_yaml::Value,
    diags: &mut Vec<Diagnostic>,
    unreadable: &mut Vec<String>,
    parse: impl Fn(&str, &serde_yaml::Value) -> Result<T, Diagnostic>,
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
        match parse(&format!("{section}.{name}"), v) {
            Ok(t) => out.push((name.to_string(), t)),
            Err(d) => {
                diags.push(d);
                unreadable.push(name.to_string());
            }
        }
    }
    out
}

pub fn serde_diagnostic(
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
