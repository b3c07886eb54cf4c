//! `models:` → [`Model`]s: each model's SQL read (or a step's input),
//! the tables it reads found, the models ordered by them, and each planned
//! against its inputs' schemas (a step's settings checked against its
//! input's columns), with the personal-data lineage rule applied.

use super::spec::{KindSpec, ModelSpec};
use super::{Kind, MODEL_METRICS, MODEL_PARAMS, Model, churn, clv};
use crate::access::lineage::{self, Declared};
use crate::engine::ident;
use crate::spec::{Diagnostic, Diags, Project, did_you_mean};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::sql::parser::Statement;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Every table's schema by name.
pub type Schemas = HashMap<String, SchemaRef>;

/// Compile `specs` in dependency order. `schemas` holds every other table
/// (seeds, sources, bookkeeping) and gains each model's output; `broken`
/// names tables declared but not compiled (a model reading one is not
/// checked further: its error would only echo theirs); `personal` holds the
/// sources' personal (table, column) pairs.
pub async fn compile(
    specs: &[(String, ModelSpec)],
    project: &Project,
    schemas: &mut Schemas,
    broken: &BTreeSet<String>,
    personal: BTreeSet<(String, String)>,
    diags: &mut Diags<'_>,
) -> Vec<Model> {
    // The engine's session: the functions models may call (percentile_exact).
    let ctx = crate::engine::session();
    // One state for the compile: the tables registered in `ctx` below are
    // in the catalog it shares.
    let state = ctx.state();
    let model_names: BTreeSet<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();

    // Read SQL (or a step's input) and find dependencies.
    // Each model with its statement, parsed once here and planned below.
    let mut parsed: Vec<(Model, Statement)> = Vec::new();
    for (name, m) in specs {
        let Some(step) = kind(name, m, diags) else {
            continue;
        };
        let (sql, path) = match (&m.common.sql, &m.common.from) {
            (Some(file), None) => {
                let at = format!("models.{name}.sql");
                let Some(path) = project.resolve(&at, file, diags) else {
                    continue;
                };
                match std::fs::read_to_string(&path) {
                    Ok(s) => (s, path),
                    Err(e) => {
                        diags.err(
                            &at,
                            format!("cannot read SQL file `{file}`: {e}"),
                            Some("the path is relative to the pipeline file".into()),
                        );
                        continue;
                    }
                }
            }
            (None, Some(table)) if !matches!(step, Kind::Sql) => (
                format!("SELECT * FROM {}", ident(table)),
                diags.file().to_path_buf(),
            ),
            (Some(_), Some(_)) => {
                diags.err(
                    &format!("models.{name}.from"),
                    "give a step's input as `sql` or as `from`, not both",
                    None,
                );
                continue;
            }
            _ => {
                let key = if matches!(step, Kind::Sql) {
                    "sql"
                } else {
                    "from"
                };
                diags.err(
                    &format!("models.{name}"),
                    format!("model `{name}` needs `{key}`"),
                    Some(if matches!(step, Kind::Sql) {
                        "e.g. `sql: ../queries/my_model.sql` (relative to the pipeline file)".into()
                    } else {
                        "`from: table` (or `sql: file.sql`) names the step's input".into()
                    }),
                );
                continue;
            }
        };
        let (mut deps, statement) = match crate::engine::parse(&state, &sql) {
            Ok(p) => (p.tables, p.statement),
            Err((msg, pos)) => {
                diags.push(Diagnostic::new(&path, pos, "", msg).with_help("fix the SQL syntax"));
                continue;
            }
        };
        // A model reading what steps record runs after those steps.
        for (table, kind) in [(MODEL_METRICS, "churn_model"), (MODEL_PARAMS, "clv")] {
            if deps.iter().any(|d| d == table) {
                deps.extend(
                    specs
                        .iter()
                        .filter(|(_, o)| o.kind_name() == kind)
                        .map(|(n, _)| n.clone()),
                );
            }
        }
        let by_period = by_period(name, m, &step, &sql, diags);
        parsed.push((
            Model {
                name: name.clone(),
                sql_file: path,
                sql,
                description: m.common.description.clone(),
                depends_on: deps,
                kind: step,
                personal: m
                    .common
                    .personal
                    .as_ref()
                    .map(|p| p.0.clone())
                    .unwrap_or_default(),
                by_period,
            },
            statement,
        ));
    }
    let nodes: Vec<(String, Vec<String>)> = parsed
        .iter()
        .map(|(m, _)| (m.name.clone(), m.depends_on.clone()))
        .collect();
    let order = match super::order::order(&nodes) {
        Ok(o) => o,
        Err(cycle) => {
            let first = cycle.first().cloned().unwrap_or_default();
            diags.err(
                &format!("models.{first}"),
                format!(
                    "models depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
                Some("break the cycle: a model cannot read a table built from itself".into()),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    // (table, column) of every personal column so far, `clear` ones too:
    // a model copying one must say how it carries it.
    let mut personal = personal;
    for name in order {
        let Some((m, statement)) = parsed.iter().find(|(m, _)| m.name == name) else {
            continue;
        };
        // Skip models downstream of a broken table.
        if m.depends_on
            .iter()
            .any(|d| broken.contains(d.as_str()) || failed.contains(d))
        {
            failed.insert(m.name.clone());
            continue;
        }
        let mut unknown = false;
        for d in &m.depends_on {
            if !schemas.contains_key(d) && !model_names.contains(d.as_str()) {
                let mut known: Vec<&str> = schemas.keys().map(String::as_str).collect();
                known.extend(model_names.iter());
                let near = did_you_mean(d, known.iter().copied());
                let pos = crate::engine::find_word(&m.sql, d);
                diags.push(
                    Diagnostic::new(&m.sql_file, pos, "", format!("unknown table `{d}`"))
                        .with_help(near.map(|n| format!("did you mean `{n}`?")).unwrap_or_else(
                            || "tables are the pipeline's seeds, sources and models".into(),
                        )),
                );
                unknown = true;
            }
        }
        if unknown {
            failed.insert(m.name.clone());
            continue;
        }
        for d in &m.depends_on {
            if let Some(schema) = schemas.get(d) {
                let _ = ctx.deregister_table(d.as_str());
                if let Ok(t) = MemTable::try_new(schema.clone(), vec![vec![]]) {
                    let _ = ctx.register_table(d.as_str(), Arc::new(t));
                }
            }
        }
        match crate::engine::plan_parsed(&state, &m.sql, statement.clone()).await {
            Ok(planned) => {
                let schema = planned.schema();
                let (mut problems, output) = match &m.kind {
                    Kind::Sql => (Vec::new(), schema),
                    Kind::Churn(c) => (c.check(&schema), c.output_schema(&schema)),
                    Kind::Clv(c) => (c.check(&schema), c.output_schema()),
                };
                if m.by_period.is_some()
                    && output
                        .field_with_name(super::PERIOD)
                        .map(|f| {
                            use datafusion::arrow::datatypes::DataType::{
                                LargeUtf8, Utf8, Utf8View,
                            };
                            !matches!(f.data_type(), Utf8 | Utf8View | LargeUtf8)
                        })
                        .unwrap_or(true)
                {
                    problems.push((
                        "incremental".to_string(),
                        format!("a model rebuilt by period needs a text `{}` column (YYYY-MM) in its output", super::PERIOD),
                        Some("select the period of each row as `period`, or use `incremental: false`".to_string()),
                    ));
                }
                if !problems.is_empty() {
                    for (key, msg, help) in problems {
                        diags.err(&format!("models.{}.{key}", m.name), msg, help);
                    }
                    failed.insert(m.name.clone());
                    continue;
                }
                let declared = Declared {
                    name: &m.name,
                    sql: &m.sql,
                    sql_file: &m.sql_file,
                    personal: &m.personal,
                    step: match &m.kind {
                        Kind::Sql => None,
                        Kind::Churn(c) => Some(c.carries(&output)),
                        Kind::Clv(c) => Some(c.carries(&output)),
                    },
                };
                if !lineage::check(&planned, &declared, &output, &personal, diags) {
                    failed.insert(m.name.clone());
                    continue;
                }
                personal.extend(m.personal.iter().map(|(c, _)| (m.name.clone(), c.clone())));
                schemas.insert(m.name.clone(), output);
                out.push(m.clone());
            }
            Err((msg, pos, help)) => {
                let mut d = Diagnostic::new(&m.sql_file, pos, "", msg);
                d.help = help;
                diags.push(d);
                failed.insert(m.name.clone());
            }
        }
    }
    out
}
/// A model's compiled kind; keys of another kind are errors.
fn kind(name: &str, m: &ModelSpec, diags: &mut Diags) -> Option<Kind> {
    let at = format!("models.{name}");
    let kind = m.kind_name();
    for (key, kinds) in &m.foreign {
        diags.err(
            &format!("{at}.{key}"),
            format!("`{key}` is a key of kind {kinds}, and this model is kind {kind}"),
            Some(format!("remove it, or set `kind:` to {kinds}")),
        );
    }
    let step = match &m.kind {
        KindSpec::ChurnModel(c) => churn::ChurnStep::from_spec(c).map(Kind::Churn),
        KindSpec::Clv(c) => clv::ClvStep::from_spec(c).map(Kind::Clv),
        KindSpec::Sql => Ok(Kind::Sql),
    };
    match step {
        Ok(s) if m.foreign.is_empty() => Some(s),
        Ok(_) => None,
        Err(problems) => {
            for (key, msg, help) in problems {
                diags.err(&format!("{at}.{key}"), msg, help);
            }
            None
        }
    }
}

/// `incremental:` compiled: the months a month of the model reads.
fn by_period(
    name: &str,
    m: &ModelSpec,
    kind: &Kind,
    sql: &str,
    diags: &mut Diags,
) -> Option<super::Reach> {
    use super::spec::IncrementalSpec;
    let at = format!("models.{name}.incremental");
    match m.common.incremental.as_ref()? {
        IncrementalSpec::Flag(false) => None,
        IncrementalSpec::Flag(true) => {
            diags.err(
                &at,
                "say how the model depends on periods",
                Some("`incremental: {by: period, lookback: 3}` (a month reads the 3 before it), or `incremental: false`".into()),
            );
            None
        }
        IncrementalSpec::By(b) if b.by != super::PERIOD => {
            diags.err(
                &format!("{at}.by"),
                format!("models are rebuilt by `period`, not `{}`", b.by),
                Some("write `by: period`".into()),
            );
            None
        }
        IncrementalSpec::By(_) if matches!(kind, Kind::Clv(_)) => {
            diags.err(
                &at,
                "a clv step is not rebuilt by period: each customer's value reads all their history",
                Some("remove `incremental`".into()),
            );
            None
        }
        IncrementalSpec::By(b) if b.lookback > 120 || b.lookahead > 120 => {
            let (key, n) = if b.lookback > 120 {
                ("lookback", b.lookback)
            } else {
                ("lookahead", b.lookahead)
            };
            diags.err(
                &format!("{at}.{key}"),
                format!("{key} {n} is over 120 months"),
                Some("a model reading more history than that is `incremental: false`".into()),
            );
            None
        }
        IncrementalSpec::By(b) => match reaches(sql, b.lookback, b.lookahead) {
            Some((key, why)) => {
                diags.err(
                    &format!("{at}.{key}"),
                    why,
                    Some(format!("declare the months the SQL reads {} its own (`{key}: N`), or `incremental: false`", if key == "lookahead" { "after" } else { "before" })),
                );
                None
            }
            None => Some(super::Reach {
                lookback: b.lookback,
                lookahead: b.lookahead,
            }),
        },
    }
}

/// What in `sql` reads months a `lookback` and `lookahead` do not cover,
/// as far as the text shows it: a look ahead with `lookahead: 0`, a window
/// over rows (it reaches by rows, not months), or another month with
/// `lookback: 0` — and the key to declare.
fn reaches(sql: &str, lookback: u32, lookahead: u32) -> Option<(&'static str, String)> {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let has = |p: &str| squeezed.contains(p);
    if lookahead == 0 && (has("lead(") || has("lead (") || has("following")) {
        return Some(("lookahead", "the SQL reads later rows (`LEAD` or `FOLLOWING`): a month would depend on the months after it".into()));
    }
    let over_rows = ["rows between", "rows unbounded"]
        .iter()
        .flat_map(|p| squeezed.match_indices(p).map(|(at, _)| at))
        .any(|at| {
            let stays = lookback > 0 && running(&squeezed[at..]);
            !stays && !within_a_month(&squeezed, at)
        });
    if over_rows {
        return Some(("lookback", "the SQL has a window over rows (`ROWS …`) not partitioned by `period`, which reaches by rows, not months: order by a month number with `RANGE BETWEEN`, or partition by `period`".into()));
    }
    // A `LAG` reads back; a month ± 1 may read either way.
    let back = ["lag(", "lag ("];
    let either = ["interval '1 month'", "month_index + 1", "month_index - 1"];
    let shift = match (lookback, lookahead) {
        (0, 0) => back.iter().chain(&either).find(|p| has(p)),
        (0, _) => back.iter().find(|p| has(p)),
        _ => None,
    };
    if let Some(p) = shift {
        return Some((
            "lookback",
            format!(
                "the SQL reads another month (`{}`) but the model declares `lookback: 0`",
                p.trim_end_matches('(').trim()
            ),
        ));
    }
    None
}

/// Whether the frame at the start of `frame` runs from the first row read
/// to the current one: it reaches the months a running `RANGE` frame does
/// (all those read: with a lookback, more than one), and rows only decide
/// among rows of one month.
fn running(frame: &str) -> bool {
    [
        "rows unbounded preceding",
        "rows between unbounded preceding and current row",
    ]
    .iter()
    .any(|p| frame.starts_with(p))
}

/// Whether the window whose frame starts at byte `at` of `sql` (lower case,
/// spaces squeezed) is partitioned by `period` (or `x.period`): its rows are
/// then one month's, whatever the frame.
fn within_a_month(sql: &str, at: usize) -> bool {
    // The window's `(`: the nearest one before the frame still open.
    let mut depth = 0usize;
    let mut open = None;
    for (i, c) in sql[..at].char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => {
                open = Some(i);
                break;
            }
            '(' => depth -= 1,
            _ => {}
        }
    }
    let Some(open) = open else {
        return false;
    };
    let window = &sql[open + 1..at];
    let Some((_, keys)) = window.split_once("partition by ") else {
        return false;
    };
    let keys = keys.split(" order by").next().unwrap_or(keys);
    keys.split(',').any(|k| {
        let k = k.trim();
        k == "period" || k.ends_with(".period")
    })
}

#[cfg(test)]
mod tests {
    use super::reaches;

    #[test]
    fn month_shifts_need_a_lookback() {
        let same = "SELECT period, SUM(x) FROM t GROUP BY period";
        assert_eq!(reaches(same, 0, 0), None);
        let lag = "SELECT period, LAG(x) OVER (PARTITION BY c ORDER BY period) FROM t";
        assert!(reaches(lag, 0, 0).is_some_and(|(k, w)| k == "lookback" && w.contains("`lag`")));
        assert_eq!(reaches(lag, 1, 0), None);
        let shifted = "SELECT month_index  +  1 FROM m -- LEAD( in a comment is fine";
        assert!(reaches(shifted, 0, 0).is_some());
        assert_eq!(reaches(shifted, 1, 0), None);
        // A month ahead is a lookahead's; a LAG still needs a lookback.
        assert_eq!(reaches(shifted, 0, 3), None);
        assert!(reaches(lag, 0, 3).is_some());
        let rows = "SUM(x) OVER (ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)";
        assert!(reaches(rows, 3, 0).is_some_and(|(_, w)| w.contains("ROWS")));
        // A running window reaches what a `RANGE` one does: every month read.
        let unbounded = "MAX(x) OVER (PARTITION BY c ORDER BY period ROWS UNBOUNDED PRECEDING)";
        assert_eq!(reaches(unbounded, 12, 0), None);
        let to_current = "MAX(x) OVER (PARTITION BY c ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)";
        assert_eq!(reaches(to_current, 11, 0), None);
        // One ending rows back ends by rows, not months.
        let to_before = "MAX(x) OVER (PARTITION BY c ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)";
        assert!(reaches(to_before, 12, 0).is_some());
        // With no lookback a month reads only itself: a running window over
        // all history would see one month.
        assert!(reaches(unbounded, 0, 0).is_some());
        let ahead = "LEAD(call_start) OVER (PARTITION BY c ORDER BY call_start)";
        assert!(reaches(ahead, 12, 0).is_some_and(|(k, w)| k == "lookahead" && w.contains("LEAD")));
        // Declared: a month may read the one after it.
        assert_eq!(reaches(ahead, 0, 1), None);
        // Partitioned by the month, a window over rows stays in its month.
        let in_month =
            "SUM(x) OVER (PARTITION BY period, tier ORDER BY p DESC, c ROWS UNBOUNDED PRECEDING)";
        assert_eq!(reaches(in_month, 0, 0), None);
        let qualified = "SUM(x) OVER (PARTITION BY b.period ORDER BY p ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)";
        assert_eq!(reaches(qualified, 0, 0), None);
        let named = "SELECT MAX(x) OVER w FROM t WINDOW w AS (PARTITION BY c, period ORDER BY p ROWS UNBOUNDED PRECEDING)";
        assert_eq!(reaches(named, 0, 0), None);
        // Not by the month itself, or one of two windows not by it: refused.
        let year =
            "MAX(x) OVER (PARTITION BY substr(period, 1, 4) ORDER BY m ROWS UNBOUNDED PRECEDING)";
        assert!(reaches(year, 0, 0).is_some());
        let period_like =
            "MAX(x) OVER (PARTITION BY period_start ORDER BY m ROWS UNBOUNDED PRECEDING)";
        assert!(reaches(period_like, 0, 0).is_some());
        let two = format!("{in_month}, {to_before}");
        assert!(reaches(&two, 12, 0).is_some());
        let range = "SUM(x) OVER (PARTITION BY c ORDER BY month_index RANGE BETWEEN 3 PRECEDING AND 1 PRECEDING)";
        assert_eq!(reaches(range, 3, 0), None);
    }
}
