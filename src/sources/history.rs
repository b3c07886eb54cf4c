//! History (SCD type 2) of a snapshot or incremental source: the table
//! `<source>_history` keeps one row per version of each key — its key, its
//! `track` columns, and when the version was valid (`valid_from`, `valid_to`
//! null while it is current, and a current flag).
//!
//! After a load commits the source's table, [`versions`] compares the
//! table (every key as it is now) with the history's current versions:
//! a key whose tracked values changed closes its version and opens one, a
//! new key opens one, a key no longer in the table (a soft delete, or absent
//! from a full snapshot) closes its version. Nothing else is touched, so a
//! run that changed nothing writes nothing. The moment of a change is the
//! row's `cursor` (a timestamp or date cursor of a database source: when
//! the database says the row changed; for a soft delete, the deleted row's
//! cursor), else the run's start; a key's first version begins at `since`
//! when the source declares one.
//!
//! Does not write the warehouse: the run commits what [`versions`] gives,
//! in its transaction.

use super::{Column, Error, Source, SourceSpec, table_schema};
use crate::spec::types::ColumnType;
use crate::spec::{Diags, did_you_mean};
use crate::warehouse::merge::{Clause, Merge, s, same, t};
use crate::warehouse::{Warehouse, WriteMode};
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::compute::{cast, filter_record_batch, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, cast as cast_expr, col, lit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use std::sync::Arc;

/// The history table of source `name`.
pub fn table_name(source: &str) -> String {
    format!("{source}_history")
}

/// A compiled `history:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The columns whose change opens a new version.
    pub track: Vec<String>,
    pub valid_from: String,
    pub valid_to: String,
    pub current: String,
    /// A date or timestamp column: when a key's first version began.
    pub since: Option<String>,
}

/// The type of `valid_from` and `valid_to`.
fn moment_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn no_moment() -> Expr {
    lit(ScalarValue::TimestampMicrosecond(None, Some("UTC".into())))
}

/// Compile the `history:` of the source at `at` (`columns` compiled).
pub fn compile(
    at: &str,
    h: &super::spec::HistorySpec,
    s: &SourceSpec,
    columns: &[Column],
    diags: &mut Diags,
) -> Option<History> {
    let at = format!("{at}.history");
    let before = diags.count();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let listed = || format!("columns: {}", names.join(", "));
    if s.key.is_empty() {
        diags.err(
            &at,
            "a history needs the source's `key`: it keeps the versions of each key",
            Some("add e.g. `key: [customer_id]` to the source".into()),
        );
    }
    if s.period_column.is_some() {
        diags.err(
            &at,
            "a history is kept for snapshot and incremental sources, not periodic ones",
            Some("remove `history:`, or `period_column:` (a periodic source already keeps each period's rows)".into()),
        );
    }
    if h.track.is_empty() {
        diags.err(
            &format!("{at}.track"),
            "`track` names no column",
            Some(format!(
                "list the columns whose change opens a version; {}",
                listed()
            )),
        );
    }
    for (i, c) in h.track.iter().enumerate() {
        let cat = format!("{at}.track.{i}");
        if !names.contains(&c.as_str()) {
            let help = match did_you_mean(c, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? {}", listed()),
                None => listed(),
            };
            diags.err(&cat, format!("`{c}` is not a declared column"), Some(help));
        } else if s.key.contains(c) {
            diags.err(
                &cat,
                format!("`{c}` is part of the key: a key's versions cannot change it"),
                Some("track the other columns; the key names the record".into()),
            );
        } else if h.track[..i].contains(c) {
            diags.err(&cat, format!("`{c}` is listed twice"), None);
        }
    }
    let mut taken: Vec<String> = s.key.iter().chain(&h.track).cloned().collect();
    let mut name = |key: &str, given: &Option<String>, default: &str| -> String {
        let n = given.clone().unwrap_or_else(|| default.to_string());
        if taken.contains(&n) {
            diags.err(
                &format!("{at}.{key}"),
                format!("`{n}` is already a column of the history (the key, a tracked column or another of its names)"),
                Some(format!("name it otherwise, e.g. `{key}: history_{n}`")),
            );
        }
        taken.push(n.clone());
        n
    };
    let valid_from = name("valid_from", &h.valid_from, "valid_from");
    let valid_to = name("valid_to", &h.valid_to, "valid_to");
    let current = name("current", &h.current, "is_current");
    if let Some(since) = &h.since {
        match columns.iter().find(|c| &c.name == since) {
            Some(c) if matches!(c.ty, ColumnType::Date | ColumnType::Timestamp) => {}
            Some(c) => diags.err(
                &format!("{at}.since"),
                format!(
                    "`since` column `{since}` is {}, it must be a date or timestamp",
                    c.ty
                ),
                Some(
                    "name the column saying since when a key's values hold (an opening date)"
                        .into(),
                ),
            ),
            None => diags.err(
                &format!("{at}.since"),
                format!("`{since}` is not a declared column"),
                Some(listed()),
            ),
        }
    }
    (diags.count() == before).then(|| History {
        track: h.track.clone(),
        valid_from,
        valid_to,
        current,
        since: h.since.clone(),
    })
}

