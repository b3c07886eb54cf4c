//! The typed writers against a second method: arrow's formatter cell by cell
//! (the text path as it was) and arrow-pg's binary encoder, over edge values
//! and random ones; `numeric` against hand-worked bytes and a decoder.

use super::*;
use datafusion::arrow::array::{
    BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, NullArray, StringArray, StringViewArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array,
};
use datafusion::arrow::datatypes::Int32Type;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

use crate::serve::copy::options;

/// The text path as it was: arrow's formatter for every cell.
fn by_formatter(batch: &RecordBatch, csv: bool) -> Vec<Vec<u8>> {
    let opts = options(csv);
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formatter"))
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            let mut line = BytesMut::new();
            for (i, (f, col)) in formatters.iter().zip(batch.columns()).enumerate() {
                if i > 0 {
                    line.put_u8(if csv { b',' } else { b'\t' });
                }
                if col.is_null(row) || col.data_type() == &DataType::Null {
                    if !csv {
                        line.put_slice(b"\\N");
                    }
                    continue;
                }
                let cell = f.value(row).to_string();
                if csv {
                    csv_field(&mut line, &cell)
                } else {
                    text_field(&mut line, &cell)
                }
            }
            line.put_u8(b'\n');
            line.to_vec()
        })
        .collect()
}

const N: usize = 2_000;

/// Random values with edges mixed in, every tenth one null.
pub(crate) fn random_batch(seed: u64) -> RecordBatch {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pick = |edges: &[i64], lo: i64, hi: i64| -> Vec<Option<i64>> {
        (0..N)
            .map(|i| match i % 10 {
                0 => None,
                1 => Some(edges[r.random_range(0..edges.len())]),
                _ => Some(r.random_range(lo..=hi)),
            })
            .collect()
    };
    let ints = pick(&[i64::MIN, i64::MAX, 0, -1, 1], i64::MIN, i64::MAX);
    let small = pick(
        &[i64::from(i16::MIN), i64::from(i16::MAX), 0],
        -40_000,
        40_000,
    );
    // Days and instants from year -300 to 12,000 (chrono's range for both).
    let days = pick(
        &[0, -1, -719_528, 2_932_896, 2_932_897],
        -829_000,
        3_660_000,
    );
    let secs = pick(
        &[0, -1, 946_684_800, 253_402_300_799],
        -71_000_000_000,
        316_000_000_000,
    );
    let sub = pick(&[0, 1, 999_999_999, 500_000_000, 120_000], 0, 999_999_999);
    let stamp = |per: i64| -> Vec<Option<i64>> {
        secs.iter()
            .zip(&sub)
            .map(|(s, n)| {
                // Nanoseconds reach only 1677–2262.
                let s = if per == 1_000_000_000 {
                    s.as_ref()? % 9_000_000_000
                } else {
                    (*s)?
                };
                Some(s * per + n.unwrap_or(0) / (1_000_000_000 / per))
            })
            .collect()
    };
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 1);
    let floats: Vec<Option<f64>> = (0..N)
        .map(|i| match i % 10 {
            0 => None,
            1 => {
                Some([f64::NAN, f64::INFINITY, -0.0, 1e-7, 1e300, 0.1, 100.0][r.random_range(0..7)])
            }
            _ => Some((r.random::<f64>() - 0.5) * 10f64.powi(r.random_range(-10..20))),
        })
        .collect();
    let decimals: Vec<Option<i128>> = (0..N)
        .map(|i| match i % 10 {
            0 => None,
            1 => Some([0, 1, -1, 10i128.pow(38) - 1, 99, 100][r.random_range(0..6)]),
            _ => Some(
                r.random_range(-(10i128.pow(20))..10i128.pow(20))
                    / 10i128.pow(r.random_range(0..20)),
            ),
        })
        .collect();
    let words = [
        "",
        "plain",
        "a\tb",
        "back\\slash",
        "line\nbreak\r",
        "逗,号",
        "say \"hi\"",
    ];
    let strings: Vec<Option<String>> = (0..N)
        .map(|i| (i % 10 != 0).then(|| words[r.random_range(0..words.len())].to_string()))
        .collect();
    let bools: Vec<Option<bool>> = (0..N)
        .map(|i| (i % 10 != 0).then_some(i % 3 == 0))
        .collect();
    let keys: Vec<Option<i32>> = (0..N)
        .map(|i| (i % 10 != 0).then(|| r.random_range(0..words.len() as i32)))
        .collect();
    let dict = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(keys),
        Arc::new(StringArray::from(words.to_vec())),
    )
    .expect("dictionary");
    let as_i = |v: &Vec<Option<i64>>| v.iter().map(|x| x.map(|x| x as i32)).collect::<Vec<_>>();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("utf8", Arc::new(StringArray::from(strings.clone()))),
        ("view", Arc::new(StringViewArray::from(strings))),
        ("dict", Arc::new(dict)),
        ("bool", Arc::new(BooleanArray::from(bools))),
        ("i64", Arc::new(Int64Array::from(ints.clone()))),
        ("i32", Arc::new(Int32Array::from(as_i(&ints)))),
        (
            "i16",
            Arc::new(Int16Array::from(
                small
                    .iter()
                    .map(|x| x.map(|x| x as i16))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "i8",
            Arc::new(Int8Array::from(
                small.iter().map(|x| x.map(|x| x as i8)).collect::<Vec<_>>(),
            )),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(
                small.iter().map(|x| x.map(|x| x as u8)).collect::<Vec<_>>(),
            )),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(
                small
                    .iter()
                    .map(|x| x.map(|x| x as u16))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(
                ints.iter().map(|x| x.map(|x| x as u32)).collect::<Vec<_>>(),
            )),
        ),
        ("f64", Arc::new(Float64Array::from(floats.clone()))),
        (
            "f32",
            Arc::new(Float32Array::from(
                floats
                    .iter()
                    .map(|x| x.map(|x| x as f32))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "dec2",
            Arc::new(
                Decimal128Array::from(decimals.clone())
                    .with_precision_and_scale(38, 2)
                    .expect("dec"),
            ),
        ),
        (
            "dec0",
            Arc::new(
                Decimal128Array::from(decimals.clone())
                    .with_precision_and_scale(38, 0)
                    .expect("dec"),
            ),
        ),
        (
            "dec9",
            Arc::new(
                Decimal128Array::from(decimals.clone())
                    .with_precision_and_scale(38, 9)
                    .expect("dec"),
            ),
        ),
        (
            "dec32",
            Arc::new(
                Decimal128Array::from(decimals)
                    .with_precision_and_scale(38, 32)
                    .expect("dec"),
            ),
        ),
        ("date", Arc::new(Date32Array::from(as_i(&days)))),
        ("ts_s", Arc::new(TimestampSecondArray::from(secs.clone()))),
        (
            "ts_ms_utc",
            Arc::new(TimestampMillisecondArray::from(stamp(1_000)).with_timezone("UTC")),
        ),
        (
            "ts_us_utc",
            Arc::new(TimestampMicrosecondArray::from(stamp(1_000_000)).with_timezone("+00:00")),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(stamp(1_000_000_000))),
        ),
    ];
    RecordBatch::try_from_iter(cols).expect("batch")
}

