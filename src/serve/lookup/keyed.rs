//! One table as a reader's session sees it, held in memory with its rows
//! ordered by one key column, so the rows of a key are one range, found by
//! binary search instead of a scan, and read as slices.

use super::shape::Template;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, make_comparator};
use datafusion::arrow::compute::{SortColumn, SortOptions, cast, concat, lexsort_to_indices, take};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use std::cmp::Ordering;

pub struct Keyed {
    /// The rows, ordered by key (nulls last).
    batches: Vec<RecordBatch>,
    /// The key column of every row, batches one after another.
    key: ArrayRef,
    /// The first row of each batch in `key`'s numbering.
    starts: Vec<usize>,
    bytes: usize,
}

impl Keyed {
    /// `batches`, already ordered by their column `key` (nulls last), and
    /// checked to be: a key's rows are one range, found by binary search.
    pub fn new(batches: Vec<RecordBatch>, key: usize) -> Result<Keyed, ArrowError> {
        let keys: Vec<&dyn Array> = batches.iter().map(|b| b.column(key).as_ref()).collect();
        if keys.is_empty() {
            return Err(ArrowError::InvalidArgumentError("no rows".into()));
        }
        let key = concat(&keys)?;
        let cmp = make_comparator(key.as_ref(), key.as_ref(), SortOptions::new(false, false))?;
        if (1..key.len()).any(|i| cmp(i - 1, i) == Ordering::Greater) {
            return Err(ArrowError::InvalidArgumentError(
                "not ordered by key".into(),
            ));
        }
        let mut starts = Vec::with_capacity(batches.len());
        let mut n = 0;
        for b in &batches {
            starts.push(n);
            n += b.num_rows();
        }
        let bytes = batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum::<usize>()
            + key.get_array_memory_size()
            + starts.len() * 8;
        Ok(Keyed {
            batches,
            key,
            starts,
            bytes,
        })
    }

    /// Memory held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn key_type(&self) -> &DataType {
        self.key.data_type()
    }

    /// The rows whose key equals `value` (of the key's type): `lo..hi`.
    fn rows(&self, value: &ScalarValue) -> Result<std::ops::Range<usize>, ArrowError> {
        let needle = value
            .to_array_of_size(1)
            .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
        let cmp = make_comparator(
            self.key.as_ref(),
            needle.as_ref(),
            SortOptions::new(false, false),
        )?;
        let first = |pred: &dyn Fn(usize) -> bool| {
            // The first row in 0..len where `pred` holds (it holds from there on).
            let (mut lo, mut hi) = (0, self.key.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(mid) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        };
        let lo = first(&|i| cmp(i, 0) != Ordering::Less);
        let hi = first(&|i| cmp(i, 0) == Ordering::Greater);
        // Nulls sort last and compare greater: never inside the range.
        Ok(lo..hi.max(lo))
    }

    /// Column `c` of the rows `r` (slices; copied only across batches).
    fn column(&self, c: usize, r: &std::ops::Range<usize>) -> Result<ArrayRef, ArrowError> {
        let mut parts = Vec::new();
        for (b, batch) in self.batches.iter().enumerate() {
            let (s, e) = (self.starts[b], self.starts[b] + batch.num_rows());
            if e <= r.start || s >= r.end {
                continue;
            }
            let (from, to) = (r.start.max(s) - s, r.end.min(e) - s);
            parts.push(batch.column(c).slice(from, to - from));
        }
        match parts.as_slice() {
            [] => Ok(self.batches[0].column(c).slice(0, 0)),
            [one] => Ok(one.clone()),
            many => concat(&many.iter().map(|a| a.as_ref()).collect::<Vec<_>>()),
        }
    }

    /// The answer of `t` for the key `value`.
    pub fn answer(&self, t: &Template, value: &ScalarValue) -> Result<RecordBatch, ArrowError> {
        let rows = self.rows(value)?;
        let n = rows.len();
        let mut columns: Vec<ArrayRef> = t
            .columns
            .iter()
            .map(|&c| self.column(c, &rows))
            .collect::<Result<_, _>>()?;
        let mut picked: Option<UInt32Array> = None;
        if !t.order.is_empty() && n > 1 {
            let sort: Vec<SortColumn> = t
                .order
                .iter()
                .map(|&(c, options)| {
                    let mut values = match t.columns.iter().position(|&o| o == c) {
                        Some(i) => columns[i].clone(),
                        None => self.column(c, &rows)?,
                    };
                    // Sorting a dictionary ranks its whole dictionary: sort
                    // the few values instead.
                    if let DataType::Dictionary(_, v) = values.data_type() {
                        values = cast(&values, v)?;
                    }
                    Ok(SortColumn {
                        values,
                        options: Some(options),
                    })
                })
                .collect::<Result<_, ArrowError>>()?;
            picked = Some(lexsort_to_indices(&sort, None)?);
        }
        let start = t.skip.min(n);
        let end = t.fetch.map_or(n, |f| start.saturating_add(f).min(n));
        if picked.is_some() || start > 0 || end < n {
            let all = picked.unwrap_or_else(|| UInt32Array::from_iter_values(0..n as u32));
            let window = all.slice(start, end - start);
            columns = columns
                .iter()
                .map(|c| take(c.as_ref(), &window, None))
                .collect::<Result<_, _>>()?;
        }
        RecordBatch::try_new(t.schema.clone(), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(ids: Vec<Option<&str>>, n: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8View, true),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringViewArray::from(ids)),
                Arc::new(Int64Array::from(n)),
            ],
        )
        .expect("test data")
    }

    #[test]
    fn finds_every_row_of_a_key_across_batches_and_none_for_null_or_missing() {
        let k = Keyed::new(
            vec![
                batch(vec![Some("a"), Some("b"), Some("b")], vec![1, 2, 3]),
                batch(vec![Some("b"), Some("c"), None, None], vec![4, 5, 6, 7]),
            ],
            0,
        )
        .expect("test data");
        let v = |s: &str| ScalarValue::Utf8View(Some(s.into()));
        assert_eq!(k.rows(&v("b")).expect("test data"), 1..4);
        assert_eq!(k.rows(&v("a")).expect("test data"), 0..1);
        assert_eq!(k.rows(&v("c")).expect("test data"), 4..5);
        for missing in ["bb", "", "d", "0"] {
            assert!(
                k.rows(&v(missing)).expect("test data").is_empty(),
                "{missing}"
            );
        }
        // A key across two batches is read from both.
        let n = k
            .column(1, &k.rows(&v("b")).expect("test data"))
            .expect("test data");
        assert_eq!(
            n.as_any()
                .downcast_ref::<Int64Array>()
                .expect("test data")
                .values(),
            &[2, 3, 4]
        );
    }

    #[test]
    fn rows_not_ordered_by_key_are_refused() {
        let unordered = vec![batch(vec![Some("b"), Some("a")], vec![1, 2])];
        assert!(Keyed::new(unordered, 0).is_err());
        let null_first = vec![batch(vec![None, Some("a")], vec![1, 2])];
        assert!(Keyed::new(null_first, 0).is_err());
    }
}
