//! Parquet extracts: already typed; declared columns are picked by name (and
//! cast by the conformer when the file's type differs).

use super::{BATCH_ROWS, Error, RawBatch};
use crate::pipeline::Source;
use crate::warehouse::log::Rejected;
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
    let mut idx = Vec::new();
    let mut missing = Vec::new();
    for c in &src.columns {
        match schema.index_of(&c.name) {
            Ok(i) => idx.push(i),
            Err(_) => missing.push(c.name.clone()),
        }
    }
    if !missing.is_empty() {
        let found = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::MissingColumns {
            source_name: src.name.clone(),
            file: fname.to_string(),
            missing,
            found,
        });
    }
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| rerr(e.to_string()))?;
    let mut row = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| rerr(e.to_string()))?;
        let n = batch.num_rows() as i64;
        let columns = idx.iter().map(|&i| batch.column(i).clone()).collect();
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
