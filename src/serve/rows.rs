//! A batch's rows as `DataRow` messages, column by column with a writer per
//! type: the text format here, the binary format by `cells`' `COPY` writers.
//!
//! arrow-pg's encoder works cell by cell: it looks the column's type up,
//! and for a timestamp parses the zone, the date style and the format string
//! again for every value; on a keyed lookup's few rows that was a sixth of
//! the server's time. The writers here do that once per column and then
//! write each value with the same formatting code arrow-pg reaches (pgwire's
//! float digits, chrono's formats with the client's date style), so the
//! bytes are arrow-pg's; the tests hold them to that. Columns of other
//! types, or with `pg.*` metadata, leave the batch to arrow-pg.

use super::cells::{self, Cell};
use super::govern::error;
use bytes::{BufMut, BytesMut};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::error::Result;
use datafusion_postgres::arrow_pg::datatypes::encode_recordbatch;
use futures::StreamExt;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;
use pgwire::types::format::date_style::DateStyle;
use pgwire::types::format::float_digits::ExtraFloatDigits;
use std::fmt::Write;
use std::sync::Arc;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

/// Every row of `batch` as a text-format `DataRow`; `None` when a column
/// has no writer here (the caller then uses arrow-pg's encoder).
pub fn text_rows(batch: &RecordBatch, options: &FormatOptions) -> Result<Option<Vec<DataRow>>> {
    if cells::catalog_columns(batch) {
        return Ok(None);
    }
    let arrays = cells::plain_columns(batch)?;
    let style = DateStyle::new(&options.date_style);
    let date = parsed(style.date_format_str());
    let stamp = parsed(style.full_format_str());
    let stamp_tz = parsed(&style.full_tz_format_str());
    let floats = ExtraFloatDigits(options.extra_float_digits);
    let mut columns = Vec::with_capacity(arrays.len());
    for a in &arrays {
        let cell = cells::cell(a);
        let fits = match &cell {
            Cell::Other => false,
            // rust_decimal's range, which arrow-pg converts through.
            Cell::Decimal(v, scale) => *scale <= 28 && v.iter().all(|x| x.unsigned_abs() < 1 << 96),
            _ => true,
        };
        if !fits {
            return Ok(None);
        }
        columns.push((cell, a.nulls()));
    }
    let rows = batch.num_rows();
    let mut out = BytesMut::with_capacity(rows * columns.len() * 12);
    let mut ends = Vec::with_capacity(rows);
    for row in 0..rows {
        for (cell, nulls) in &columns {
            if nulls.is_some_and(|n| n.is_null(row)) {
                out.put_i32(-1);
                continue;
            }
            let at = out.len();
            out.put_i32(0);
            let mut w = Writer(&mut out);
            match cell {
                Cell::Utf8(a) => w.0.put_slice(a.value(row).as_bytes()),
                Cell::LargeUtf8(a) => w.0.put_slice(a.value(row).as_bytes()),
                Cell::View(a) => w.0.put_slice(a.value(row).as_bytes()),
                Cell::Bool(a) => w.0.put_u8(if a.value(row) { b't' } else { b'f' }),
                Cell::Int(v, _) => w.0.put_slice(itoa::Buffer::new().format(v(row)).as_bytes()),
                Cell::F32(v) => w.0.put_slice(floats.format_f32(v[row]).as_bytes()),
                Cell::F64(v) => w.0.put_slice(floats.format_f64(v[row]).as_bytes()),
                Cell::Decimal(v, scale) => cells::decimal_text(w.0, v[row], *scale),
                Cell::Date(v) => {
                    let Some(d) = v[row]
                        .checked_add(UNIX_EPOCH_FROM_CE)
                        .and_then(NaiveDate::from_num_days_from_ce_opt)
                    else {
                        return Ok(None);
                    };
                    write!(w, "{}", d.format_with_items(date.iter())).map_err(fmt_error)?
                }
                Cell::Stamp(v, per_second, utc) => {
                    let (secs, nanos) = cells::split_seconds(v[row], *per_second);
                    let Some(t) = DateTime::from_timestamp(secs, nanos as u32) else {
                        return Ok(None);
                    };
                    // arrow-pg: a zone gives `timestamptz` at offset +00.
                    let shown = if *utc {
                        write!(w, "{}", t.fixed_offset().format_with_items(stamp_tz.iter()))
                    } else {
                        write!(w, "{}", t.naive_utc().format_with_items(stamp.iter()))
                    };
                    shown.map_err(fmt_error)?
                }
                Cell::Other => unreachable!("columns of other types were refused above"),
            }
            let len = (out.len() - at - 4) as i32;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        ends.push(out.len());
    }
    let count = columns.len() as i16;
    let mut start = 0;
    Ok(Some(
        ends.iter()
            .map(|&end| {
                let row = out.split_to(end - start);
                start = end;
                DataRow::new(row, count)
            })
            .collect(),
    ))
}

type Rows = Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send>;

/// A query's batches as wire rows in `fields`' formats: all-text or
/// all-binary rows by the typed writers where they can, otherwise by
/// arrow-pg's encoder. An execution error ends the stream as an error
/// response.
pub fn data_rows(
    stream: datafusion::execution::SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
    options: Arc<FormatOptions>,
) -> impl futures::Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    let all = |format| fields.iter().all(|f| f.format() == format);
    let format = if all(FieldFormat::Text) {
        Some(FieldFormat::Text)
    } else if all(FieldFormat::Binary) {
        Some(FieldFormat::Binary)
    } else {
        None
    };
    let failed = |e: &datafusion::error::DataFusionError| {
        error("XX000", crate::engine::describe_error(e), None)
    };
    stream
        .map(move |b| {
            let typed = |b: &RecordBatch| match format {
                Some(FieldFormat::Text) => text_rows(b, &options),
                Some(FieldFormat::Binary) => binary_rows(b),
                None => Ok(None),
            };
            let rows: Rows = match b.map(|b| (typed(&b), b)) {
                Ok((Ok(Some(rows)), _)) => Box::new(rows.into_iter().map(Ok)),
                Ok((Ok(None), b)) => Box::new(encode_recordbatch(fields.clone(), b)),
                Ok((Err(e), _)) | Err(e) => Box::new(std::iter::once(Err(failed(&e)))),
            };
            futures::stream::iter(rows)
        })
        .flatten()
}

/// Every row of `batch` as a binary-format `DataRow`: the binary `COPY`
/// tuples without their field count. (arrow-pg would send an Int8 as one
/// byte under the two-byte int2 it announces.)
fn binary_rows(batch: &RecordBatch) -> Result<Option<Vec<DataRow>>> {
    let count = batch.num_columns() as i16;
    Ok(cells::binary_rows(batch)?.map(|tuples| {
        tuples
            .iter()
            .map(|t| DataRow::new(BytesMut::from(&t[2..]), count))
            .collect()
    }))
}

fn fmt_error(e: std::fmt::Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

/// A chrono format string parsed once.
fn parsed(format: &str) -> Vec<Item<'static>> {
    StrftimeItems::new(format)
        .map(|i| i.to_owned())
        .collect::<Vec<_>>()
}

/// `write!` into a buffer (a formatting error becomes a DataFusion error).
struct Writer<'a>(&'a mut BytesMut);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
