//! Which periods of a table changed between two of its versions, read from
//! the Delta log alone (no data): the `period` partitions of every data
//! file one version has and the other does not. A table not partitioned by
//! `period`, or a version that can no longer be read, counts as changed
//! throughout. Commits that only maintain a table (compaction, vacuum)
//! change no row.

use super::{Result, Warehouse};
use std::collections::{BTreeMap, BTreeSet};

/// What changed in a table since a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Nothing,
    /// These periods' rows (and no others).
    Periods(BTreeSet<String>),
    /// Anything: not partitioned by period, new, or the old version gone.
    All,
}

impl Changed {
    /// Both changes together.
    pub fn and(self, other: Changed) -> Changed {
        match (self, other) {
            (Changed::All, _) | (_, Changed::All) => Changed::All,
            (Changed::Nothing, x) | (x, Changed::Nothing) => x,
            (Changed::Periods(mut a), Changed::Periods(b)) => {
                a.extend(b);
                Changed::Periods(a)
            }
        }
    }
}

/// Delta operations that rewrite or remove files without changing a row
/// (`touchpoint maintain`'s compaction and vacuum).
const MAINTENANCE: &[&str] = &["OPTIMIZE", "VACUUM START", "VACUUM END"];

/// Whether `name` holds the rows it held at `version`: it is still at that
/// version, or every commit after it is maintenance (compaction, vacuum).
/// A commit that can no longer be read counts as a change.
pub async fn same_rows(wh: &Warehouse, name: &str, version: Option<i64>) -> Result<bool> {
    use futures::StreamExt;
    let (Some(t), Some(version)) = (wh.table(name).await?, version) else {
        return Ok(false);
    };
    let Some(now) = t.version() else {
        return Ok(false);
    };
    let after = now as i64 - version;
    if after <= 0 {
        return Ok(after == 0);
    }
    let commits: Vec<_> = t.history(usize::try_from(after).ok()).collect().await;
    Ok(commits.len() as i64 == after
        && commits.iter().all(|c| {
            c.as_ref()
                .ok()
                .and_then(|c| c.operation.as_deref())
                .is_some_and(|op| MAINTENANCE.contains(&op))
        }))
}

/// What changed in `name` (partitioned by `column`) since `version`. A
/// compaction's rewritten files count here: ask [`same_rows`] first (the
/// run's `decide` does, for every input).
pub async fn since(
    wh: &Warehouse,
    name: &str,
    column: &str,
    version: Option<i64>,
) -> Result<Changed> {
    let Some(now) = wh.table(name).await? else {
        return Ok(Changed::All);
    };
    let Some(version) = version else {
        return Ok(Changed::All);
    };
    if now.version().map(|v| v as i64) == Some(version) {
        return Ok(Changed::Nothing);
    }
    let Ok(then) = wh.table_at(name, version).await else {
        return Ok(Changed::All);
    };
    let (Some(a), Some(b)) = (files(&then, column).await, files(&now, column).await) else {
        return Ok(Changed::All);
    };
    let mut periods = BTreeSet::new();
    for (_, p) in a.iter().filter(|(f, _)| !b.contains_key(*f)) {
        periods.insert(p.clone().unwrap_or_default());
    }
    for (_, p) in b.iter().filter(|(f, _)| !a.contains_key(*f)) {
        periods.insert(p.clone().unwrap_or_default());
    }
    // A null period is no month: anything may have changed.
    if periods.contains("") {
        return Ok(Changed::All);
    }
    Ok(if periods.is_empty() {
        Changed::Nothing
    } else {
        Changed::Periods(periods)
    })
}

/// The latest `column` partition of `name` that holds a file; `None` when
/// the table is missing, empty or not partitioned by exactly that column.
pub async fn latest(wh: &Warehouse, name: &str, column: &str) -> Result<Option<String>> {
    let Some(t) = wh.table(name).await? else {
        return Ok(None);
    };
    Ok(files(&t, column)
        .await
        .and_then(|f| f.into_values().flatten().max()))
}

/// A table's rows, from the Delta log's per-file row counts (no data read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// By `column` partition.
    pub by_partition: BTreeMap<String, u64>,
    /// In files with no such partition (the whole table when it is not
    /// partitioned by exactly that column).
    pub other: u64,
}