#[test]
fn text_and_csv_equal_arrows_formatter_cell_for_cell() {
    for seed in [1, 2, 3] {
        let mut batch = random_batch(seed);
        // Types without a typed writer still go through the formatter.
        let zoned = TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456); N])
            .with_timezone("Asia/Hong_Kong");
        let mut cols = batch.columns().to_vec();
        cols.push(Arc::new(zoned));
        cols.push(Arc::new(NullArray::new(N)));
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
            "hk",
            cols[cols.len() - 2].data_type().clone(),
            true,
        )));
        fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
            "null",
            DataType::Null,
            true,
        )));
        batch = RecordBatch::try_new(
            Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
            cols,
        )
        .expect("batch");
        for csv in [false, true] {
            let ours = text_rows(&batch, csv, &options(csv)).expect("rows");
            let theirs = by_formatter(&batch, csv);
            assert_eq!(ours.len(), theirs.len());
            for (row, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "seed {seed}, csv {csv}, row {row}"
                );
            }
        }
    }
}

/// arrow-pg's tuples for the same batch: field count, then the DataRow's fields.
fn by_arrow_pg(batch: &RecordBatch) -> Vec<Vec<u8>> {
    use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
    use pgwire::api::portal::Format;
    let fields = Arc::new(
        arrow_schema_to_pg_fields(&batch.schema(), &Format::UnifiedBinary, None).expect("fields"),
    );
    encode_recordbatch(fields, batch.clone())
        .map(|row| {
            let row = row.expect("row");
            let mut out = row.field_count.to_be_bytes().to_vec();
            out.extend_from_slice(&row.data);
            out
        })
        .collect()
}

