//! The warehouse: one Delta table per source, seed and model, plus the
//! `_runs` log and the `_quarantine` table, under one root (a local folder or
//! an object-store URL).
//!
//! Owns opening, atomic writes (whole-table overwrite or replace of one
//! period) and handing tables to DataFusion. Does not know about sources or
//! SQL models.

pub mod changes;
pub mod encoding;
pub mod lock;
pub mod log;
pub mod maintain;
pub mod merge;
mod one_shot;
mod opened;
mod partition;
pub mod parts;
pub mod pinned;
pub mod transaction;
pub mod versions;
mod write;

pub use one_shot::one_shot_table;

use datafusion::catalog::TableProvider;
use deltalake::DeltaTable;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("warehouse location `{location}` is not a folder or URL: {reason}")]
    Location { location: String, reason: String },
    /// A failed read or write. Values quoted in the cause (a cast that
    /// failed on a row while writing) are cut: personal data must not
    /// reach the terminal or `_runs` (see `engine::without_quoted_values`).
    #[error("warehouse table `{table}`: {}", crate::engine::without_quoted_values(&source.to_string()))]
    Delta {
        table: String,
        // Boxed: delta-rs and DataFusion errors are large, and every
        // `Result` in the crate would pay for them.
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("warehouse table `{table}` does not exist")]
    NoTable {
        table: String,
        available: Vec<String>,
    },
    #[error("warehouse: {0}")]
    Query(Box<datafusion::error::DataFusionError>),
    #[error("another run is using the warehouse (lock `{path}` held by process {holder})")]
    Locked { path: String, holder: String },
    #[error("the run lock `{path}` cannot be read at line {line}: {reason}")]
    LockGarbled {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("this run no longer holds the run lock `{path}` (removed or taken over meanwhile)")]
    LockLost { path: String },
    #[error("cannot list warehouse `{location}`: {reason}")]
    List { location: String, reason: String },
    #[error("cannot remove table `{table}` created by a failed run: {reason}")]
    RollBack { table: String, reason: String },
    #[error("run `{run}` has no record of its table versions")]
    UnknownRun { run: String, known: Vec<String> },
    #[error("`{name}` is not a table name")]
    BadName { name: String },
    #[error(
        "table `{table}` at version {version} is past the pipeline's retention ({horizon}): its files may have been vacuumed"
    )]
    PastRetention {
        table: String,
        version: u64,
        horizon: String,
    },
    #[error("internal: {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Query(Box::new(e))
    }
}

impl Error {
    fn delta(table: impl Into<String>, source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: table.into(),
            source: Box::new(source),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::NoTable { table, available } => {
                if available.is_empty() {
                    Some("the warehouse is empty: run `touchpoint run PIPELINE --period YYYY-MM` first".into())
                } else {
                    let near = crate::spec::did_you_mean(table, available.iter().map(String::as_str));
                    Some(match near {
                        Some(n) => format!("did you mean `{n}`? tables: {}", available.join(", ")),
                        None => format!("tables: {}", available.join(", ")),
                    })
                }
            }
            Error::UnknownRun { known, .. } => Some(if known.is_empty() {
                "only finished runs are recorded (from this version of touchpoint on): run the pipeline first".into()
            } else {
                format!("recent finished runs: {}", known.join(", "))
            }),
            Error::Locked { .. } => Some("wait for the other run to finish; touchpoint runs one pipeline at a time per warehouse".into()),
            Error::PastRetention { .. } => Some("read a later run or version, or keep versions longer with the pipeline's `retention:` (before `touchpoint maintain` vacuums them)".into()),
            Error::LockGarbled { .. } => Some("its journal lists the tables an unfinished run wrote and their versions before it: repair the line (or restore those tables by hand), then remove the lock; removing it alone leaves them as that run left them".into()),
            Error::LockLost { .. } => Some("another process removed or replaced the lock while this run held it; check which runs touched the warehouse before running again".into()),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A table name is one folder under the root: a lowercase identifier (the
/// bookkeeping tables start with `_`). Anything else (`./t`, `t/.`,
/// `a/../t`, an absolute path) could reach files outside the table it
/// names, so it is refused wherever a name reaches the file system.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadName {
            name: name.to_string(),
        })
    }
}

