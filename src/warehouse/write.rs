//! Writing a table: every [`WriteMode`] as one atomic Delta commit, tagged
//! with the run (and, when asked, a digest of what was written).

use super::{
    Committed, Error, Result, TAG, Warehouse, WriteMode, check_name, merge, one_shot_table,
    partition,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use std::sync::Arc;

/// The size at which a write closes a data file and starts the next. The
/// writer keeps one file open, in memory, per partition it has rows for
/// until the write ends: a model of 12 months built a month at a time held
/// up to 12 × delta-rs's default 100 MiB outside the memory pool. 32 MiB
/// files are still large for Parquet reads (a 1M-customer month of
/// `customer_month` is one or two).
pub(super) const TARGET_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// A commit's metadata: the run, and the tag when there is one.
pub(super) fn commit_properties(run_id: &str, tag: Option<&str>) -> CommitProperties {
    let mut meta = vec![(
        "touchpoint.run_id".to_string(),
        serde_json::Value::String(run_id.to_string()),
    )];
    if let Some(t) = tag {
        meta.push((TAG.to_string(), serde_json::Value::String(t.to_string())));
    }
    CommitProperties::default().with_metadata(meta)
}

impl Warehouse {
    /// Write `stream` to table `name` in one atomic commit.
    pub async fn write(
        &self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        run_id: &str,
    ) -> Result<Committed> {
        self.write_with(ctx, name, stream, mode, run_id, None).await
    }

    /// [`Warehouse::write`] for a source load: `props` are its Parquet
    /// settings (a load knows which of its columns are worth a dictionary).
    /// With `props`, every row of a `Replace` or `AppendTo` write belongs to
    /// the partition the mode names (a row that does not fails the write).
    pub async fn write_with(
        &self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        run_id: &str,
        props: Option<WriterProperties>,
    ) -> Result<Committed> {
        self.write_tagged(ctx, name, stream, mode, run_id, props, None)
            .await
    }

    /// [`Warehouse::write_with`], the commit tagged with `tag` (a digest of
    /// what was written: a seed's rows, a model's definition), so the next
    /// run can tell whether the table is still what it would write.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_tagged(
        &self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        run_id: &str,
        props: Option<WriterProperties>,
        tag: Option<&str>,
    ) -> Result<Committed> {
        check_name(name)?;
        let derr = |source: deltalake::DeltaTableError| Error::delta(name, source);
        if let Some(dir) = &self.local {
            // delta-rs needs the folder to exist before the first local write.
            std::fs::create_dir_all(dir.join(name))
                .map_err(|e| derr(deltalake::DeltaTableError::from(e)))?;
        }
        let table = self.for_write(name).await?;
        let exists = table.version().is_some();
        let schema = stream.schema();
        let commit = commit_properties(run_id, tag);
        let (mode, evolve) = match mode {
            WriteMode::Evolving(m) => (*m, true),
            m => (m, false),
        };
        if let (Some(props), WriteMode::Replace(part) | WriteMode::AppendTo(part)) = (&props, &mode)
            && exists
            && !evolve
            && !part.is_empty()
            && partition::fits(&table, &schema, part)
        {
            let replace = matches!(mode, WriteMode::Replace(_));
            let version = partition::write(&table, stream, part, replace, props.clone(), commit)
                .await
                .map_err(derr)?;
            return Ok(Committed::at(version));
        }
        if let WriteMode::Merge(m) = &mode {
            if !exists {
                return Err(Error::Internal(format!(
                    "merge into table `{name}`, which does not exist"
                )));
            }
            let current = table.version().map(|v| v as i64).unwrap_or(0);
            return Ok(
                match merge::merge(table, ctx, stream, m, props, commit)
                    .await
                    .map_err(derr)?
                {
                    Some((version, merged)) => Committed {
                        version,
                        merged: Some(merged),
                    },
                    None => Committed {
                        version: current,
                        merged: Some(merge::Merged::default()),
                    },
                },
            );
        }
        if let WriteMode::ReplacePresent(column) = &mode
            && exists
        {
            if evolve || !partition::fits_column(&table, &schema, column) {
                return Err(Error::Internal(format!(
                    "table `{name}` has other columns than the load, or is not partitioned by `{column}`: rebuild it (remove the table, or rename the source)"
                )));
            }
            let props = props.clone().unwrap_or_default();
            let version = partition::write_present(&table, stream, column, props, commit)
                .await
                .map_err(derr)?;
            return Ok(Committed::at(version));
        }
        let plan = ctx
            .read_table(one_shot_table(stream))?
            .into_unoptimized_plan();
        let mut builder = table
            .write(std::iter::empty::<RecordBatch>())
            .with_input_plan(plan)
            .with_session_state(Arc::new(ctx.state()))
            .with_target_file_size(std::num::NonZeroU64::new(TARGET_FILE_BYTES))
            .with_commit_properties(commit);
        if let Some(props) = props {
            builder = builder.with_writer_properties(props);
        }
        builder = match &mode {
            WriteMode::Overwrite => builder
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite),
            WriteMode::OverwritePartitioned(cols) => builder
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
                .with_partition_columns(cols.clone()),
            WriteMode::Append => builder.with_save_mode(SaveMode::Append),
            WriteMode::Evolving(_) | WriteMode::Merge(_) => builder,
            // A new table: every partition is new.
            WriteMode::ReplacePresent(column) => builder
                .with_partition_columns([column.clone()])
                .with_save_mode(SaveMode::Append),
            WriteMode::AppendTo(parts) => builder
                .with_partition_columns(parts.iter().map(|(c, _)| c.clone()))
                .with_save_mode(SaveMode::Append),
            WriteMode::Replace(_) | WriteMode::ReplaceMany(_) => {
                let many = match &mode {
                    WriteMode::ReplaceMany(m) => m.clone(),
                    WriteMode::Replace(p) => vec![p.clone()],
                    _ => Vec::new(),
                };
                let all_of = |parts: &Vec<(String, String)>| {
                    parts
                        .iter()
                        .map(|(c, v)| col(c.as_str()).eq(lit(v.clone())))
                        .reduce(Expr::and)
                };
                let pred: Option<Expr> = many.iter().filter_map(all_of).reduce(Expr::or);
                let parts_cols: Vec<String> = many
                    .first()
                    .map(|p| p.iter().map(|(c, _)| c.clone()).collect())
                    .unwrap_or_default();
                // Nothing to replace (a new table, or no partition named):
                // an append, never a whole-table overwrite.
                let b = builder.with_partition_columns(parts_cols).with_save_mode(
                    if exists && pred.is_some() {
                        SaveMode::Overwrite
                    } else {
                        SaveMode::Append
                    },
                );
                match pred {
                    Some(p) if exists => b.with_replace_where(p),
                    _ => b,
                }
            }
        };
        let _ = schema;
        if evolve && !matches!(mode, WriteMode::Overwrite) {
            builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
        }
        let table = builder.await.map_err(derr)?;
        // Readers after this write take the table as written, not opened again.
        self.opened.keep(name, &table).await;
        Ok(Committed::at(
            table.version().map(|v| v as i64).unwrap_or(0),
        ))
    }
}
