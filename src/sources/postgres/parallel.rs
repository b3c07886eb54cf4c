//! A parallel read (`parallel: N`): the extract's own transaction exports
//! its snapshot (`pg_export_snapshot()`), and each key range is read by a
//! connection of its own that imports it (`SET TRANSACTION SNAPSHOT`), so
//! every range sees exactly the rows the single-connection read would. Each
//! connection decodes on a thread of its own; batches meet in the load's
//! bounded channel, so memory stays bounded by the number of ranges, not
//! the table. The first failure stops the others.

use super::decode;
use super::extract::{STOPPED, batch_mark, copy, rows_piece, stopped};
use super::profile::Settings;
use crate::sources::Column;
use crate::sources::database::{Error, Mark, MarkKind, Out};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// What every range's reader shares.
pub struct Job<'a> {
    pub settings: &'a Settings,
    /// The exporting transaction's snapshot id.
    pub snapshot: String,
    pub object: String,
    pub cols: Vec<decode::Column>,
    pub declared: &'a [Column],
    /// The cursor column's index and kind, when the source has one.
    pub cursor: Option<(usize, MarkKind)>,
}

/// Run one `COPY` per statement in `sqls` at once, each in the snapshot;
/// returns the greatest cursor value read.
pub fn read(job: &Job<'_>, sqls: &[String], out: &Out) -> Result<Option<Mark>, Error> {
    let handle = tokio::runtime::Handle::current();
    // Rows are numbered in the order they arrive, across ranges.
    let lines = AtomicI64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = sqls
            .iter()
            .map(|sql| {
                let (handle, out) = (handle.clone(), out.clone());
                let (lines, stop) = (&lines, &stop);
                s.spawn(move || {
                    let r = handle.block_on(range(job, sql, &out, lines, stop));
                    if r.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    r
                })
            })
            .collect();
        let mut mark = None;
        let mut first: Option<Error> = None;
        for w in workers {
            match w.join() {
                Ok(Ok(m)) => mark = Mark::max(mark, m),
                Ok(Err(e)) => {
                    // A range stopped because another failed is not news.
                    let knock_on = matches!(&e, Error::Query { reason, .. } if reason == STOPPED);
                    if first.is_none() || (!knock_on && is_knock_on(first.as_ref())) {
                        first = Some(e);
                    }
                }
                Err(_) => {
                    first.get_or_insert(Error::Query {
                        object: job.object.clone(),
                        reason: "a range reader panicked".into(),
                    });
                }
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(mark),
        }
    })
}

fn is_knock_on(e: Option<&Error>) -> bool {
    matches!(e, Some(Error::Query { reason, .. }) if reason == STOPPED)
}

async fn range(
    job: &Job<'_>,
    sql: &str,
    out: &Out,
    lines: &AtomicI64,
    stop: &AtomicBool,
) -> Result<Option<Mark>, Error> {
    let object = job.object.as_str();
    let client = job.settings.connect().await?;
    let q = |e: tokio_postgres::Error| Error::Query {
        object: object.to_string(),
        reason: super::profile::describe(e),
    };
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
            job.snapshot.replace('\'', "''")
        ))
        .await
        .map_err(q)?;
    let mut cols = job.cols.clone();
    let mut mark = None;
    copy(&client, sql, object, cols.len(), |rows| {
        if stop.load(Ordering::SeqCst) {
            return Err(stopped(object));
        }
        if let Some((i, k)) = job.cursor {
            mark = Mark::max(mark, batch_mark(rows, i, k));
        }
        let first = lines.fetch_add(rows.len() as i64, Ordering::SeqCst) + 1;
        let piece = rows_piece(object, &mut cols, rows, first, job.declared)?;
        out.send(Ok(piece)).map_err(|_| stopped(object))
    })
    .await?;
    client.batch_execute("COMMIT").await.map_err(q)?;
    Ok(mark)
}
