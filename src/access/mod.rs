//! Access to personal data: which columns are personal and how readers see
//! them (`personal: mask | hash | clear`), who is granted which in clear
//! (`access.grants`), the masks themselves ([`mask`]), and the rule that
//! personal data cannot leave a model undeclared ([`lineage`]).

pub mod columns;
pub mod hash;
pub mod lineage;
pub mod mask;
pub mod roles;
pub mod view;

pub use hash::HashKey;
pub use mask::{Masks, mask_value};

use crate::spec::{Diags, Ordered, did_you_mean};
use serde::Deserialize;

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

/// Who may read personal data in clear: reader name → the personal columns
/// granted (`source.column`, `table.*` or `*`). A reader is named by
/// `TOUCHPOINT_READER`, else the login name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    #[serde(default)]
    pub grants: Ordered<Vec<String>>,
    /// Reader roles and their row scope (`row_filter`, `unfiltered`).
    #[serde(default)]
    pub roles: Ordered<roles::RoleSpec>,
    /// `touchpoint serve` users → their role; passwords come from the
    /// environment or a secrets file, never from here.
    #[serde(default)]
    pub users: Ordered<roles::UserSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Hashed columns cannot be shown without their key (fail closed).
    #[error("personal columns {} are hashed, and no hash key is set", .columns.join(", "))]
    NoHashKey { columns: Vec<String> },
    #[error("{0}")]
    HashKey(String),
}

impl Error {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Error::NoHashKey { .. } => format!(
                "set {} (at least 16 bytes) or {} (a file holding it); see Security in README.md",
                hash::KEY_VAR,
                hash::KEY_FILE_VAR
            ),
            Error::HashKey(_) => "the key must be at least 16 bytes".into(),
        })
    }
}

/// The masking policy of one pipeline.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Every personal column (table, column, how readers see it), `clear`
    /// ones too: sources first, then models.
    pub personal: Vec<(String, String, Personal)>,
    /// Reader → personal columns granted in clear (`table.column`,
    /// `table.*`, `*`).
    pub grants: Vec<(String, Vec<String>)>,
    /// Role → its row scope (roles without one are absent).
    pub scopes: Vec<(String, roles::Scope)>,
    /// Server user → role.
    pub users: Vec<(String, String)>,
}

impl Policy {
    /// Check `access.grants` against the personal columns: every entry
    /// names one (or `table.*` of a table that has one, or `*`).
    pub fn compile(
        spec: &AccessSpec,
        personal: Vec<(String, String, Personal)>,
        tables: &[(String, Vec<String>)],
        diags: &mut Diags,
    ) -> Policy {
        let names: Vec<String> = personal
            .iter()
            .map(|(t, c, _)| format!("{t}.{c}"))
            .collect();
        for (reader, granted) in &spec.grants.0 {
            for (i, g) in granted.iter().enumerate() {
                let table_wide = g
                    .strip_suffix(".*")
                    .is_some_and(|t| names.iter().any(|p| p.starts_with(&format!("{t}."))));
                if g == "*" || table_wide || names.contains(g) {
                    continue;
                }
                diags.err(
                    &format!("access.grants.{reader}.{i}"),
                    format!("`{g}` is not a personal column"),
                    Some(match did_you_mean(g, names.iter().map(String::as_str)) {
                        Some(n) => {
                            format!("did you mean `{n}`? personal columns: {}", names.join(", "))
                        }
                        None => format!("personal columns: {}", names.join(", ")),
                    }),
                );
            }
        }
        let (scopes, users) = roles::compile(&spec.roles, &spec.users, &spec.grants, tables, diags);
        Policy {
            personal,
            grants: spec.grants.0.clone(),
            scopes,
            users,
        }
    }

    /// The row scope of `reader` (empty: every row).
    pub fn scope_of(&self, reader: &str) -> roles::Scope {
        self.scopes
            .iter()
            .find(|(r, _)| r == reader)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// The role of server user `user`, if declared.
    pub fn role_of(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, r)| r.as_str())
    }

    /// Every table's personal columns and how analysts see them, `clear`
    /// ones left out.
    pub fn personal_columns(&self) -> Vec<(String, String, Personal)> {
        self.personal
            .iter()
            .filter(|(_, _, p)| *p != Personal::Clear)
            .cloned()
            .collect()
    }

    /// The personal columns `reader` must see masked: all of them but the
    /// ones `access.grants` give that reader.
    pub fn masked_for(&self, reader: &str) -> Vec<(String, String, Personal)> {
        let granted: &[String] = self
            .grants
            .iter()
            .find(|(r, _)| r == reader)
            .map(|(_, g)| g.as_slice())
            .unwrap_or(&[]);
        self.personal_columns()
            .into_iter()
            .filter(|(t, c, _)| {
                !granted
                    .iter()
                    .any(|g| g == "*" || *g == format!("{t}.*") || *g == format!("{t}.{c}"))
            })
            .collect()
    }
}

/// Who is reading: `TOUCHPOINT_READER`, else the login name.
pub fn reader_name() -> String {
    ["TOUCHPOINT_READER", "USER", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}
