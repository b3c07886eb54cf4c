//! One extraction: connect, open a `REPEATABLE READ, READ ONLY`
//! transaction (every statement after sees the same snapshot), compare the
//! database's columns with the declared ones, then stream the rows in
//! binary `COPY (SELECT …) TO STDOUT` — batch by batch through a bounded
//! channel, so memory does not grow with the table — and, when asked, every
//! key in a second COPY of the same snapshot.

use super::binary::{Parser, Rows};
use super::catalog::{self, describe};
use super::decode::{self, PG_EPOCH_MICROS};
use super::profile::Settings;
use super::types::{self, Wire};
use super::{Postgres, ident};
use crate::sources::database::{
    DbColumn, Error, Extracted, Kind, Mark, MarkKind, Out, Piece, Plan,
};
use crate::sources::timestamp::Zone;
use crate::sources::{BATCH_ROWS, Drift, RawBatch, SchemaChange, Source};
use crate::spec::types::ColumnType;
use crate::warehouse::log::Rejected;
use futures::StreamExt;
use std::sync::Arc;
use tokio_postgres::Client;

pub async fn extract(
    settings: &Settings,
    pg: &Postgres,
    src: &Source,
    plan: &Plan,
    out: &Out,
) -> Result<Extracted, Error> {
    let object = pg.object();
    let client = settings.connect().await?;
    let q = |e: tokio_postgres::Error| Error::Query {
        object: object.clone(),
        reason: super::profile::describe(e),
    };
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(q)?;
    // The snapshot is taken by the transaction's first statement: this one.
    let at: i64 = client
        .query_one(
            "SELECT (extract(epoch FROM transaction_timestamp()) * 1000000)::int8",
            &[],
        )
        .await
        .map_err(q)?
        .get(0);
    let db = describe(&client, pg).await?;
    let (select, mut cols, drift) = selection(pg, src, &db, plan.timezone)?;
    let cursor_at = src
        .cursor
        .as_ref()
        .and_then(|c| src.columns.iter().position(|d| d.name == c.column));
    let mark_kind = match cursor_at.map(|i| cols[i].wire) {
        None => None,
        Some(Wire::Timestamptz) => Some(MarkKind::Instant),
        Some(Wire::Timestamp) => Some(MarkKind::Local),
        Some(Wire::Date) => Some(MarkKind::Date),
        Some(Wire::Int2 | Wire::Int4 | Wire::Int8) => Some(MarkKind::Int),
        Some(_) => {
            return Err(Error::Column {
                object: object.clone(),
                column: src.cursor.as_ref().map(|c| c.column.clone()).unwrap_or_default(),
                reason: "a cursor must be a timestamp, timestamptz, date or integer column in the database".into(),
            });
        }
    };
    let mut filters: Vec<String> = Vec::new();
    if let (Some(since), Some(c)) = (plan.since, &src.cursor) {
        filters.push(format!("q.{} > {}", ident(&c.column), literal(since)));
    }
    // A full extract leaves out rows marked deleted; an incremental one
    // reads them, to remove them from the table.
    if let (None, Some(sc)) = (plan.since, &src.deletes.soft_column) {
        let is_bool = src
            .columns
            .iter()
            .any(|c| &c.name == sc && c.ty == ColumnType::Bool);
        filters.push(if is_bool {
            format!("q.{} IS NOT TRUE", ident(sc))
        } else {
            format!("q.{} IS NULL", ident(sc))
        });
    }
    if let (Some(p), Some(pc)) = (plan.period, &src.period_column) {
        filters.push(period_filter(src, &db, pc, p, plan.timezone));
    }
    let sql = |range: Option<&str>| {
        let all: Vec<&str> = filters.iter().map(String::as_str).chain(range).collect();
        let filter = if all.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", all.join(" AND "))
        };
        format!(
            "COPY (SELECT {} FROM {} AS q{filter}) TO STDOUT (FORMAT binary)",
            select.join(", "),
            pg.object.relation()
        )
    };
    let mut mark: Option<Mark> = None;
    let ranges = match src.key.first() {
        Some(key) if pg.parallel > 1 => {
            let wire = db
                .iter()
                .find(|d| &d.name == key)
                .map(catalog::wire_of)
                .unwrap_or(Wire::Other);
            let bounds = super::ranges::boundaries(&client, pg, key, wire, pg.parallel).await?;
            super::ranges::filters(key, &bounds)
        }
        _ => vec![None],
    };
    if ranges.len() > 1 {
        let snapshot: String = client
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .map_err(q)?
            .get(0);
        let job = super::parallel::Job {
            settings,
            snapshot,
            object: object.clone(),
            cols: cols.clone(),
            declared: &src.columns,
            cursor: cursor_at.zip(mark_kind),
        };
        let sqls: Vec<String> = ranges.iter().map(|r| sql(r.as_deref())).collect();
        mark = super::parallel::read(&job, &sqls, out)?;
    } else {
        let mut read = 0i64;
        copy(&client, &sql(None), &object, cols.len(), |rows| {
            if let (Some(i), Some(k)) = (cursor_at, mark_kind) {
                mark = Mark::max(mark, batch_mark(rows, i, k));
            }
            let first = read + 1;
            read += rows.len() as i64;
            let piece = rows_piece(&object, &mut cols, rows, first, &src.columns)?;
            out.send(Ok(piece)).map_err(|_| stopped(&object))
        })
        .await?;
    }
    if plan.keys {
        let keys: Vec<usize> = src
            .key
            .iter()
            .filter_map(|k| src.columns.iter().position(|c| &c.name == k))
            .collect();
        let mut kcols: Vec<decode::Column> = keys.iter().map(|&k| cols[k].clone()).collect();
        let list: Vec<String> = keys.iter().map(|&k| select[k].clone()).collect();
        let sql = format!(
            "COPY (SELECT {} FROM {} AS q) TO STDOUT (FORMAT binary)",
            list.join(", "),
            pg.object.relation()
        );
        copy(&client, &sql, &object, kcols.len(), |rows| {
            let (arrays, _) = decode::decode(&mut kcols, rows).map_err(|r| Error::Decode {
                object: object.clone(),
                reason: r,
            })?;
            out.send(Ok(Piece::Keys(arrays)))
                .map_err(|_| stopped(&object))
        })
        .await?;
    }
    client.batch_execute("COMMIT").await.map_err(q)?;
    Ok(Extracted { mark, at, drift })
}

