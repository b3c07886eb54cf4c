//! A model built a few months at a time, written part by part in one
//! commit. delta-rs's write keeps one file open, in memory, for every
//! partition it has had rows for, until the write ends: a model of 12
//! months built a month at a time held all twelve (at 1M customers the run's
//! RSS rose by ~25 MB with each part of `customer_month`). Here each part
//! gets its own writer, whose files are finished when the part ends; the
//! files of every part are added, and the replaced ones removed, in one
//! commit.

use super::write::{TARGET_FILE_BYTES, commit_properties};
use super::{Committed, Error, Result, Warehouse, check_name, encoding};
use buoyant_kernel::engine::arrow_conversion::TryIntoKernel;
use buoyant_kernel::expressions::Scalar;
use buoyant_kernel::table_properties::DataSkippingNumIndexedCols;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::transaction::{CommitBuilder, TableReference};
use deltalake::kernel::{Action, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError, FilterOp, FilterValue};
use futures::StreamExt;
use futures::stream::BoxStream;
use indexmap::IndexMap;

/// Each part's rows, one part after another.
pub type Parts = BoxStream<'static, datafusion::error::Result<SendableRecordBatchStream>>;

/// delta-rs's default: statistics on the first 32 columns.
const STATS_COLUMNS: u64 = 32;

impl Warehouse {
    /// Whether [`Warehouse::write_parts`] can write `schema` to table
    /// `name` partitioned by `column` (text): a new table, or one with the
    /// same columns and types partitioned by `column` alone. Otherwise (a
    /// model whose columns changed) the general write takes the rows.
    pub async fn parts_fit(&self, name: &str, schema: &SchemaRef, column: &str) -> Result<bool> {
        let text = schema
            .field_with_name(column)
            .is_ok_and(|f| f.data_type() == &DataType::Utf8);
        if !text {
            return Ok(false);
        }
        match self.open_for_parts(name).await? {
            None => Ok(true),
            Some(t) => Ok(super::partition::fits_column(&t, schema, column)),
        }
    }

    async fn open_for_parts(&self, name: &str) -> Result<Option<DeltaTable>> {
        check_name(name)?;
        if let Some(dir) = &self.local {
            // delta-rs needs the folder to exist before the first local write.
            std::fs::create_dir_all(dir.join(name))
                .map_err(|e| Error::delta(name, DeltaTableError::from(e)))?;
        }
        self.latest(name).await
    }

    /// Write `parts` to table `name`, partitioned by `column`, in one
    /// commit: with `replace`, those values' partitions are replaced; without,
    /// the whole table. See [`Warehouse::parts_fit`].
    #[allow(clippy::too_many_arguments)]
    pub async fn write_parts(
        &self,
        name: &str,
        schema: SchemaRef,
        mut parts: Parts,
        column: &str,
        replace: Option<&[String]>,
        run_id: &str,
        tag: Option<&str>,
    ) -> Result<Committed> {
        let derr = |source: DeltaTableError| Error::delta(name, source);
        let existing = self.open_for_parts(name).await?;
        let table = match &existing {
            Some(t) => t.clone(),
            None => DeltaTable::try_from_url(self.table_url(name))
                .await
                .map_err(derr)?,
        };
        // The Parquet settings come from the model's first batch.
        let mut config: Option<WriterConfig> = None;
        let store = table.object_store();
        let mut actions: Vec<Action> = Vec::new();
        while let Some(part) = parts.next().await {
            let mut part = part.map_err(|e| derr(DeltaTableError::Generic(e.to_string())))?;
            let mut writer: Option<DeltaWriter> = None;
            let mut failed = None;
            while let Some(b) = part.next().await {
                let written = match b {
                    // An empty batch writes nothing, and would be a poor sample.
                    Ok(b) if b.num_rows() == 0 => Ok(()),
                    Ok(b) => {
                        let w = writer.get_or_insert_with(|| {
                            let c =
                                config.get_or_insert_with(|| writer_config(&schema, column, &b));
                            DeltaWriter::new(store.clone(), c.clone())
                        });
                        write_batch(w, b, column).await
                    }
                    Err(e) => Err(DeltaTableError::Generic(e.to_string())),
                };
                if let Err(e) = written {
                    failed = Some(e);
                    break;
                }
            }
            // A failed part's files, and the parts' before it, are never
            // committed: vacuum removes them.
            if let Some(e) = failed {
                return Err(derr(e));
            }
            if let Some(w) = writer {
                let adds = w.close().await.map_err(derr)?;
                actions.extend(adds.into_iter().map(Action::Add));
            }
        }
        let commit = commit_properties(run_id, tag);
        let Some(table) = existing else {
            let columns: StructType = schema
                .as_ref()
                .try_into_kernel()
                .map_err(|e| derr(DeltaTableError::Generic(e.to_string())))?;
            let created = CreateBuilder::new()
                .with_log_store(table.log_store())
                .with_columns(columns.fields().cloned())
                .with_partition_columns([column.to_string()])
                .with_actions(actions)
                .with_commit_properties(commit)
                .await
                .map_err(derr)?;
            return Ok(Committed::at(
                created.version().map(|v| v as i64).unwrap_or(0),
            ));
        };
        let predicate = match replace {
            Some(values) => {
                for v in values {
                    let filters = [(column, FilterOp::Eq, FilterValue::Scalar(v.as_str()))];
                    removes(&table, &filters, &mut actions)
                        .await
                        .map_err(derr)?;
                }
                let list: Vec<String> = values
                    .iter()
                    .map(|v| format!("'{}'", v.replace('\'', "''")))
                    .collect();
                (!list.is_empty()).then(|| format!("{column} IN ({})", list.join(", ")))
            }
            None => {
                removes(&table, &[], &mut actions).await.map_err(derr)?;
                None
            }
        };
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: Some(vec![column.to_string()]),
            predicate,
        };
        let done = CommitBuilder::from(commit)
            .with_actions(actions)
            .build(
                Some(table.snapshot().map_err(derr)? as &dyn TableReference),
                table.log_store(),
                operation,
            )
            .await
            .map_err(derr)?;
        Ok(Committed::at(done.version() as i64))
    }
}

