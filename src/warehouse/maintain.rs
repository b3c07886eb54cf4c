//! Keeping tables cheap to open and the warehouse from growing without
//! bound: checkpoints after runs, and `touchpoint maintain`, which compacts
//! small files, vacuums files no version inside the retention horizon
//! needs, and drops log entries past it. Time travel past the horizon is
//! refused (its files may be gone), not attempted.

use super::{Error, Result, Warehouse};
use deltalake::DeltaTable;
use object_store::ObjectStoreExt;
use std::time::Duration;

/// Commits between checkpoints: opening a table replays at most this many
/// JSON commits after the last checkpoint (delta-rs's default is 100).
pub const CHECKPOINT_EVERY: u64 = 10;

/// How long past versions stay readable when the pipeline does not say.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// What maintaining one table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintained {
    pub table: String,
    /// Small files rewritten, and the files they became.
    pub files_compacted: u64,
    pub files_written: u64,
    /// Data files no version inside the horizon needs, deleted.
    pub files_vacuumed: u64,
    /// Log entries (commits, old checkpoints) past the horizon, deleted.
    pub logs_removed: u64,
}

impl Maintained {
    pub fn describe(&self) -> String {
        format!(
            "{}: compacted {} file(s) into {}, vacuumed {} file(s), removed {} log entr{}",
            self.table,
            self.files_compacted,
            self.files_written,
            self.files_vacuumed,
            self.logs_removed,
            if self.logs_removed == 1 { "y" } else { "ies" }
        )
    }
}

/// `30d`, `12h`, `2w` (or `90s`, `5m`): a retention horizon.
pub fn parse_retention(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("`{s}` is not a duration"))?;
    // Seconds and minutes are for trying `maintain` out; a bank keeps days.
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        "w" => n.saturating_mul(7 * 86_400),
        _ => return Err(format!("`{s}` is not a duration")),
    };
    if seconds == 0 {
        return Err("a retention of zero would vacuum the versions readers are reading".into());
    }
    Ok(Duration::from_secs(seconds))
}

impl Warehouse {
    /// After a run wrote `name` from version `before` to `after`: write a
    /// checkpoint when the run crossed a multiple of [`CHECKPOINT_EVERY`].
    pub async fn checkpoint_if_due(
        &self,
        name: &str,
        before: Option<u64>,
        after: u64,
    ) -> Result<bool> {
        let crossed = before.is_none_or(|b| b / CHECKPOINT_EVERY < after / CHECKPOINT_EVERY);
        if !crossed || after == 0 {
            return Ok(false);
        }
        let Some(t) = self.latest(name).await? else {
            return Ok(false);
        };
        deltalake::checkpoints::create_checkpoint(&t, None)
            .await
            .map_err(|e| Error::delta(name, e))?;
        Ok(true)
    }

    /// Compact, checkpoint, vacuum and trim the log of one table, keeping
    /// every version committed within `retention` readable.
    pub async fn maintain(
        &self,
        name: &str,
        retention: Duration,
        run_id: &str,
    ) -> Result<Maintained> {
        let derr = |e: deltalake::DeltaTableError| Error::delta(name, e);
        let mut out = Maintained {
            table: name.to_string(),
            ..Maintained::default()
        };
        let Some(t) = self.latest(name).await? else {
            return Ok(out);
        };
        // The compaction's and the vacuum's commits keep the table's tag:
        // the tag is read from the last commit (older commits may be
        // deleted below), and a model whose tag went missing would be
        // rebuilt whole as if its definition had changed.
        let mut meta = vec![(
            "touchpoint.run_id".to_string(),
            serde_json::Value::String(run_id.to_string()),
        )];
        if let Some(tag) = self.tag(name).await? {
            meta.push((super::TAG.to_string(), serde_json::Value::String(tag)));
        }
        let commit =
            deltalake::kernel::transaction::CommitProperties::default().with_metadata(meta);
        let (t, metrics) = t
            .optimize()
            .with_commit_properties(commit.clone())
            .await
            .map_err(derr)?;
        out.files_compacted = metrics.num_files_removed;
        out.files_written = metrics.num_files_added;
        deltalake::checkpoints::create_checkpoint(&t, None)
            .await
            .map_err(derr)?;
        let horizon = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        // Under the horizon Delta warns of concurrent writers; the run lock
        // (held by `maintain`) keeps them out.
        let (t, vacuumed) = t
            .vacuum()
            .with_commit_properties(commit)
            .with_retention_period(horizon)
            .with_enforce_retention_duration(false)
            .await
            .map_err(derr)?;
        out.files_vacuumed = vacuumed.files_deleted.len() as u64;
        let cutoff = chrono::Utc::now() - horizon;
        let version = t.version().unwrap_or(0);
        out.logs_removed = deltalake::checkpoints::cleanup_expired_logs_for(
            version,
            t.log_store().as_ref(),
            cutoff.timestamp_millis(),
            None,
        )
        .await
        .map_err(derr)? as u64;
        Ok(out)
    }

