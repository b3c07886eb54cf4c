//! A load's rejected rows, kept in bounded memory: each row's `value` and
//! `record` are cut to [`CUT`] bytes (marked as cut), rows are packed into
//! Arrow batches of [`CHUNK`] rows, and past [`MEMORY`] bytes the batches
//! go to a private Arrow IPC scratch file, streamed back when the
//! quarantine is written. A file of large malformed lines costs a few KiB
//! per line, not the line.

use crate::warehouse::log::{QUARANTINE_SCHEMA, Rejected};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

/// The most of a value or a record kept, in bytes.
pub const CUT: usize = 4096;
/// Rows per batch.
const CHUNK: usize = 4096;
/// Batches held in memory before they spill to disk.
const MEMORY: usize = 16 << 20;

/// The rejected-row columns of `_quarantine` (without run, source, period).
static ROW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<_> = QUARANTINE_SCHEMA
        .fields()
        .iter()
        .filter(|f| !matches!(f.name().as_str(), "run_id" | "source" | "period"))
        .cloned()
        .collect();
    Arc::new(Schema::new(fields))
});

/// `s` cut to at most [`CUT`] bytes on a character boundary, saying how
/// much was cut. The result is a new, small allocation: truncating in place
/// would keep the whole value's capacity alive while the row waits to be
/// packed (800 rejected 1 MB lines held 840 MB).
pub fn cut(s: String) -> String {
    if s.len() <= CUT {
        return s;
    }
    let mut end = CUT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let tail = format!("… [cut: {} bytes in all]", s.len());
    let mut out = String::with_capacity(end + tail.len());
    out.push_str(&s[..end]);
    out.push_str(&tail);
    out
}

/// Where a conformer puts the rows it rejects: the load's [`Rejects`], or a
/// batch's own list when the caller names the rows before keeping them.
pub trait Reject {
    fn reject(&mut self, r: Rejected);
}

impl Reject for Vec<Rejected> {
    fn reject(&mut self, r: Rejected) {
        self.push(r);
    }
}

impl Reject for Rejects {
    fn reject(&mut self, r: Rejected) {
        self.push(r);
    }
}

#[derive(Default)]
pub struct Rejects {
    rows: Vec<Rejected>,
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// Once memory is full, every further batch goes to the open spill.
    spill: Option<(PathBuf, FileWriter<std::io::BufWriter<std::fs::File>>)>,
    /// Finished spill files (this one's, and those of files appended).
    spilled: Vec<PathBuf>,
    count: u64,
    /// A batch that could not be spilled: the load fails with it.
    error: Option<String>,
}

impl Rejects {
    /// Keep a rejected row (its value and record cut to [`CUT`] bytes).
    pub fn push(&mut self, mut r: Rejected) {
        r.value = r.value.map(cut);
        r.record = r.record.map(cut);
        self.rows.push(r);
        self.count += 1;
        if self.rows.len() >= CHUNK {
            self.pack();
        }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every row kept, read back one at a time (for summaries).
    pub fn for_each(&self, f: &mut dyn FnMut(Option<&str>, &str)) {
        for r in &self.rows {
            f(r.column.as_deref(), &r.reason);
        }
        let each = |b: &RecordBatch, f: &mut dyn FnMut(Option<&str>, &str)| {
            let s = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().cloned();
            if let (Some(col), Some(reason)) = (s(2), s(4)) {
                for row in 0..b.num_rows() {
                    let c = col.is_valid(row).then(|| col.value(row));
                    f(c, reason.value(row));
                }
            }
        };
        for b in &self.batches {
            each(b, f);
        }
        for b in self.spilled_batches().flatten() {
            each(&b, f);
        }
    }

    /// Move `other`'s rows here (a file's rejects, once the file is read).
    pub fn append(&mut self, mut other: Rejects) -> Result<(), String> {
        if let Some(e) = other.error.take().or_else(|| self.error.take()) {
            return Err(format!("spilling rejected rows: {e}"));
        }
        other.close()?;
        self.count += other.count;
        self.spilled.append(&mut other.spilled);
        for r in other.rows.drain(..) {
            self.rows.push(r);
            if self.rows.len() >= CHUNK {
                self.pack();
            }
        }
        for b in other.batches.drain(..) {
            self.keep(b)?;
        }
        Ok(())
    }

    /// Rows → one batch, held (or spilled).
    fn pack(&mut self) {
        let rows = std::mem::take(&mut self.rows);
        if let Err(e) = self.keep(row_batch(&rows)) {
            self.error.get_or_insert(e);
        }
    }

    fn keep(&mut self, b: RecordBatch) -> Result<(), String> {
        if let Some((_, w)) = &mut self.spill {
            return w.write(&b).map_err(|e| e.to_string());
        }
        self.bytes += b.get_array_memory_size();
        self.batches.push(b);
        if self.bytes > MEMORY {
            let (path, file) = super::scratch::create(".arrow").map_err(|e| e.to_string())?;
            let mut w = FileWriter::try_new(std::io::BufWriter::new(file), &ROW_SCHEMA)
                .map_err(|e| e.to_string())?;
            for b in self.batches.drain(..) {
                w.write(&b).map_err(|e| e.to_string())?;
            }
            self.bytes = 0;
            self.spill = Some((path, w));
        }
        Ok(())
    }

    /// Finish the open spill file, if any.
    fn close(&mut self) -> Result<(), String> {
        if let Some((path, mut w)) = self.spill.take() {
            w.finish().map_err(|e| e.to_string())?;
            self.spilled.push(path);
        }
        Ok(())
    }

    fn spilled_batches(&self) -> impl Iterator<Item = Result<RecordBatch, String>> + '_ {
        self.spilled.iter().cloned().flat_map(read_spill)
    }

