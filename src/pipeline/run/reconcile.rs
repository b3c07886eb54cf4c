//! Deletes by reconcile (`deletes: {reconcile_every: N}`): every N-th
//! incremental run of a database source also reads every key the database
//! holds, in the same snapshot as the changed rows. Once the changes are
//! merged, the table's rows whose key is not among them are removed by a
//! second MERGE over the keys alone (`WHEN NOT MATCHED BY SOURCE THEN
//! DELETE`), so only keys cross the wire. Both commits belong to the run:
//! a failed run rolls both back.

use crate::pipeline::{Error, Result};
use crate::sources::Source;
use crate::sources::staging::Spilled;
use crate::warehouse::merge::{Clause, Merge, same};
use crate::warehouse::transaction::Writer;
use crate::warehouse::{Committed, WriteMode};
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::prelude::SessionContext;

/// What a reconcile compared and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reconciled {
    /// Keys the database holds.
    pub keys: u64,
    /// Rows of the table whose key it no longer holds, removed.
    pub deleted: u64,
}

/// After a load's merge: when its extract read every key (`outcome`),
/// reconcile; the table's last commit and what the reconcile did.
pub(super) async fn after(
    writer: &Writer,
    ctx: &SessionContext,
    src: &Source,
    written: Result<Committed>,
    outcome: &std::sync::Mutex<crate::sources::database::load::Outcome>,
) -> (Result<Committed>, Option<Reconciled>) {
    let Ok(changes) = written else {
        return (written, None);
    };
    let keys = outcome.lock().ok().and_then(|mut o| o.keys.take());
    match apply(writer, ctx, src, keys, changes).await {
        Ok((c, r)) => (Ok(c), Some(r)),
        Err(e) => (Err(e), None),
    }
}

/// Remove the rows of `src`'s table whose key is not in `keys` (every key
/// of the database's snapshot; `None` when it sent none). `changes` is the
/// merge just committed; the result is the table's last commit.
async fn apply(
    writer: &Writer,
    ctx: &SessionContext,
    src: &Source,
    keys: Option<Spilled>,
    changes: Committed,
) -> Result<(Committed, Reconciled)> {
    let held = keys.as_ref().map(|k| k.rows).unwrap_or(0);
    let Some(keys) = keys.filter(|k| k.rows > 0) else {
        // No key at all is more likely a wrong grant, view or search path
        // than a table emptied on purpose: refuse to remove every row.
        let rows = row_count(writer, ctx, &src.name).await?;
        if rows == 0 {
            return Ok((changes, Reconciled::default()));
        }
        return Err(crate::sources::Error::NoKeys {
            source_name: src.name.clone(),
            rows,
        }
        .into());
    };
    let path = keys
        .path()
        .to_str()
        .ok_or_else(|| Error::Internal("the key file's path is not UTF-8".into()))?
        .to_string();
    let stream = ctx
        .read_arrow(&path, ArrowReadOptions::default())
        .await?
        .execute_stream()
        .await?;
    let merge = Merge {
        on: same(&src.key),
        clauses: vec![Clause::DeleteUnmatched { when: None }],
    };
    let c = writer
        .write(
            ctx,
            &src.name,
            stream,
            WriteMode::Merge(Box::new(merge)),
            None,
        )
        .await?;
    drop(keys);
    let deleted = c.merged.map(|m| m.deleted).unwrap_or(0);
    // The table's version is the last commit; the merge's own counts stay
    // as they were (the summary says the reconcile's apart).
    let combined = Committed {
        version: c.version.max(changes.version),
        merged: changes.merged,
    };
    Ok((
        combined,
        Reconciled {
            keys: held,
            deleted,
        },
    ))
}

async fn row_count(writer: &Writer, ctx: &SessionContext, name: &str) -> Result<usize> {
    let provider = writer.wh.provider(name).await?;
    Ok(ctx.read_table(provider)?.count().await?)
}
