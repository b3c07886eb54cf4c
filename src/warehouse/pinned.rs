//! A Delta table at one version as the explicit list of its live Parquet
//! files, with their partition values and the table's schema: a plain
//! DataFusion Parquet scan that any process can run, since it needs nothing
//! of delta-rs. A cluster hands tables to its executors this way: delta-rs's
//! own scan cannot be serialised by Ballista's codecs (delta-io/delta-rs#4171,
//! apache/datafusion-ballista#1268), and an executor that re-read the log
//! could see a later version than the one the client planned against.

use datafusion::arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{ColumnStatistics, DataFusionError, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

/// One live data file: its path under the table's folder, its size, and
/// its partition values (in the table's partition-column order; `None` is
/// a null partition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinnedFile {
    pub path: String,
    pub size: u64,
    pub partition: Vec<Option<String>>,
    /// Its row count from the Delta log, when the log has it: the planner
    /// needs sizes to put a join's small side where it is held.
    #[serde(default)]
    pub rows: Option<u64>,
}

/// A table at one version, as its files.
#[derive(Debug, Clone)]
pub struct PinnedTable {
    /// The table (for messages).
    pub name: String,
    pub version: i64,
    /// The table's folder, ending in `/`.
    pub root: Url,
    /// The schema readers see (the Delta provider's, column order included).
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    pub files: Vec<PinnedFile>,
    /// The credential profile of the table's store (its name, never a
    /// secret): an executor opens the bucket with its own
    /// `TOUCHPOINT_PROFILE_<NAME>_*` variables.
    pub profile: Option<String>,
}