    /// Refuse to read `name` at `version` when that version may have been
    /// vacuumed: its own commit is gone, or the commit after it (which
    /// removed its files) is older than the retention horizon.
    pub(super) async fn check_readable(
        &self,
        name: &str,
        t: &DeltaTable,
        version: u64,
    ) -> Result<()> {
        let latest = self.latest(name).await?.and_then(|l| l.version());
        if latest.is_none_or(|l| l <= version) {
            return Ok(());
        }
        let store = t.log_store().object_store(None);
        let log = |v: u64| {
            t.log_store()
                .log_path()
                .clone()
                .join(format!("{v:020}.json"))
        };
        let past = Error::PastRetention {
            table: name.to_string(),
            version,
            horizon: describe(self.retention),
        };
        if store.head(&log(version)).await.is_err() {
            return Err(past);
        }
        match store.head(&log(version + 1)).await {
            Ok(meta) => {
                let age = chrono::Utc::now() - meta.last_modified;
                if age.to_std().is_ok_and(|a| a > self.retention) {
                    return Err(past);
                }
                Ok(())
            }
            Err(_) => Err(past),
        }
    }
}

/// A horizon in the largest whole unit: `30d`, `12h`, `90s`.
pub fn describe(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_hours_days_and_weeks() {
        assert_eq!(parse_retention("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_retention("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_retention("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_retention("0d").is_err());
        assert!(parse_retention("30").is_err());
        assert!(parse_retention("d").is_err());
        assert!(parse_retention("-1d").is_err());
        assert_eq!(describe(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(describe(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(describe(Duration::from_secs(90)), "90s");
    }

    /// A run that takes a table past a multiple of ten commits writes a
    /// checkpoint; one that does not, none.
    #[tokio::test]
    async fn a_checkpoint_every_ten_commits() {
        use datafusion::arrow::array::{Int64Array, RecordBatch};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
        let ctx = crate::engine::session();
        let schema =
            std::sync::Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let checkpoints = || {
            std::fs::read_dir(dir.path().join("t/_delta_log"))
                .expect("log")
                .filter(|e| {
                    e.as_ref().is_ok_and(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .ends_with(".checkpoint.parquet")
                    })
                })
                .count()
        };
        let mut version = 0;
        for i in 0..12i64 {
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![std::sync::Arc::new(Int64Array::from(vec![i]))],
            )
            .expect("batch");
            let c = wh
                .write(
                    &ctx,
                    "t",
                    crate::engine::batch_stream(b),
                    super::super::WriteMode::Append,
                    "r",
                )
                .await
                .expect("write");
            version = c.version as u64;
            let wrote = wh
                .checkpoint_if_due("t", version.checked_sub(1), version)
                .await
                .expect("checkpoint");
            assert_eq!(wrote, version == 10, "version {version}");
        }
        assert_eq!(version, 11);
        assert_eq!(checkpoints(), 1);
        // A run that crossed a multiple of ten checkpoints the version now current.
        assert!(wh.checkpoint_if_due("t", Some(9), 21).await.expect("due"));
        assert_eq!(checkpoints(), 2);
    }
}
