//! `on_schema_change: evolve`: columns an extract has and the source does
//! not declare are added to the table (Delta schema evolution) as nullable
//! text, instead of failing the load. Earlier rows read them as null;
//! a declared column missing from a file loads as null; a retyped column
//! still fails (a type cannot be evolved safely).

use super::{Error, ExtractFile};
use crate::pipeline::{Column, Format, Source};
use crate::spec::types::ColumnType;
use datafusion::arrow::datatypes::DataType;
use std::collections::BTreeSet;
use std::io::BufRead;

/// The description of a column evolution added (how a load tells them
/// from declared ones).
pub const EVOLVED: &str = "added by schema evolution";

/// How many lines of a JSON-lines file are looked at for new keys.
const JSON_SAMPLE_LINES: usize = 10_000;

/// `src` with a text column for every undeclared column found in `files`
/// (and in `known`, the columns a previous evolution added to the table).
/// Call from a blocking thread.
pub fn widen(src: &Source, files: &[ExtractFile], known: &[String]) -> Result<Source, Error> {
    let declared: BTreeSet<&str> = src.columns.iter().map(|c| c.name.as_str()).collect();
    let mut extra: BTreeSet<String> = known
        .iter()
        .filter(|k| !declared.contains(k.as_str()) && k.as_str() != "period")
        .cloned()
        .collect();
    let mut types: std::collections::HashMap<String, ColumnType> = Default::default();
    for f in files {
        for (name, ty) in file_columns(src, f)? {
            if !declared.contains(name.as_str()) && !name.is_empty() && name != "period" {
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

/// A Parquet column's type as a declared type (text when there is none).
fn declared_type(t: &DataType) -> Option<ColumnType> {
    Some(match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => ColumnType::Int,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => ColumnType::Int,
        DataType::Float32 | DataType::Float64 => ColumnType::Double,
        DataType::Boolean => ColumnType::Bool,
        DataType::Date32 => ColumnType::Date,
        DataType::Timestamp(..) => ColumnType::Timestamp,
        DataType::Decimal128(p, s) => ColumnType::Decimal {
            precision: *p,
            scale: *s,
        },
        _ => return None,
    })
}

/// The columns a file carries: a CSV header, JSON keys, Parquet fields
/// (with their types).
fn file_columns(src: &Source, f: &ExtractFile) -> Result<Vec<(String, Option<ColumnType>)>, Error> {
    let read = |reason: String| Error::Read {
        source_name: src.name.clone(),
        file: f.name.clone(),
        reason,
    };
    let copy = match f.local_copy(src) {
        Ok(c) => c,
        // A corrupt file is quarantined whole by the load itself.
        Err(Error::Corrupt { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let file = std::fs::File::open(&copy.path).map_err(|e| read(e.to_string()))?;
    match &src.format {
        Format::Csv {
            delimiter,
            header: true,
            quote,
        } => {
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(*delimiter)
                .quote(*quote)
                .has_headers(false)
                .flexible(true)
                .from_reader(file);
            let mut rec = csv::StringRecord::new();
            match rdr.read_record(&mut rec) {
                Ok(true) => Ok(rec.iter().map(|s| (s.trim().to_string(), None)).collect()),
                Ok(false) => Ok(Vec::new()),
                Err(e) => Err(read(e.to_string())),
            }
        }
        Format::Jsonl => {
            let mut keys = BTreeSet::new();
            for line in std::io::BufReader::new(file)
                .lines()
                .take(JSON_SAMPLE_LINES)
                .map_while(Result::ok)
            {
                if let Ok(obj) =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line)
                {
                    keys.extend(obj.keys().cloned());
                }
            }
            Ok(keys.into_iter().map(|k| (k, None)).collect())
        }
        Format::Parquet => {
            match datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                file,
            ) {
                Ok(b) => Ok(b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), declared_type(f.data_type())))
                    .collect()),
                Err(_) => Ok(Vec::new()),
            }
        }
        // No header to learn names from (refused at validation).
        _ => Ok(Vec::new()),
    }
}