/// Why a read ended when its load (or a sibling range) stopped first.
pub const STOPPED: &str = "the load stopped reading";

pub(super) fn stopped(object: &str) -> Error {
    Error::Query {
        object: object.to_string(),
        reason: STOPPED.into(),
    }
}

/// Run one binary COPY, handing each batch of whole tuples to `each`.
pub(super) async fn copy(
    client: &Client,
    sql: &str,
    object: &str,
    ncols: usize,
    mut each: impl FnMut(&Rows) -> Result<(), Error>,
) -> Result<(), Error> {
    let lost = |e: tokio_postgres::Error| Error::Lost {
        object: object.to_string(),
        reason: super::profile::describe(e),
    };
    let bad = |r: String| Error::Decode {
        object: object.to_string(),
        reason: r,
    };
    let stream = client.copy_out(sql).await.map_err(|e| Error::Query {
        object: object.to_string(),
        reason: super::profile::describe(e),
    })?;
    let mut stream = std::pin::pin!(stream);
    let mut parser = Parser::new(ncols);
    let mut rows = Rows::new(ncols);
    while let Some(chunk) = stream.next().await {
        parser.push(&chunk.map_err(lost)?);
        loop {
            parser.rows(&mut rows, BATCH_ROWS).map_err(bad)?;
            if rows.len() < BATCH_ROWS {
                break;
            }
            each(&rows)?;
            rows.clear();
        }
    }
    if !parser.done() {
        return Err(Error::Lost {
            object: object.to_string(),
            reason: "the server ended the data early".into(),
        });
    }
    if !rows.is_empty() {
        each(&rows)?;
    }
    Ok(())
}

/// A batch as raw columns for the conformer, and the rows rejected while
/// decoding (text that is not UTF-8).
/// `first`: the number of its first row.
pub(super) fn rows_piece(
    object: &str,
    cols: &mut [decode::Column],
    rows: &Rows,
    first: i64,
    declared: &[crate::sources::Column],
) -> Result<Piece, Error> {
    let (arrays, bad) = decode::decode(cols, rows).map_err(|r| Error::Decode {
        object: object.to_string(),
        reason: r,
    })?;
    let file: Arc<str> = Arc::from(object);
    let mut lines = Vec::with_capacity(rows.len() - bad.len());
    let mut skip = bad.iter().map(|b| b.row).peekable();
    for r in 0..rows.len() {
        if skip.peek() == Some(&r) {
            skip.next();
            continue;
        }
        lines.push(first + r as i64);
    }
    let rejected = bad
        .into_iter()
        .map(|b| Rejected {
            file: object.to_string(),
            line: first + b.row as i64,
            column: Some(declared[b.column].name.clone()),
            value: Some(b.value),
            reason: b.reason,
            record: None,
        })
        .collect();
    Ok(Piece::Rows(
        RawBatch {
            file,
            lines,
            columns: arrays,
        },
        rejected,
    ))
}