/// How a write replaces what a table held.
#[derive(Debug, Clone)]
pub enum WriteMode {
    /// Replace the whole table (snapshots, seeds, models).
    Overwrite,
    /// Replace the whole table, partitioned by these columns from now on
    /// (a model rebuilt by period, built whole).
    OverwritePartitioned(Vec<String>),
    /// Replace only the rows matching `column = value` for each pair, in one
    /// commit; the table is partitioned by those columns.
    Replace(Vec<(String, String)>),
    /// Replace several partitions (each a list of `column = value` pairs,
    /// the same columns in each) in one commit: the rows of all of them.
    ReplaceMany(Vec<Vec<(String, String)>>),
    /// Add rows (the run log).
    Append,
    /// Add rows to the partition `column = value` (an incremental load);
    /// the table is partitioned by those columns.
    AppendTo(Vec<(String, String)>),
    /// Replace every partition of `column` the stream has rows for (and
    /// only those), in one commit: a source whose rows say their own period.
    ReplacePresent(String),
    /// Merge the stream into the table (which must exist) in one commit.
    Merge(Box<merge::Merge>),
    /// The same write, adding the stream's new columns to the table
    /// (`on_schema_change: evolve`).
    Evolving(Box<WriteMode>),
}

/// What a committed write did.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub version: i64,
    /// A merge: the rows it inserted, updated and deleted.
    pub merged: Option<merge::Merged>,
}

