//! Holds one file's conformed batches until the whole file has been read,
//! so a file found corrupt half-way (a bad Parquet page) loads nothing.
//! Memory is bounded: past [`MEMORY_LIMIT`] the batches go to an Arrow IPC
//! temporary file, streamed back once the file is known good.

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