    /// Bytes held in memory (what holding this quarantine costs).
    pub fn memory(&self) -> usize {
        self.bytes + self.rows.len() * std::mem::size_of::<Rejected>()
    }

    /// The rows as `_quarantine` batches of one source and period; spill
    /// files are read back as the batches are consumed and removed after.
    pub fn into_quarantine(
        mut self,
        run_id: &str,
        source: &str,
        period: &str,
    ) -> Box<dyn Iterator<Item = Result<RecordBatch, String>> + Send> {
        if let Some(e) = self.error.take() {
            return Box::new(std::iter::once(Err(format!("spilling rejected rows: {e}"))));
        }
        if let Err(e) = self.close() {
            return Box::new(std::iter::once(Err(e)));
        }
        let tail = (!self.rows.is_empty()).then(|| row_batch(&self.rows));
        let (run_id, source, period) = (run_id.to_string(), source.to_string(), period.to_string());
        let spilled = std::mem::take(&mut self.spilled);
        let cleanup = Cleanup(spilled.clone());
        let batches = std::mem::take(&mut self.batches)
            .into_iter()
            .chain(tail)
            .map(Ok)
            .chain(spilled.into_iter().flat_map(read_spill))
            .map(move |b| {
                let _ = &cleanup;
                b.and_then(|b| with_run(&b, &run_id, &source, &period))
            });
        Box::new(batches)
    }
}

impl Drop for Rejects {
    fn drop(&mut self) {
        if let Some((path, _)) = self.spill.take() {
            let _ = std::fs::remove_file(path);
        }
        for p in &self.spilled {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Removes spill files once the quarantine iterator is dropped.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn read_spill(path: PathBuf) -> Box<dyn Iterator<Item = Result<RecordBatch, String>> + Send> {
    let reader = std::fs::File::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            FileReader::try_new(std::io::BufReader::new(f), None).map_err(|e| e.to_string())
        });
    match reader {
        Ok(r) => Box::new(r.map(|b| b.map_err(|e| e.to_string()))),
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

fn row_batch(rows: &[Rejected]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.file.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.line))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.column.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.value.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.reason.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.record.as_deref()),
        )),
    ];
    RecordBatch::try_new(ROW_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("rejected rows schema: {e}"))
}

/// A batch of rejected rows with the run, source and period columns.
fn with_run(
    b: &RecordBatch,
    run_id: &str,
    source: &str,
    period: &str,
) -> Result<RecordBatch, String> {
    let n = b.num_rows();
    let rep = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    let mut cols = vec![rep(run_id)];
    cols.extend(b.columns().iter().cloned());
    cols.push(rep(source));
    cols.push(rep(period));
    RecordBatch::try_new(QUARANTINE_SCHEMA.clone(), cols).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_and_rows_spill() {
        let long = "é".repeat(CUT);
        let c = cut(long.clone());
        assert!(c.len() < CUT + 64, "{}", c.len());
        let huge = cut("x".repeat(1 << 20));
        assert!(huge.capacity() < CUT + 64, "{}", huge.capacity());
        assert!(c.ends_with(&format!("[cut: {} bytes in all]", long.len())));
        assert_eq!(cut("short".into()), "short");
        let mut all = Rejects::default();
        let mut file = Rejects::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            file.push(Rejected {
                file: "f".into(),
                line: i as i64,
                reason: "bad".into(),
                record: Some("x".repeat(CUT + 100)),
                ..Default::default()
            });
        }
        all.append(file).expect("append");
        assert_eq!(all.len(), n as u64);
        let mut seen = 0;
        all.for_each(&mut |_, r| {
            assert_eq!(r, "bad");
            seen += 1;
        });
        assert_eq!(seen, n);
        let rows: usize = all
            .into_quarantine("r", "s", "p")
            .map(|b| b.expect("batch").num_rows())
            .sum();
        assert_eq!(rows, n);
    }
}
