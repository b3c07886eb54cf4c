//! `COPY (SELECT …) TO STDOUT`: record batches as PostgreSQL's text format
//! (tab-separated, `\N` for NULL, backslash escapes) or CSV, one CopyData
//! message per row, as PostgreSQL sends them.

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

/// Values as PostgreSQL prints them (`2024-12-01 08:30:00`).
fn options(csv: bool) -> FormatOptions<'static> {
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

/// The header line of a CSV copy.
pub fn header(names: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        csv_field(&mut out, n);
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// Every row of `batch`, encoded.
pub fn rows(batch: &RecordBatch, csv: bool) -> Result<Vec<Bytes>> {
    let opts = options(csv);
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        let mut line = BytesMut::new();
        for (i, (f, col)) in formatters.iter().zip(batch.columns()).enumerate() {
            if i > 0 {
                line.put_u8(if csv { b',' } else { b'\t' });
            }
            if col.is_null(row) {
                if !csv {
                    line.put_slice(b"\\N");
                }
                continue;
            }
            cell.clear();
            use std::fmt::Write;
            let _ = write!(cell, "{}", f.value(row));
            if csv {
                csv_field(&mut line, &cell);
            } else {
                text_field(&mut line, &cell);
            }
        }
        line.put_u8(b'\n');
        out.push(line.freeze());
    }
    Ok(out)
}

fn text_field(out: &mut BytesMut, v: &str) {
    for b in v.bytes() {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\t' => out.put_slice(b"\\t"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            _ => out.put_u8(b),
        }
    }
}

fn csv_field(out: &mut BytesMut, v: &str) {
    // An empty string is quoted so it differs from NULL (PostgreSQL's rule).
    if v.is_empty() || v.contains([',', '"', '\n', '\r']) {
        out.put_u8(b'"');
        out.put_slice(v.replace('"', "\"\"").as_bytes());
        out.put_u8(b'"');
    } else {
        out.put_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;

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
