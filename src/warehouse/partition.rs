//! A write into one partition of an existing table: the rows go through
//! delta-rs's partition writer and are committed in one transaction that
//! adds the new files and, for a replace, removes the partition's previous
//! ones. The general write path splits every batch by its partition values
//! (a copy of each batch, measured at ~5% of a load's CPU), though a load's
//! rows all belong to the one partition it names.

use datafusion::arrow::array::{Scalar, StringArray};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError, FilterOp, FilterValue};
use futures::StreamExt;
use indexmap::IndexMap;

/// Whether a write of `schema` into `part` of `table` can take this path:
/// the table exists, is partitioned by exactly `part`'s columns (all text),
/// and has the stream's columns and types, so no batch needs a cast.
pub fn fits(table: &DeltaTable, schema: &SchemaRef, part: &[(String, String)]) -> bool {
    let Ok(snapshot) = table.snapshot() else {
        return false;
    };
    let metadata = snapshot.metadata();
    let cols: Vec<&str> = part.iter().map(|(c, _)| c.as_str()).collect();
    if metadata
        .partition_columns()
        .iter()
        .map(String::as_str)
        .ne(cols.iter().copied())
    {
        return false;
    }
    let table_schema = snapshot.snapshot().arrow_schema();
    let columns = |s: &Schema| -> Vec<(String, DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    let text = |c: &str| {
        schema
            .field_with_name(c)
            .is_ok_and(|f| f.data_type() == &DataType::Utf8)
    };
    columns(&table_schema) == columns(schema) && cols.iter().all(|c| text(c))
}

/// Write `stream` into partition `part` of `table` (see [`fits`]) and
/// commit; `replace` removes the partition's files in the same commit.
/// A row whose partition columns name another partition fails the write
/// before anything is committed. Returns the new version.
pub async fn write(
    table: &DeltaTable,
    mut stream: SendableRecordBatchStream,
    part: &[(String, String)],
    replace: bool,
    props: WriterProperties,
    commit: CommitProperties,
) -> Result<i64, DeltaTableError> {
    let mut writer = RecordBatchWriter::for_table(table)?.with_writer_properties(props);
    let values: IndexMap<String, buoyant_kernel::expressions::Scalar> = part
        .iter()
        .map(|(c, v)| {
            (
                c.clone(),
                buoyant_kernel::expressions::Scalar::String(v.clone()),
            )
        })
        .collect();
    let checks: Vec<(usize, Scalar<StringArray>)> = part
        .iter()
        .map(|(c, v)| {
            let i = stream.schema().index_of(c)?;
            Ok((i, Scalar::new(StringArray::from(vec![v.as_str()]))))
        })
        .collect::<Result<_, DeltaTableError>>()?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        for (i, value) in &checks {
            let same = eq(batch.column(*i), value)?;
            if same.true_count() != batch.num_rows() {
                return Err(DeltaTableError::Generic(format!(
                    "a row for another partition than {part:?} in a one-partition write"
                )));
            }
        }
        writer
            .write_partition(batch, &values, deltalake::writer::WriteMode::Default)
            .await?;
    }
    let mut actions: Vec<Action> = writer.flush().await?.into_iter().map(Action::Add).collect();
    if replace {
        let filters: Vec<_> = part
            .iter()
            .map(|(c, v)| (c.as_str(), FilterOp::Eq, FilterValue::Scalar(v.as_str())))
            .collect();
        let mut old = table.get_active_add_actions_by_partitions(&filters);
        while let Some(f) = old.next().await {
            actions.push(Action::Remove(f?.remove_action(true)));
        }
    }
    let predicate = part
        .iter()
        .map(|(c, v)| format!("{c} = '{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" AND ");
    let operation = DeltaOperation::Write {
        mode: if replace {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        },
        partition_by: Some(part.iter().map(|(c, _)| c.clone()).collect()),
        predicate: replace.then_some(predicate),
    };
    let done = CommitBuilder::from(commit)
        .with_actions(actions)
        .build(
            Some(table.snapshot()? as &dyn TableReference),
            table.log_store(),
            operation,
        )
        .await?;
    Ok(done.version() as i64)
}

/// [`fits`] for a table partitioned by `column` alone, whatever the value.
pub fn fits_column(table: &DeltaTable, schema: &SchemaRef, column: &str) -> bool {
    fits(table, schema, &[(column.to_string(), String::new())])
}

/// Write `stream` into `table` (partitioned by `column`, see
/// [`fits_column`]) and commit, removing in the same commit every file of
/// each partition the stream had rows for: a load whose rows say their own
/// period replaces exactly the periods present. Returns the new version.
pub async fn write_present(
    table: &DeltaTable,
    mut stream: SendableRecordBatchStream,
    column: &str,
    props: WriterProperties,
    commit: CommitProperties,
) -> Result<i64, DeltaTableError> {
    let mut writer = RecordBatchWriter::for_table(table)?.with_writer_properties(props);
    let i = stream.schema().index_of(column)?;
    let mut present: std::collections::BTreeSet<String> = Default::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        if batch.num_rows() == 0 {
            continue;
        }
        let values = batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DeltaTableError::Generic(format!("`{column}` is not text")))?;
        for v in values.iter() {
            match v {
                Some(v) if !present.contains(v) => {
                    present.insert(v.to_string());
                }
                Some(_) => {}
                None => {
                    return Err(DeltaTableError::Generic(format!(
                        "a row without a value of partition column `{column}`"
                    )));
                }
            }
        }
        DeltaWriter::write(&mut writer, batch).await?;
    }
    let mut actions: Vec<Action> = writer.flush().await?.into_iter().map(Action::Add).collect();
    for v in &present {
        let filters = [(column, FilterOp::Eq, FilterValue::Scalar(v.as_str()))];
        let mut old = table.get_active_add_actions_by_partitions(&filters);
        while let Some(f) = old.next().await {
            actions.push(Action::Remove(f?.remove_action(true)));
        }
    }
    let list = present
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: Some(vec![column.to_string()]),
        predicate: (!present.is_empty()).then(|| format!("{column} IN ({list})")),
    };
    let done = CommitBuilder::from(commit)
        .with_actions(actions)
        .build(
            Some(table.snapshot()? as &dyn TableReference),
            table.log_store(),
            operation,
        )
        .await?;
    Ok(done.version() as i64)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::warehouse::{Warehouse, WriteMode};
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use std::sync::Arc;

    pub(in crate::warehouse) fn rows(ids: &[i64], periods: &[&str]) -> SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("period", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(periods.to_vec())),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).expect("batch");
        Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(vec![Ok(batch)]),
        ))
    }

    pub(in crate::warehouse) async fn content(wh: &Warehouse) -> Vec<(String, i64)> {
        let ctx = crate::engine::session();
        ctx.register_table("t", wh.provider("t").await.expect("provider"))
            .expect("register");
        let batches = ctx
            .sql("SELECT period, id FROM t ORDER BY period, id")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect");
        let mut out = Vec::new();
        for b in batches {
            let p = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).expect("cast");
            let p = p.as_any().downcast_ref::<StringArray>().expect("text");
            let id = b
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("ids");
            for r in 0..b.num_rows() {
                out.push((p.value(r).to_string(), id.value(r)));
            }
        }
        out
    }

    fn part(p: &str) -> Vec<(String, String)> {
        vec![("period".to_string(), p.to_string())]
    }

    /// This path's write of `ids` (in `periods`) into partition `p`.
    async fn put(
        wh: &Warehouse,
        ids: &[i64],
        periods: &[&str],
        p: &str,
        replace: bool,
    ) -> Result<i64, DeltaTableError> {
        let table = wh.table("t").await.expect("open").expect("exists");
        let props = WriterProperties::default();
        let commit = CommitProperties::default();
        write(&table, rows(ids, periods), &part(p), replace, props, commit).await
    }

    /// Rows of several periods replace exactly those periods.
    #[tokio::test]
    async fn present_partitions_are_replaced_and_no_others() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        wh.write(
            &ctx,
            "t",
            rows(&[1, 2, 3], &["2024-01", "2024-02", "2024-03"]),
            WriteMode::ReplacePresent("period".into()),
            "r0",
        )
        .await
        .expect("first write");
        wh.write(
            &ctx,
            "t",
            rows(&[20, 21, 30], &["2024-02", "2024-02", "2024-03"]),
            WriteMode::ReplacePresent("period".into()),
            "r1",
        )
        .await
        .expect("replace two");
        assert_eq!(
            content(&wh).await,
            vec![
                ("2024-01".into(), 1),
                ("2024-02".into(), 20),
                ("2024-02".into(), 21),
                ("2024-03".into(), 30)
            ]
        );
    }

    /// Replace swaps one partition's rows and keeps the others; append adds;
    /// a row of another partition fails the write and commits nothing.
    #[tokio::test]
    async fn one_partition_writes_replace_append_and_refuse_strays() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        // The table, by the general path: two partitions.
        wh.write(
            &ctx,
            "t",
            rows(&[1, 2, 3], &["2024-01", "2024-01", "2024-02"]),
            WriteMode::Replace(part("2024-01")),
            "r0",
        )
        .await
        .expect("first write");
        let table = wh.table("t").await.expect("open").expect("exists");
        let schema = rows(&[], &[]).schema();
        assert!(fits(&table, &schema, &part("2024-01")));
        // Another partition column, or another schema: the general path.
        assert!(!fits(&table, &schema, &[("region".into(), "x".into())]));
        let other = Arc::new(Schema::new(vec![Field::new(
            "period",
            DataType::Utf8,
            false,
        )]));
        assert!(!fits(&table, &other, &part("2024-01")));

        let v = put(&wh, &[10, 11], &["2024-01", "2024-01"], "2024-01", true)
            .await
            .expect("replace");
        assert_eq!(v, table.version().expect("version") as i64 + 1);
        assert_eq!(
            content(&wh).await,
            vec![
                ("2024-01".into(), 10),
                ("2024-01".into(), 11),
                ("2024-02".into(), 3)
            ]
        );

        put(&wh, &[4], &["2024-02"], "2024-02", false)
            .await
            .expect("append");
        assert_eq!(
            content(&wh).await,
            vec![
                ("2024-01".into(), 10),
                ("2024-01".into(), 11),
                ("2024-02".into(), 3),
                ("2024-02".into(), 4)
            ]
        );

        let table = wh.table("t").await.expect("open").expect("exists");
        let before = table.version();
        let err = put(&wh, &[5, 6], &["2024-01", "2024-02"], "2024-01", true)
            .await
            .expect_err("a stray row");
        assert!(err.to_string().contains("another partition"), "{err}");
        let table = wh.table("t").await.expect("open").expect("exists");
        assert_eq!(table.version(), before);
        assert_eq!(content(&wh).await.len(), 4);
    }
}
