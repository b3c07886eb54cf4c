//! The text writers against arrow-pg's encoder, byte for byte, over the
//! random and edge values of the `COPY` writers' tests, in several date
//! styles and float digit settings.

use super::*;
use crate::serve::cells::tests::random_batch;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Decimal128Array, Int64Array, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use pgwire::api::portal::Format;
use std::sync::Arc;

fn by_arrow_pg(batch: &RecordBatch, options: &FormatOptions) -> Vec<DataRow> {
    let fields = Arc::new(
        arrow_schema_to_pg_fields(
            &batch.schema(),
            &Format::UnifiedText,
            Some(Arc::new(options.clone())),
        )
        .expect("fields"),
    );
    encode_recordbatch(fields, batch.clone())
        .map(|row| row.expect("row"))
        .collect()
}

fn options(date_style: &str, extra_float_digits: i8) -> FormatOptions {
    let mut o = FormatOptions::default();
    o.date_style = date_style.into();
    o.extra_float_digits = extra_float_digits;
    o
}

#[test]
fn text_rows_equal_arrow_pgs_encoder_byte_for_byte() {
    for (seed, style, digits) in [
        (11, "ISO, MDY", 1),
        (12, "ISO, YMD", 0),
        (13, "SQL, DMY", -3),
        (14, "Postgres, MDY", 3),
        (15, "German", 1),
    ] {
        let options = options(style, digits);
        let batch = random_batch(seed);
        // Decimals within rust_decimal's range (arrow-pg converts through it
        // and fails beyond), the other columns as they are.
        let columns: Vec<(String, ArrayRef)> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(_, c)| !matches!(c.data_type(), DataType::Decimal128(_, 32)))
            .map(|(f, c)| {
                let c = match c.data_type() {
                    DataType::Decimal128(p, s) => Arc::new(
                        c.as_primitive::<Decimal128Type>()
                            .unary::<_, Decimal128Type>(|v| v % 10i128.pow(28))
                            .with_precision_and_scale(*p, *s)
                            .expect("decimal"),
                    ),
                    _ => c.clone(),
                };
                (f.name().clone(), c)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).expect("batch");
        for at in (0..batch.num_rows()).step_by(100) {
            let part = batch.slice(at, 100);
            let ours = text_rows(&part, &options).expect("rows").expect("typed");
            let theirs = by_arrow_pg(&part, &options);
            assert_eq!(ours.len(), theirs.len());
            for (row, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(a, b, "seed {seed}, {style}, row {}", at + row);
            }
        }
    }
    // Beyond rust_decimal's range the batch is arrow-pg's (which fails).
    let big = Decimal128Array::from(vec![Some(1i128 << 96)])
        .with_precision_and_scale(38, 2)
        .expect("decimal");
    let batch = RecordBatch::try_from_iter([("d", Arc::new(big) as ArrayRef)]).expect("batch");
    assert!(
        text_rows(&batch, &options("ISO", 1))
            .expect("rows")
            .is_none()
    );
}

#[test]
fn text_rows_decline_what_they_have_no_writer_for() {
    let options = FormatOptions::default();
    let zoned = TimestampMicrosecondArray::from(vec![Some(0)]).with_timezone("Asia/Hong_Kong");
    let batch = RecordBatch::try_from_iter([("hk", Arc::new(zoned) as ArrayRef)]).expect("batch");
    assert!(text_rows(&batch, &options).expect("rows").is_none());
    // Catalog columns carry `pg.*` metadata that arrow-pg reads.
    let field = datafusion::arrow::datatypes::Field::new("oid", DataType::Int64, false)
        .with_metadata([("pg.oid".to_string(), "oid".to_string())].into());
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![field]));
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).expect("batch");
    assert!(text_rows(&batch, &options).expect("rows").is_none());
}

#[test]
fn binary_results_send_an_int8_as_a_two_byte_int2() {
    use datafusion::arrow::array::Int8Array;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;
    let a: ArrayRef = Arc::new(Int8Array::from(vec![Some(-2), None]));
    let batch = RecordBatch::try_from_iter([("i8", a)]).expect("batch");
    let fields = Arc::new(
        arrow_schema_to_pg_fields(&batch.schema(), &Format::UnifiedBinary, None).expect("fields"),
    );
    assert_eq!(fields[0].datatype(), &pgwire::api::Type::INT2);
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        batch.schema(),
        futures::stream::iter([Ok(batch)]),
    ));
    let rows: Vec<DataRow> = futures::executor::block_on(
        data_rows(stream, fields, Arc::new(FormatOptions::default())).collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|r| r.expect("row"))
    .collect();
    assert_eq!(&rows[0].data[..], &[0, 0, 0, 2, 0xff, 0xfe]);
    assert_eq!(&rows[1].data[..], &[0xff, 0xff, 0xff, 0xff]);
    assert!(rows.iter().all(|r| r.field_count == 1));
}