/// A part's writer settings: partitioned by `column`, Parquet settings
/// from `sample` ([`encoding::model_properties`]).
fn writer_config(schema: &SchemaRef, column: &str, sample: &RecordBatch) -> WriterConfig {
    WriterConfig::new(
        schema.clone(),
        vec![column.to_string()],
        Some(encoding::model_properties(schema, Some(sample))),
        std::num::NonZeroU64::new(TARGET_FILE_BYTES),
        None,
        DataSkippingNumIndexedCols::NumColumns(STATS_COLUMNS),
        None,
    )
}

/// Write `batch`; a batch of one partition (a part of one month is) goes
/// to that partition's file as it is, without the copy that splitting it
/// by partition values makes.
async fn write_batch(
    writer: &mut DeltaWriter,
    batch: RecordBatch,
    column: &str,
) -> std::result::Result<(), DeltaTableError> {
    match encoding::single_text_value(&batch, column) {
        Some(value) => {
            let values = IndexMap::from([(column.to_string(), Scalar::String(value))]);
            writer.write_partition(batch, &values).await
        }
        None => writer.write(&batch).await,
    }
}

/// A remove action for every file of `table` in the partitions `filters`
/// select (every file when there is none).
async fn removes(
    table: &DeltaTable,
    filters: &[(&str, FilterOp, FilterValue<'_>)],
    actions: &mut Vec<Action>,
) -> std::result::Result<(), DeltaTableError> {
    let mut old = table.get_active_add_actions_by_partitions(filters);
    while let Some(f) = old.next().await {
        actions.push(Action::Remove(f?.remove_action(true)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::partition::tests::{content, rows};

    /// Parts of `(ids, periods)` each.
    fn parts(each: &[(&[i64], &[&str])]) -> Parts {
        let streams: Vec<datafusion::error::Result<SendableRecordBatchStream>> =
            each.iter().map(|(ids, ps)| Ok(rows(ids, ps))).collect();
        futures::stream::iter(streams).boxed()
    }

    fn versions(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("t/_delta_log"))
            .expect("log")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
    }

    /// A new table from two parts, then two months replaced, then the whole
    /// table overwritten: one commit each, and exactly the rows written.
    #[tokio::test]
    async fn parts_create_replace_and_overwrite_in_one_commit_each() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let schema = rows(&[], &[]).schema();
        assert!(wh.parts_fit("t", &schema, "period").await.expect("fit"));
        let first = parts(&[
            (&[1, 2], &["2024-01", "2024-01"]),
            (&[3, 4], &["2024-02", "2024-03"]),
        ]);
        let c = wh
            .write_parts(
                "t",
                schema.clone(),
                first,
                "period",
                None,
                "r0",
                Some("tag0"),
            )
            .await
            .expect("create");
        assert_eq!((c.version, versions(dir.path())), (0, 1));
        assert_eq!(wh.tag("t").await.expect("tag").as_deref(), Some("tag0"));
        let months = ["2024-02".to_string(), "2024-03".to_string()];
        let late = parts(&[(&[20], &["2024-02"]), (&[30, 31], &["2024-03", "2024-03"])]);
        let c = wh
            .write_parts(
                "t",
                schema.clone(),
                late,
                "period",
                Some(&months),
                "r1",
                None,
            )
            .await
            .expect("replace");
        assert_eq!(c.version, 1);
        assert_eq!(
            content(&wh).await,
            vec![
                ("2024-01".into(), 1),
                ("2024-01".into(), 2),
                ("2024-02".into(), 20),
                ("2024-03".into(), 30),
                ("2024-03".into(), 31)
            ]
        );
        let whole = parts(&[(&[5], &["2024-04"])]);
        wh.write_parts("t", schema.clone(), whole, "period", None, "r2", None)
            .await
            .expect("overwrite");
        assert_eq!(content(&wh).await, vec![("2024-04".into(), 5)]);
        assert_eq!(versions(dir.path()), 3);
        // Another schema, or a period that is not text: the general write.
        let other = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("period", DataType::Utf8, false),
        ]));
        assert!(!wh.parts_fit("t", &other, "period").await.expect("fit"));
        assert!(!wh.parts_fit("t", &schema, "id").await.expect("fit"));
    }

    /// A part that fails commits nothing: the table stays as it was.
    #[tokio::test]
    async fn a_failed_part_commits_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let schema = rows(&[], &[]).schema();
        wh.write_parts(
            "t",
            schema.clone(),
            parts(&[(&[1], &["2024-01"])]),
            "period",
            None,
            "r0",
            None,
        )
        .await
        .expect("create");
        let failing: Parts = futures::stream::iter(vec![
            Ok(rows(&[7], &["2024-01"])),
            Err(datafusion::error::DataFusionError::Execution(
                "the second part broke".into(),
            )),
        ])
        .boxed();
        let err = wh
            .write_parts("t", schema, failing, "period", None, "r1", None)
            .await
            .expect_err("fails");
        assert!(err.to_string().contains("the second part broke"), "{err}");
        assert_eq!(versions(dir.path()), 1);
        assert_eq!(content(&wh).await, vec![("2024-01".into(), 1)]);
    }

    /// The files a part writes carry the settings its first batch calls
    /// for: no dictionary for distinct ids, and the one-month batch in its
    /// month's folder.
    #[tokio::test]
    async fn distinct_columns_are_written_without_a_dictionary() {
        use datafusion::parquet::basic::Encoding;
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let schema = rows(&[], &[]).schema();
        let ids: Vec<i64> = (0..4000).collect();
        let months = vec!["2024-05"; ids.len()];
        let few: Vec<i64> = (0..4000).map(|i| i % 3).collect();
        let two = parts(&[(&ids, &months), (&few, &vec!["2024-06"; few.len()])]);
        wh.write_parts("t", schema, two, "period", None, "r0", None)
            .await
            .expect("write");
        let encodings = |table: &str, month: &str| {
            let folder = dir.path().join(table).join(format!("period={month}"));
            let file = std::fs::read_dir(&folder)
                .expect("partition folder")
                .map(|e| e.expect("entry").path())
                .find(|p| p.extension().is_some_and(|x| x == "parquet"))
                .expect("a data file");
            let reader = SerializedFileReader::new(std::fs::File::open(file).expect("open"))
                .expect("parquet");
            let meta = reader.metadata();
            assert_eq!(
                meta.file_metadata().schema_descr().num_columns(),
                1,
                "id only"
            );
            meta.row_group(0).column(0).encodings().collect::<Vec<_>>()
        };
        // The settings come from the first batch (4,000 distinct ids).
        assert!(!encodings("t", "2024-05").contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings("t", "2024-06").contains(&Encoding::RLE_DICTIONARY));
        assert_eq!(content(&wh).await.len(), 8000);
        // Ids that repeat keep their dictionary.
        let schema = rows(&[], &[]).schema();
        let repeating = parts(&[(&few, &vec!["2024-06"; few.len()])]);
        wh.write_parts("u", schema, repeating, "period", None, "r1", None)
            .await
            .expect("write");
        assert!(encodings("u", "2024-06").contains(&Encoding::RLE_DICTIONARY));
    }
}
