//! Parquet extracts (`parquet: {}`): already typed; declared columns are
//! picked by name (and cast by the conformer when the file's type differs).

use super::{Reader, Sink};
use crate::sources::discover::{Proposal, read_err};
use crate::sources::{BATCH_ROWS, Drift, Error, RawBatch, Source};
use crate::spec::types::ColumnType;
use datafusion::arrow::array::new_null_array;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// Parquet: typed already; declared columns are cast and checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSpec {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parquet;

impl Reader for Parquet {
    fn read(
        &self,
        src: &Source,
        path: &Path,
        name: &str,
        sink: Sink<'_, '_>,
    ) -> Result<u64, Error> {
        read_parquet(src, path, name, sink)
    }

    fn columns(
        &self,
        _src: &Source,
        path: &Path,
    ) -> Result<Vec<(String, Option<ColumnType>)>, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        // A corrupt file is quarantined whole by the load itself.
        Ok(match ParquetRecordBatchReaderBuilder::try_new(file) {
            Ok(b) => b
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), declared_type(f.data_type())))
                .collect(),
            Err(_) => Vec::new(),
        })
    }

    /// A Parquet file can turn out corrupt after its first pages.
    fn staged(&self) -> bool {
        true
    }

    fn names_columns(&self) -> bool {
        true
    }

    fn is_text(&self) -> bool {
        false
    }
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

fn read_parquet(
    src: &Source,
    path: &Path,
    name: &str,
    Sink {
        emit, bad, drift, ..
    }: Sink<'_, '_>,
) -> Result<u64, Error> {
    let fname: Arc<str> = name.into();
    // Opening is the environment's problem (fail the load); decoding is
    // the file's (quarantine it whole).
    let file = std::fs::File::open(path).map_err(|e| Error::Read {
        source_name: src.name.clone(),
        file: fname.to_string(),
        reason: e.to_string(),
    })?;
    let rerr = |reason: String| Error::Corrupt {
        source_name: src.name.clone(),
        file: fname.to_string(),
        reason,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| rerr(e.to_string()))?;
    let schema = builder.schema().clone();
    // Declared columns by name; a missing one (drift ignored) reads as null.
    let mut idx = Vec::new();
    let mut change = Drift::default();
    for c in &src.columns {
        match schema.index_of(&c.name) {
            Ok(i) => {
                let found = schema.field(i).data_type();
                if !compatible(found, &c.ty.arrow()) {
                    change
                        .retyped
                        .insert(format!("{} (file {found}, declared {})", c.name, c.ty));
                }
                idx.push(Some(i));
            }
            Err(_) => {
                change.missing.insert(c.name.clone());
                idx.push(None);
            }
        }
    }
    change.new = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !src.columns.iter().any(|c| &c.name == n))
        .collect();
    change.check(src, &fname, drift)?;
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| rerr(e.to_string()))?;
    let mut row = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| rerr(e.to_string()))?;
        let n = batch.num_rows() as i64;
        let columns = idx
            .iter()
            .zip(&src.columns)
            .map(|(i, c)| match i {
                Some(i) => batch.column(*i).clone(),
                None => new_null_array(&c.ty.arrow(), batch.num_rows()),
            })
            .collect();
        emit(
            RawBatch {
                file: fname.clone(),
                lines: (row + 1..=row + n).collect(),
                columns,
            },
            bad,
        )?;
        row += n;
    }
    Ok(0)
}

/// Whether a file's type holds the declared one without loss: the same
/// type, a narrower integer or float, a decimal of the same scale and no
/// more precision, any string or timestamp encoding.
fn compatible(found: &DataType, declared: &DataType) -> bool {
    use DataType::*;
    if found == declared {
        return true;
    }
    match (found, declared) {
        (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32, Int64) => true,
        (Float16 | Float32, Float64) => true,
        (Decimal128(p, s), Decimal128(dp, ds)) => s == ds && p <= dp,
        (Utf8 | LargeUtf8 | Utf8View, Utf8) => true,
        (Timestamp(_, _), Timestamp(_, _)) => true,
        (Date32 | Date64, Date32) => true,
        _ => false,
    }
}

/// Parquet carries its types: map them; nullable columns are optional.
pub(crate) fn sniff(path: &Path) -> Result<Proposal, crate::sources::discover::Error> {
    use datafusion::arrow::datatypes::DataType;
    let f = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    let builder =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| read_err(path, e))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let columns = builder
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let ty = match field.data_type() {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    "int".into()
                }
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "int".into(),
                DataType::Float32 | DataType::Float64 => "double".into(),
                DataType::Boolean => "bool".into(),
                DataType::Date32 | DataType::Date64 => "date".into(),
                DataType::Timestamp(_, _) => "timestamp".into(),
                DataType::Decimal128(p, s) => format!("\"decimal({p},{s})\""),
                _ => "string".into(),
            };
            let mut yaml = format!("type: {ty}");
            if !field.is_nullable() {
                yaml.push_str(", required: true");
            }
            let lower = field.name().to_ascii_lowercase();
            if crate::sources::discover::PERSONAL
                .iter()
                .any(|p| lower.contains(p))
            {
                yaml.push_str(", personal: mask");
            }
            (field.name().clone(), format!("{{{yaml}}}"))
        })
        .collect();
    Ok(("parquet: {}".into(), columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_not_drift() {
        assert!(compatible(&DataType::Int32, &DataType::Int64));
        assert!(compatible(
            &DataType::Decimal128(10, 2),
            &DataType::Decimal128(18, 2)
        ));
        assert!(!compatible(
            &DataType::Decimal128(18, 4),
            &DataType::Decimal128(18, 2)
        ));
        assert!(!compatible(&DataType::Utf8, &DataType::Int64));
        assert!(!compatible(&DataType::Float64, &DataType::Int64));
    }
}
