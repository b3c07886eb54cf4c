//! MERGE of a stream into a Delta table, in one commit (delta-rs's
//! `MergeBuilder`): an incremental load upserts by key (and deletes rows a
//! soft-delete column marks), a history table closes and opens versions.
//! The stream is the merge's source, alias `s`; the table is `t`.

use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, Operator, binary_expr};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;
use std::sync::Arc;

/// The alias of the merge's source (the stream) in its expressions.
pub const SOURCE: &str = "s";
/// The alias of the table merged into.
pub const TARGET: &str = "t";

/// A merge: how source rows pair with table rows, and what each pairing
/// (or its absence) does, clause by clause (the first whose `when` holds).
#[derive(Debug, Clone)]
pub struct Merge {
    pub on: Expr,
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
pub enum Clause {
    /// A matched table row takes these values.
    Update {
        when: Option<Expr>,
        set: Vec<(String, Expr)>,
    },
    /// A matched table row is removed.
    Delete { when: Option<Expr> },
    /// An unmatched source row is added with these values.
    Insert {
        when: Option<Expr>,
        set: Vec<(String, Expr)>,
    },
    /// A table row that no source row matches is removed (the source holds
    /// every key that should remain).
    DeleteUnmatched { when: Option<Expr> },
}

/// What a merge did to the table's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Merged {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// A column of the merge's source.
pub fn s(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new(Some(SOURCE), name))
}

/// A column of the table merged into.
pub fn t(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new(Some(TARGET), name))
}

/// `a IS DISTINCT FROM b`: they differ, a null differing from a value.
pub fn distinct(a: Expr, b: Expr) -> Expr {
    binary_expr(a, Operator::IsDistinctFrom, b)
}

/// `a IS NOT DISTINCT FROM b` for every pair: the key match of a merge
/// (a null key part matches a null, as the duplicate check treats it).
pub fn same(names: &[String]) -> Expr {
    names
        .iter()
        .map(|k| binary_expr(s(k), Operator::IsNotDistinctFrom, t(k)))
        .reduce(Expr::and)
        .unwrap_or_else(|| datafusion::prelude::lit(false))
}

