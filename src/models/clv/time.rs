//! Times of the `clv` step: local wall-clock microseconds, and the SQL that
//! counts purchases by local day.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};

pub(super) fn naive_micros(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}

/// SQL for the local day (midnight) of `expr`, a date or timestamp column
/// of type `ty`. A zoned timestamp is moved to the pipeline's zone first,
/// so a purchase at 23:30 local time is on that day whatever the zone it
/// was stored in (DataFusion truncates a zoned timestamp in its zone, DST
/// included).
pub(super) fn local_day_sql(expr: &str, ty: &DataType, tz: Tz) -> String {
    match ty {
        DataType::Timestamp(_, Some(_)) => format!(
            "date_trunc('day', arrow_cast({expr}, 'Timestamp(Microsecond, Some(\"{}\"))'))",
            tz.name()
        ),
        DataType::Date32 | DataType::Date64 => format!("CAST({expr} AS DATE)"),
        _ => format!("date_trunc('day', CAST({expr} AS TIMESTAMP))"),
    }
}

/// Dates and timestamps as microseconds of local wall-clock time (a
/// zoned timestamp is moved to `tz`; a date or naive timestamp is taken
/// as local already).
pub(super) fn local_micros(
    a: &ArrayRef,
    tz: Tz,
) -> Result<Vec<Option<i64>>, datafusion::arrow::error::ArrowError> {
    let zoned = matches!(a.data_type(), DataType::Timestamp(_, Some(_)));
    let naive = match a.data_type() {
        DataType::Null => return Ok(vec![None; a.len()]),
        DataType::Timestamp(_, Some(z)) => cast(
            a,
            &DataType::Timestamp(TimeUnit::Microsecond, Some(z.clone())),
        )?,
        _ => cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    let v = naive.as_primitive::<TimestampMicrosecondType>();
    Ok(v.iter()
        .map(|t| {
            t.map(|utc| {
                if zoned {
                    let at = chrono::DateTime::from_timestamp_micros(utc)
                        .unwrap_or_default()
                        .naive_utc();
                    let offset = tz.offset_from_utc_datetime(&at).fix().local_minus_utc();
                    utc + i64::from(offset) * 1_000_000
                } else {
                    utc
                }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{RecordBatch, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;
    use std::sync::Arc;

    fn utc(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .expect("time")
            .and_utc()
            .timestamp_micros()
    }

    /// The local day of UTC instants in New York, by hand: 03:30Z on
    /// 10 Mar 2024 is 22:30 EST on the 9th; 07:30Z is 03:30 EDT on the 10th
    /// (DST began at 02:00); 03:30Z on 3 Nov is 23:30 EDT on the 2nd;
    /// 23:30Z that day is 18:30 EST on the 3rd (DST ended).
    #[tokio::test]
    async fn a_zoned_time_is_on_its_local_day() {
        let instants = [
            ("2024-03-10 03:30", "2024-03-09 00:00"),
            ("2024-03-10 07:30", "2024-03-10 00:00"),
            ("2024-11-03 03:30", "2024-11-02 00:00"),
            ("2024-11-03 23:30", "2024-11-03 00:00"),
        ];
        let at = TimestampMicrosecondArray::from(
            instants.iter().map(|(u, _)| utc(u)).collect::<Vec<_>>(),
        )
        .with_timezone("UTC");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "at",
            at.data_type().clone(),
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(at)]).expect("batch");
        let ctx = SessionContext::new();
        ctx.register_batch("p", batch.clone()).expect("register");
        let tz: Tz = "America/New_York".parse().expect("zone");
        let sql = format!(
            "SELECT {} AS d FROM p",
            local_day_sql("at", batch.schema().field(0).data_type(), tz)
        );
        let out = ctx
            .sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let days = local_micros(out[0].column(0), tz).expect("micros");
        let want: Vec<Option<i64>> = instants.iter().map(|(_, d)| Some(utc(d))).collect();
        assert_eq!(days, want);
    }
}
