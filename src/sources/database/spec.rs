//! The incremental settings of a database source, compiled: `cursor` (with
//! `lookback`) and `deletes`. Syntax is in [`crate::sources::spec`].

use crate::sources::{Column, SourceSpec};
use crate::spec::Diags;
use crate::spec::types::ColumnType;

/// Incremental extraction: rows whose cursor is past the stored mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub column: String,
    pub lookback: Lookback,
}

/// How far behind the high-water mark a run reads again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookback {
    #[default]
    None,
    /// A time cursor: this many microseconds (a date cursor: whole days).
    Micros(i64),
    /// An integer cursor: this many units.
    Units(i64),
}

/// How deleted rows reach an incremental table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deletes {
    /// A declared column marking deleted rows (true, or any value).
    pub soft_column: Option<String>,
    /// Compare every key with the database's every this many runs.
    pub reconcile_every: Option<u32>,
}

/// Compile `cursor`, `lookback` and `deletes` of the source at `at`.
pub fn compile(
    at: &str,
    s: &SourceSpec,
    columns: &[Column],
    is_database: bool,
    diags: &mut Diags,
) -> (Option<Cursor>, Deletes) {
    let names = || {
        columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !is_database {
        for (key, set) in [
            ("cursor", s.cursor.is_some()),
            ("lookback", s.lookback.is_some()),
            ("deletes", s.deletes.is_some()),
        ] {
            if set {
                diags.err(
                    &format!("{at}.{key}"),
                    format!("`{key}` applies to database sources (`postgres:`)"),
                    Some(
                        "a file source reads only new or changed files by itself; remove the key"
                            .into(),
                    ),
                );
            }
        }
        return (None, Deletes::default());
    }
    let mut cursor = None;
    if let Some(cname) = &s.cursor {
        match columns.iter().find(|c| &c.name == cname) {
            None => diags.err(
                &format!("{at}.cursor"),
                format!("cursor `{cname}` is not a declared column"),
                Some(format!("columns: {}", names())),
            ),
            Some(c) if !matches!(c.ty, ColumnType::Timestamp | ColumnType::Date | ColumnType::Int) => {
                diags.err(
                    &format!("{at}.cursor"),
                    format!("cursor `{cname}` is {}, it must be a timestamp, date or int", c.ty),
                    Some("use the column the database bumps on every change (`updated_at`, a change sequence)".into()),
                )
            }
            Some(c) => {
                if s.key.is_empty() {
                    diags.err(
                        &format!("{at}.cursor"),
                        "an incremental source needs a `key` to merge changed rows by",
                        Some("add e.g. `key: [customer_id]` (the table's primary key)".into()),
                    );
                }
                let lookback = s
                    .lookback
                    .as_ref()
                    .map(|v| lookback(&format!("{at}.lookback"), v, c.ty, diags))
                    .unwrap_or_default();
                cursor = Some(Cursor {
                    column: cname.clone(),
                    lookback,
                });
            }
        }
    } else if s.lookback.is_some() {
        diags.err(
            &format!("{at}.lookback"),
            "`lookback` needs a `cursor`",
            Some("add `cursor: updated_at` (the column the database bumps on every change)".into()),
        );
    }
    let mut deletes = Deletes::default();
    if let Some(d) = &s.deletes {
        if let Some(sc) = &d.soft_column {
            if columns.iter().any(|c| &c.name == sc) {
                deletes.soft_column = Some(sc.clone());
            } else {
                diags.err(
                    &format!("{at}.deletes.soft_column"),
                    format!("`{sc}` is not a declared column"),
                    Some(format!(
                        "declare the column that marks deleted rows; columns: {}",
                        names()
                    )),
                );
            }
        }
        match d.reconcile_every {
            Some(0) => diags.err(
                &format!("{at}.deletes.reconcile_every"),
                "`reconcile_every` must be at least 1",
                Some("1 compares every key on every run; 10 on every tenth".into()),
            ),
            Some(_) if s.cursor.is_none() => diags.err(
                &format!("{at}.deletes.reconcile_every"),
                "`reconcile_every` needs a `cursor`: without one every run reads the whole table",
                Some("remove `reconcile_every`, or add `cursor:`".into()),
            ),
            Some(n) => {
                // Keys are compared as the database sends them: only types
                // whose value the load keeps unchanged (text as is, whole
                // numbers) compare exactly, so no row is removed because
                // its key was parsed differently.
                for k in &s.key {
                    if let Some(c) = columns.iter().find(|c| &c.name == k)
                        && !matches!(c.ty, ColumnType::String | ColumnType::Int)
                    {
                        diags.err(
                            &format!("{at}.deletes.reconcile_every"),
                            format!(
                                "deletes by reconcile compare keys exactly; key column `{k}` is {}",
                                c.ty
                            ),
                            Some("use a string or int key, or `deletes: {soft_column: …}`".into()),
                        );
                    }
                }
                deletes.reconcile_every = Some(n);
            }
            None => {}
        }
        if d.soft_column.is_none() && d.reconcile_every.is_none() {
            diags.err(
                &format!("{at}.deletes"),
                "`deletes` needs `soft_column` or `reconcile_every`",
                Some(
                    "e.g. `deletes: {soft_column: is_deleted}` or `deletes: {reconcile_every: 10}`"
                        .into(),
                ),
            );
        }
    }
    (cursor, deletes)
}

/// `1h`, `30m`, `45s`, `2d` for a time cursor; a whole number for an
/// integer cursor.
fn lookback(at: &str, v: &serde_yaml::Value, cursor: ColumnType, diags: &mut Diags) -> Lookback {
    let time = cursor != ColumnType::Int;
    match (v, time) {
        (serde_yaml::Value::Number(n), false) => match n.as_i64() {
            Some(u) if u >= 0 => Lookback::Units(u),
            _ => {
                diags.err(
                    at,
                    format!("lookback {n} is not a whole number of at least 0"),
                    None,
                );
                Lookback::None
            }
        },
        (serde_yaml::Value::String(s), true) => match duration_micros(s) {
            Some(us) => Lookback::Micros(us),
            None => {
                diags.err(
                    at,
                    format!("`{s}` is not a duration"),
                    Some("write a number and a unit: `45s`, `30m`, `1h`, `2d`".into()),
                );
                Lookback::None
            }
        },
        (_, true) => {
            diags.err(
                at,
                "a time cursor's lookback is a duration",
                Some("write a number and a unit: `45s`, `30m`, `1h`, `2d`".into()),
            );
            Lookback::None
        }
        (_, false) => {
            diags.err(
                at,
                "an integer cursor's lookback is a whole number",
                Some("e.g. `lookback: 1000` reads the last 1000 values of the cursor again".into()),
            );
            Lookback::None
        }
    }
}

/// `45s`, `30m`, `1h`, `2d` in microseconds.
pub fn duration_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let per: i64 = match unit {
        's' => 1_000_000,
        'm' => 60_000_000,
        'h' => 3_600_000_000,
        'd' => 86_400_000_000,
        _ => return None,
    };
    (n >= 0).then_some(n)?.checked_mul(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_micros("1h"), Some(3_600_000_000));
        assert_eq!(duration_micros("30m"), Some(1_800_000_000));
        assert_eq!(duration_micros("2d"), Some(172_800_000_000));
        assert_eq!(duration_micros("45s"), Some(45_000_000));
        assert_eq!(duration_micros("1w"), None);
        assert_eq!(duration_micros("-1h"), None);
        assert_eq!(duration_micros("h"), None);
        assert_eq!(duration_micros("香h"), None);
        assert_eq!(duration_micros("99999999999999999d"), None);
    }
}
