use super::*;
use datafusion::arrow::array::{
    Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A fixed linear congruential sequence (the same rows every run): each
/// call gives a number below its argument.
pub(in crate::engine) fn seeded(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    }
}

/// `rows` in a seeded random order.
pub(in crate::engine) fn shuffle<T>(rows: &mut [T], next: &mut impl FnMut(u64) -> u64) {
    for k in (1..rows.len()).rev() {
        rows.swap(k, next(k as u64 + 1) as usize);
    }
}

/// (p, o, i, f, d, t, s)
type Row = (
    i64,
    i64,
    Option<i64>,
    Option<f64>,
    Option<i128>,
    Option<i64>,
    Option<i32>,
);

/// Rows spread over two input partitions in small batches, so a customer's
/// rows arrive in several batches: (p, o, i, f, d, t, s), with nulls.
fn table() -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("p", DataType::Int64, false),
        Field::new("o", DataType::Int64, false),
        Field::new("i", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("d", DataType::Decimal128(10, 2), true),
        Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("s", DataType::Int32, true),
    ]));
    let mut next = seeded(0x2545_f491_4f6c_dd1d);
    let mut rows = Vec::new();
    for p in 0..60i64 {
        for o in 0..(next(25) as i64) {
            let null = |n: &mut dyn FnMut(u64) -> u64| n(5) == 0;
            let i = (!null(&mut next)).then(|| next(2_000) as i64 - 1_000);
            let f = (!null(&mut next)).then(|| (next(1_000_000) as f64) / 7.0 - 70_000.0);
            let d = (!null(&mut next)).then(|| next(100_000) as i128 - 50_000);
            let t = (!null(&mut next)).then(|| 1_700_000_000_000_000 + next(1 << 40) as i64);
            let s = (!null(&mut next)).then(|| next(100) as i32 - 50);
            rows.push((p, o, i, f, d, t, s));
        }
    }
    // Shuffle, so the window has to sort.
    shuffle(&mut rows, &mut next);
    let batch = |rows: &[Row]| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
                Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))),
                Arc::new(
                    Decimal128Array::from_iter(rows.iter().map(|r| r.4))
                        .with_precision_and_scale(10, 2)?,
                ),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.5))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.6))),
            ],
        )
    };
    let half = rows.len() / 2;
    let parts = [&rows[..half], &rows[half..]]
        .iter()
        .map(|part| {
            part.chunks(37)
                .map(batch)
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Arc::new(MemTable::try_new(schema, parts)?))
}

const QUERY: &str = "
    SELECT p, o,
           SUM(i) OVER w, MAX(i) OVER w, MIN(i) OVER w,
           SUM(f) OVER w, MIN(f) OVER w, MAX(f) OVER w,
           SUM(d) OVER w, MAX(d) OVER w,
           MAX(t) OVER w, MIN(t) OVER w,
           MIN(s) OVER w, SUM(s) OVER w,
           MAX(i) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           SUM(f) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 3 PRECEDING),
           MIN(t) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING),
           SUM(i) OVER (PARTITION BY p ORDER BY o),
           MAX(i) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING),
           AVG(i) OVER w,
           SUM(i) FILTER (WHERE s > 0) OVER w
    FROM t
    WINDOW w AS (PARTITION BY p ORDER BY o ROWS UNBOUNDED PRECEDING)
    ORDER BY p, o";

async fn run(ctx: &SessionContext, sql: &str) -> Result<(Vec<RecordBatch>, String)> {
    ctx.register_table("t", table()?)?;
    let df = ctx.sql(sql).await?;
    // The physical plan shows the output names, which stay the same.
    let text = df
        .clone()
        .into_optimized_plan()?
        .display_indent()
        .to_string();
    Ok((df.collect().await?, text))
}

fn config() -> SessionConfig {
    SessionConfig::new()
        .with_batch_size(5)
        .with_target_partitions(2)
        .set_bool("datafusion.optimizer.skip_failed_rules", false)
}

/// Every running value equals DataFusion's own evaluation of the aggregate
/// (the second method), bit for bit, under the same column names; the frames
/// it must not touch are left to DataFusion.
#[tokio::test]
async fn carried_values_equal_datafusions_own_aggregates() -> Result<()> {
    let (ours, plan) = run(&crate::engine::session_with(config()), QUERY).await?;
    let (theirs, plain_plan) = run(&SessionContext::new_with_config(config()), QUERY).await?;
    // 15 of the 19 windows carried; RANGE, a frame reaching forward, AVG and
    // FILTER left to DataFusion.
    assert_eq!(plan.matches("running_").count(), 15, "{plan}");
    for carried in [
        "running_sum(",
        "running_max(",
        "running_min(",
        "running_max_to_1_preceding(",
    ] {
        assert!(plan.contains(carried), "{carried} not in\n{plan}");
    }
    assert!(!plain_plan.contains("running_"));
    let ours = datafusion::arrow::compute::concat_batches(&ours[0].schema(), &ours)?;
    let theirs = datafusion::arrow::compute::concat_batches(&theirs[0].schema(), &theirs)?;
    assert!(ours.num_rows() > 500, "{} rows", ours.num_rows());
    assert_eq!(ours.num_columns(), theirs.num_columns());
    for (k, field) in theirs.schema().fields().iter().enumerate() {
        assert_eq!(ours.schema().field(k).name(), field.name());
        assert_eq!(ours.schema().field(k).data_type(), field.data_type());
        assert_eq!(
            ours.column(k).to_data(),
            theirs.column(k).to_data(),
            "column {}",
            field.name()
        );
    }
    Ok(())
}