impl PinnedTable {
    /// `t` (loaded at the version wanted) as its live files. Refuses what a
    /// plain Parquet scan would read wrongly: deletion vectors (deleted rows
    /// would come back) and column mapping (Parquet columns named otherwise).
    pub async fn of(name: &str, t: &DeltaTable) -> Result<PinnedTable, DataFusionError> {
        let refuse = |why: &str| {
            DataFusionError::Plan(format!(
                "table {name} cannot be read as a list of files: {why}"
            ))
        };
        let snapshot = t
            .snapshot()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let metadata = snapshot.metadata();
        if metadata
            .configuration()
            .get("delta.columnMapping.mode")
            .is_some_and(|m| m != "none")
        {
            return Err(refuse("it uses column mapping"));
        }
        let partition_columns = metadata.partition_columns().to_vec();
        let version = snapshot.version() as i64;
        // The schema as the local Delta provider shows it, so a query answers
        // with the same columns and types on either path…
        let schema = t
            .table_provider()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .schema();
        // …except that text partitions are plain text, not dictionaries:
        // results cross processes as Arrow Flight, which sends dictionaries
        // as their values, so a dictionary column would arrive as another
        // type than the plan declares.
        let schema = Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    datafusion::arrow::datatypes::DataType::Dictionary(_, v)
                        if partition_columns.contains(f.name()) =>
                    {
                        Arc::new(f.as_ref().clone().with_data_type(v.as_ref().clone()))
                    }
                    _ => f.clone(),
                })
                .collect::<Vec<FieldRef>>(),
            schema.metadata().clone(),
        ));
        let mut files = Vec::new();
        let mut views = t.get_active_add_actions_by_partitions(&[]);
        while let Some(f) = views.next().await {
            let f = f.map_err(|e| DataFusionError::External(Box::new(e)))?;
            if f.deletion_vector_descriptor().is_some() {
                return Err(refuse("it has deletion vectors"));
            }
            // A file outside the table's folder (an absolute URL in the log)
            // is not ours to hand out.
            if f.path().contains("://") {
                return Err(refuse("a data file lies outside its folder"));
            }
            let mut values = f.partition_values_map();
            files.push(PinnedFile {
                path: f.object_store_path().to_string(),
                size: f.size().max(0) as u64,
                rows: f.num_records().map(|n| n as u64),
                partition: partition_columns
                    .iter()
                    .map(|c| values.remove(c).flatten())
                    .collect(),
            });
        }
        let mut root = t.table_url().clone();
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(PinnedTable {
            name: name.to_string(),
            version,
            profile: crate::store::profile_of(root.as_str()),
            root,
            schema,
            partition_columns,
            files,
        })
    }

    /// The columns stored in the files, then the partition columns: the
    /// order a file scan produces them in.
    fn scan_schema(&self) -> Result<(SchemaRef, Vec<FieldRef>), DataFusionError> {
        let file: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .filter(|f| !self.partition_columns.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        let part = self
            .partition_columns
            .iter()
            .map(|c| Ok(Arc::new(self.schema.field_with_name(c)?.clone())))
            .collect::<Result<Vec<FieldRef>, DataFusionError>>()?;
        Ok((Arc::new(Schema::new(file)), part))
    }

    /// Where in the scan's column order column `i` of the schema is.
    fn scan_index(&self, i: usize, file_columns: usize) -> usize {
        let name = self.schema.field(i).name();
        match self.partition_columns.iter().position(|c| c == name) {
            Some(p) => file_columns + p,
            None => (0..i)
                .filter(|j| {
                    !self
                        .partition_columns
                        .contains(self.schema.field(*j).name())
                })
                .count(),
        }
    }

    /// Whether file `f` may hold rows matching `e`: false only when `e`
    /// compares a text partition column with text literals (`=`, `IN`,
    /// `AND`, `OR` of those) and `f`'s partition value matches none.
    fn may_match(&self, e: &Expr, f: &PinnedFile) -> bool {
        use datafusion::logical_expr::{BinaryExpr, Operator, expr::InList};
        let value = |c: &Expr| -> Option<Option<&str>> {
            let Expr::Column(c) = c else { return None };
            let at = self.partition_columns.iter().position(|p| *p == c.name)?;
            // A file without the value holds NULL there (never the case
            // for a file of the log; kept exact for `decides`).
            Some(f.partition.get(at).and_then(|v| v.as_deref()))
        };
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And => self.may_match(left, f) && self.may_match(right, f),
                Operator::Or => self.may_match(left, f) || self.may_match(right, f),
                Operator::Eq => match (value(left), text(right), value(right), text(left)) {
                    (Some(v), Some(t), _, _) | (_, _, Some(v), Some(t)) => v == Some(t),
                    _ => true,
                },
                _ => true,
            },
            Expr::InList(InList {
                expr,
                list,
                negated: false,
            }) => match (
                value(expr),
                list.iter().map(text).collect::<Option<Vec<_>>>(),
            ) {
                (Some(v), Some(texts)) => texts.iter().any(|t| v == Some(*t)),
                _ => true,
            },
            _ => true,
        }
    }

    /// The files a scan with `filters` reads: those of partitions the
    /// filters can match (a rebuild of some periods reads theirs).
    fn files_for<'a>(&'a self, filters: &'a [Expr]) -> impl Iterator<Item = &'a PinnedFile> {
        self.files
            .iter()
            .filter(|f| filters.iter().all(|e| self.may_match(e, f)))
    }

    /// The bytes of the files a scan with `filters` reads.
    pub fn bytes_read(&self, filters: &[Expr]) -> u64 {
        self.files_for(filters).map(|f| f.size).sum()
    }

    /// Whether [`Self::may_match`] answers `e` exactly for every file: `e`
    /// reads partition columns only, each compared with text literals (`=`,
    /// `IN`, joined by `AND` / `OR`), so all of a file's rows match or none.
    /// Such a filter is done once the files are chosen: no filter above the
    /// scan, where its `period = '…'` would make the column a constant that
    /// DataFusion takes for an order (a partial aggregate over ordered input
    /// cannot emit early and runs out of memory instead).
    fn decides(&self, e: &Expr) -> bool {
        use datafusion::logical_expr::{BinaryExpr, Operator, expr::InList};
        let partition =
            |c: &Expr| matches!(c, Expr::Column(c) if self.partition_columns.contains(&c.name));
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => self.decides(left) && self.decides(right),
                Operator::Eq => {
                    (partition(left) && text(right).is_some())
                        || (partition(right) && text(left).is_some())
                }
                _ => false,
            },
            Expr::InList(InList {
                expr,
                list,
                negated: false,
            }) => partition(expr) && list.iter().all(|t| text(t).is_some()),
            _ => false,
        }
    }

    /// The object store URL (`file://`, `s3://bucket`, `s3://PROFILE@bucket`
    /// when the store has a credential profile) and the store path of the
    /// table's folder.
    fn store(&self) -> Result<(ObjectStoreUrl, String), DataFusionError> {
        let root = crate::store::store_url(&self.root, self.profile.as_deref())
            .map_err(|e| DataFusionError::Plan(format!("table {}: {e}", self.name)))?;
        let url = ObjectStoreUrl::parse(root.as_str())?;
        let prefix = object_store::path::Path::from_url_path(self.root.path())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok((url, prefix.to_string()))
    }
}

