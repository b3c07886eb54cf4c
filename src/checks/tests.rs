use super::row_count::from_log;
use super::{Check, CheckKind, Severity, run};
use crate::period::Period;
use crate::warehouse::{Warehouse, WriteMode};
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

fn rows(periods: &[&str]) -> datafusion::execution::SendableRecordBatchStream {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("period", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> = (0..periods.len() as i64).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(periods.to_vec())),
    ];
    crate::engine::batch_stream(RecordBatch::try_new(schema, cols).expect("batch"))
}

fn months(list: &[&str]) -> Vec<Period> {
    list.iter().map(|p| p.parse().expect("period")).collect()
}

fn row_count_check(table: &str) -> Check {
    Check {
        table: table.into(),
        kind: CheckKind::RowCountChange {
            column: "period".into(),
            max_change: 0.5,
        },
        severity: Severity::Warn,
        periodic: true,
        personal: false,
    }
}

/// January 4 rows, February 2, March 7 (two files), May 3, no April or
/// June: the same rows partitioned by month (counted from the Delta log)
/// and unpartitioned (counted by a scan).
#[tokio::test]
async fn row_count_change_from_the_log_matches_a_scan_and_the_hand_count() {
    let dir = tempfile::tempdir().expect("tmp");
    let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
    let ctx = crate::engine::session();
    let mut all = Vec::new();
    for (p, n) in [
        ("2024-01", 4),
        ("2024-02", 2),
        ("2024-03", 5),
        ("2024-05", 3),
    ] {
        let v = vec![p; n];
        all.extend(v.clone());
        wh.write(
            &ctx,
            "parted",
            rows(&v),
            WriteMode::AppendTo(vec![("period".into(), p.into())]),
            "r",
        )
        .await
        .expect("append");
    }
    // A second file in March.
    wh.write(
        &ctx,
        "parted",
        rows(&["2024-03", "2024-03"]),
        WriteMode::AppendTo(vec![("period".into(), "2024-03".into())]),
        "r",
    )
    .await
    .expect("append");
    all.extend(["2024-03", "2024-03"]);
    wh.write(&ctx, "flat", rows(&all), WriteMode::Overwrite, "r")
        .await
        .expect("flat");

    let periods = months(&["2024-01", "2024-02", "2024-03", "2024-05", "2024-06"]);
    let counts = from_log(&wh, "parted", "period", &periods)
        .await
        .expect("log")
        .expect("partitioned: counted from the log");
    assert_eq!(counts.get("2024-03"), Some(&Some(7)));
    assert_eq!(counts.get("2024-04"), Some(&None));
    assert_eq!(counts.get("2023-12"), Some(&None));
    assert!(
        from_log(&wh, "flat", "period", &periods)
            .await
            .expect("log")
            .is_none(),
        "unpartitioned: the log cannot say, a scan counts"
    );

    let checks = [row_count_check("parted"), row_count_check("flat")];
    let tz = chrono_tz::Asia::Hong_Kong;
    let results = run(&checks, &wh, &periods, tz, &crate::engine::session)
        .await
        .expect("run");
    // By hand: February -50% and no more than 50%; March +250% and June
    // -100% break it; January and May have no month before them.
    let expected = "2024-01: 4 (no previous period); 2024-02: 2 vs 4 (-50.0%); \
                    2024-03: 7 vs 2 (250.0%); 2024-05: 3 (no previous period); \
                    2024-06: 0 vs 3 (-100.0%)";
    for r in &results {
        assert_eq!((r.failing, r.status.as_str()), (2, "warn"), "{}", r.table);
        assert_eq!(r.detail, expected, "{}", r.table);
    }

    // No period: nothing compared, on either path.
    let none = run(&checks, &wh, &[], tz, &crate::engine::session)
        .await
        .expect("run");
    for r in &none {
        assert_eq!((r.failing, r.detail.as_str()), (0, "no period in this run"));
    }
}
