//! `discover` for a database table: the proposed source block from the
//! catalog — each column's natural declared type, `required` for `NOT
//! NULL`, the key from the primary key, `personal: mask` for names that
//! look like personal data. A proposal for a person to review.

use super::DbColumn;
use crate::sources::discover::PERSONAL;

/// The block for source `name` reading `object_yaml` (the `postgres:`
/// line's mapping, e.g. `{profile: crm, table: crm.customers}`).
pub fn render(name: &str, kind: &str, object_yaml: &str, cols: &[DbColumn]) -> String {
    let mut key: Vec<(usize, &str)> = cols
        .iter()
        .filter_map(|c| c.key.map(|k| (k, c.name.as_str())))
        .collect();
    key.sort();
    let mut out = format!(
        "# Proposed by `touchpoint discover` from the catalog of {kind} `{object_yaml}`.\n\
         # Review before use: types, required, personal data, key, time zones.\n\
         sources:\n  {name}:\n    {kind}: {object_yaml}\n"
    );
    if !key.is_empty() {
        let k: Vec<&str> = key.iter().map(|(_, n)| *n).collect();
        out.push_str(&format!("    key: [{}]\n", k.join(", ")));
    }
    out.push_str("    columns:\n");
    for c in cols {
        let mut parts = Vec::new();
        match c.natural {
            Some(t) if t.to_string().contains('(') => parts.push(format!("type: \"{t}\"")),
            Some(t) => parts.push(format!("type: {t}")),
            None => parts.push("type: string".into()),
        }
        if c.not_null {
            parts.push("required: true".into());
        }
        let lower = c.name.to_ascii_lowercase();
        if PERSONAL.iter().any(|p| lower.contains(p)) {
            parts.push("personal: mask".into());
        }
        let note = match c.natural {
            None => format!("  # {} (read as text)", c.type_name),
            Some(_) => format!("  # {}", c.type_name),
        };
        out.push_str(&format!(
            "      {}: {{{}}}{note}\n",
            c.name,
            parts.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::ColumnType;

    fn col(name: &str, ty: Option<ColumnType>, not_null: bool, key: Option<usize>) -> DbColumn {
        DbColumn {
            name: name.into(),
            type_name: "x".into(),
            type_id: 0,
            natural: ty,
            not_null,
            key,
        }
    }

    #[test]
    fn key_required_personal_and_types() {
        let b = render(
            "customers",
            "postgres",
            "{profile: crm, table: crm.customers}",
            &[
                col("customer_id", Some(ColumnType::String), true, Some(1)),
                col("full_name", Some(ColumnType::String), false, None),
                col(
                    "balance",
                    Some(ColumnType::Decimal {
                        precision: 18,
                        scale: 2,
                    }),
                    false,
                    None,
                ),
                col("tags", None, false, None),
            ],
        );
        assert!(b.contains("    key: [customer_id]\n"), "{b}");
        assert!(
            b.contains("customer_id: {type: string, required: true}"),
            "{b}"
        );
        assert!(
            b.contains("full_name: {type: string, personal: mask}"),
            "{b}"
        );
        assert!(b.contains("balance: {type: \"decimal(18,2)\"}"), "{b}");
        assert!(
            b.contains("tags: {type: string}  # x (read as text)"),
            "{b}"
        );
    }
}
