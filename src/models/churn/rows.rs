//! The churn step's training and test rows, sorted and kept in private
//! scratch files, so that a big bank's millions of labelled rows do not
//! have to fit in memory: rows are sorted in runs of [`RUN_ROWS`], each run
//! written to a scratch file, and the runs merged into one file per side,
//! which the fit reads once per pass.
//!
//! The order is every feature ascending (a missing value, NaN, last), then
//! the label: the fit's floating-point sums then run in the same order on
//! every run, whatever order the scan produced the rows in, so an
//! incremental build scores exactly as a full one. (DataFusion's sort was
//! tried first: at 1M customers × 12 months its merge ran out of the pool.)

use super::fingerprint::{self, Fingerprints};
use super::{Side, Sides};
use crate::models::analytics::logistic::{Rows, RowsError};
use crate::models::{Error, Result};
use crate::sources::staging::{SpillWriter, Spilled};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use std::cmp::Ordering;
use std::sync::Arc;

/// Rows sorted in memory at a time, per side: 256 Ki rows of 10 features
/// and a label are 22 MiB.
const RUN_ROWS: usize = 256 * 1024;

/// Rows per batch of a scratch file.
const BATCH_ROWS: usize = 8192;

/// The labelled rows on each side of the split, features and label only.
pub(super) struct Labelled {
    pub train: Spilled,
    pub test: Spilled,
    /// Each training and test month's rows (see [`fingerprint`]).
    pub months: Fingerprints,
}

/// Sort the labelled rows of `input` (columns `__unit`, `__label`,
/// `__f0 ..`, in that order) and write each side's to its own scratch file.
pub(super) async fn spill(
    input: SendableRecordBatchStream,
    sides: &Sides,
    features: usize,
) -> Result<Labelled> {
    spill_in_runs(input, sides, features, RUN_ROWS).await
}

async fn spill_in_runs(
    mut input: SendableRecordBatchStream,
    sides: &Sides,
    features: usize,
    run_rows: usize,
) -> Result<Labelled> {
    let mut train = Sorter::new(features);
    let mut test = Sorter::new(features);
    let mut months = Fingerprints::new();
    let mut row = vec![0.0; features + 1];
    while let Some(b) = input.next().await {
        let b = b?;
        let units = b.column(0).as_string::<i32>();
        let labels = b.column(1).as_primitive::<Float64Type>();
        let feats: Vec<&Float64Array> = (0..features)
            .map(|j| b.column(2 + j).as_primitive::<Float64Type>())
            .collect();
        for r in 0..b.num_rows() {
            if labels.is_null(r) || units.is_null(r) {
                continue;
            }
            let to = match sides.side(units.value(r)) {
                Side::Train => &mut train,
                Side::Test => &mut test,
                Side::Neither => continue,
            };
            fingerprint::read_row(&feats, labels, r, &mut row);
            to.rows.extend_from_slice(&row);
            fingerprint::add(&mut months, units.value(r), &row);
            if to.rows.len() >= run_rows * (features + 1) {
                to.spill_run()?;
            }
        }
    }
    Ok(Labelled {
        train: train.finish()?,
        test: test.finish()?,
        months,
    })
}

fn scratch(e: impl std::fmt::Display) -> Error {
    Error::step(
        format!("churn rows: {e}"),
        "check free space in the temporary folder",
    )
}

/// Features and label of one row (the label as 0 or 1, last), in order.
fn compare(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(p, q)| p.total_cmp(q))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// One side's rows: the run being filled, and the runs written.
struct Sorter {
    features: usize,
    /// Row-major: each row's features, then its label.
    rows: Vec<f64>,
    runs: Vec<Spilled>,
    schema: SchemaRef,
}