impl Committed {
    pub fn at(version: i64) -> Self {
        Committed {
            version,
            merged: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
    /// Local root folder, when the warehouse is on this machine.
    local: Option<PathBuf>,
    /// For readers while a run is unfinished (running, or killed): the
    /// version of each table it touched as it was before the run.
    pins: Option<Arc<std::collections::BTreeMap<String, Option<u64>>>>,
    /// Set when reading as of a past run: the tables it recorded, at their
    /// versions then; no other table exists.
    as_of: Option<String>,
    /// How long a replaced version stays readable (the pipeline's
    /// `retention:`); older versions are refused, since `maintain` may
    /// have vacuumed their files.
    retention: std::time::Duration,
    /// Readers get each table as the list of its live files at the pinned
    /// version (a cluster's executors read them without delta-rs).
    file_lists: bool,
    /// Tables opened through this handle or its clones, handed out again
    /// while no commit has followed.
    opened: opened::Opened,
}

impl Warehouse {
    /// Open (and for a local folder, create) the warehouse at `location`:
    /// a path or a URL such as `s3://bucket/prefix`.
    pub fn open(location: &str) -> Result<Self> {
        let err = |reason: String| Error::Location {
            location: location.to_string(),
            reason,
        };
        if location.contains("://") {
            let mut root = Url::parse(location).map_err(|e| err(e.to_string()))?;
            if !root.path().ends_with('/') {
                root.set_path(&format!("{}/", root.path()));
            }
            if root.scheme() == "file" {
                let p = root
                    .to_file_path()
                    .map_err(|_| err("not a local path".into()))?;
                return Self::open_local(&p, location);
            }
            crate::store::open(&root).map_err(|e| err(e.to_string()))?;
            crate::store::register_with_delta();
            return Ok(Warehouse {
                root,
                local: None,
                pins: None,
                as_of: None,
                retention: maintain::DEFAULT_RETENTION,
                file_lists: false,
                opened: Default::default(),
            });
        }
        Self::open_local(Path::new(location), location)
    }

    fn open_local(path: &Path, location: &str) -> Result<Self> {
        let err = |reason: String| Error::Location {
            location: location.to_string(),
            reason,
        };
        std::fs::create_dir_all(path).map_err(|e| err(e.to_string()))?;
        let abs = std::fs::canonicalize(path).map_err(|e| err(e.to_string()))?;
        let root =
            Url::from_directory_path(&abs).map_err(|_| err("not an absolute path".into()))?;
        Ok(Warehouse {
            root,
            local: Some(abs),
            pins: None,
            as_of: None,
            retention: maintain::DEFAULT_RETENTION,
            file_lists: false,
            opened: Default::default(),
        })
    }

    /// The warehouse as of its last finished run: tables an unfinished
    /// (running or killed) run has written are read at their earlier
    /// versions, so readers never see half a run. For `query`, `report`,
    /// `tables`; a run itself reads its own writes.
    pub async fn committed(mut self) -> Result<Self> {
        if let Some(journal) = lock::unfinished(&self).await? {
            self.pins = Some(Arc::new(lock::pins(&journal)));
        }
        Ok(self)
    }

    /// The warehouse as the last finished run, `run_id`, left it, for a
    /// reader that must see one consistent set of versions: the tables of
    /// that run's manifest at its versions, tables an unfinished run is
    /// writing at their versions before it, and the others (bookkeeping a
    /// manifest does not list) as they are.
    pub async fn finished_run(mut self, run_id: &str) -> Result<Self> {
        let mut pins = match lock::unfinished(&self).await? {
            Some(journal) => lock::pins(&journal),
            None => Default::default(),
        };
        pins.extend(self.manifest_pins(run_id).await?);
        self.pins = Some(Arc::new(pins));
        Ok(self)
    }

    /// The versions run `run_id`'s manifest lists, as pins.
    async fn manifest_pins(
        &self,
        run_id: &str,
    ) -> Result<std::collections::BTreeMap<String, Option<u64>>> {
        match versions::read(self, Some(run_id)).await? {
            Some((_, manifest)) => Ok(manifest
                .into_iter()
                .map(|(t, v)| (t, Some(v.max(0) as u64)))
                .collect()),
            None => Err(versions::unknown_run(
                run_id,
                &versions::runs(self, 5).await.unwrap_or_default(),
            )),
        }
    }

    /// The warehouse exactly as run `run_id` left it (Delta time travel to
    /// the versions in its `_versions` manifest).
    pub async fn as_of(mut self, run_id: &str) -> Result<Self> {
        self.pins = Some(Arc::new(self.manifest_pins(run_id).await?));
        self.as_of = Some(run_id.to_string());
        Ok(self)
    }

    /// The pipeline's time-travel horizon (`retention:`).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Hand readers each table as its live files ([`pinned::PinnedTable`]).
    pub fn with_file_lists(mut self) -> Self {
        self.file_lists = true;
        self
    }

    pub fn retention(&self) -> std::time::Duration {
        self.retention
    }

    /// The run this warehouse is read as of, if any.
    pub fn as_of_run(&self) -> Option<&str> {
        self.as_of.as_deref()
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn table_url(&self, name: &str) -> Url {
        // Names are validated identifiers, so joining cannot escape the root.
        self.root
            .join(&format!("{name}/"))
            .unwrap_or_else(|_| self.root.clone())
    }

    /// The table's latest state (for a reader, its last finished run's), or
    /// `None` when it was never written.
    pub async fn table(&self, name: &str) -> Result<Option<DeltaTable>> {
        let pin = self.pins.as_ref().and_then(|p| p.get(name).copied());
        if self.as_of.is_some() && pin.is_none() {
            return Ok(None);
        }
        match pin {
            None => self.latest(name).await,
            Some(None) => Ok(None),
            Some(Some(v)) => match self.latest(name).await? {
                Some(mut t) => {
                    self.check_readable(name, &t, v).await?;
                    t.load_version(v)
                        .await
                        .map_err(|source| Error::delta(name, source))?;
                    Ok(Some(t))
                }
                None => Ok(None),
            },
        }
    }

    async fn latest(&self, name: &str) -> Result<Option<DeltaTable>> {
        check_name(name)?;
        if let Some(dir) = &self.local
            && !dir.join(name).join("_delta_log").is_dir()
        {
            self.opened.forget(name);
            return Ok(None);
        }
        if let Some(t) = self.opened.current(name).await {
            return Ok(Some(t));
        }
        let url = self.table_url(name);
        match DeltaTable::try_from_url(url).await {
            Ok(t) if t.version().is_some() => {
                self.opened.keep(name, &t).await;
                Ok(Some(t))
            }
            Ok(_) => Ok(None),
            // An object-store prefix without a log: never written.
            Err(deltalake::DeltaTableError::NotATable(_)) => Ok(None),
            Err(source) => Err(Error::delta(name, source)),
        }
    }

    /// The table to write `name` through: its latest version, or an empty
    /// table at its location when it was never written.
    async fn for_write(&self, name: &str) -> Result<DeltaTable> {
        if let Some(t) = self.latest(name).await? {
            return Ok(t);
        }
        DeltaTable::try_from_url(self.table_url(name))
            .await
            .map_err(|source| Error::delta(name, source))
    }

    /// The table's current version, `None` when it was never written.
    pub async fn version(&self, name: &str) -> Result<Option<u64>> {
        Ok(self.table(name).await?.and_then(|t| t.version()))
    }

    /// Put a table back as it was before a failed run: restore `version`
    /// (a new commit, so time travel still shows what happened), or remove a
    /// table the run created.
    pub async fn roll_back(&self, name: &str, version: Option<u64>) -> Result<()> {
        check_name(name)?;
        match version {
            Some(v) => {
                if let Some(t) = self.table(name).await?
                    && t.version() != Some(v)
                {
                    t.restore()
                        .with_version_to_restore(v)
                        .await
                        .map_err(|source| Error::delta(name, source))?;
                }
            }
            None => {
                let fail = |reason: String| Error::RollBack {
                    table: name.into(),
                    reason,
                };
                if let Some(dir) = &self.local {
                    let path = dir.join(name);
                    if path.exists() {
                        std::fs::remove_dir_all(&path).map_err(|e| fail(e.to_string()))?;
                    }
                } else {
                    use futures::{StreamExt, TryStreamExt};
                    let (store, prefix) = crate::store::open(&self.table_url(name))
                        .map_err(|e| fail(e.to_string()))?;
                    let paths = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
                    store
                        .delete_stream(paths)
                        .try_collect::<Vec<_>>()
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// The tag of the table's latest commit ([`Warehouse::write_tagged`]);
    /// `None` when there is no table or the commit has none.
    pub async fn tag(&self, name: &str) -> Result<Option<String>> {
        use futures::StreamExt;
        let Some(t) = self.table(name).await? else {
            return Ok(None);
        };
        let mut history = t.history(Some(1));
        let Some(info) = history.next().await else {
            return Ok(None);
        };
        let info = info.map_err(|source| Error::delta(name, source))?;
        Ok(info
            .info
            .get(TAG)
            .and_then(|v| v.as_str())
            .map(str::to_string))
    }

    /// The table as of `version` (time travel).
    pub async fn table_at(&self, name: &str, version: i64) -> Result<DeltaTable> {
        let mut t = self.table(name).await?.ok_or_else(|| Error::NoTable {
            table: name.into(),
            available: vec![],
        })?;
        let version: u64 = version.try_into().unwrap_or_default();
        self.check_readable(name, &t, version).await?;
        t.load_version(version)
            .await
            .map_err(|source| Error::delta(name, source))?;
        Ok(t)
    }

    /// Names of every table under the root, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        if let Some(dir) = &self.local {
            let err = |e: std::io::Error| Error::List {
                location: dir.display().to_string(),
                reason: e.to_string(),
            };
            for entry in std::fs::read_dir(dir).map_err(err)? {
                let entry = entry.map_err(err)?;
                if entry.path().join("_delta_log").is_dir() {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
        } else {
            let (store, prefix) = crate::store::open(&self.root).map_err(|e| Error::List {
                location: self.root.to_string(),
                reason: e.to_string(),
            })?;
            let listed = store
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(|e| Error::List {
                    location: self.root.to_string(),
                    reason: e.to_string(),
                })?;
            for p in listed.common_prefixes {
                if let Some(name) = p.filename() {
                    let log = p.clone().join("_delta_log");
                    let has_log = store
                        .list_with_delimiter(Some(&log))
                        .await
                        .map(|l| !l.objects.is_empty())
                        .unwrap_or(false);
                    if has_log {
                        names.push(name.to_string());
                    }
                }
            }
        }
        // A table an unfinished run created does not exist yet for readers.
        if let Some(p) = &self.pins {
            names.retain(|n| match p.get(n) {
                Some(v) => v.is_some(),
                None => self.as_of.is_none(),
            });
        }
        names.sort();
        Ok(names)
    }

    /// A DataFusion provider over the table's current version.
    pub async fn provider(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        match self.table(name).await? {
            Some(t) => self.provider_of(name, &t).await,
            None => Err(Error::NoTable {
                table: name.into(),
                available: self.list().await.unwrap_or_default(),
            }),
        }
    }

    /// A provider over the table's latest version, whatever the reader's pins.
    async fn latest_provider(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        match self.latest(name).await? {
            Some(t) => self.provider_of(name, &t).await,
            None => Err(Error::NoTable {
                table: name.into(),
                available: vec![],
            }),
        }
    }

    pub async fn provider_of(&self, name: &str, t: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
        if self.file_lists {
            let version = t.version();
            if let Some(files) = version.and_then(|v| self.opened.files(name, v)) {
                return Ok(files);
            }
            let files = Arc::new(pinned::PinnedTable::of(name, t).await?);
            if let Some(v) = version {
                self.opened.keep_files(name, v, &files);
            }
            return Ok(files);
        }
        t.table_provider()
            .await
            .map_err(|e| Error::delta(name, e.into()))
    }
}

/// The commit-info key of a write's tag.
const TAG: &str = "touchpoint.digest";

/// Storage options are taken from the environment by object_store itself
/// (AWS_*, GOOGLE_*, AZURE_*): nothing secret is ever read from YAML.
pub fn storage_options() -> HashMap<String, String> {
    HashMap::new()
}