#[test]
fn binary_equals_arrow_pgs_encoder_byte_for_byte() {
    for seed in [4, 5] {
        let batch = random_batch(seed);
        // Decimals are held to a decoder below: rust_decimal (arrow-pg's
        // path) keeps trailing zero digits and drops a zero's scale.
        // arrow-pg sends an Int8 as one byte under the int2 type it
        // announces; PostgreSQL's int2 is two (checked by hand below).
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| {
                let name = batch.schema().field(i).name().clone();
                !name.starts_with("dec") && name != "i8"
            })
            .collect();
        // chrono's range for arrow-pg's conversion: years -262,143 to 262,142.
        let batch = batch.project(&keep).expect("project");
        let ours = binary_rows(&batch).expect("rows").expect("typed");
        let theirs = by_arrow_pg(&batch);
        assert_eq!(ours.len(), theirs.len());
        for (row, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(&a[..], &b[..], "seed {seed}, row {row}");
        }
    }
}

#[test]
fn binary_int8_is_a_two_byte_int2() {
    let a: ArrayRef = Arc::new(Int8Array::from(vec![Some(-2), None]));
    let batch = RecordBatch::try_from_iter([("i8", a)]).expect("batch");
    let rows = binary_rows(&batch).expect("rows").expect("typed");
    assert_eq!(&rows[0][..], &[0, 1, 0, 0, 0, 2, 0xff, 0xfe]);
    assert_eq!(&rows[1][..], &[0, 1, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn binary_declines_types_it_has_no_writer_for() {
    let zoned = TimestampMicrosecondArray::from(vec![Some(0)]).with_timezone("Asia/Hong_Kong");
    let batch = RecordBatch::try_from_iter([("hk", Arc::new(zoned) as ArrayRef)]).expect("batch");
    assert!(binary_rows(&batch).expect("rows").is_none());
}

fn numeric_bytes(v: i128, scale: u32) -> Vec<u8> {
    let mut out = BytesMut::new();
    numeric(&mut out, v, scale);
    out.to_vec()
}

#[test]
fn numeric_is_postgresqls_binary_form() {
    // By hand: 12345.67 is the base-10000 digits 1 | 2345 . 6700, weight 1.
    assert_eq!(
        numeric_bytes(1_234_567, 2),
        [
            0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 2, 0, 1, 0x09, 0x29, 0x1a, 0x2c
        ]
    );
    // -0.0001 (scale 4): one digit 1 of weight -1, negative.
    assert_eq!(
        numeric_bytes(-1, 4),
        [0, 0, 0, 10, 0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1]
    );
    // Zero keeps its scale and has no digits; 10000 is one digit of weight 1.
    assert_eq!(numeric_bytes(0, 2), [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(
        numeric_bytes(10_000, 0),
        [0, 0, 0, 10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    );
}

/// The value a binary numeric stands for, as text with its display scale.
fn decode(bytes: &[u8]) -> String {
    let word = |i: usize| i16::from_be_bytes([bytes[4 + 2 * i], bytes[5 + 2 * i]]);
    let (count, weight, sign, scale) = (word(0), word(1), word(2) as u16, word(3) as u32);
    assert_eq!(
        i32::from_be_bytes(bytes[..4].try_into().expect("len")),
        8 + 2 * i32::from(count)
    );
    // Σ digit × 10000^(weight − i), scaled by 10^scale, must be exact.
    let mut scaled: i128 = 0;
    for i in 0..count as usize {
        let d = i128::from(word(4 + i));
        assert!((0..10_000).contains(&d));
        let power = 4 * (i32::from(weight) - i as i32) + scale as i32;
        scaled += if power >= 0 {
            d * 10i128.pow(power as u32)
        } else {
            let unit = 10i128.pow((-power) as u32);
            assert_eq!(d % unit, 0, "a digit beyond the scale");
            d / unit
        };
    }
    if count > 0 {
        assert_ne!(word(4), 0, "a leading zero digit");
        assert_ne!(word(3 + count as usize), 0, "a trailing zero digit");
    }
    let v = if sign == 0x4000 { -scaled } else { scaled };
    let mut out = BytesMut::new();
    decimal_text(&mut out, v, scale);
    String::from_utf8(out.to_vec()).expect("utf8")
}

#[test]
fn numeric_decodes_to_the_same_value() {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..20_000 {
        let scale = r.random_range(0..=32u32);
        let digits = r.random_range(1..=38u32);
        let v = r.random_range(0..10i128.pow(digits)) * if r.random() { 1 } else { -1 };
        let v = if digits <= scale || v.unsigned_abs() < 10u128.pow(38) {
            v
        } else {
            0
        };
        let mut text = BytesMut::new();
        decimal_text(&mut text, v, scale);
        // The text form is arrow's; `decode` goes through the digits.
        use datafusion::arrow::datatypes::DecimalType;
        let arrow =
            datafusion::arrow::datatypes::Decimal128Type::format_decimal(v, 38, scale as i8);
        assert_eq!(String::from_utf8(text.to_vec()).expect("utf8"), arrow);
        assert_eq!(decode(&numeric_bytes(v, scale)), arrow, "{v} scale {scale}");
    }
}