/// Register the store `url` names in the session's runtime when it is not
/// there yet: a local session knows a bucket only once something registered
/// it (delta-rs does for its own scans, which a file-list scan does not
/// use). An executor's registry opens buckets itself, so this finds them.
fn ensure_store(state: &dyn Session, url: &ObjectStoreUrl) -> Result<(), DataFusionError> {
    let env = state.runtime_env();
    if env.object_store(url).is_ok() {
        return Ok(());
    }
    let external = |e: Box<dyn std::error::Error + Send + Sync>| DataFusionError::External(e);
    let url = Url::parse(url.as_str()).map_err(|e| external(Box::new(e)))?;
    let store = crate::store::open_store_url(&url).map_err(|e| external(Box::new(e)))?;
    env.register_object_store(&url, store);
    Ok(())
}

/// The scan's size for the planner: rows (when every file's count is
/// known) and bytes, both inexact; nothing about the columns.
fn scan_statistics(files: &[&PinnedFile], columns: usize) -> Statistics {
    use datafusion::common::stats::Precision;
    let rows: Option<u64> = files.iter().map(|f| f.rows).sum();
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    Statistics {
        num_rows: rows.map_or(Precision::Absent, |r| Precision::Inexact(r as usize)),
        total_byte_size: Precision::Inexact(bytes as usize),
        column_statistics: vec![ColumnStatistics::new_unknown(); columns],
    }
}

/// The text of a text literal.
fn text(e: &Expr) -> Option<&str> {
    fn of(v: &ScalarValue) -> Option<&str> {
        match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Some(s),
            ScalarValue::Dictionary(_, v) => of(v),
            _ => None,
        }
    }
    match e {
        Expr::Literal(v, _) => of(v),
        _ => None,
    }
}

/// A partition value (Delta keeps them as text) in the column's type; the
/// Delta provider shows text partitions dictionary-encoded, so they are here.
fn partition_value(
    text: Option<&str>,
    t: &datafusion::arrow::datatypes::DataType,
) -> datafusion::error::Result<ScalarValue> {
    use datafusion::arrow::datatypes::DataType;
    match (text, t) {
        (_, DataType::Dictionary(key, value)) => Ok(ScalarValue::Dictionary(
            key.clone(),
            Box::new(partition_value(text, value)?),
        )),
        (Some(v), t) => ScalarValue::try_from_string(v.to_string(), t),
        (None, t) => ScalarValue::try_from(t),
    }
}