impl Sorter {
    fn new(features: usize) -> Sorter {
        let mut fields: Vec<Field> = (0..features)
            .map(|j| Field::new(format!("f{j}"), DataType::Float64, false))
            .collect();
        fields.push(Field::new("y", DataType::Boolean, false));
        Sorter {
            features,
            rows: Vec::new(),
            runs: Vec::new(),
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn width(&self) -> usize {
        self.features + 1
    }

    /// Sort the rows held and write them as a run.
    fn spill_run(&mut self) -> Result<()> {
        let w = self.width();
        let n = self.rows.len() / w;
        let mut order: Vec<usize> = (0..n).collect();
        let rows = std::mem::take(&mut self.rows);
        order.sort_unstable_by(|&i, &j| {
            compare(&rows[i * w..(i + 1) * w], &rows[j * w..(j + 1) * w])
        });
        let mut out = Output::new(self.schema.clone(), self.features)?;
        for i in order {
            out.push(&rows[i * w..(i + 1) * w])?;
        }
        self.runs.push(out.finish()?);
        Ok(())
    }

    /// The side's rows in one sorted file: the runs merged.
    fn finish(mut self) -> Result<Spilled> {
        if !self.rows.is_empty() || self.runs.is_empty() {
            self.spill_run()?;
        }
        if self.runs.len() == 1 {
            return Ok(self.runs.remove(0));
        }
        let mut cursors = self
            .runs
            .iter()
            .map(|r| Cursor::open(r, self.features))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Output::new(self.schema.clone(), self.features)?;
        loop {
            // A few dozen runs at most: the smallest head by a scan.
            let mut best: Option<usize> = None;
            for (c, cursor) in cursors.iter().enumerate() {
                if let Some(row) = cursor.row()
                    && best
                        .and_then(|b| cursors[b].row())
                        .is_none_or(|b| compare(row, b).is_lt())
                {
                    best = Some(c);
                }
            }
            let Some(b) = best else { break };
            if let Some(row) = cursors[b].row() {
                out.push(row)?;
            }
            cursors[b].advance()?;
        }
        out.finish()
    }
}

/// A sorted file being written in batches.
struct Output {
    writer: SpillWriter,
    schema: SchemaRef,
    columns: Vec<Vec<f64>>,
    labels: Vec<bool>,
}

impl Output {
    fn new(schema: SchemaRef, features: usize) -> Result<Output> {
        Ok(Output {
            writer: SpillWriter::new(&schema).map_err(scratch)?,
            schema,
            columns: vec![Vec::with_capacity(BATCH_ROWS); features],
            labels: Vec::with_capacity(BATCH_ROWS),
        })
    }

    fn push(&mut self, row: &[f64]) -> Result<()> {
        for (c, v) in self.columns.iter_mut().zip(row) {
            c.push(*v);
        }
        self.labels.push(row[self.columns.len()] > 0.5);
        if self.labels.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.labels.is_empty() {
            return Ok(());
        }
        let mut cols: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(Float64Array::from(std::mem::take(c))) as ArrayRef)
            .collect();
        cols.push(Arc::new(BooleanArray::from(std::mem::take(
            &mut self.labels,
        ))));
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(scratch)?;
        self.writer.write(&batch).map_err(scratch)
    }

    fn finish(mut self) -> Result<Spilled> {
        self.flush()?;
        self.writer.finish().map_err(scratch)
    }
}

/// The next row of a sorted run being merged.
struct Cursor {
    reader: FileReader<std::io::BufReader<std::fs::File>>,
    features: usize,
    /// The batch read and the row in it.
    batch: Option<(RecordBatch, usize)>,
    /// That row: features, then the label as 0 or 1.
    head: Vec<f64>,
}

impl Cursor {
    fn open(run: &Spilled, features: usize) -> Result<Cursor> {
        let f = std::fs::File::open(run.path()).map_err(scratch)?;
        let reader = FileReader::try_new(std::io::BufReader::new(f), None).map_err(scratch)?;
        let mut c = Cursor {
            reader,
            features,
            batch: None,
            head: vec![0.0; features + 1],
        };
        c.next_batch()?;
        Ok(c)
    }