/// One partition worked by hand: values 3, null, 1, 5 (and a partition
/// that starts with a null).
#[tokio::test]
async fn a_partition_by_hand() -> Result<()> {
    let ctx = crate::engine::session_with(config());
    let sql = "
        SELECT SUM(v) OVER w AS s, MAX(v) OVER w AS mx, MIN(v) OVER w AS mn,
               MAX(v) OVER (PARTITION BY c ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM (VALUES (1, 1, 3), (1, 2, NULL), (1, 3, 1), (1, 4, 5), (2, 1, NULL), (2, 2, -2)) AS x(c, o, v)
        WINDOW w AS (PARTITION BY c ORDER BY o ROWS UNBOUNDED PRECEDING)
        ORDER BY c, o";
    let batches = ctx.sql(sql).await?.collect().await?;
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
    let expected = "\
+----+----+----+--------+
| s  | mx | mn | before |
+----+----+----+--------+
| 3  | 3  | 3  |        |
| 3  | 3  | 3  | 3      |
| 4  | 3  | 1  | 3      |
| 9  | 5  | 1  | 3      |
|    |    |    |        |
| -2 | -2 | -2 |        |
+----+----+----+--------+";
    assert_eq!(text, expected);
    let plan = ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await?;
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
    assert!(plan.contains("running_sum"), "{plan}");
    Ok(())
}

#[test]
fn only_frames_from_the_first_row_are_carried() {
    use WindowFrameBound::*;
    let frame = |units, start, end| WindowFrame::new_bounds(units, start, end);
    let unbounded = Preceding(ScalarValue::UInt64(None));
    assert_eq!(
        lag(&frame(
            WindowFrameUnits::Rows,
            unbounded.clone(),
            CurrentRow
        )),
        Some(0)
    );
    assert_eq!(
        lag(&frame(
            WindowFrameUnits::Rows,
            unbounded.clone(),
            Preceding(ScalarValue::UInt64(Some(2)))
        )),
        Some(2)
    );
    for (units, start, end) in [
        (WindowFrameUnits::Range, unbounded.clone(), CurrentRow),
        (WindowFrameUnits::Groups, unbounded.clone(), CurrentRow),
        (
            WindowFrameUnits::Rows,
            Preceding(ScalarValue::UInt64(Some(2))),
            CurrentRow,
        ),
        (
            WindowFrameUnits::Rows,
            unbounded.clone(),
            Following(ScalarValue::UInt64(Some(1))),
        ),
        (
            WindowFrameUnits::Rows,
            unbounded.clone(),
            Preceding(ScalarValue::UInt64(Some(MAX_LAG + 1))),
        ),
    ] {
        assert_eq!(lag(&frame(units, start, end)), None);
    }
}

/// Overflow wraps and floats order NaN, infinities and signed zeros as
/// DataFusion's own aggregates do.
#[tokio::test]
async fn edge_values_match_datafusion() -> Result<()> {
    let sql = "
        SELECT SUM(i) OVER w AS si, MAX(i) OVER w AS xi, MIN(i) OVER w AS ni,
               SUM(f) OVER w AS sf, MAX(f) OVER w AS xf, MIN(f) OVER w AS nf
        FROM (VALUES (1, 9223372036854775807, CAST('NaN' AS DOUBLE)),
                     (2, 1, CAST('-0.0' AS DOUBLE)),
                     (3, -9223372036854775807, CAST('inf' AS DOUBLE)),
                     (4, -9223372036854775807, CAST('-inf' AS DOUBLE)),
                     (5, 5, CAST('0.0' AS DOUBLE))) AS x(o, i, f)
        WINDOW w AS (ORDER BY o ROWS UNBOUNDED PRECEDING)
        ORDER BY o";
    let ctx = crate::engine::session_with(config());
    let plan = ctx.sql(sql).await?.into_optimized_plan()?;
    assert_eq!(
        plan.display_indent()
            .to_string()
            .matches("running_")
            .count(),
        6
    );
    let ours = ctx.sql(sql).await?.collect().await?;
    let theirs = SessionContext::new_with_config(config())
        .sql(sql)
        .await?
        .collect()
        .await?;
    let ours = datafusion::arrow::compute::concat_batches(&ours[0].schema(), &ours)?;
    let theirs = datafusion::arrow::compute::concat_batches(&theirs[0].schema(), &theirs)?;
    assert_eq!(ours.num_rows(), 5);
    for k in 0..theirs.num_columns() {
        assert_eq!(
            ours.column(k).to_data(),
            theirs.column(k).to_data(),
            "column {k}"
        );
    }
    Ok(())
}
