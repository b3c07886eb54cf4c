//! `on_schema_change: evolve`: columns an extract has and the source does
//! not declare are added to the table (Delta schema evolution) as nullable
//! text, instead of failing the load. Earlier rows read them as null;
//! a declared column missing from a file loads as null; a retyped column
//! still fails (a type cannot be evolved safely).

use super::{Column, Error, ExtractFile, Source};
use crate::period;
use crate::spec::types::ColumnType;
use std::collections::BTreeSet;

/// The description of a column evolution added (how a load tells them
/// from declared ones).
pub const EVOLVED: &str = "added by schema evolution";

/// `src` with a text column for every undeclared column found in `files`
/// (and in `known`, the columns a previous evolution added to the table).
/// Call from a blocking thread.
pub fn widen(src: &Source, files: &[ExtractFile], known: &[String]) -> Result<Source, Error> {
    let declared: BTreeSet<&str> = src.columns.iter().map(|c| c.name.as_str()).collect();
    let mut extra: BTreeSet<String> = known
        .iter()
        .filter(|k| !declared.contains(k.as_str()) && k.as_str() != period::COLUMN)
        .cloned()
        .collect();
    let mut types: std::collections::HashMap<String, ColumnType> = Default::default();
    for f in files {
        for (name, ty) in file_columns(src, f)? {
            if !declared.contains(name.as_str()) && !name.is_empty() && name != period::COLUMN {
                if let Some(t) = ty {
                    types.entry(name.clone()).or_insert(t);
                }
                extra.insert(name);
            }
        }
    }
    let mut wide = src.clone();
    wide.columns.extend(extra.into_iter().map(|name| {
        let ty = types.get(&name).cloned().unwrap_or(ColumnType::String);
        Column {
            description: Some(EVOLVED.into()),
            ..Column::new(name, ty)
        }
    }));
    Ok(wide)
}

/// The columns a file carries: a CSV header, JSON keys, Parquet fields
/// (with their types).
fn file_columns(src: &Source, f: &ExtractFile) -> Result<Vec<(String, Option<ColumnType>)>, Error> {
    let copy = match f.local_copy(src) {
        Ok(c) => c,
        // A corrupt file is quarantined whole by the load itself.
        Err(Error::Corrupt { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    src.format
        .reader()
        .columns(src, &copy.path)
        .map_err(|reason| Error::Read {
            source_name: src.name.clone(),
            file: f.name.clone(),
            reason,
        })
}
