//! A report as written in the pipeline file (syntax only; [`super::compile`]
//! checks it).

use crate::spec::Ordered;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// minijinja template relative to the pipeline file (`*.html.j2`).
    pub template: String,
    pub title: Option<String>,
    /// Warehouse tables the template reads (each becomes a list of rows):
    /// `name` for every row, or `name: N` for the rows of the report's
    /// period and the N - 1 periods before it (by the table's `period`).
    pub tables: Vec<TableSpec>,
    /// `en` (default) or a catalog `i18n/<locale>.yaml` beside the
    /// template (`zh-CN` ships): labels, numbers and dates.
    pub locale: Option<String>,
    /// Editions of the report, one file each, everything else shared
    /// (`[en, zh-CN]`); the first is the default edition. Instead of `locale`.
    pub locales: Option<Vec<String>>,
    /// The report `touchpoint demo` prints the path of.
    #[serde(default)]
    pub default: bool,
    /// The currency amounts are shown in (default: the pipeline's).
    pub currency: Option<String>,
    /// `month` (default) or `quarter` (`--period 2024-Q4`).
    pub cadence: Option<String>,
    /// Cells with fewer responses than this are suppressed (default 30).
    pub min_cell: Option<u32>,
    /// A source whose newest row is older than this many days before the
    /// period's end is stale, and every figure built from it says so (default 7).
    pub stale_after_days: Option<u32>,
    /// Parameters (`--param name=value`, `--each name`); a table with the
    /// parameter's column shows only the rows for its value.
    #[serde(default)]
    pub params: Ordered<ParamSpec>,
    /// "What to act on": rules over the report's tables for the period.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub description: Option<String>,
    /// The allowed values...
    pub values: Option<Vec<String>>,
    /// ...or `table.column`: its distinct values in the warehouse.
    pub values_from: Option<String>,
    pub default: Option<String>,
    /// The column holding the parameter in the report's tables (default: its name).
    pub column: Option<String>,
}

/// A rule: every row of `table` in the period matching `when` (a SQL
/// condition) becomes an action, `say` with `{column}` filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub table: String,
    pub when: String,
    pub say: String,
    /// `high` (default), `medium` or `low`: the list is ordered by it.
    pub priority: Option<String>,
}

/// One of a report's tables: every row (`kpi_monthly`), or the report's
/// period and the periods before it (`kpi_monthly: 13`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    /// How many periods of the report's cadence, ending at its period.
    pub periods: Option<u32>,
}

impl<'de> Deserialize<'de> for TableSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TableSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table name, or `name: N` for the last N periods")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TableSpec, E> {
                Ok(TableSpec {
                    name: v.to_string(),
                    periods: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TableSpec, A::Error> {
                let Some((name, n)) = m.next_entry::<String, u32>()? else {
                    return Err(de::Error::custom("an empty table entry"));
                };
                if m.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "one table per entry: `- name: N`, each on its own",
                    ));
                }
                if n == 0 {
                    return Err(de::Error::custom(format!(
                        "`{name}: 0` reads no period; give 1 or more"
                    )));
                }
                Ok(TableSpec {
                    name,
                    periods: Some(n),
                })
            }
        }
        d.deserialize_any(V)
    }
}