/// Merge `stream` into `table` and commit; an empty stream commits nothing
/// (`None`). Returns the new version and the rows inserted, updated and
/// deleted.
pub(super) async fn merge(
    table: DeltaTable,
    ctx: &SessionContext,
    mut stream: SendableRecordBatchStream,
    m: &Merge,
    props: Option<WriterProperties>,
    commit: CommitProperties,
) -> Result<Option<(i64, Merged)>, DeltaTableError> {
    let schema = stream.schema();
    // Nothing changed: no commit, so no new version to read or roll back.
    let first = loop {
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(DeltaTableError::Generic(e.to_string())),
            Some(Ok(b)) if b.num_rows() == 0 => continue,
            Some(Ok(b)) => break b,
        }
    };
    let rest: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(vec![Ok(first)]).chain(stream),
    ));
    let source = ctx
        .read_table(super::one_shot_table(rest))
        .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
    let mut b = table
        .merge(source, m.on.clone())
        .with_source_alias(SOURCE)
        .with_target_alias(TARGET)
        // The source can be read once: no statistics pass over it first.
        .with_streaming(true)
        .with_session_state(Arc::new(ctx.state()))
        .with_commit_properties(commit);
    if let Some(p) = props {
        b = b.with_writer_properties(p);
    }
    for c in &m.clauses {
        b = match c.clone() {
            Clause::Update { when, set } => b.when_matched_update(|mut u| {
                if let Some(w) = when {
                    u = u.predicate(w);
                }
                for (col, e) in set {
                    u = u.update(datafusion::common::Column::new_unqualified(col), e);
                }
                u
            })?,
            Clause::Delete { when } => b.when_matched_delete(|mut d| {
                if let Some(w) = when {
                    d = d.predicate(w);
                }
                d
            })?,
            Clause::Insert { when, set } => b.when_not_matched_insert(|mut i| {
                if let Some(w) = when {
                    i = i.predicate(w);
                }
                for (col, e) in set {
                    i = i.set(datafusion::common::Column::new_unqualified(col), e);
                }
                i
            })?,
            Clause::DeleteUnmatched { when } => b.when_not_matched_by_source_delete(|mut d| {
                if let Some(w) = when {
                    d = d.predicate(w);
                }
                d
            })?,
        };
    }
    let (table, metrics) = b.await?;
    let version = table.version().map(|v| v as i64).unwrap_or(0);
    Ok(Some((
        version,
        Merged {
            inserted: metrics.num_target_rows_inserted as u64,
            updated: metrics.num_target_rows_updated as u64,
            deleted: metrics.num_target_rows_deleted as u64,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::{Warehouse, WriteMode};
    use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::{lit, not};

    fn rows(ids: &[i64], names: &[&str], gone: &[bool]) -> SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("gone", DataType::Boolean, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
            Arc::new(BooleanArray::from(gone.to_vec())),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).expect("batch");
        crate::engine::batch_stream(batch)
    }

    fn upsert() -> Merge {
        let cols = ["id", "name", "gone"].map(String::from);
        let set: Vec<(String, Expr)> = cols.iter().map(|c| (c.clone(), s(c))).collect();
        let gone = s("gone").is_true();
        Merge {
            on: same(&["id".to_string()]),
            clauses: vec![
                Clause::Delete {
                    when: Some(gone.clone()),
                },
                Clause::Update {
                    when: Some(distinct(s("name"), t("name"))),
                    set: set.clone(),
                },
                Clause::Insert {
                    when: Some(not(gone)),
                    set,
                },
            ],
        }
    }

    /// Table `t` as `id name` pairs in key order: `2b,3C`.
    async fn content(wh: &Warehouse) -> String {
        let ctx = crate::engine::session();
        ctx.register_table("t", wh.provider("t").await.expect("provider"))
            .expect("register");
        let got = ctx
            .sql("SELECT string_agg(CAST(id AS VARCHAR) || name, ',' ORDER BY id) AS x FROM t")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("rows");
        let x = datafusion::arrow::compute::cast(got[0].column(0), &DataType::Utf8).expect("text");
        let x = x.as_any().downcast_ref::<StringArray>().expect("text");
        x.value(0).to_string()
    }

    /// Updates replace, new keys insert, marked rows delete, unchanged rows
    /// count as nothing, and all of it is one commit; an empty source
    /// commits nothing.
    #[tokio::test]
    async fn upserts_and_deletes_in_one_commit() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        let v0 = wh
            .write(
                &ctx,
                "t",
                rows(&[1, 2, 3], &["a", "b", "c"], &[false; 3]),
                WriteMode::Overwrite,
                "r0",
            )
            .await
            .expect("first")
            .version;
        let c = wh
            .write(
                &ctx,
                "t",
                rows(
                    &[2, 3, 4, 5],
                    &["b", "C", "d", "e"],
                    &[false, false, false, true],
                ),
                WriteMode::Merge(Box::new(upsert())),
                "r1",
            )
            .await
            .expect("merge");
        assert_eq!(c.version, v0 + 1);
        assert_eq!(
            c.merged,
            Some(Merged {
                inserted: 1,
                updated: 1,
                deleted: 0
            })
        );
        let c = wh
            .write(
                &ctx,
                "t",
                rows(&[1], &["a"], &[true]),
                WriteMode::Merge(Box::new(upsert())),
                "r2",
            )
            .await
            .expect("merge");
        assert_eq!(c.merged.map(|m| m.deleted), Some(1));
        assert_eq!(content(&wh).await, "2b,3C,4d");
        let before = wh.version("t").await.expect("version");
        let empty = rows(&[], &[], &[]);
        let c = wh
            .write(&ctx, "t", empty, WriteMode::Merge(Box::new(upsert())), "r3")
            .await
            .expect("empty merge");
        assert_eq!(c.merged, Some(Merged::default()));
        assert_eq!(wh.version("t").await.expect("version"), before);
        // Every key that remains (deletes by reconcile): 3 is gone, the
        // rows of 2 and 4 keep their values.
        let keep = Merge {
            on: same(&["id".to_string()]),
            clauses: vec![Clause::DeleteUnmatched { when: None }],
        };
        let c = wh
            .write(
                &ctx,
                "t",
                rows(&[2, 4, 9], &["x", "y", "z"], &[false; 3]),
                WriteMode::Merge(Box::new(keep)),
                "r4",
            )
            .await
            .expect("reconcile");
        assert_eq!(
            c.merged,
            Some(Merged {
                inserted: 0,
                updated: 0,
                deleted: 1
            })
        );
        assert_eq!(content(&wh).await, "2b,4d");
        let _ = lit(1);
    }
}
