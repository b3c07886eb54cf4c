//! What can go wrong loading a source.

use super::Drift;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source `{source_name}`: cannot read `{file}`: {reason}")]
    Read {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error("source `{source_name}`: `{file}` does not match the declared columns: {drift}")]
    SchemaDrift {
        source_name: String,
        file: String,
        drift: Drift,
    },
    #[error("source `{source_name}`: bad file pattern `{pattern}`: {reason}")]
    Pattern {
        source_name: String,
        pattern: String,
        reason: String,
    },
    /// The file cannot be read as a whole (corrupt or truncated Parquet,
    /// a broken gzip/zstd stream): it is quarantined whole, the rest loads.
    #[error("source `{source_name}`: `{file}` is corrupt or truncated: {reason}")]
    Corrupt {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error(
        "source `{source_name}`: {bad} of {read} rows failed their checks, over `{limit}`; nothing of it was committed (most common: {top})"
    )]
    TooManyBad {
        source_name: String,
        bad: u64,
        read: u64,
        limit: String,
        top: String,
    },
    /// A file's rows or totals disagree with its trailer or control file.
    #[error(
        "source `{source_name}`: `{file}` failed its control totals: {reason}; nothing of the source was committed"
    )]
    Control {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error("source `{source_name}`: `{file}` is a link to `{target}`, outside the project")]
    Outside {
        source_name: String,
        file: String,
        target: String,
    },
    /// Every file loaded for a period before is gone, and none replaces
    /// them: the period is not emptied without `--allow-empty`.
    #[error(
        "source `{source_name}`, period {period}: no files found, but {count} file(s) were loaded for it before ({files}); the period was left as it was"
    )]
    Vanished {
        source_name: String,
        period: String,
        count: usize,
        files: String,
    },
    /// Reading a database source failed (connection, query, data).
    #[error("source `{source_name}`: {error}")]
    Database {
        source_name: String,
        error: Box<super::database::Error>,
    },
    #[error(
        "source `{source_name}`: the database returned no key at all, so deletes by reconcile would remove all {rows} rows of the table; nothing was changed"
    )]
    NoKeys { source_name: String, rows: usize },
    #[error("source `{source_name}`: {reason}")]
    Other { source_name: String, reason: String },
}

impl Error {
    /// What the person at the terminal can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::SchemaDrift { .. } => Some(
                "update the source's `columns` (or fix the extract); `on_schema_change: ignore` loads the declared columns and reports the drift".into(),
            ),
            Error::TooManyBad { source_name, .. } => Some(format!(
                "fix the extract, or raise the limit in the source's YAML; see `touchpoint query \"SELECT * FROM _quarantine WHERE source = '{source_name}'\"` after a run without the limit"
            )),
            Error::Outside { .. } => Some(
                "extracts must be files inside the project (or objects in a bucket); remove the link or copy the file in".into(),
            ),
            Error::Vanished { .. } => Some(
                "restore the files (a moved folder, a lost mount?); if they were withdrawn on purpose, run again with `--allow-empty` to replace the period with no rows".into(),
            ),
            Error::Database { error, .. } => error.help(),
            Error::NoKeys { .. } => Some(
                "check the profile's grants and the table (no key at all is more often a wrong view or search path than an emptied table); if the table really is empty now, run with `--full-refresh`".into(),
            ),
            Error::Control { .. } => Some(
                "ask for the extract to be sent again (or correct its control record), then re-run".into(),
            ),
            _ => None,
        }
    }
}
