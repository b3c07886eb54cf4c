//! Holds one file's conformed batches until the whole file has been read,
//! so a file found corrupt half-way (a bad Parquet page) loads nothing.
//! Memory is bounded: past [`MEMORY_LIMIT`] the batches go to an Arrow IPC
//! temporary file, streamed back once the file is known good. Also the
//! plain scratch IPC file ([`SpillWriter`], [`Spilled`]) that a later step
//! of a load reads back with DataFusion (a history's changes, a database's
//! keys).

use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use std::path::PathBuf;

pub const MEMORY_LIMIT: usize = 64 << 20;

#[derive(Default)]
pub struct Staging {
    batches: Vec<RecordBatch>,
    bytes: usize,
    spill: Option<(PathBuf, FileWriter<std::io::BufWriter<std::fs::File>>)>,
}

impl Staging {
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), String> {
        if let Some((_, w)) = &mut self.spill {
            return w.write(&batch).map_err(|e| e.to_string());
        }
        self.bytes += batch.get_array_memory_size();
        self.batches.push(batch);
        if self.bytes > MEMORY_LIMIT {
            let (path, file) = super::scratch::create(".arrow").map_err(|e| e.to_string())?;
            let schema = self.batches[0].schema();
            let mut w = FileWriter::try_new(std::io::BufWriter::new(file), &schema)
                .map_err(|e| e.to_string())?;
            for b in self.batches.drain(..) {
                w.write(&b).map_err(|e| e.to_string())?;
            }
            self.bytes = 0;
            self.spill = Some((path, w));
        }
        Ok(())
    }

    /// Hand every staged batch to `send`, in order.
    pub fn drain(
        mut self,
        send: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        for b in std::mem::take(&mut self.batches) {
            send(b)?;
        }
        if let Some((path, mut w)) = self.spill.take() {
            let result = (|| -> Result<(), String> {
                w.finish().map_err(|e| e.to_string())?;
                drop(w);
                let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                let reader = FileReader::try_new(std::io::BufReader::new(f), None)
                    .map_err(|e| e.to_string())?;
                for b in reader {
                    send(b.map_err(|e| e.to_string())?)?;
                }
                Ok(())
            })();
            let _ = std::fs::remove_file(&path);
            result?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some((path, _)) = self.spill.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An Arrow IPC scratch file written batch by batch; removed when dropped
/// unless finished (then its [`Spilled`] owns it).
pub struct SpillWriter {
    path: PathBuf,
    writer: Option<FileWriter<std::io::BufWriter<std::fs::File>>>,
    rows: u64,
}

impl SpillWriter {
    pub fn new(schema: &datafusion::arrow::datatypes::SchemaRef) -> Result<Self, String> {
        let (path, file) = super::scratch::create(".arrow").map_err(|e| e.to_string())?;
        let writer =
            FileWriter::try_new(std::io::BufWriter::new(file), schema).map_err(|e| e.to_string());
        match writer {
            Ok(w) => Ok(SpillWriter {
                path,
                writer: Some(w),
                rows: 0,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.rows += batch.num_rows() as u64;
        match &mut self.writer {
            Some(w) => w.write(batch).map_err(|e| e.to_string()),
            None => Err("spill file already finished".into()),
        }
    }

    pub fn finish(mut self) -> Result<Spilled, String> {
        if let Some(mut w) = self.writer.take() {
            w.finish().map_err(|e| e.to_string())?;
        }
        Ok(Spilled {
            path: std::mem::take(&mut self.path),
            rows: self.rows,
        })
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A finished Arrow IPC scratch file, removed when dropped.
#[derive(Debug)]
pub struct Spilled {
    path: PathBuf,
    pub rows: u64,
}

impl Spilled {
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Spilled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use std::sync::Arc;

    #[test]
    fn spills_past_the_limit_and_keeps_order() {
        let mut s = Staging::default();
        let n = MEMORY_LIMIT / (8 * 1_000_000) + 3;
        for i in 0..n as i64 {
            let col: ArrayRef = Arc::new(Int64Array::from_iter_values(
                (0..1_000_000).map(move |x| x + i),
            ));
            s.push(RecordBatch::try_from_iter([("x", col)]).expect("batch"))
                .expect("push");
        }
        let spilled = s.spill.as_ref().map(|(p, _)| p.clone()).expect("spilled");
        let mut firsts = Vec::new();
        s.drain(&mut |b| {
            let a = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("i64");
            firsts.push(a.value(0));
            Ok(())
        })
        .expect("drain");
        assert_eq!(firsts, (0..n as i64).collect::<Vec<_>>());
        assert!(!spilled.exists(), "spill file left behind");
    }
}
