//! A rejected row's reason says what is wrong, never the value: the value
//! goes to `_quarantine.value`, which is masked for a personal column, while
//! the reason is shown to every reader (and on the terminal).

use super::*;
use crate::sources::{Format, RefSet};
use std::collections::HashMap;

/// One column of each kind of check, with the value that fails it.
fn failing() -> Vec<(Column, &'static str)> {
    let col = |name: &str, ty: ColumnType| Column::new(name, ty);
    let mut accepted = col("channel", ColumnType::String);
    accepted.values = Some(vec!["atm".into(), "branch".into()]);
    let mut low = col("low", ColumnType::Int);
    low.min = Some("0".into());
    let mut high = col(
        "high",
        ColumnType::Decimal {
            precision: 12,
            scale: 2,
        },
    );
    high.max = Some("100".into());
    let mut referenced = col("card", ColumnType::String);
    referenced.references = Some(("cards".into(), "card_no".into()));
    let mut gap = col("at", ColumnType::Timestamp);
    gap.timezone = Some(chrono_tz::Europe::London);
    vec![
        (col("n", ColumnType::Int), "secret-4111"),
        (col("d", ColumnType::Double), "secret-4112"),
        (col("b", ColumnType::Bool), "secret-4113"),
        (col("day", ColumnType::Date), "secret-4114"),
        (col("ts", ColumnType::Timestamp), "secret-4115"),
        (gap, "2024-03-31 01:30:00"),
        (
            col(
                "dec",
                ColumnType::Decimal {
                    precision: 12,
                    scale: 2,
                },
            ),
            "secret-4116",
        ),
        (
            col(
                "places",
                ColumnType::Decimal {
                    precision: 12,
                    scale: 2,
                },
            ),
            "4117.12345",
        ),
        (
            col(
                "wide",
                ColumnType::Decimal {
                    precision: 4,
                    scale: 2,
                },
            ),
            "411800",
        ),
        (accepted, "secret-4119"),
        (low, "-4120"),
        (high, "4121.50"),
        (referenced, "4111-1111-1111-1111"),
    ]
}

/// A rejected row as the quarantine stores it.
#[derive(Debug)]
struct Bad {
    value: Option<String>,
    reason: String,
}

/// The rejected rows, in order, as `_quarantine` would hold them.
fn rows_of(bad: crate::sources::rejects::Rejects) -> Vec<Bad> {
    use datafusion::arrow::array::AsArray;
    let mut out = Vec::new();
    for b in bad.into_quarantine("r", "s", "p") {
        let b = b.expect("quarantine batch");
        let col = |n: &str| b.column(b.schema().index_of(n).expect("column")).clone();
        let (value, reason) = (col("value"), col("reason"));
        let (value, reason) = (value.as_string::<i32>(), reason.as_string::<i32>());
        for r in 0..b.num_rows() {
            out.push(Bad {
                value: value.is_valid(r).then(|| value.value(r).to_string()),
                reason: reason.value(r).to_string(),
            });
        }
    }
    out
}

/// Each failing value as the only non-empty cell of its own row.
fn conform(columns: Vec<Column>, rows: &[(usize, &str)]) -> Vec<Bad> {
    let mut src = Source::new(
        "s",
        "",
        Format::Jsonl(crate::sources::formats::jsonl::Jsonl),
    );
    src.columns = columns;
    let schema = crate::sources::table_schema(&src);
    let mut known = RefSet::default();
    known.insert("4000-0000-0000-0002");
    let checks = CheckContext {
        references: HashMap::from([("card".to_string(), Arc::new(known))]),
        timezone: Some(Tz::UTC),
    };
    let mut conformer = Conformer::new(&src, schema, None, checks);
    let columns = (0..src.columns.len())
        .map(|ci| {
            let cells = rows.iter().map(|(c, v)| (*c == ci).then_some(*v));
            Arc::new(StringArray::from_iter(cells)) as ArrayRef
        })
        .collect();
    let raw = RawBatch {
        file: "f.jsonl".into(),
        lines: (1..=rows.len() as i64).collect(),
        columns,
    };
    let mut bad = crate::sources::rejects::Rejects::default();
    let good = conformer.conform(raw, &mut bad).expect("conform");
    let bad = rows_of(bad);
    assert_eq!(good.num_rows() + bad.len(), rows.len());
    bad
}

