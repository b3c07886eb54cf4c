//! What the text readers share: column builders that flush a batch every
//! [`BATCH_ROWS`] rows, line reading, and opening a file.

use super::Emit;
use crate::sources::rejects::Rejects;
use crate::sources::{BATCH_ROWS, Error, RawBatch, Source};
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

/// Text held in one raw batch before it is flushed, whatever its rows.
const BATCH_BYTES: usize = 16 << 20;

pub(super) struct Builders {
    file: Arc<str>,
    pub lines: Vec<i64>,
    pub cols: Vec<StringBuilder>,
}

impl Builders {
    pub fn new(file: Arc<str>, n: usize) -> Self {
        Builders {
            file,
            lines: Vec::with_capacity(BATCH_ROWS),
            cols: (0..n).map(|_| StringBuilder::new()).collect(),
        }
    }

    fn take(&mut self) -> RawBatch {
        let columns: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        RawBatch {
            file: self.file.clone(),
            lines: std::mem::take(&mut self.lines),
            columns,
        }
    }

    pub fn flush_if_full(&mut self, emit: &mut Emit, bad: &mut Rejects) -> Result<(), Error> {
        // Rows, or bytes: a batch of very long lines is flushed early.
        let bytes: usize = self.cols.iter().map(|c| c.values_slice().len()).sum();
        if self.lines.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            emit(self.take(), bad)?;
        }
        Ok(())
    }

    pub fn finish(&mut self, emit: &mut Emit, bad: &mut Rejects) -> Result<(), Error> {
        if !self.lines.is_empty() {
            emit(self.take(), bad)?;
        }
        Ok(())
    }
}

/// Read the next line (with its newline) into `buf`; `false` at the end.
pub(super) fn next_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    src: &Source,
    fname: &str,
) -> Result<bool, Error> {
    buf.clear();
    let n = reader.read_until(b'\n', buf).map_err(|e| Error::Read {
        source_name: src.name.clone(),
        file: fname.to_string(),
        reason: e.to_string(),
    })?;
    Ok(n > 0)
}

/// Why a field is not text: bytes that are not UTF-8, or not the source's
/// declared encoding (transcoding marks those).
pub(super) fn not_text(src: &Source) -> String {
    match src.encoding {
        Some(e) => format!("not valid {} text", e.name()),
        None => "not valid UTF-8 text (declare the source's `encoding:`)".into(),
    }
}

pub(super) fn open(src: &Source, path: &Path, name: &str) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|e| Error::Read {
        source_name: src.name.clone(),
        file: name.to_string(),
        reason: e.to_string(),
    })
}
