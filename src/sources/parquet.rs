//! Parquet extracts: already typed; declared columns are picked by name (and
//! cast by the conformer when the file's type differs).

use super::{BATCH_ROWS, Drift, Error, RawBatch};
use crate::pipeline::Source;
use crate::warehouse::log::Rejected;
use datafusion::arrow::array::new_null_array;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;
use std::sync::Arc;

type Emit<'a> = dyn FnMut(RawBatch, &mut Vec<Rejected>) -> Result<(), Error> + 'a;

pub fn read_parquet(
    src: &Source,
    path: &Path,
    name: &str,
    emit: &mut Emit,
    bad: &mut Vec<Rejected>,
    drift: &mut Drift,
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
