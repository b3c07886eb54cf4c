//! The interval logic of [`super::versions`], on tiny tables in a temp
//! warehouse; every expected interval is written out by hand.

use super::*;
use crate::sources::database::{Cursor, Deletes, Lookback};
use crate::sources::{Format, formats::parquet::Parquet};
use datafusion::arrow::array::{ArrayRef, StringArray};

/// 2024-01-31 00:00:00 UTC, and a day, in microseconds.
const JAN31: i64 = 1_706_659_200_000_000;
const DAY: i64 = 86_400_000_000;

fn source(cursor: bool) -> Source {
    let mut src = Source::new("cust", "", Format::Parquet(Parquet));
    src.key = vec!["id".into()];
    let mut cols = vec![
        Column::new("id", ColumnType::String),
        Column::new("tier", ColumnType::String),
        Column::new("branch", ColumnType::String),
        Column::new("name", ColumnType::String),
    ];
    if cursor {
        cols.push(Column::new("at", ColumnType::Timestamp));
        cols.push(Column::new("gone", ColumnType::Bool));
        src.cursor = Some(Cursor {
            column: "at".into(),
            lookback: Lookback::None,
        });
        src.deletes = Deletes {
            soft_column: Some("gone".into()),
            reconcile_every: None,
        };
    }
    src.columns = cols;
    src.history = Some(History {
        track: vec!["tier".into(), "branch".into()],
        valid_from: "valid_from".into(),
        valid_to: "valid_to".into(),
        current: "is_current".into(),
        since: None,
    });
    src
}

/// Rows `id,tier,branch,name` (and the cursor, in days after JAN31).
fn batch(src: &Source, rows: &[(&str, &str, &str, &str, i64)]) -> RecordBatch {
    let text = |i: usize| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| [r.0, r.1, r.2, r.3][i])
                .collect::<Vec<_>>(),
        ))
    };
    let mut cols: Vec<ArrayRef> = (0..4).map(text).collect();
    if src.cursor.is_some() {
        cols.push(Arc::new(
            TimestampMicrosecondArray::from(
                rows.iter().map(|r| JAN31 + r.4 * DAY).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ));
        cols.push(Arc::new(BooleanArray::from(vec![false; rows.len()])));
    }
    RecordBatch::try_new(table_schema(src), cols).expect("batch")
}

/// Replace the source's table with `rows`, then write its history as a
/// run starting at `as_of` would; whether anything was written.
async fn run(
    wh: &Warehouse,
    src: &Source,
    rows: &[(&str, &str, &str, &str, i64)],
    deleted: Vec<RecordBatch>,
    as_of: i64,
) -> bool {
    let ctx = crate::engine::session();
    let b = batch(src, rows);
    wh.write(
        &ctx,
        "cust",
        crate::engine::batch_stream(b),
        WriteMode::Overwrite,
        "r",
    )
    .await
    .expect("table");
    match versions(wh, src, deleted, as_of).await.expect("versions") {
        Some(v) => {
            wh.write(&ctx, "cust_history", v.stream, v.mode, "r")
                .await
                .expect("history");
            true
        }
        None => false,
    }
}

/// The history as `id tier branch from..to current` lines, times as days
/// after JAN31.
async fn intervals(wh: &Warehouse) -> Vec<String> {
    let ctx = crate::engine::session();
    ctx.register_table("h", wh.provider("cust_history").await.expect("provider"))
        .expect("register");
    let sql = format!(
        "SELECT id || ' ' || tier || ' ' || branch || ' ' \
           || CAST((CAST(valid_from AS BIGINT) - {JAN31}) / {DAY} AS VARCHAR) || '..' \
           || coalesce(CAST((CAST(valid_to AS BIGINT) - {JAN31}) / {DAY} AS VARCHAR), '') \
           || CASE WHEN is_current THEN ' current' ELSE '' END AS x \
         FROM h ORDER BY id, valid_from"
    );
    let got = ctx
        .sql(&sql)
        .await
        .expect("sql")
        .collect()
        .await
        .expect("rows");
    let mut out = Vec::new();
    for b in got {
        let x = cast(b.column(0), &DataType::Utf8).expect("cast");
        let x = x.as_any().downcast_ref::<StringArray>().expect("text");
        out.extend(x.iter().map(|v| v.unwrap_or("NULL").to_string()));
    }
    out
}

