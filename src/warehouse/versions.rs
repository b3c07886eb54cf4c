//! `_versions`: after each finished run, the version of every warehouse
//! table as that run left it. Readers use it to see the warehouse exactly as
//! a past run left it (`--as-of RUN`, Delta time travel per table), and
//! reports name the versions they read.

use super::{Error, Result, Warehouse, WriteMode};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

pub const VERSIONS: &str = "_versions";

pub static VERSIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new(
            "written_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
    ]))
});

/// A run's table versions: table → Delta version.
pub type Manifest = BTreeMap<String, i64>;

/// The manifest rows of one run.
pub fn batch(run_id: &str, manifest: &Manifest) -> RecordBatch {
    let n = manifest.len();
    let now = chrono::Utc::now().timestamp_micros();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            run_id, n,
        ))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(manifest.keys())),
        Arc::new(Int64Array::from_iter_values(manifest.values().copied())),
    ];
    RecordBatch::try_new(VERSIONS_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("versions schema: {e}"))
}

/// The manifest `run` wrote (the latest one when `run` is `None`), with its
/// run id; `None` when there is none.
pub async fn read(wh: &Warehouse, run: Option<&str>) -> Result<Option<(String, Manifest)>> {
    if wh.latest(VERSIONS).await?.is_none() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    let provider = wh.latest_provider(VERSIONS).await?;
    ctx.register_table(VERSIONS, provider)?;
    let sql = match run {
        Some(_) => format!(
            "SELECT run_id, table_name, version FROM {VERSIONS} WHERE run_id = $1 ORDER BY table_name"
        ),
        None => format!(
            "SELECT run_id, table_name, version FROM {VERSIONS} \
             WHERE written_at = (SELECT MAX(written_at) FROM {VERSIONS}) ORDER BY table_name"
        ),
    };
    let mut df = ctx.sql(&sql).await?;
    if let Some(r) = run {
        df = df.with_param_values(vec![datafusion::scalar::ScalarValue::Utf8(Some(
            r.to_string(),
        ))])?;
    }
    let mut out: Option<(String, Manifest)> = None;
    for b in df.collect().await? {
        let ids = b.column(0).cast_to_utf8();
        let names = b.column(1).cast_to_utf8();
        let versions = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let entry = out.get_or_insert_with(|| (ids.value(i).to_string(), Manifest::new()));
            entry
                .1
                .insert(names.value(i).to_string(), versions.value(i));
        }
    }
    Ok(out)
}

/// The ids of runs that have a manifest, newest first (for error help).
pub async fn runs(wh: &Warehouse, limit: usize) -> Result<Vec<String>> {
    if wh.latest(VERSIONS).await?.is_none() {
        return Ok(Vec::new());
    }
    let ctx = SessionContext::new();
    ctx.register_table(VERSIONS, wh.latest_provider(VERSIONS).await?)?;
    let df = ctx
        .sql(&format!(
            "SELECT run_id, MAX(written_at) AS at FROM {VERSIONS} GROUP BY run_id ORDER BY at DESC LIMIT {limit}"
        ))
        .await?;
    let mut out = Vec::new();
    for b in df.collect().await? {
        let ids = b.column(0).cast_to_utf8();
        out.extend((0..b.num_rows()).map(|i| ids.value(i).to_string()));
    }
    Ok(out)
}

/// Record the manifest of a finished run: the versions it wrote, and for
/// the tables it did not touch, the previous manifest's (or, for the first
/// manifest, their current versions).
pub async fn record(
    wh: &Warehouse,
    ctx: &SessionContext,
    run_id: &str,
    written: &Manifest,
) -> Result<()> {
    let mut manifest = match read(wh, None).await? {
        Some((_, m)) => m,
        None => {
            let mut m = Manifest::new();
            for t in wh.list().await? {
                if t != VERSIONS
                    && let Some(v) = wh.version(&t).await?
                {
                    m.insert(t, v as i64);
                }
            }
            m
        }
    };
    manifest.extend(written.iter().map(|(k, v)| (k.clone(), *v)));
    let b = batch(run_id, &manifest);
    wh.write(
        ctx,
        VERSIONS,
        crate::engine::batch_stream(b),
        WriteMode::Append,
        run_id,
    )
    .await?;
    Ok(())
}

trait Utf8Column {
    fn cast_to_utf8(&self) -> StringArray;
}

impl Utf8Column for ArrayRef {
    /// Delta hands strings back as views or dictionaries; one shape here.
    fn cast_to_utf8(&self) -> StringArray {
        datafusion::arrow::compute::cast(self, &DataType::Utf8)
            .ok()
            .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
            .unwrap_or_else(|| StringArray::from(vec![None::<&str>; self.len()]))
    }
}

/// A run id that has no manifest.
pub fn unknown_run(run: &str, known: &[String]) -> Error {
    Error::UnknownRun {
        run: run.to_string(),
        known: known.to_vec(),
    }
}
