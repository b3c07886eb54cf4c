//! Planning a database source's load: a full extract (replacing the table
//! or the period) or, with a `cursor:` and a high-water mark from the last
//! committed run, only the rows past the mark, merged into the table by
//! its key. The mark is read from `_loaded_files` and written back with the
//! run's other bookkeeping, so it moves only when the run commits.

use super::Runner;
use super::stages::Prepared;
use crate::period::{self, Period};
use crate::pipeline::Result;
use crate::sources::database::{self, State};
use crate::sources::incremental;
use crate::sources::{CheckContext, Source, table_schema};
use crate::warehouse::WriteMode;
use crate::warehouse::merge::{Clause, Merge, distinct, s, same, t};
use datafusion::logical_expr::Expr;
use std::time::Instant;

impl Runner<'_> {
    /// [`Runner::prepare_load`] for a database source.
    pub(super) async fn prepare_database(
        &mut self,
        src: &Source,
        period: Option<Period>,
    ) -> Result<Option<Prepared>> {
        let t0 = Instant::now();
        let Some(db) = &src.database else {
            return Ok(None);
        };
        let object = db.kind().object();
        let period_key = period::key_of(period);
        let definition = incremental::definition(src, self.pipeline.timezone);
        if self.loaded_files.is_none() && !self.options.full_refresh {
            self.loaded_files = Some(incremental::loaded(self.wh).await?);
        }
        let prior = if self.options.full_refresh {
            None
        } else {
            self.loaded_files
                .as_ref()
                .and_then(|all| all.get(&(src.name.clone(), period_key.clone())))
                .and_then(|files| files.get(&object))
                .filter(|l| l.definition == definition)
                .and_then(|l| State::parse(&l.version))
        };
        let exists = self.wh.table(&src.name).await?.is_some();
        let since = match (&src.cursor, &prior) {
            (Some(c), Some(State { mark: Some(m), .. })) if exists => {
                Some((m.back(c.lookback), c.column.clone()))
            }
            _ => None,
        };
        let state = prior.clone().unwrap_or_default();
        // Deletes by reconcile: every N-th incremental run also reads every
        // key (a full extract replaces the table, which removes them anyway).
        let keys = since.is_some()
            && src
                .deletes
                .reconcile_every
                .is_some_and(|n| state.runs + 1 >= n);
        let part = |p: Period| vec![(period::COLUMN.to_string(), p.to_string())];
        let (mode, why, how) = match &since {
            Some((m, column)) => (
                WriteMode::Merge(Box::new(upsert(src))),
                format!(
                    "incremental: rows with `{column}` after {}{}",
                    m.display(),
                    if keys {
                        ", and every key (deletes by reconcile)"
                    } else {
                        ""
                    }
                ),
                "merge",
            ),
            None => {
                let why = if self.options.full_refresh {
                    "full refresh".to_string()
                } else if src.cursor.is_some() {
                    "full extract (no high-water mark yet)".to_string()
                } else {
                    "full extract".to_string()
                };
                let mode = match period {
                    Some(p) => WriteMode::Replace(part(p)),
                    None => WriteMode::Overwrite,
                };
                (mode, why, "reload")
            }
        };
        let plan = database::Plan {
            since: since.map(|(m, _)| m),
            period,
            keys,
            state,
            timezone: self.pipeline.timezone,
        };
        let checks = CheckContext {
            references: self.reference_sets(src).await?,
            timezone: Some(self.pipeline.timezone),
        };
        self.journal_load(src).await?;
        let qpart = vec![
            ("source".to_string(), src.name.clone()),
            (period::COLUMN.to_string(), period_key.clone()),
        ];
        Ok(Some(Prepared {
            src: src.clone(),
            period,
            period_key,
            files: Vec::new(),
            prior_keys: None,
            checks,
            mode,
            side_mode: WriteMode::Replace(qpart),
            definition,
            kept: 0,
            why,
            how,
            t: t0,
            planned_in: t0.elapsed(),
            database: Some(plan),
            as_of: self.as_of,
        }))
    }
}

/// Changed rows replace the table's row of the same key (only when a value
/// differs, so a row read again changes nothing), new keys insert, and a
/// row its `soft_column` marks is removed (and never inserted).
fn upsert(src: &Source) -> Merge {
    let schema = table_schema(src);
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let set: Vec<(String, Expr)> = names.iter().map(|n| (n.clone(), s(n))).collect();
    let changed = names
        .iter()
        .filter(|n| !src.key.contains(n))
        .map(|n| distinct(s(n), t(n)))
        .reduce(Expr::or)
        .unwrap_or_else(|| datafusion::prelude::lit(false));
    let mut clauses = Vec::new();
    let gone = src.deletes.soft_column.as_ref().map(|c| {
        let is_bool = src
            .columns
            .iter()
            .any(|d| &d.name == c && d.ty == crate::spec::types::ColumnType::Bool);
        if is_bool {
            s(c).is_true()
        } else {
            s(c).is_not_null()
        }
    });
    if let Some(g) = &gone {
        clauses.push(Clause::Delete {
            when: Some(g.clone()),
        });
    }
    clauses.push(Clause::Update {
        when: Some(changed),
        set: set.clone(),
    });
    clauses.push(Clause::Insert {
        when: gone.map(datafusion::prelude::not),
        set,
    });
    Merge {
        on: same(&src.key),
        clauses,
    }
}