/// A snapshot source: the first run opens every key at the run's start; a
/// changed tracked value closes and opens at the next run's start; an
/// untracked change, an unchanged key and a re-run write nothing; a key
/// absent from the snapshot closes; a key that comes back opens again.
#[tokio::test]
async fn snapshot_versions_follow_tracked_changes_and_absences() {
    let dir = tempfile::tempdir().expect("tmp");
    let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
    let src = source(false);
    let v1 = [
        ("A", "gold", "B1", "Ann", 0),
        ("B", "gold", "B1", "Bob", 0),
        ("C", "blue", "B2", "Cy", 0),
    ];
    assert!(run(&wh, &src, &v1, vec![], JAN31).await);
    assert_eq!(
        intervals(&wh).await,
        [
            "A gold B1 0.. current",
            "B gold B1 0.. current",
            "C blue B2 0.. current"
        ]
    );
    // Day 1: A moves branch, B changes only its (untracked) name, C is
    // gone, D is new.
    let v2 = [
        ("A", "gold", "B2", "Ann", 0),
        ("B", "gold", "B1", "Robert", 0),
        ("D", "blue", "B3", "Di", 0),
    ];
    assert!(run(&wh, &src, &v2, vec![], JAN31 + DAY).await);
    let after = vec![
        "A gold B1 0..1",
        "A gold B2 1.. current",
        "B gold B1 0.. current",
        "C blue B2 0..1",
        "D blue B3 1.. current",
    ];
    assert_eq!(intervals(&wh).await, after);
    // The same snapshot again, a day later: nothing to write, no commit.
    let before = wh.version("cust_history").await.expect("version");
    assert!(!run(&wh, &src, &v2, vec![], JAN31 + 2 * DAY).await);
    assert_eq!(wh.version("cust_history").await.expect("version"), before);
    assert_eq!(intervals(&wh).await, after);
    // Day 3: C comes back; D's branch is emptied.
    let v3 = [
        ("A", "gold", "B2", "Ann", 0),
        ("B", "gold", "B1", "Robert", 0),
        ("C", "blue", "B2", "Cy", 0),
        ("D", "blue", "", "Di", 0),
    ];
    assert!(run(&wh, &src, &v3, vec![], JAN31 + 3 * DAY).await);
    assert_eq!(
        intervals(&wh).await,
        [
            "A gold B1 0..1",
            "A gold B2 1.. current",
            "B gold B1 0.. current",
            "C blue B2 0..1",
            "C blue B2 3.. current",
            "D blue B3 1..3",
            "D blue  3.. current",
        ]
    );
}

/// A cursor source: versions start at the row's cursor, and a soft-deleted
/// row closes its key's version at the deleted row's cursor; a row read
/// again unchanged (the lookback) writes nothing.
#[tokio::test]
async fn cursor_versions_start_when_the_row_changed() {
    let dir = tempfile::tempdir().expect("tmp");
    let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
    let src = source(true);
    let v1 = [
        ("A", "gold", "B1", "Ann", -30),
        ("B", "gold", "B1", "Bob", -20),
        ("C", "blue", "B2", "Cy", -10),
    ];
    assert!(run(&wh, &src, &v1, vec![], JAN31 + 10 * DAY).await);
    // A changes tier on day 2; C is soft-deleted on day 4 (the merge
    // removed it from the table; the load kept its key and cursor).
    let v2 = [
        ("A", "silver", "B1", "Ann", 2),
        ("B", "gold", "B1", "Bob", -20),
    ];
    let mut read = batch(&src, &[("C", "blue", "B2", "Cy", 4)]);
    let marks: ArrayRef = Arc::new(BooleanArray::from(vec![true]));
    let mut cols = read.columns().to_vec();
    cols[5] = marks;
    read = RecordBatch::try_new(read.schema(), cols).expect("marked");
    let gone = deleted(&src, &read).expect("a deleted row");
    assert_eq!(gone.num_rows(), 1);
    assert!(run(&wh, &src, &v2, vec![gone], JAN31 + 10 * DAY).await);
    assert_eq!(
        intervals(&wh).await,
        [
            "A gold B1 -30..2",
            "A silver B1 2.. current",
            "B gold B1 -20.. current",
            "C blue B2 -10..4",
        ]
    );
    assert!(!run(&wh, &src, &v2, vec![], JAN31 + 11 * DAY).await);
}

/// `since`: a key's first version begins at the row's date, not the run.
#[tokio::test]
async fn since_backdates_first_versions() {
    let dir = tempfile::tempdir().expect("tmp");
    let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
    let mut src = source(false);
    src.columns
        .push(Column::new("opened", ColumnType::Timestamp));
    if let Some(h) = src.history.as_mut() {
        h.since = Some("opened".into());
    }
    let ctx = crate::engine::session();
    let mut cols = batch(&source(false), &[("A", "gold", "B1", "Ann", 0)])
        .columns()
        .to_vec();
    cols.push(Arc::new(
        TimestampMicrosecondArray::from(vec![JAN31 - 100 * DAY]).with_timezone("UTC"),
    ));
    let b = RecordBatch::try_new(table_schema(&src), cols).expect("batch");
    wh.write(
        &ctx,
        "cust",
        crate::engine::batch_stream(b),
        WriteMode::Overwrite,
        "r",
    )
    .await
    .expect("table");
    let v = versions(&wh, &src, vec![], JAN31)
        .await
        .expect("versions")
        .expect("some");
    wh.write(&ctx, "cust_history", v.stream, v.mode, "r")
        .await
        .expect("history");
    assert_eq!(intervals(&wh).await, ["A gold B1 -100.. current"]);
}
