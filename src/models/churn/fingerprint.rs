//! What the fit saw of each month: the count and an order-free digest of
//! its labelled rows as the fit reads them (each feature, a missing one as
//! NaN, then the label as 0 or 1). A month rebuilt with the same digest
//! gives the fit the same rows, even though its files were written again.

use super::split::splitmix64;
use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One month's labelled rows: how many, and the wrapping sum of each row's
/// 128-bit hash (a sum, so the rows' order does not matter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MonthRows {
    pub rows: u64,
    #[serde(with = "hex")]
    pub sum: u128,
}

/// Each month's rows, by the month as the input spells it.
pub(super) type Fingerprints = BTreeMap<String, MonthRows>;

/// Add a row (`values`: its features, then its label) to `month`.
pub(super) fn add(months: &mut Fingerprints, month: &str, values: &[f64]) {
    let entry = match months.get_mut(month) {
        Some(e) => e,
        None => months.entry(month.to_string()).or_default(),
    };
    entry.rows += 1;
    entry.sum = entry.sum.wrapping_add(row_hash(values));
}

/// The labelled rows of a batch of `__unit`, `__label`, `__f0 ..` (the
/// step's columns, in that order), each as the fit reads it.
pub(super) fn add_batch(months: &mut Fingerprints, b: &RecordBatch, features: usize) {
    let units = b.column(0).as_string::<i32>();
    let labels = b.column(1).as_primitive::<Float64Type>();
    let feats: Vec<&Float64Array> = (0..features)
        .map(|j| b.column(2 + j).as_primitive::<Float64Type>())
        .collect();
    let mut row = vec![0.0; features + 1];
    for r in 0..b.num_rows() {
        if labels.is_null(r) || units.is_null(r) {
            continue;
        }
        read_row(&feats, labels, r, &mut row);
        add(months, units.value(r), &row);
    }
}

/// Row `r`'s features (a missing one as NaN) and label (0 or 1) into `out`.
pub(super) fn read_row(
    feats: &[&Float64Array],
    labels: &datafusion::arrow::array::PrimitiveArray<Float64Type>,
    r: usize,
    out: &mut [f64],
) {
    for (o, a) in out.iter_mut().zip(feats) {
        *o = if a.is_null(r) { f64::NAN } else { a.value(r) };
    }
    out[feats.len()] = if labels.value(r) > 0.5 { 1.0 } else { 0.0 };
}

/// Two independent 64-bit chains over the values' bits.
fn row_hash(values: &[f64]) -> u128 {
    let (mut a, mut b) = (0x243f_6a88_85a3_08d3_u64, 0x1319_8a2e_0370_7344_u64);
    for v in values {
        let w = v.to_bits();
        a = splitmix64(a ^ w);
        b = splitmix64(b.wrapping_add(w.rotate_left(29)));
    }
    (u128::from(a) << 64) | u128::from(b)
}

/// A u128 as 32 hex digits (JSON numbers that big are not portable).
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:032x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        u128::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_of_rows_does_not_matter_and_any_value_does() {
        let rows = [[1.0, 0.0], [2.5, 1.0], [f64::NAN, 0.0]];
        let mut a = Fingerprints::new();
        let mut b = Fingerprints::new();
        for r in &rows {
            add(&mut a, "2024-01", r);
        }
        for r in rows.iter().rev() {
            add(&mut b, "2024-01", r);
        }
        assert_eq!(a, b);
        // One value changed, one label flipped, a row repeated, a row moved
        // to another month: each changes the month.
        for (month, row) in [
            ("2024-01", [1.0 + f64::EPSILON, 0.0]),
            ("2024-01", [1.0, 1.0]),
            ("2024-01", [1.0, 0.0]),
            ("2024-02", [1.0, 0.0]),
        ] {
            let mut c = Fingerprints::new();
            for r in &rows[1..] {
                add(&mut c, "2024-01", r);
            }
            add(&mut c, month, &row);
            if month == "2024-01" && row == [1.0, 0.0] {
                add(&mut c, "2024-01", &row);
            }
            assert_ne!(c, a, "{month} {row:?}");
        }
        // Swapping two values within a row changes it too.
        let mut d = Fingerprints::new();
        add(&mut d, "2024-01", &[0.0, 1.0]);
        let mut e = Fingerprints::new();
        add(&mut e, "2024-01", &[1.0, 0.0]);
        assert_ne!(d, e);
    }

    #[test]
    fn a_month_reads_back_from_json() {
        let mut a = Fingerprints::new();
        add(&mut a, "2024-01", &[3.0, 1.0]);
        let json = serde_json::to_string(&a).expect("json");
        let back: Fingerprints = serde_json::from_str(&json).expect("back");
        assert_eq!(back, a);
    }
}
