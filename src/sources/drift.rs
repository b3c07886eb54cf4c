//! Schema drift: how an extract's columns differ from the declared ones,
//! and what the source's `on_schema_change` makes of it.

use super::{Error, Source};

/// How an extract's columns differ from the declared ones.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub new: std::collections::BTreeSet<String>,
    pub missing: std::collections::BTreeSet<String>,
    /// `column (file type, declared type)`.
    pub retyped: std::collections::BTreeSet<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.missing.is_empty() && self.retyped.is_empty()
    }

    pub(super) fn merge(&mut self, other: Drift) {
        self.new.extend(other.new);
        self.missing.extend(other.missing);
        self.retyped.extend(other.retyped);
    }

    /// Per the source's policy: fail the load, or remember the drift.
    pub fn check(self, src: &Source, file: &str, seen: &mut Drift) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        match src.on_schema_change {
            super::SchemaChange::Fail => Err(Error::SchemaDrift {
                source_name: src.name.clone(),
                file: file.to_string(),
                drift: self,
            }),
            super::SchemaChange::Ignore => {
                seen.merge(self);
                Ok(())
            }
            // New columns were declared by evolution before the load; a
            // retyped one cannot evolve.
            super::SchemaChange::Evolve if !self.retyped.is_empty() => Err(Error::SchemaDrift {
                source_name: src.name.clone(),
                file: file.to_string(),
                drift: self,
            }),
            super::SchemaChange::Evolve => {
                seen.merge(self);
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let list = |s: &std::collections::BTreeSet<String>| {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        if !self.new.is_empty() {
            parts.push(format!("new column(s) {}", list(&self.new)));
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing column(s) {}", list(&self.missing)));
        }
        if !self.retyped.is_empty() {
            parts.push(format!("retyped column(s) {}", list(&self.retyped)));
        }
        f.write_str(&parts.join("; "))
    }
}