#[test]
fn reasons_never_hold_the_value() {
    let (columns, values): (Vec<Column>, Vec<&str>) = failing().into_iter().unzip();
    let rows: Vec<(usize, &str)> = values.iter().copied().enumerate().collect();
    let bad = conform(columns, &rows);
    assert_eq!(bad.len(), values.len(), "every row fails: {bad:?}");
    for (r, v) in bad.iter().zip(&values) {
        assert_eq!(r.value.as_deref(), Some(*v), "the value is in `value`");
        assert!(!r.reason.is_empty());
        // Not the value, nor its digits (a card or account number).
        let digits: String = v.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !r.reason.contains(v) && !r.reason.contains(&digits),
            "the reason holds the value: {r:?}"
        );
    }
}

#[test]
fn duplicate_and_period_reasons_never_hold_the_value() {
    let mut key = Column::new("account", ColumnType::String);
    key.required = true;
    let mut src = Source::new(
        "s",
        "",
        Format::Jsonl(crate::sources::formats::jsonl::Jsonl),
    );
    src.columns = vec![key, Column::new("day", ColumnType::Date)];
    src.key = vec!["account".into()];
    src.period_column = Some("day".into());
    let schema = crate::sources::table_schema(&src);
    let period = Period {
        year: 2024,
        month: 3,
    };
    let mut conformer = Conformer::new(&src, schema, Some(period), CheckContext::default());
    let raw = RawBatch {
        file: "f.jsonl".into(),
        lines: vec![1, 2, 3],
        columns: vec![
            Arc::new(StringArray::from(vec![
                "ACC-90210",
                "ACC-90210",
                "ACC-77001",
            ])),
            Arc::new(StringArray::from(vec![
                "2024-03-01",
                "2024-03-02",
                "1987-11-23",
            ])),
        ],
    };
    let mut bad = crate::sources::rejects::Rejects::default();
    let good = conformer.conform(raw, &mut bad).expect("conform");
    let bad = rows_of(bad);
    assert_eq!((good.num_rows(), bad.len()), (1, 2), "{bad:?}");
    assert!(bad[0].reason.starts_with("duplicate key"), "{bad:?}");
    assert_eq!(bad[0].value.as_deref(), Some("ACC-90210"));
    assert!(!bad[0].reason.contains("90210"), "{bad:?}");
    assert_eq!(bad[1].value.as_deref(), Some("1987-11-23"));
    assert!(
        !bad[1].reason.contains("1987"),
        "a date of birth's year is the value: {bad:?}"
    );
}

/// Keys count across a load's files once each file is read to the end,
/// whichever of the sets is larger when they are merged; a dropped
/// (corrupt) file's keys never count.
#[test]
fn keys_count_across_files_once_each_file_is_done() {
    let mut key = Column::new("id", ColumnType::String);
    key.required = true;
    let mut src = Source::new(
        "s",
        "",
        Format::Jsonl(crate::sources::formats::jsonl::Jsonl),
    );
    src.columns = vec![key];
    src.key = vec!["id".into()];
    let schema = crate::sources::table_schema(&src);
    let mut c = Conformer::new(&src, schema, None, CheckContext::default());
    // Loads `ids` as one file; returns how many rows were duplicates.
    let file = |c: &mut Conformer, ids: &[&str], done: bool| {
        let raw = RawBatch {
            file: "f.jsonl".into(),
            lines: (1..=ids.len() as i64).collect(),
            columns: vec![Arc::new(StringArray::from(ids.to_vec()))],
        };
        let mut bad = crate::sources::rejects::Rejects::default();
        c.conform(raw, &mut bad).expect("conform");
        if done {
            c.file_done();
        } else {
            c.file_dropped();
        }
        rows_of(bad).len()
    };
    // A corrupt first file's keys are forgotten, its own repeats too.
    assert_eq!(file(&mut c, &["a", "b", "a"], false), 1);
    // A small first file, then a larger one.
    assert_eq!(file(&mut c, &["a"], true), 0);
    assert_eq!(file(&mut c, &["b", "c", "d", "a"], true), 1);
    // A corrupt file's keys are forgotten; each earlier file's are kept.
    assert_eq!(file(&mut c, &["e", "f"], false), 0);
    assert_eq!(file(&mut c, &["a", "b", "c", "d", "e", "f", "e"], true), 5);
    assert_eq!(file(&mut c, &["e", "f", "g"], true), 2);
    // A corrupt file repeating an earlier file's key leaves that key seen.
    assert_eq!(file(&mut c, &["a", "h"], false), 1);
    assert_eq!(file(&mut c, &["a", "h"], true), 1);
}