#[async_trait::async_trait]
impl TableProvider for PinnedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let (file_schema, part) = self.scan_schema()?;
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let wanted = projection.unwrap_or(&all);
        // The filters `decides` are done by this choice of files, the
        // others still run above the scan.
        let files: Vec<&PinnedFile> = self.files_for(filters).collect();
        if files.is_empty() {
            let projected = self.schema.project(wanted)?;
            return Ok(Arc::new(EmptyExec::new(Arc::new(projected))));
        }
        let n = file_schema.fields().len();
        let statistics = scan_statistics(&files, n + part.len());
        let indices: Vec<usize> = wanted.iter().map(|i| self.scan_index(*i, n)).collect();
        let (url, prefix) = self.store()?;
        ensure_store(state, &url)?;
        let types: Vec<_> = part.iter().map(|f| f.data_type().clone()).collect();
        // Files spread over the session's partitions, largest first onto
        // the lightest group, so no partition reads much more than another.
        let groups_wanted = state.config().target_partitions().max(1);
        let mut order = files;
        order.sort_by_key(|f| std::cmp::Reverse(f.size));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..groups_wanted.min(order.len()))
            .map(|_| (0, Vec::new()))
            .collect();
        for f in order {
            let values = f
                .partition
                .iter()
                .zip(&types)
                .map(|(v, t)| partition_value(v.as_deref(), t))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let path = if prefix.is_empty() {
                f.path.clone()
            } else {
                format!("{prefix}/{}", f.path)
            };
            let file = PartitionedFile::new(path, f.size).with_partition_values(values);
            if let Some(g) = groups.iter_mut().min_by_key(|(bytes, _)| *bytes) {
                g.0 += f.size;
                g.1.push(file);
            }
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(
            TableSchema::builder(file_schema)
                .with_table_partition_cols(part)
                .build(),
        );
        let config = FileScanConfigBuilder::new(url, source)
            .with_file_groups(groups.into_iter().map(|(_, g)| FileGroup::new(g)).collect())
            .with_projection_indices(Some(indices))?
            .with_limit(limit)
            .with_statistics(statistics)
            .build();
        format.create_physical_plan(state, config).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // A filter the file list decides is done by `scan`; the others stay
        // above it, and DataFusion's physical optimiser pushes them into the
        // Parquet reader (row groups and pages pruned there).
        Ok(filters
            .iter()
            .map(|e| match self.decides(e) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::warehouse::{Warehouse, WriteMode};
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn rows(ids: &[i64], periods: &[&str]) -> datafusion::execution::SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![
            Field::new("period", DataType::Utf8, false),
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let names: Vec<Option<String>> = ids
            .iter()
            .map(|i| (i % 3 != 0).then(|| format!("n{i}")))
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(periods.to_vec())),
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names)),
        ];
        crate::engine::batch_stream(RecordBatch::try_new(schema, cols).expect("batch"))
    }

    async fn text(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string()
    }

    /// A partitioned table with a replaced partition, read as its file list
    /// at each version, answers exactly as the Delta provider at that version
    /// (the partition column first in the table, last in the files).
    #[tokio::test]
    async fn a_version_as_its_files_reads_as_delta_does() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        let periods = ["2024-01", "2024-02", "2024-03", "2024-02", "2024-01"];
        wh.write(
            &ctx,
            "t",
            rows(&[1, 2, 3, 4, 5], &periods),
            WriteMode::ReplacePresent("period".into()),
            "r0",
        )
        .await
        .expect("first");
        wh.write(
            &ctx,
            "t",
            rows(&[20, 21], &["2024-02", "2024-02"]),
            WriteMode::Replace(vec![("period".into(), "2024-02".into())]),
            "r1",
        )
        .await
        .expect("replace");
        let queries = [
            "SELECT * FROM t ORDER BY id",
            "SELECT period, COUNT(*) AS n, SUM(id) AS s FROM t GROUP BY period ORDER BY period",
            "SELECT name FROM t WHERE period = '2024-02' AND id > 20 ORDER BY name",
            "SELECT id FROM t WHERE name IS NULL ORDER BY id",
            "SELECT id FROM t WHERE period IN ('2024-01', '2024-03') ORDER BY id",
            "SELECT id FROM t WHERE period = '2024-02' OR period = '2024-03' ORDER BY id",
            "SELECT id FROM t WHERE period = '2024-02' OR id = 1 ORDER BY id",
            "SELECT COUNT(*) AS n FROM t WHERE period = '2099-01'",
        ];
        for version in [0, 1] {
            let t = wh.table_at("t", version).await.expect("table");
            let delta = crate::engine::session();
            delta
                .register_table("t", wh.provider_of("t", &t).await.expect("provider"))
                .expect("register");
            let pinned = crate::engine::session();
            let files = super::PinnedTable::of("t", &t).await.expect("pinned");
            assert_eq!(files.version, version);
            assert_eq!(files.files.len(), 3, "one file per period");
            // The planner is told the rows (5 at version 0; February's 2
            // replaced by 2 at version 1), and only the scanned months'.
            let rows: Option<u64> = files.files.iter().map(|f| f.rows).sum();
            assert_eq!(rows, Some(5));
            let feb = pinned_rows(&files, "SELECT * FROM t WHERE period = '2024-02'").await;
            assert_eq!(feb, Some(2));
            pinned
                .register_table("t", Arc::new(files))
                .expect("register");
            for q in queries {
                assert_eq!(
                    text(&delta, q).await,
                    text(&pinned, q).await,
                    "{q} at {version}"
                );
            }
        }
        // A filter on the partition column reads that partition's files only.
        let t = wh.table_at("t", 1).await.expect("table");
        let c = crate::engine::session();
        c.register_table(
            "t",
            Arc::new(super::PinnedTable::of("t", &t).await.expect("p")),
        )
        .expect("register");
        // Filters on partitions alone are done by choosing files: no filter
        // remains above the scan (the OR with `id` does remain).
        for (q, files, filtered) in [
            ("SELECT id FROM t WHERE period = '2024-02'", 1, false),
            (
                "SELECT id FROM t WHERE period IN ('2024-01', '2024-03')",
                2,
                false,
            ),
            (
                "SELECT id FROM t WHERE period = '2024-02' OR id = 1",
                3,
                true,
            ),
            ("SELECT id FROM t WHERE period = '2099-01'", 0, false),
        ] {
            let plan = text(&c, &format!("EXPLAIN {q}")).await;
            assert_eq!(plan.matches(".parquet").count(), files, "{q}: {plan}");
            assert_eq!(plan.contains("FilterExec"), filtered, "{q}: {plan}");
        }
        // So a month's grouping sets aggregate unordered input, and a
        // partial aggregate can emit early when its memory runs short.
        let plan = text(
            &c,
            "EXPLAIN SELECT period, id, COUNT(*) FROM t WHERE period = '2024-02' \
             GROUP BY GROUPING SETS ((period, id), (period))",
        )
        .await;
        assert!(
            plan.contains("mode=Partial") && !plan.contains("ordering_mode"),
            "{plan}"
        );
        // What a plan with those filters reads, for its partition count.
        let pinned = super::PinnedTable::of("t", &t).await.expect("p");
        let all: u64 = pinned.files.iter().map(|f| f.size).sum();
        assert_eq!(pinned.bytes_read(&[]), all);
        let feb = datafusion::prelude::col("period").eq(datafusion::prelude::lit("2024-02"));
        let feb_bytes = pinned.bytes_read(&[feb]);
        assert!(feb_bytes > 0 && feb_bytes * 2 < all, "{feb_bytes} of {all}");
        assert!(
            text(&c, "SELECT SUM(id) AS s FROM t WHERE period = '2024-02'")
                .await
                .contains("| 41")
        );
        // The control: the versions differ, so the comparison can fail.
        let at = |v| {
            let wh = wh.clone();
            async move {
                let t = wh.table_at("t", v).await.expect("table");
                let c = crate::engine::session();
                c.register_table(
                    "t",
                    Arc::new(super::PinnedTable::of("t", &t).await.expect("p")),
                )
                .expect("register");
                text(&c, "SELECT SUM(id) AS s FROM t").await
            }
        };
        assert!(at(0).await.contains("| 15"), "1+2+3+4+5");
        assert!(at(1).await.contains("| 50"), "1+3+5+20+21");
    }

    /// The row count the scan reports to the planner for `sql` over `t`.
    async fn pinned_rows(t: &super::PinnedTable, sql: &str) -> Option<usize> {
        use datafusion::common::stats::Precision;
        use datafusion::physical_plan::ExecutionPlan;
        let ctx = crate::engine::session();
        ctx.register_table("t", Arc::new(t.clone()))
            .expect("register");
        let plan = ctx
            .sql(sql)
            .await
            .expect("sql")
            .create_physical_plan()
            .await
            .expect("plan");
        // Down to the scan: the filter above it estimates on its own.
        let mut node: Arc<dyn ExecutionPlan> = plan;
        while let Some(child) = node.children().first().map(|c| (*c).clone()) {
            node = child;
        }
        use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
        let stats = StatisticsContext::new()
            .compute(node.as_ref(), &StatisticsArgs::new())
            .expect("stats");
        match stats.num_rows {
            Precision::Inexact(n) | Precision::Exact(n) => Some(n),
            Precision::Absent => None,
        }
    }

    #[test]
    fn a_profile_rides_as_the_store_user() {
        let t = |profile: Option<&str>| super::PinnedTable {
            name: "t".into(),
            version: 0,
            root: url::Url::parse("s3://bank/dw/t/").expect("url"),
            schema: Arc::new(Schema::empty()),
            partition_columns: vec![],
            files: vec![],
            profile: profile.map(str::to_string),
        };
        let (url, prefix) = t(None).store().expect("plain");
        assert_eq!((url.as_str(), prefix.as_str()), ("s3://bank/", "dw/t"));
        let (url, _) = t(Some("dw-writer")).store().expect("profile");
        assert_eq!(url.as_str(), "s3://DW_WRITER@bank/");
        assert!(t(Some("")).store().is_err());
    }
}
