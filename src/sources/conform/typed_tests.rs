//! The conformer on typed (Parquet) and text input: values load exactly or
//! their row is quarantined with a reason that never quotes the value.

use super::*;
use crate::sources::formats::Format;
use crate::sources::formats::parquet::Parquet;
use crate::sources::table_schema;
use datafusion::arrow::array::{
    Decimal128Array, Float32Array, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};

const HK: Tz = chrono_tz::Asia::Hong_Kong;

fn source(columns: Vec<Column>) -> Source {
    let mut s = Source::new("s", "", Format::Parquet(Parquet));
    s.columns = columns;
    s
}

fn conformer(src: &Source) -> Conformer {
    let checks = CheckContext {
        timezone: Some(HK),
        ..Default::default()
    };
    Conformer::new(src, table_schema(src), None, checks)
}

/// Conform one column of values: (loaded values as text, rejected rows as
/// (line, reason)).
fn run(src: &Source, column: ArrayRef) -> (Vec<String>, Vec<(i64, String)>) {
    let mut c = conformer(src);
    let n = column.len();
    let raw = RawBatch {
        file: "f".into(),
        lines: (1..=n as i64).collect(),
        columns: vec![column],
    };
    let mut bad = crate::sources::rejects::Rejects::default();
    let batch = c.conform(raw, &mut bad).expect("conform");
    let got = (0..batch.num_rows())
        .map(|r| cells::cell(batch.column(0), r))
        .collect();
    let mut rejected = Vec::new();
    for b in bad.into_quarantine("r", "s", "p") {
        let b = b.expect("quarantine batch");
        let line = b
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("line");
        for r in 0..b.num_rows() {
            rejected.push((line.value(r), cells::cell(b.column(5), r)));
        }
    }
    (got, rejected)
}

fn utc(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .timestamp_micros()
}

fn naive_micros(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .expect("naive")
        .and_utc()
        .timestamp_micros()
}

/// A Parquet timestamp without a zone is local time, exactly as CSV text
/// without an offset is: in the column's `timezone:`, else the pipeline's.
#[test]
fn naive_parquet_timestamps_are_local_time_like_csv_text() {
    let mut zoned = Column::new("t", ColumnType::Timestamp);
    zoned.timezone = Some(chrono_tz::Europe::London);
    for col in [Column::new("t", ColumnType::Timestamp), zoned] {
        let src = source(vec![col]);
        let text: ArrayRef = Arc::new(StringArray::from(vec!["2024-01-03 09:00:00"]));
        let (from_text, bad) = run(&src, text);
        assert!(bad.is_empty(), "{bad:?}");
        let us = naive_micros("2024-01-03 09:00:00");
        let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![us]));
        let (from_parquet, bad) = run(&src, naive);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(from_parquet, from_text, "naive Parquet vs CSV text");
        // In ms and ns too.
        let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![us / 1000]));
        assert_eq!(run(&src, ms).0, from_text);
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![us * 1000]));
        assert_eq!(run(&src, ns).0, from_text);
    }
    // Hong Kong (the pipeline's zone here) is UTC+8.
    let src = source(vec![Column::new("t", ColumnType::Timestamp)]);
    let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![naive_micros(
        "2024-01-03 09:00:00",
    )]));
    let want: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(vec![utc("2024-01-03T01:00:00Z")]).with_timezone("UTC"),
    );
    assert_eq!(run(&src, naive).0, vec![cells::cell(&want, 0)]);
    // A zoned Parquet timestamp is an instant already.
    let zoned: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![utc("2024-01-03T01:00:00Z") * 1000])
            .with_timezone("+08:00"),
    );
    assert_eq!(run(&src, zoned).0, vec![cells::cell(&want, 0)]);
}

/// Nanoseconds that microseconds cannot hold are quarantined, not cut off.
#[test]
fn sub_microsecond_digits_are_quarantined() {
    let src = source(vec![Column::new("t", ColumnType::Timestamp)]);
    let us = utc("2024-01-03T01:00:00Z");
    let ns: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![us * 1000, us * 1000 + 1, -1_500]).with_timezone("UTC"),
    );
    let (got, bad) = run(&src, ns);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(bad.len(), 2, "{bad:?}");
    for (_, reason) in &bad {
        assert!(reason.contains("precision would be lost"), "{reason}");
    }
}

