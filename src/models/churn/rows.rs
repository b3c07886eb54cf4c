//! The churn step's training and test rows, sorted and kept in private
//! scratch files, so that a big bank's millions of labelled rows do not
//! have to fit in memory: DataFusion sorts them (within the memory pool,
//! spilling), and the fit reads a file once per pass.
//!
//! The order is every feature ascending (a missing value last), then the
//! label: the fit's floating-point sums then run in the same order on every
//! run, whatever order the scan produced the rows in, so an incremental
//! build scores exactly as a full one.

use super::{Side, Sides};
use crate::models::analytics::logistic::{Rows, RowsError};
use crate::models::{Error, Result};
use crate::sources::staging::{SpillWriter, Spilled};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, Int8Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int8Type};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{DataFrame, col, lit};
use futures::StreamExt;
use std::sync::Arc;

/// The labelled rows on each side of the split, features and label only.
pub(super) struct Labelled {
    pub train: Spilled,
    pub test: Spilled,
}

/// Sort the labelled rows of `input` (the step's query: `__unit`,
/// `__label`, `__f0 ..`) and write each side's to its own scratch file.
pub(super) async fn spill(input: DataFrame, sides: &Sides, features: usize) -> Result<Labelled> {
    let side = side_udf(sides.clone());
    let mut exprs: Vec<String> = (0..features)
        // A NaN is a missing value to the fit, as a null is: both sort last.
        .map(|j| format!("nanvl(__f{j}, CAST(NULL AS DOUBLE)) AS __f{j}"))
        .collect();
    exprs.push("__label > 0.5 AS __y".into());
    exprs.push("__unit".into());
    let refs: Vec<&str> = exprs.iter().map(String::as_str).collect();
    let mut order = vec![col("__side").sort(true, false)];
    order.extend((0..features).map(|j| col(format!("__f{j}")).sort(true, false)));
    order.push(col("__y").sort(true, false));
    let df = input
        .filter(
            col("__label")
                .is_not_null()
                .and(col("__unit").is_not_null()),
        )?
        .select_exprs(&refs)?
        .with_column("__side", side.call(vec![col("__unit")]))?
        .filter(col("__side").lt(lit(2i8)))?
        .sort(order)?;
    // The features and the label, then the side the rows are split by.
    let kept: Vec<String> = (0..features)
        .map(|j| format!("__f{j}"))
        .chain(["__y".to_string(), "__side".to_string()])
        .collect();
    let df = df.select_columns(&kept.iter().map(String::as_str).collect::<Vec<_>>())?;
    let body: Vec<usize> = (0..=features).collect();
    let schema = Arc::new(
        df.schema()
            .as_arrow()
            .project(&body)
            .map_err(DataFusionError::from)?,
    );
    let scratch = |e: String| {
        Error::step(
            format!("churn rows: {e}"),
            "check free space in the temporary folder",
        )
    };
    let mut train = SpillWriter::new(&schema).map_err(scratch)?;
    let mut test = SpillWriter::new(&schema).map_err(scratch)?;
    let mut stream = df.execute_stream().await?;
    while let Some(b) = stream.next().await {
        let b = b?;
        let side = b.column(features + 1).as_primitive::<Int8Type>().clone();
        let b = b.project(&body).map_err(DataFusionError::from)?;
        for (writer, want) in [(&mut train, 0i8), (&mut test, 1i8)] {
            let mask: BooleanArray = side.iter().map(|s| Some(s == Some(want))).collect();
            let part = filter_record_batch(&b, &mask).map_err(DataFusionError::from)?;
            if part.num_rows() > 0 {
                writer.write(&part).map_err(scratch)?;
            }
        }
    }
    Ok(Labelled {
        train: train.finish().map_err(scratch)?,
        test: test.finish().map_err(scratch)?,
    })
}

/// The side of each row as a column (0 train, 1 test, 2 neither), from
/// the unit (period or `by` value) the split decides by.
fn side_udf(sides: Sides) -> datafusion::logical_expr::ScalarUDF {
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let units = arrays[0].as_string::<i32>();
            let out: Int8Array = units
                .iter()
                .map(|u| {
                    u.map(|u| match sides.side(u) {
                        Side::Train => 0,
                        Side::Test => 1,
                        Side::Neither => 2,
                    })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        },
    );
    create_udf(
        "churn_side",
        vec![DataType::Utf8],
        DataType::Int8,
        Volatility::Immutable,
        fun,
    )
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
                    row[j] = match (a.is_null(r), self.impute) {
                        (false, _) => a.value(r),
                        (true, Some(means)) => means[j],
                        (true, None) => f64::NAN,
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
    use datafusion::prelude::SessionContext;
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
        for order in [
            [0, 1, 2, 3, 4, 5, 6, 7],
            [7, 6, 5, 4, 3, 2, 1, 0],
            [3, 5, 1, 7, 0, 2, 6, 4],
        ] {
            let l = spill(input(&order).await, &sides, 2).await.expect("spill");
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
                "order {order:?}"
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
        let l = spill(input(&[0, 1, 2, 3]).await, &sides, 2)
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