/// The history table's schema: the key, the tracked columns, then the
/// validity columns.
pub fn schema(src: &Source, h: &History) -> SchemaRef {
    let table = table_schema(src);
    let mut fields: Vec<Field> = src
        .key
        .iter()
        .chain(&h.track)
        .filter_map(|n| table.field_with_name(n).ok().cloned())
        .collect();
    fields.push(Field::new(&h.valid_from, moment_type(), false));
    fields.push(Field::new(&h.valid_to, moment_type(), true));
    fields.push(Field::new(&h.current, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// The column that says when a row changed: a timestamp or date cursor.
fn moment_column(src: &Source) -> Option<&Column> {
    let cursor = src.cursor.as_ref()?;
    src.columns
        .iter()
        .find(|c| c.name == cursor.column)
        .filter(|c| matches!(c.ty, ColumnType::Timestamp | ColumnType::Date))
}

/// The rows of `batch` (as read from the source) that its `soft_column`
/// marks deleted: their key and when they were deleted (the cursor). `None`
/// when the source has no history, soft column or time cursor, or no row
/// of the batch is marked.
pub fn deleted(src: &Source, batch: &RecordBatch) -> Option<RecordBatch> {
    src.history.as_ref()?;
    let soft = src.deletes.soft_column.as_ref()?;
    let moment = moment_column(src)?;
    let marks = batch.column_by_name(soft)?;
    let mask = match marks.as_any().downcast_ref::<BooleanArray>() {
        Some(b) => b.clone(),
        None => is_not_null(marks).ok()?,
    };
    if mask.true_count() == 0 {
        return None;
    }
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for k in &src.key {
        let c = batch.column_by_name(k)?;
        fields.push(Field::new(k, c.data_type().clone(), true));
        cols.push(c.clone());
    }
    let at = cast(batch.column_by_name(&moment.name)?, &moment_type()).ok()?;
    fields.push(Field::new(GONE, moment_type(), true));
    cols.push(at);
    let keyed = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).ok()?;
    filter_record_batch(&keyed, &mask).ok()
}

const GONE: &str = "_gone";
const AT: &str = "_at";
const CLOSE: &str = "_close";

/// What a run writes to a source's history after its table committed: the
/// new history (a new table), or the changes merged into it. `None`: no
/// version opened or closed.
pub struct Versions {
    pub stream: SendableRecordBatchStream,
    pub mode: WriteMode,
}

/// The history's changes after `src`'s table (in `wh`) was written:
/// `deleted` are [`deleted`]'s rows of the load, `as_of` the run's start
/// (microseconds since the epoch, UTC).
pub async fn versions(
    wh: &Warehouse,
    src: &Source,
    deleted: Vec<RecordBatch>,
    as_of: i64,
) -> Result<Option<Versions>, Error> {
    let Some(h) = &src.history else {
        return Ok(None);
    };
    let fail = |reason: String| Error::Other {
        source_name: src.name.clone(),
        reason: format!("history: {reason}"),
    };
    let df = |e: datafusion::error::DataFusionError| fail(format!("{e:?}"));
    let wherr = |e: crate::warehouse::Error| fail(e.to_string());
    let name = table_name(&src.name);
    let hschema = schema(src, h);
    let ctx = crate::engine::session();
    let exists = wh.table(&name).await.map_err(wherr)?.is_some();
    let history = match exists {
        true => wh.provider(&name).await.map_err(wherr)?,
        false => Arc::new(MemTable::try_new(hschema.clone(), vec![vec![]]).map_err(df)?),
    };
    ctx.register_table("h", history).map_err(df)?;
    // The table as it is now, with the moment each row changed.
    let mut now = ctx
        .read_table(wh.provider(&src.name).await.map_err(wherr)?)
        .map_err(df)?;
    let moment = moment_column(src)
        .map(|c| cast_expr(col(ident(&c.name)), moment_type()))
        .unwrap_or_else(no_moment);
    let since = h
        .since
        .as_ref()
        .map(|c| cast_expr(col(ident(c)), moment_type()))
        .unwrap_or_else(no_moment);
    let mut exprs: Vec<Expr> = src
        .key
        .iter()
        .chain(&h.track)
        .map(|c| col(ident(c)))
        .collect();
    exprs.push(moment.alias("_m"));
    exprs.push(since.alias("_since"));
    now = now.select(exprs).map_err(df)?;
    ctx.register_table("cur", now.into_view()).map_err(df)?;
    let gone_schema = {
        let table = table_schema(src);
        let mut f: Vec<Field> = src
            .key
            .iter()
            .filter_map(|k| {
                table
                    .field_with_name(k)
                    .ok()
                    .map(|f| f.clone().with_nullable(true))
            })
            .collect();
        f.push(Field::new(GONE, moment_type(), true));
        Arc::new(Schema::new(f))
    };
    let deleted = deleted
        .into_iter()
        .map(|b| RecordBatch::try_new(gone_schema.clone(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    ctx.register_table(
        "g",
        Arc::new(MemTable::try_new(gone_schema, vec![deleted]).map_err(df)?),
    )
    .map_err(df)?;
    let as_of = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("_asof", moment_type(), false)])),
        vec![Arc::new(
            TimestampMicrosecondArray::from(vec![as_of]).with_timezone("UTC"),
        )],
    )
    .map_err(|e| fail(e.to_string()))?;
    ctx.register_batch("r", as_of).map_err(df)?;
    let sql = changes_sql(&src.key, h);
    let changes = ctx.sql(&sql).await.map_err(df)?;
    if !exists {
        // A new history: every key's first version, as the table's rows.
        let mut cols: Vec<Expr> = src
            .key
            .iter()
            .chain(&h.track)
            .map(|c| col(ident(c)))
            .collect();
        cols.push(col(AT).alias(&h.valid_from));
        cols.push(no_moment().alias(&h.valid_to));
        cols.push(lit(true).alias(&h.current));
        let rows = changes
            .filter(col(CLOSE).is_false())
            .and_then(|d| d.select(cols))
            .map_err(df)?;
        let stream = rows.execute_stream().await.map_err(df)?;
        return Ok(Some(Versions {
            stream: conform(stream, hschema),
            mode: WriteMode::Overwrite,
        }));
    }
    let mut stream = changes.execute_stream().await.map_err(df)?;
    // Nothing opened or closed: nothing to write.
    let sch = stream.schema();
    let first = loop {
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(df(e)),
            Some(Ok(b)) if b.num_rows() == 0 => continue,
            Some(Ok(b)) => break b,
        }
    };
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        sch,
        futures::stream::iter(vec![Ok(first)]).chain(stream),
    ));
    Ok(Some(Versions {
        stream,
        mode: WriteMode::Merge(Box::new(merge(&src.key, h))),
    }))
}