    fn row(&self) -> Option<&[f64]> {
        self.batch.as_ref().map(|_| self.head.as_slice())
    }

    fn next_batch(&mut self) -> Result<()> {
        self.batch = None;
        for b in self.reader.by_ref() {
            let b = b.map_err(scratch)?;
            if b.num_rows() > 0 {
                self.batch = Some((b, 0));
                break;
            }
        }
        self.load();
        Ok(())
    }

    fn load(&mut self) {
        if let Some((b, i)) = &self.batch {
            for (j, v) in self.head.iter_mut().take(self.features).enumerate() {
                *v = b.column(j).as_primitive::<Float64Type>().value(*i);
            }
            self.head[self.features] =
                f64::from(u8::from(b.column(self.features).as_boolean().value(*i)));
        }
    }

    fn advance(&mut self) -> Result<()> {
        let more = match &mut self.batch {
            Some((b, i)) => {
                *i += 1;
                *i < b.num_rows()
            }
            None => return Ok(()),
        };
        if more {
            self.load();
            Ok(())
        } else {
            self.next_batch()
        }
    }
}

/// Rows of a side's scratch file: features (a missing one as NaN, or the
/// training mean when `impute` is given), optionally only the columns
/// `pick` names, and the label.
pub(super) struct SpilledRows<'a> {
    pub file: &'a Spilled,
    pub features: usize,
    pub impute: Option<&'a [f64]>,
    pub pick: Option<&'a [usize]>,
}

