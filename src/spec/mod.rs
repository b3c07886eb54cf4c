//! The YAML machinery every concept's spec uses: ordered mappings, reading
//! each entry of a section on its own so that one bad entry does not hide
//! the problems of the others, locating every problem as file:line:column
//! ([`Diagnostic`], [`Locator`]), and the project whose paths a pipeline
//! names ([`Project`]). The specs themselves live with their concepts
//! (`sources::spec`, `models::spec`, …); the pipeline file as a whole is
//! `pipeline::spec`.

pub mod diagnostic;
mod entries;
pub mod guard;
pub mod locate;
mod project;
pub mod types;

pub use diagnostic::{Diagnostic, did_you_mean};
pub use entries::{entries, entries_with, serde_diagnostic, unknown_key};
pub use locate::Locator;
pub use project::{Project, normalize, real};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

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

/// The problems found in one pipeline file so far, each located in it.
pub struct Diags<'a> {
    file: &'a Path,
    loc: &'a Locator,
    list: Vec<Diagnostic>,
}

impl<'a> Diags<'a> {
    pub fn new(file: &'a Path, loc: &'a Locator, list: Vec<Diagnostic>) -> Self {
        Diags { file, loc, list }
    }

    /// A problem at the YAML value `path` (`sources.atm.csv.delimiter`).
    pub fn err(&mut self, path: &str, msg: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::new(self.file, self.loc.value(path), path, msg);
        d.help = help;
        self.list.push(d);
    }

    /// A problem located elsewhere (a SQL file).
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    /// How many problems so far (compare before and after a step).
    pub fn count(&self) -> usize {
        self.list.len()
    }

    pub fn file(&self) -> &'a Path {
        self.file
    }

    pub fn locator(&self) -> &'a Locator {
        self.loc
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list
    }
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

/// A name that becomes a folder or file name (tables, reports): lowercase
/// ASCII letters, digits and `_`, starting with a letter.
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