/// The changes as rows: for each key that changed, one row closing its
/// current version (`_close`) and one opening the next; for a new key one
/// opening, for a key gone one closing. `_at` is the moment. (The change
/// set is fanned out by a `CROSS JOIN`, not read twice: DataFusion would
/// compute a `WITH` query once per reference.)
fn changes_sql(key: &[String], h: &History) -> String {
    let q = |c: &str| ident(c);
    let on = |a: &str, b: &str| {
        key.iter()
            .map(|k| format!("({a}.{} IS NOT DISTINCT FROM {b}.{})", q(k), q(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let keys = |a: &str| {
        key.iter()
            .map(|k| format!("{a}.{}", q(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tracked = |a: &str| {
        h.track
            .iter()
            .map(|c| format!("{a}.{}", q(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let changed = h
        .track
        .iter()
        .map(|c| format!("(n.{} IS DISTINCT FROM o.{})", q(c), q(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let either = key
        .iter()
        .map(|k| format!("coalesce(n.{}, o.{}) AS {}", q(k), q(k), q(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let (vf, vt, cur) = (q(&h.valid_from), q(&h.valid_to), q(&h.current));
    format!(
        "WITH o AS (SELECT {hk}, {ht}, h.{vf} AS _from, g.{GONE}, true AS _old \
                    FROM h LEFT JOIN g ON {hg} WHERE h.{cur}), \
              l AS (SELECT {hk}, max(h.{vt}) AS _last FROM h GROUP BY {hk}), \
              n AS (SELECT {ck}, {ct}, cur._m, cur._since, l._last, true AS _new \
                    FROM cur LEFT JOIN l ON {cl}), \
              d AS (SELECT {either}, {nt}, n._new, o._old, \
                      CASE WHEN o._old AND n._new THEN greatest(coalesce(n._m, r._asof), o._from) \
                           WHEN o._old THEN greatest(coalesce(o.{GONE}, r._asof), o._from) \
                           ELSE greatest(coalesce(n._since, n._m, r._asof), n._last) END AS {AT} \
                    FROM n FULL JOIN o ON {no} CROSS JOIN r \
                    WHERE o._old IS NULL OR n._new IS NULL OR ({changed})) \
         SELECT {dk}, {dt}, d.{AT}, x.c AS {CLOSE} \
         FROM d CROSS JOIN (VALUES (true), (false)) AS x(c) \
         WHERE (x.c AND d._old IS NOT NULL) OR (NOT x.c AND d._new IS NOT NULL)",
        hk = keys("h"),
        ht = tracked("h"),
        hg = on("h", "g"),
        ck = keys("cur"),
        ct = tracked("cur"),
        nt = tracked("n"),
        cl = on("cur", "l"),
        no = on("n", "o"),
        dk = keys("d"),
        dt = tracked("d"),
    )
}

/// The merge of [`changes_sql`]'s rows into the history: a closing row
/// ends the key's current version at `_at`; an opening row (which never
/// matches: `_close` is false) inserts the new current version.
fn merge(key: &[String], h: &History) -> Merge {
    let mut set: Vec<(String, Expr)> = key
        .iter()
        .chain(&h.track)
        .map(|c| (c.clone(), s(c)))
        .collect();
    set.push((h.valid_from.clone(), s(AT)));
    set.push((h.valid_to.clone(), no_moment()));
    set.push((h.current.clone(), lit(true)));
    Merge {
        on: same(key)
            .and(t(&h.current).is_true())
            .and(s(CLOSE).is_true()),
        clauses: vec![
            Clause::Update {
                when: None,
                set: vec![(h.valid_to.clone(), s(AT)), (h.current.clone(), lit(false))],
            },
            Clause::Insert {
                when: Some(s(CLOSE).is_false()),
                set,
            },
        ],
    }
}

/// A column name as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Each batch under the history's schema (names, types, and the
/// nullability the query cannot know).
fn conform(stream: SendableRecordBatchStream, schema: SchemaRef) -> SendableRecordBatchStream {
    let out = schema.clone();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        stream.map(move |b| {
            let b = b?;
            // Delta reads text as views; the table holds plain text.
            let cols = b
                .columns()
                .iter()
                .zip(out.fields())
                .map(|(c, f)| cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(out.clone(), cols)?)
        }),
    ))
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