/// A float or a wider decimal into a declared decimal loads only when it
/// fits exactly; anything else quarantines its row (money is never rounded).
#[test]
fn decimals_from_parquet_are_never_rounded() {
    let src = source(vec![Column::new(
        "amount",
        ColumnType::Decimal {
            precision: 18,
            scale: 2,
        },
    )]);
    // decimal(18,4): 12.3450 is 12.345 (no); 12.3400 is 12.34 (yes).
    let wide: ArrayRef = Arc::new(
        Decimal128Array::from(vec![123_450, 123_400, -50_000])
            .with_precision_and_scale(18, 4)
            .expect("decimal"),
    );
    let (got, bad) = run(&src, wide);
    assert_eq!(got, vec!["12.34", "-5.00"]);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].0, 1);
    assert!(bad[0].1.contains("decimal places"), "{bad:?}");
    // Floats: the shortest text that reads back as the float must fit.
    let floats: ArrayRef = Arc::new(Float64Array::from(vec![
        12.345,
        12.34,
        0.1 + 0.2,
        f64::NAN,
        f64::INFINITY,
        1e20,
        -0.5,
        100.0,
    ]));
    let (got, bad) = run(&src, floats);
    assert_eq!(got, vec!["12.34", "-0.50", "100.00"]);
    let lines: Vec<i64> = bad.iter().map(|b| b.0).collect();
    assert_eq!(lines, vec![1, 3, 4, 5, 6], "{bad:?}");
    let f32s: ArrayRef = Arc::new(Float32Array::from(vec![12.34f32, 0.125]));
    let (got, bad) = run(&src, f32s);
    assert_eq!(got, vec!["12.34"]);
    assert_eq!(bad.len(), 1);
    // Precision: decimal(4,2) holds at most 99.99.
    let small = source(vec![Column::new(
        "a",
        ColumnType::Decimal {
            precision: 4,
            scale: 2,
        },
    )]);
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![99, 100]));
    let (got, bad) = run(&small, ints);
    assert_eq!(got, vec!["99.00"]);
    assert!(bad[0].1.contains("does not fit decimal(4,2)"), "{bad:?}");
}

/// An int column takes only whole numbers; a double into it is not cut.
#[test]
fn ints_from_parquet_are_never_truncated() {
    let src = source(vec![Column::new("n", ColumnType::Int)]);
    let floats: ArrayRef = Arc::new(Float64Array::from(vec![2.0, 1.5, 1e30, f64::NAN]));
    let (got, bad) = run(&src, floats);
    assert_eq!(got, vec!["2"]);
    assert_eq!(bad.len(), 3, "{bad:?}");
    let decimals: ArrayRef = Arc::new(
        Decimal128Array::from(vec![1200, 1250])
            .with_precision_and_scale(10, 2)
            .expect("decimal"),
    );
    let (got, bad) = run(&src, decimals);
    assert_eq!(got, vec!["12"]);
    assert_eq!(bad.len(), 1, "{bad:?}");
}

/// NaN is in no range; infinity is beyond every bound on its side.
#[test]
fn nan_fails_every_range_and_infinity_its_side() {
    let mut x = Column::new("x", ColumnType::Double);
    x.min = Some("0".into());
    x.max = Some("10".into());
    let mut only_min = Column::new("x", ColumnType::Double);
    only_min.min = Some("0".into());
    let values = || -> ArrayRef {
        Arc::new(Float64Array::from(vec![
            5.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]))
    };
    let (got, bad) = run(&source(vec![x]), values());
    assert_eq!(got, vec!["5.0"]);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].1.contains("not a number"), "{bad:?}");
    let (got, bad) = run(&source(vec![only_min]), values());
    assert_eq!(got, vec!["5.0", "inf"]);
    assert_eq!(bad.len(), 2, "{bad:?}");
    // An int bound is applied exactly, beyond a double's 53 bits.
    let mut n = Column::new("n", ColumnType::Int);
    n.max = Some("9007199254740992".into());
    let big: ArrayRef = Arc::new(StringArray::from(vec![
        "9007199254740992",
        "9007199254740993",
    ]));
    let (got, bad) = run(&source(vec![n]), big);
    assert_eq!(got, vec!["9007199254740992"]);
    assert_eq!(bad.len(), 1, "{bad:?}");
}

/// Reasons name the column's problem, never its value (analysts read them
/// unmasked).
#[test]
fn reasons_never_quote_the_value() {
    let mut card = Column::new("card", ColumnType::String);
    card.values = Some(vec!["atm".into(), "branch".into()]);
    let mut amount = Column::new(
        "amount",
        ColumnType::Decimal {
            precision: 18,
            scale: 2,
        },
    );
    amount.min = Some("0".into());
    let cases: Vec<(Column, &str)> = vec![
        (Column::new("n", ColumnType::Int), "+852 9123 4567"),
        (Column::new("d", ColumnType::Double), "4000123412341234x"),
        (Column::new("b", ColumnType::Bool), "Chan Tai Man"),
        (Column::new("dt", ColumnType::Date), "Chan Tai Man"),
        (Column::new("ts", ColumnType::Timestamp), "Chan Tai Man"),
        (amount.clone(), "Chan.Tai"),
        (amount.clone(), "12.345"),
        (amount.clone(), "123456789012345678901"),
        (amount, "-1234567.89"),
        (card, "4000123412341234"),
    ];
    for (col, value) in cases {
        let name = col.name.clone();
        let text: ArrayRef = Arc::new(StringArray::from(vec![value]));
        let (got, bad) = run(&source(vec![col]), text);
        assert!(got.is_empty(), "{name}: {value} loaded");
        let reason = &bad[0].1;
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !reason.contains(value) && (digits.len() < 4 || !reason.contains(&digits)),
            "{name}: the reason quotes the value: {reason}"
        );
    }
    // A duplicate key.
    let mut src = source(vec![Column::new("card", ColumnType::String)]);
    src.key = vec!["card".into()];
    let keys: ArrayRef = Arc::new(StringArray::from(vec!["4000123412341234"; 2]));
    let (_, bad) = run(&src, keys);
    assert_eq!(bad.len(), 1);
    assert!(bad[0].1.starts_with("duplicate key"), "{bad:?}");
    assert!(!bad[0].1.contains("4000"), "{bad:?}");
}
