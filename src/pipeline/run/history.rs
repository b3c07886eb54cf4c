//! A load's history (SCD type 2): after the source's table is written, the
//! versions it opened and closed are committed to `<source>_history` by the
//! same load, under the same journal (both tables are journaled before the
//! load starts, so a failed or killed run puts both back). What a version
//! is: [`crate::sources::history`].

use crate::pipeline::Result;
use crate::sources::{Source, history};
use crate::warehouse::transaction::Writer;
use crate::warehouse::{Committed, WriteMode};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a load did to its source's history.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Written {
    pub(super) committed: Option<Committed>,
    pub(super) opened: u64,
    pub(super) closed: u64,
}

impl Written {
    pub(super) fn describe(&self) -> String {
        format!(
            "history: {} version(s) opened, {} closed",
            self.opened, self.closed
        )
    }
}

/// Rows the load marks deleted (key and cursor), kept as they stream by so
/// the history can close their versions when the row says.
pub(super) type Deleted = Arc<Mutex<Vec<RecordBatch>>>;

/// `stream` as read, noting its soft-deleted rows for the history (only a
/// source with a history, a soft-delete column and a time cursor has any).
pub(super) fn watch(
    src: &Source,
    stream: SendableRecordBatchStream,
) -> (SendableRecordBatchStream, Deleted) {
    let deleted: Deleted = Arc::default();
    if src.history.is_none() || src.deletes.soft_column.is_none() {
        return (stream, deleted);
    }
    let (src, kept) = (src.clone(), deleted.clone());
    let schema = stream.schema();
    let watched = stream.map(move |b| {
        if let Ok(batch) = &b
            && let Some(gone) = history::deleted(&src, batch)
            && let Ok(mut all) = kept.lock()
        {
            all.push(gone);
        }
        b
    });
    (
        Box::pin(RecordBatchStreamAdapter::new(schema, watched)),
        deleted,
    )
}

/// Commit the versions `src`'s just-written table opened and closed (none
/// when a merge changed no row). `as_of`: the run's start, in microseconds.
pub(super) async fn write(
    writer: &Writer,
    ctx: &SessionContext,
    src: &Source,
    table: &Committed,
    deleted: &Deleted,
    as_of: i64,
) -> Result<Written> {
    let name = history::table_name(&src.name);
    let untouched = table.merged.is_some_and(|m| m == Default::default());
    if untouched && writer.wh.table(&name).await?.is_some() {
        return Ok(Written::default());
    }
    let deleted = deleted
        .lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default();
    let Some(v) = history::versions(&writer.wh, src, deleted, as_of).await? else {
        return Ok(Written::default());
    };
    let fresh = matches!(v.mode, WriteMode::Overwrite);
    let rows = Arc::new(AtomicU64::new(0));
    let counted = rows.clone();
    let schema = v.stream.schema();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        v.stream.inspect(move |b| {
            if let Ok(b) = b {
                counted.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            }
        }),
    ));
    let c = writer.write(ctx, &name, stream, v.mode, None).await?;
    let (opened, closed) = match c.merged {
        Some(m) if !fresh => (m.inserted, m.updated),
        _ => (rows.load(Ordering::Relaxed), 0),
    };
    Ok(Written {
        committed: Some(c),
        opened,
        closed,
    })
}