/// The greatest cursor value of a batch.
pub(super) fn batch_mark(rows: &Rows, col: usize, kind: MarkKind) -> Option<Mark> {
    let mut best: Option<i64> = None;
    for r in 0..rows.len() {
        let Some(f) = rows.field(r, col) else {
            continue;
        };
        let v = match (kind, f.len()) {
            (MarkKind::Instant | MarkKind::Local, 8) => {
                i64::from_be_bytes(f.try_into().ok()?).checked_add(PG_EPOCH_MICROS)?
            }
            (MarkKind::Date, 4) => i64::from(i32::from_be_bytes(f.try_into().ok()?)) + 10_957,
            (MarkKind::Int, 2) => i64::from(i16::from_be_bytes(f.try_into().ok()?)),
            (MarkKind::Int, 4) => i64::from(i32::from_be_bytes(f.try_into().ok()?)),
            (MarkKind::Int, 8) => i64::from_be_bytes(f.try_into().ok()?),
            _ => continue,
        };
        best = Some(best.map_or(v, |b| b.max(v)));
    }
    best.map(|value| Mark { kind, value })
}

/// A mark as an SQL literal of its type.
fn literal(m: Mark) -> String {
    let t = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .unwrap_or_else(|| "-infinity".into())
    };
    match m.kind {
        MarkKind::Instant => format!("'{}+00'::timestamptz", t(m.value)),
        MarkKind::Local => format!("'{}'::timestamp", t(m.value)),
        MarkKind::Date => format!("'{}'::date", m.display()),
        MarkKind::Int => m.value.to_string(),
    }
}

/// Rows of period `p`: the period column's local month in the business
/// zone (a `timestamp` first placed in its own zone).
fn period_filter(
    src: &Source,
    db: &[DbColumn],
    pc: &str,
    p: crate::period::Period,
    tz: chrono_tz::Tz,
) -> String {
    let (lo, hi) = (p.first_day(), p.next().first_day());
    let c = format!("q.{}", ident(pc));
    let wire = db
        .iter()
        .find(|d| d.name == pc)
        .map(catalog::wire_of)
        .unwrap_or(Wire::Other);
    let own = src
        .columns
        .iter()
        .find(|c| c.name == pc)
        .and_then(|c| c.timezone)
        .unwrap_or(tz);
    let local = match wire {
        Wire::Date => c,
        Wire::Timestamptz => format!("({c} AT TIME ZONE '{tz}')"),
        Wire::Timestamp => format!("(({c} AT TIME ZONE '{own}') AT TIME ZONE '{tz}')"),
        _ => format!("({c})::date"),
    };
    format!("{local} >= '{lo}' AND {local} < '{hi}'")
}

type Selection = (Vec<String>, Vec<decode::Column>, Drift);

/// The select list (one expression per declared column), how each is
/// decoded, and how the database's columns differ from the declared ones.
fn selection(
    pg: &Postgres,
    src: &Source,
    db: &[DbColumn],
    tz: chrono_tz::Tz,
) -> Result<Selection, Error> {
    let object = pg.object();
    let mut drift = Drift::default();
    for d in db {
        if !src.columns.iter().any(|c| c.name == d.name) {
            drift.new.insert(d.name.clone());
        }
    }
    let mut select = Vec::new();
    let mut cols = Vec::new();
    for c in &src.columns {
        let zone = Zone::new(c.timezone.unwrap_or(tz));
        let Some(d) = db.iter().find(|d| d.name == c.name) else {
            drift.missing.insert(c.name.clone());
            select.push("NULL::text".to_string());
            cols.push(decode::Column {
                name: c.name.clone(),
                wire: Wire::Text,
                declared: c.ty,
                zone,
            });
            continue;
        };
        let wire = catalog::wire_of(d);
        if let Some(reason) = pg.cannot_hold(d, c.ty) {
            return Err(Error::Column {
                object,
                column: c.name.clone(),
                reason,
            });
        }
        let text = types::as_text(wire, c.ty);
        select.push(if text {
            format!("q.{}::text", ident(&c.name))
        } else {
            format!("q.{}", ident(&c.name))
        });
        cols.push(decode::Column {
            name: c.name.clone(),
            wire: if text { Wire::Text } else { wire },
            declared: c.ty,
            zone,
        });
    }
    let stop = match src.on_schema_change {
        SchemaChange::Fail => !drift.is_empty(),
        _ => false,
    };
    if stop {
        return Err(Error::Drift { object, drift });
    }
    Ok((select, cols, drift))
}
