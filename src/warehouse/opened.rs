//! Tables a warehouse handle has opened, kept to be handed out again while
//! they are still their table's latest version.
//!
//! Opening a table replays its Delta log (at 20k customers 5–40 ms each,
//! and a run opens a table again for every model that reads it, to decide,
//! plan its parts, read and write). Whether an opened table is still the
//! latest needs two lookups in its log instead: no commit after its
//! version, and its version's commit still the very file it was (a table
//! removed and written again starts its versions over). So this holds for
//! any writer, in this process or another: a table is never handed out
//! once anything committed to it since.

use super::pinned::PinnedTable;
use deltalake::DeltaTable;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The commit file a table was opened at, as the store describes it.
#[derive(Clone, PartialEq, Eq)]
struct Commit {
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    e_tag: Option<String>,
}

/// A table as opened, and as its list of files once asked for.
#[derive(Clone)]
struct Entry {
    table: DeltaTable,
    commit: Commit,
    files: Option<Arc<PinnedTable>>,
}

/// Shared by a warehouse handle and its clones.
#[derive(Clone, Default)]
pub(super) struct Opened(Arc<Mutex<HashMap<String, Entry>>>);

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").finish_non_exhaustive()
    }
}

impl Opened {
    /// `name` as opened before, if nothing was committed to it since.
    pub(super) async fn current(&self, name: &str) -> Option<DeltaTable> {
        let Entry { table, commit, .. } = self.lock().get(name).cloned()?;
        let still = match table.version() {
            Some(v) => {
                let store = table.log_store().object_store(None);
                matches!(
                    store.head(&commit_path(v + 1)).await,
                    Err(object_store::Error::NotFound { .. })
                ) && of(store.as_ref(), v).await.as_ref() == Some(&commit)
            }
            None => false,
        };
        if still {
            Some(table)
        } else {
            self.forget(name);
            None
        }
    }

    /// Keep `table` (just opened, or just written) to hand out again.
    pub(super) async fn keep(&self, name: &str, table: &DeltaTable) {
        let Some(v) = table.version() else {
            return self.forget(name);
        };
        let store = table.log_store().object_store(None);
        match of(store.as_ref(), v).await {
            Some(commit) => {
                let entry = Entry {
                    table: table.clone(),
                    commit,
                    files: None,
                };
                self.lock().insert(name.to_string(), entry);
            }
            None => self.forget(name),
        }
    }

    /// The files of `name` at `version`, when listed before for the table
    /// kept (a version's files never change).
    pub(super) fn files(&self, name: &str, version: u64) -> Option<Arc<PinnedTable>> {
        let map = self.lock();
        let e = map.get(name)?;
        (e.table.version() == Some(version))
            .then(|| e.files.clone())
            .flatten()
    }

    /// Keep the files of `name` at `version`, if that is the table kept.
    pub(super) fn keep_files(&self, name: &str, version: u64, files: &Arc<PinnedTable>) {
        if let Some(e) = self.lock().get_mut(name)
            && e.table.version() == Some(version)
        {
            e.files = Some(files.clone());
        }
    }

    pub(super) fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the map cannot leave an entry half-written.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The commit file of version `v`, if it is there.
async fn of(store: &dyn ObjectStore, v: u64) -> Option<Commit> {
    let meta = store.head(&commit_path(v)).await.ok()?;
    Some(Commit {
        size: meta.size,
        modified: meta.last_modified,
        e_tag: meta.e_tag,
    })
}

/// Where version `v`'s commit lies, relative to the table's root.
fn commit_path(v: u64) -> Path {
    Path::from(format!("_delta_log/{v:020}.json"))
}

#[cfg(test)]
mod tests {
    use crate::warehouse::{Warehouse, WriteMode};
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    async fn put(wh: &Warehouse, ids: &[i64]) -> i64 {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids.to_vec()))];
        let batch = RecordBatch::try_new(schema, cols).expect("batch");
        let ctx = crate::engine::session();
        wh.write(
            &ctx,
            "t",
            crate::engine::batch_stream(batch),
            WriteMode::Overwrite,
            "r",
        )
        .await
        .expect("write")
        .version
    }

    /// The ids `wh` reads in table `t`, through the same provider a run's
    /// models get.
    async fn ids(wh: &Warehouse) -> Vec<i64> {
        let ctx = crate::engine::session();
        let provider = wh.provider("t").await.expect("provider");
        let batches = ctx
            .read_table(provider)
            .expect("read")
            .sort(vec![datafusion::prelude::col("id").sort(true, false)])
            .expect("sort")
            .collect()
            .await
            .expect("collect");
        batches
            .iter()
            .flat_map(|b| {
                let a = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("ids");
                a.values().to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_table_is_handed_out_again_only_while_nothing_committed_to_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().to_str().expect("utf-8");
        let reader = Warehouse::open(path).expect("open").with_file_lists();
        // Another handle, as another process would be: its commits do not
        // pass through the reader's tables.
        let writer = Warehouse::open(path).expect("open");
        assert_eq!(put(&writer, &[1]).await, 0);
        assert_eq!(ids(&reader).await, vec![1]);
        assert_eq!(ids(&reader).await, vec![1]);
        assert_eq!(put(&writer, &[1, 2]).await, 1);
        assert_eq!(ids(&reader).await, vec![1, 2]);
        assert_eq!(reader.version("t").await.expect("version"), Some(1));
        // Removed and written again to the same version: a new table whose
        // last commit has the version of the one kept, but is another file.
        writer.roll_back("t", None).await.expect("remove");
        assert_eq!(reader.version("t").await.expect("gone"), None);
        put(&writer, &[7]).await;
        assert_eq!(ids(&reader).await, vec![7]);
        put(&writer, &[8, 9]).await;
        assert_eq!(ids(&reader).await, vec![8, 9]);
        // Removed and written again without the reader looking between.
        assert_eq!(reader.version("t").await.expect("version"), Some(1));
        writer.roll_back("t", None).await.expect("remove");
        put(&writer, &[3]).await;
        assert_eq!(put(&writer, &[4, 5, 6]).await, 1);
        assert_eq!(ids(&reader).await, vec![4, 5, 6]);
    }
}
