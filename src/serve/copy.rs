//! `COPY (SELECT …) TO STDOUT`: record batches as PostgreSQL's text format
//! (tab-separated, `\N` for NULL, backslash escapes), CSV, or the binary
//! `PGCOPY` format, one CopyData message per row, as PostgreSQL sends them.

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion_postgres::arrow_pg::datatypes::encode_recordbatch;
use futures::{Stream, StreamExt};
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Values as PostgreSQL prints them (`2024-12-01 08:30:00`).
pub(crate) fn options(csv: bool) -> FormatOptions<'static> {
    FormatOptions::new()
        .with_null(if csv { "" } else { "\\N" })
        .with_date_format(Some("%Y-%m-%d"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
}

/// A query's batches as CopyData messages (the CSV header, if asked for,
/// in front of the first row).
pub fn copy_out(
    stream: SendableRecordBatchStream,
    csv: bool,
    header: bool,
) -> impl Stream<Item = PgWireResult<CopyData>> + Send + 'static {
    let names: Vec<String> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut first = header.then(|| self::header(&names));
    let failed = |e: datafusion::error::DataFusionError| {
        super::govern::error("XX000", crate::engine::describe_error(&e), None)
    };
    stream
        .map(move |b| match b.and_then(|b| rows(&b, csv)) {
            Ok(rows) => futures::stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => futures::stream::once(async move { Err(failed(e)) }).right_stream(),
        })
        .flatten()
        .map(move |r| {
            r.map(|row: Bytes| match first.take() {
                Some(h) => CopyData::new([h, row].concat().into()),
                None => CopyData::new(row),
            })
        })
}

/// A query's rows as binary tuples (field count, then each field's length
/// and bytes): the typed writers of `cells`, or arrow-pg's encoder for a
/// batch with a type they lack (its DataRow carries the same fields).
pub fn binary_tuples(
    stream: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<Bytes>> + Send + 'static {
    let failed = |e: datafusion::error::DataFusionError| {
        super::govern::error("XX000", crate::engine::describe_error(&e), None)
    };
    stream
        .map(move |b| {
            let rows = b.and_then(|b| Ok((super::cells::binary_rows(&b)?, b)));
            let rows = match rows {
                Ok((Some(rows), _)) => Ok(rows),
                Ok((None, batch)) => encode_recordbatch(fields.clone(), batch)
                    .map(|r| r.map(tuple))
                    .collect(),
                Err(e) => Err(failed(e)),
            };
            match rows {
                Ok(rows) => futures::stream::iter(rows.into_iter().map(Ok)).left_stream(),
                Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
            }
        })
        .flatten()
}

/// A DataRow as a binary copy tuple.
fn tuple(row: DataRow) -> Bytes {
    let mut out = BytesMut::with_capacity(row.data.len() + 2);
    out.put_i16(row.field_count);
    out.put_slice(&row.data);
    out.freeze()
}

/// The signature, flags and header-extension length that open a binary copy.
const PGCOPY: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Binary tuples as CopyData messages. The header rides with the first
/// tuple, or alone when there is none; pgwire appends the trailer.
pub fn binary_out(
    rows: impl Stream<Item = PgWireResult<Bytes>> + Send + 'static,
) -> impl Stream<Item = PgWireResult<CopyData>> + Send + 'static {
    // Shared by the two closures: a bool captured by `move` would be copied.
    let headed = Arc::new(AtomicBool::new(false));
    let at_end = headed.clone();
    rows.map(move |r| {
        Some(r.map(|row| match headed.swap(true, Ordering::Relaxed) {
            true => CopyData::new(row),
            false => CopyData::new([Bytes::from_static(PGCOPY), row].concat().into()),
        }))
    })
    .chain(futures::stream::once(async move {
        (!at_end.swap(true, Ordering::Relaxed))
            .then(|| Ok(CopyData::new(Bytes::from_static(PGCOPY))))
    }))
    .filter_map(futures::future::ready)
}

/// The header line of a CSV copy.
pub fn header(names: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        super::cells::csv_field(&mut out, n);
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// Every row of `batch`, encoded.
pub fn rows(batch: &RecordBatch, csv: bool) -> Result<Vec<Bytes>> {
    super::cells::text_rows(batch, csv, &options(csv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

    #[test]
    fn binary_copy_is_pgcopy_framed_tuples() {
        use datafusion_postgres::arrow_pg::datatypes::{
            arrow_schema_to_pg_fields, encode_recordbatch,
        };
        use pgwire::api::portal::Format;
        let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("ab"), Some("")]));
        let batch = RecordBatch::try_from_iter([("n", n), ("s", s)]).expect("batch");
        let fields = Arc::new(
            arrow_schema_to_pg_fields(&batch.schema(), &Format::UnifiedBinary, None)
                .expect("fields"),
        );
        let rows = futures::stream::iter(encode_recordbatch(fields, batch).map(|r| r.map(tuple)));
        let out: Vec<Bytes> = futures::executor::block_on(
            binary_out(rows)
                .map(|d| d.expect("row").data)
                .collect::<Vec<_>>(),
        );
        // By hand: signature, flags 0, extension 0; then per tuple the field
        // count and each field as length + big-endian bytes (-1 for NULL).
        let mut first = b"PGCOPY\n\xff\r\n\0".to_vec();
        first.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        first.extend([
            0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b',
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0][..], &first[..]);
        assert_eq!(&out[1][..], &[0, 2, 255, 255, 255, 255, 0, 0, 0, 0]);
        // No rows: the header alone (pgwire sends the trailer after it).
        let none: Vec<Bytes> = futures::executor::block_on(
            binary_out(futures::stream::empty())
                .map(|d| d.expect("row").data)
                .collect::<Vec<_>>(),
        );
        assert_eq!(none.len(), 1);
        assert_eq!(&none[0][..], &first[..19]);
    }

    #[test]
    fn text_and_csv_escape_as_postgres_does() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a\tb"),
            None,
            Some(""),
            Some("x,\"y\""),
        ]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)]));
        let batch = RecordBatch::try_from_iter([("s", a), ("n", b)]).expect("batch");
        let text: Vec<Bytes> = rows(&batch, false).expect("rows");
        assert_eq!(&text[0][..], b"a\\tb\t1\n");
        assert_eq!(&text[1][..], b"\\N\t2\n");
        assert_eq!(&text[2][..], b"\t\\N\n");
        let csv: Vec<Bytes> = rows(&batch, true).expect("rows");
        assert_eq!(&csv[1][..], b",2\n");
        assert_eq!(&csv[2][..], b"\"\",\n");
        assert_eq!(&csv[3][..], b"\"x,\"\"y\"\"\",4\n");
        assert_eq!(&header(&["a".into(), "b c".into()])[..], b"a,b c\n");
    }
}