/// The rows of `name` by its `column` partition; `None` when the table is
/// missing or a file's row count is not in the log.
pub async fn rows(wh: &Warehouse, name: &str, column: &str) -> Result<Option<Rows>> {
    use futures::StreamExt;
    let Some(t) = wh.table(name).await? else {
        return Ok(None);
    };
    let Ok(snapshot) = t.snapshot() else {
        return Ok(None);
    };
    let partitioned = snapshot.metadata().partition_columns() == [column.to_string()];
    let mut out = Rows::default();
    let mut views = t.get_active_add_actions_by_partitions(&[]);
    while let Some(f) = views.next().await {
        let Ok(f) = f else { return Ok(None) };
        let Some(n) = f.num_records() else {
            return Ok(None);
        };
        let p = partitioned
            .then(|| f.partition_values_map().remove(column).flatten())
            .flatten();
        match p {
            Some(p) => *out.by_partition.entry(p).or_default() += n as u64,
            None => out.other += n as u64,
        }
    }
    Ok(Some(out))
}

/// Every data file of `t` with its `column` partition value; `None` when
/// the table is not partitioned by exactly that column.
async fn files(
    t: &deltalake::DeltaTable,
    column: &str,
) -> Option<BTreeMap<String, Option<String>>> {
    use futures::StreamExt;
    let snapshot = t.snapshot().ok()?;
    if snapshot.metadata().partition_columns() != [column.to_string()] {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut views = t.get_active_add_actions_by_partitions(&[]);
    while let Some(f) = views.next().await {
        let f = f.ok()?;
        let p = f.partition_values_map().remove(column).flatten();
        out.insert(f.path().to_string(), p);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::WriteMode;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    fn rows(ids: &[i64], periods: &[&str]) -> datafusion::execution::SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("period", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(periods.to_vec())),
        ];
        crate::engine::batch_stream(RecordBatch::try_new(schema, cols).expect("batch"))
    }

    fn part(p: &str) -> Vec<(String, String)> {
        vec![("period".into(), p.into())]
    }

    #[tokio::test]
    async fn periods_whose_files_changed_and_no_others() {
        let dir = tempfile::tempdir().expect("tmp");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        let set = |v: &[&str]| Changed::Periods(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            since(&wh, "t", "period", None).await.expect("new"),
            Changed::All
        );
        let v0 = wh
            .write(
                &ctx,
                "t",
                rows(&[1, 2, 3], &["2024-01", "2024-02", "2024-03"]),
                WriteMode::ReplacePresent("period".into()),
                "r0",
            )
            .await
            .expect("first")
            .version;
        assert_eq!(
            since(&wh, "t", "period", Some(v0)).await.expect("same"),
            Changed::Nothing
        );
        wh.write(
            &ctx,
            "t",
            rows(&[20], &["2024-02"]),
            WriteMode::Replace(part("2024-02")),
            "r1",
        )
        .await
        .expect("replace");
        let v2 = wh
            .write(
                &ctx,
                "t",
                rows(&[40], &["2024-04"]),
                WriteMode::AppendTo(part("2024-04")),
                "r2",
            )
            .await
            .expect("append")
            .version;
        assert_eq!(
            since(&wh, "t", "period", Some(v0)).await.expect("two"),
            set(&["2024-02", "2024-04"])
        );
        assert_eq!(
            since(&wh, "t", "period", Some(v2)).await.expect("none"),
            Changed::Nothing
        );
        // Rewritten whole without partitions: anything changed.
        wh.write(
            &ctx,
            "t",
            rows(&[9], &["2024-01"]),
            WriteMode::Overwrite,
            "r3",
        )
        .await
        .expect("overwrite");
        assert_eq!(
            since(&wh, "t", "other", Some(v2))
                .await
                .expect("other column"),
            Changed::All
        );
        assert_eq!(
            set(&["a"]).and(Changed::Nothing).and(set(&["b"])),
            set(&["a", "b"])
        );
        assert_eq!(set(&["a"]).and(Changed::All), Changed::All);
    }
}