impl Rows for SpilledRows<'_> {
    fn pass(&self, each: &mut dyn FnMut(&[f64], bool)) -> std::result::Result<(), RowsError> {
        let err = |e: &dyn std::fmt::Display| RowsError(e.to_string());
        let f = std::fs::File::open(self.file.path()).map_err(|e| err(&e))?;
        let reader = FileReader::try_new(std::io::BufReader::new(f), None).map_err(|e| err(&e))?;
        let mut row = vec![0.0; self.features];
        let mut picked = vec![0.0; self.pick.map_or(0, <[usize]>::len)];
        for b in reader {
            let b = b.map_err(|e| err(&e))?;
            let feats: Vec<_> = (0..self.features)
                .map(|j| b.column(j).as_primitive::<Float64Type>())
                .collect();
            let labels = b.column(self.features).as_boolean();
            for r in 0..b.num_rows() {
                for (j, a) in feats.iter().enumerate() {
                    let v = a.value(r);
                    row[j] = match self.impute {
                        Some(means) if v.is_nan() => means[j],
                        _ => v,
                    };
                }
                let y = labels.value(r);
                match self.pick {
                    Some(cols) => {
                        for (p, &j) in picked.iter_mut().zip(cols) {
                            *p = row[j];
                        }
                        each(&picked, y);
                    }
                    None => each(&row, y),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Period;
    use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use datafusion::prelude::{DataFrame, SessionContext};
    use std::collections::BTreeSet;

    /// (unit, label, f0, f1)
    type Row = (Option<&'static str>, Option<f64>, Option<f64>, Option<f64>);

    /// The step's query shape: unit, label and two features, in `order`.
    async fn input(order: &[usize]) -> DataFrame {
        let rows: [Row; 8] = [
            (Some("2024-01"), Some(1.0), Some(2.0), None),
            (Some("2024-01"), Some(0.0), Some(2.0), Some(5.0)),
            (Some("2024-01"), Some(0.0), Some(-1.0), Some(f64::NAN)),
            (Some("2024-01"), Some(1.0), Some(2.0), Some(5.0)),
            (Some("2024-02"), Some(0.0), Some(9.0), Some(1.0)),
            (Some("2024-02"), None, Some(0.0), Some(0.0)),
            (None, Some(1.0), Some(0.0), Some(0.0)),
            (Some("2024-09"), Some(1.0), Some(3.0), Some(3.0)),
        ];
        let pick = |f: &dyn Fn(&Row) -> Option<f64>| {
            Arc::new(Float64Array::from(
                order.iter().map(|&i| f(&rows[i])).collect::<Vec<_>>(),
            )) as ArrayRef
        };
        let units: ArrayRef = Arc::new(StringArray::from(
            order.iter().map(|&i| rows[i].0).collect::<Vec<_>>(),
        ));
        let b = RecordBatch::try_from_iter([
            ("__unit", units),
            ("__label", pick(&|r| r.1)),
            ("__f0", pick(&|r| r.2)),
            ("__f1", pick(&|r| r.3)),
        ])
        .expect("batch");
        SessionContext::new().read_batch(b).expect("read")
    }

    async fn stream(order: &[usize]) -> SendableRecordBatchStream {
        input(order).await.execute_stream().await.expect("stream")
    }

    fn read(file: &Spilled) -> Vec<(Vec<f64>, bool)> {
        let mut out = Vec::new();
        SpilledRows {
            file,
            features: 2,
            impute: None,
            pick: None,
        }
        .pass(&mut |r, y| out.push((r.to_vec(), y)))
        .expect("pass");
        out
    }

    #[tokio::test]
    async fn sides_are_sorted_by_every_feature_then_the_label_whatever_the_scan_order() {
        let p = |s: &str| s.parse::<Period>().expect("period");
        let sides = Sides::Time {
            train: BTreeSet::from([p("2024-01")]),
            test: BTreeSet::from([p("2024-02")]),
        };
        let mut firsts = Vec::new();
        let orders = [
            [0, 1, 2, 3, 4, 5, 6, 7],
            [7, 6, 5, 4, 3, 2, 1, 0],
            [3, 5, 1, 7, 0, 2, 6, 4],
        ];
        // One run; and runs of 1 and of 3 rows, merged.
        for (order, run_rows) in orders.iter().flat_map(|o| [(o, RUN_ROWS), (o, 1), (o, 3)]) {
            let l = spill_in_runs(stream(order).await, &sides, 2, run_rows)
                .await
                .expect("spill");
            let train = read(&l.train);
            // -1 first; among the 2s the missing f1 (null) last and, where the
            // features tie, the label 0 before 1; a NaN counts as missing.
            let shown: Vec<String> = train.iter().map(|(r, y)| format!("{:?} {y}", r)).collect();
            assert_eq!(
                shown,
                [
                    "[-1.0, NaN] false",
                    "[2.0, 5.0] false",
                    "[2.0, 5.0] true",
                    "[2.0, NaN] true"
                ],
                "order {order:?}, runs of {run_rows}"
            );
            // The test side: 2024-02's one labelled row. An unlabelled row, a row
            // without a unit and a period on neither side are in no file.
            assert_eq!(read(&l.test).len(), 1);
            assert_eq!((l.train.rows, l.test.rows), (4, 1));
            firsts.push(shown);
        }
        assert!(firsts.windows(2).all(|w| w[0] == w[1]));
    }

    #[tokio::test]
    async fn imputed_and_picked_rows_read_back() {
        let sides = Sides::Time {
            train: BTreeSet::from(["2024-01".parse::<Period>().expect("period")]),
            test: BTreeSet::new(),
        };
        let l = spill(stream(&[0, 1, 2, 3]).await, &sides, 2)
            .await
            .expect("spill");
        let means = [7.0, 8.0];
        let mut out = Vec::new();
        SpilledRows {
            file: &l.train,
            features: 2,
            impute: Some(&means),
            pick: Some(&[1]),
        }
        .pass(&mut |r, _| out.push(r.to_vec()))
        .expect("pass");
        assert_eq!(out, [vec![8.0], vec![5.0], vec![5.0], vec![8.0]]);
    }
}
