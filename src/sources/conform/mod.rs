//! Raw columns → the declared schema. Each value is parsed to its type
//! (exact decimals, timestamps normalised to UTC), then the row is checked:
//! required, min/max, accepted values, references, the run's period and
//! duplicate keys. A row with any problem is quarantined with the first one:
//! its reason names the check, never the value (the value goes to the masked
//! `value` column; a reason is read by everyone).

mod cells;
mod digests;
mod keys;
#[cfg(test)]
mod tests;
mod typed;
#[cfg(test)]
mod typed_tests;

pub use cells::{parse_decimal, parse_timestamp};

use super::bounds::{self, Bound};
use super::rejects::Reject;
use super::timestamp::{Layout, Zone, utc_range};
use super::valueset::Accepted;
use super::{CheckContext, Column, RawBatch, Source};
use crate::period::Period;
use crate::spec::types::ColumnType;
use crate::warehouse::log::Rejected;
use cells::{DaysFromCe, cell, local_date, out_of_range, parse_bool};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Decimal128Array,
    Decimal128Builder, Float64Array, Float64Builder, Int64Array, Int64Builder, StringArray,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use digests::DigestSet;
use keys::{KeyCol, key_digest};
use std::sync::Arc;

const EPOCH_DAYS_CE: i32 = 719_163;

/// A period with its bounds: UTC instants (when they exist) and days.
type Dated = (Period, Option<(i64, i64)>, (i32, i32));

pub struct Conformer {
    columns: Vec<Column>,
    schema: SchemaRef,
    period: Option<Period>,
    /// A periodic source loaded without a period: each row's period is
    /// its own `period_column`'s local month.
    by_value: bool,
    /// The last period a row was dated in, with its bounds (UTC instants
    /// and days), so rows of the same month are not dated one by one.
    last_period: Option<Dated>,
    period_col: Option<usize>,
    key_cols: Vec<usize>,
    checks: CheckContext,
    /// 128-bit digests (XXH3-128) of keys seen in this load, so memory is
    /// a 16-byte slot per key (the table 35-70% full) rather than the key
    /// text: of the files read (and of the table, for an append).
    seen: DigestSet,
    /// The digests the file being read added to `seen`, taken out again if
    /// it turns out corrupt: its keys must not make its good copy
    /// duplicates. A list, not a second set merged at the file's end: that
    /// inserted every key twice and regrew the set for each daily file
    /// (8.7% of a profile of `online_sessions`' daily files, mostly page
    /// faults; 4% of the load's instructions).
    file_keys: Vec<u128>,
    /// Whether the file being read began with `seen` empty (known from its
    /// first batch): then `seen` holds only its keys, a corrupt file empties
    /// it, and its keys are not listed (a load's one big file would
    /// otherwise hold 16 more bytes a row).
    file_fills: Option<bool>,
    /// A batch's rows to insert and their digests (reused).
    batch_keys: Vec<(usize, u128)>,
    /// The digest's seed, random per load, and the buffer that joins the
    /// values' digests of a key of several columns.
    seed: u64,
    key_bytes: Vec<u8>,
    bounds: Vec<(Option<Bound>, Option<Bound>)>,
    /// Per column: its accepted values, if it declares them.
    accepted: Vec<Option<Accepted>>,
    /// Per column: its date/time layout compiled once, and its zone.
    parsers: Vec<Parser>,
    /// The run's period as UTC instants `[start, end)` and as days since
    /// the epoch, when its bounds are unambiguous in the business zone.
    period_utc: Option<(i64, i64)>,
    period_days: Option<(i32, i32)>,
}

struct Parser {
    layout: Option<Layout>,
    zone: Zone,
}

/// A row's first problem.
struct Problem {
    column: Option<usize>,
    reason: String,
}

impl Conformer {
    pub fn new(
        src: &Source,
        schema: SchemaRef,
        period: Option<Period>,
        checks: CheckContext,
    ) -> Self {
        let idx = |n: &str| src.columns.iter().position(|c| c.name == n);
        let bounds = src
            .columns
            .iter()
            .map(|c| {
                // `validate` refuses a bound that does not compile.
                let b =
                    |s: &Option<String>| s.as_deref().and_then(|v| bounds::compile(v, c.ty).ok());
                (b(&c.min), b(&c.max))
            })
            .collect();
        let business = checks.timezone.unwrap_or(Tz::UTC);
        let parsers = src
            .columns
            .iter()
            .map(|c| {
                let layout = match c.ty {
                    ColumnType::Date => Layout::compile(c.format.as_deref().unwrap_or("%Y-%m-%d")),
                    // Without a format, RFC 3339 (which has an offset, so
                    // never fits this layout) or this.
                    ColumnType::Timestamp => {
                        Layout::compile(c.format.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S"))
                    }
                    _ => None,
                };
                Parser {
                    layout,
                    zone: Zone::new(c.timezone.unwrap_or(business)),
                }
            })
            .collect();
        let by_value = src.is_periodic() && period.is_none();
        let period = if src.is_periodic() { period } else { None };
        let bounds_of = |p: Period| (p.first_day(), p.next().first_day());
        let period_utc = period.and_then(|p| {
            let (a, b) = bounds_of(p);
            utc_range(business, a, b)
        });
        let period_days = period.map(|p| {
            let (a, b) = bounds_of(p);
            (
                a.num_days_from_ce_() - EPOCH_DAYS_CE,
                b.num_days_from_ce_() - EPOCH_DAYS_CE,
            )
        });
        Conformer {
            parsers,
            period_utc,
            period_days,
            columns: src.columns.clone(),
            schema,
            period,
            by_value,
            last_period: None,
            period_col: src.period_column.as_deref().and_then(idx),
            key_cols: src.key.iter().filter_map(|k| idx(k)).collect(),
            checks,
            seen: DigestSet::default(),
            batch_keys: Vec::new(),
            file_keys: Vec::new(),
            file_fills: None,
            seed: rand::random(),
            key_bytes: Vec::new(),
            bounds,
            accepted: src
                .columns
                .iter()
                .map(|c| c.values.as_deref().map(Accepted::new))
                .collect(),
        }
    }

    /// Conform one raw batch: returns the good rows, pushes the bad ones.
    pub fn conform(
        &mut self,
        raw: RawBatch,
        bad: &mut dyn Reject,
    ) -> Result<RecordBatch, ArrowError> {
        let n = raw.lines.len();
        let mut problems: Vec<Option<Problem>> = (0..n).map(|_| None).collect();
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
        for (ci, (c, parser)) in self.columns.iter().zip(&mut self.parsers).enumerate() {
            typed.push(type_column(ci, c, parser, &raw.columns[ci], &mut problems));
        }
        self.check_rows(&typed, &mut problems);
        if let Some(p) = self.period {
            let p = p.to_string();
            typed.push(Arc::new(StringArray::from_iter_values(
                std::iter::repeat_n(p.as_str(), n),
            )));
        } else if self.by_value
            && let Some(pc) = self.period_col
        {
            let periods = self.periods_of(&typed[pc], pc, &mut problems);
            typed.push(periods);
        }
        let all_good = problems.iter().all(Option::is_none);
        let keep: Option<BooleanArray> =
            (!all_good).then(|| problems.iter().map(|p| Some(p.is_none())).collect());
        for (row, p) in problems.into_iter().enumerate() {
            if let Some(p) = p {
                let record = raw
                    .columns
                    .iter()
                    .map(|a| cell(a, row))
                    .collect::<Vec<_>>()
                    .join(",");
                bad.reject(Rejected {
                    file: raw.file.to_string(),
                    line: raw.lines[row],
                    column: p.column.map(|c| self.columns[c].name.clone()),
                    value: p.column.map(|c| cell(&raw.columns[c], row)),
                    reason: p.reason,
                    record: Some(record),
                });
            }
        }
        let Some(keep) = keep else {
            return RecordBatch::try_new(self.schema.clone(), typed);
        };
        // Drop bad rows before assembling the batch: a required column may
        // hold nulls exactly in the rows that are quarantined.
        let typed = typed
            .iter()
            .map(|a| filter(a.as_ref(), &keep))
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.schema.clone(), typed)
    }

    /// A key's 128-bit digest: a one-column key's is its value's digest; a
    /// key of several columns digests its values' digests, in order. (Each
    /// value is hashed where it lies; copying values into one buffer first
    /// was measured slower.)
    fn digest(&mut self, keys: &[KeyCol], row: usize) -> u128 {
        key_digest(keys, row, self.seed, &mut self.key_bytes)
    }

    /// Register keys already in the table (an incremental load), so a row
    /// repeating one is quarantined as a duplicate. `batch` holds the key
    /// columns by name, in any order, as the warehouse stores them.
    pub fn remember(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let mut keys = Vec::with_capacity(self.key_cols.len());
        for &k in &self.key_cols {
            let name = &self.columns[k].name;
            let a = batch.column_by_name(name).ok_or_else(|| {
                ArrowError::SchemaError(format!("key column `{name}` is not in the table"))
            })?;
            // The same type as a freshly typed value, so the text agrees.
            keys.push(cast(a, self.schema.field(k).data_type())?);
        }
        let refs: Vec<KeyCol> = keys.iter().map(KeyCol::of).collect();
        for row in 0..batch.num_rows() {
            let d = self.digest(&refs, row);
            self.seen.insert(d);
        }
        Ok(())
    }

    /// The file being read was read to the end: its keys stay.
    pub fn file_done(&mut self) {
        self.file_keys.clear();
        self.file_fills = None;
    }

    /// The file being read turned out corrupt: none of its rows load, so
    /// none of its keys were seen.
    pub fn file_dropped(&mut self) {
        if self.file_fills == Some(true) {
            self.seen.clear();
        }
        for d in self.file_keys.drain(..) {
            self.seen.remove(d);
        }
        self.file_fills = None;
    }

    /// Each row's period from its period column (the local month in the
    /// business time zone); a row without one cannot be placed and is
    /// quarantined.
    // Rows are visited by index: three arrays of the same rows are read.
    #[allow(clippy::needless_range_loop)]
    fn periods_of(
        &mut self,
        a: &ArrayRef,
        pc: usize,
        problems: &mut [Option<Problem>],
    ) -> ArrayRef {
        let tz = self.checks.timezone.unwrap_or(Tz::UTC);
        let times = a.as_any().downcast_ref::<TimestampMicrosecondArray>();
        let days = a.as_any().downcast_ref::<Date32Array>();
        let mut out = datafusion::arrow::array::StringBuilder::with_capacity(a.len(), a.len() * 7);
        for row in 0..a.len() {
            if a.is_null(row) {
                if problems[row].is_none() {
                    problems[row] = Some(Problem {
                        column: Some(pc),
                        reason: "no period: the period column is empty".into(),
                    });
                }
                out.append_value("");
                continue;
            }
            // Inside the last row's month: the same period.
            if let Some((p, utc, (d0, d1))) = self.last_period {
                let inside = match (times, utc, days) {
                    (Some(t), Some((lo, hi)), _) => (lo..hi).contains(&t.value(row)),
                    (_, _, Some(d)) => (d0..d1).contains(&d.value(row)),
                    _ => false,
                };
                if inside {
                    out.append_value(p.to_string());
                    continue;
                }
            }
            match local_date(a, row, tz) {
                Some(d) => {
                    let p = Period::of(d);
                    let (first, next) = (p.first_day(), p.next().first_day());
                    let utc = utc_range(tz, first, next);
                    let span = (
                        first.num_days_from_ce_() - EPOCH_DAYS_CE,
                        next.num_days_from_ce_() - EPOCH_DAYS_CE,
                    );
                    self.last_period = Some((p, utc, span));
                    out.append_value(p.to_string());
                }
                None => {
                    if problems[row].is_none() {
                        problems[row] = Some(Problem {
                            column: Some(pc),
                            reason: "no period: the date is out of range".into(),
                        });
                    }
                    out.append_value("");
                }
            }
        }
        Arc::new(out.finish())
    }

    fn check_rows(&mut self, typed: &[ArrayRef], problems: &mut [Option<Problem>]) {
        let set =
            |problems: &mut [Option<Problem>], row: usize, ci: Option<usize>, reason: String| {
                if problems[row].is_none() {
                    problems[row] = Some(Problem { column: ci, reason });
                }
            };
        for (ci, c) in self.columns.iter().enumerate() {
            let a = &typed[ci];
            // The validity bitmap read inline, not a virtual call per row.
            let nulls = a.logical_nulls();
            let is_null = |row: usize| nulls.as_ref().is_some_and(|n| n.is_null(row));
            if c.required && a.null_count() > 0 {
                for row in 0..a.len() {
                    if is_null(row) && problems[row].is_none() {
                        set(problems, row, Some(ci), "missing required value".into());
                    }
                }
            }
            let (lo, hi) = self.bounds[ci];
            if lo.is_some() || hi.is_some() {
                let ranged = cells::Ranged::of(a);
                for row in 0..a.len() {
                    if problems[row].is_some() || is_null(row) {
                        continue;
                    }
                    if let Some(reason) = out_of_range(&ranged, row, lo, hi, c) {
                        set(problems, row, Some(ci), reason);
                    }
                }
            }
            if let (Some(values), Some(accepted)) = (&c.values, &self.accepted[ci]) {
                // Typed values (int, bool, date) compare as they print,
                // which is how compile wrote the accepted ones.
                let text = a.as_any().downcast_ref::<StringArray>();
                for row in 0..a.len() {
                    if problems[row].is_some() || is_null(row) {
                        continue;
                    }
                    let v = match text {
                        Some(t) => std::borrow::Cow::Borrowed(t.value(row)),
                        None => array_value_to_string(a, row).unwrap_or_default().into(),
                    };
                    if !accepted.contains(&v) {
                        set(
                            problems,
                            row,
                            Some(ci),
                            // A personal column's accepted values are
                            // personal data too: not listed.
                            match c.personal {
                                Some(_) => {
                                    "not an accepted value (see the column's `values:`)".to_string()
                                }
                                None => format!(
                                    "not an accepted value (accepted: {})",
                                    values.join(", ")
                                ),
                            },
                        );
                    }
                }
            }
            if let Some((rs, rc)) = &c.references
                && let Some(known) = self.checks.references.get(&c.name)
            {
                let text = a.as_any().downcast_ref::<StringArray>();
                for row in 0..a.len() {
                    if problems[row].is_none() && !is_null(row) {
                        let found = match text {
                            Some(t) => known.contains(t.value(row)),
                            None => {
                                known.contains(&array_value_to_string(a, row).unwrap_or_default())
                            }
                        };
                        if !found {
                            set(problems, row, Some(ci), format!("not found in {rs}.{rc}"));
                        }
                    }
                }
            }
        }
        if let (Some(p), Some(pc)) = (self.period, self.period_col) {
            let tz = self.checks.timezone.unwrap_or(Tz::UTC);
            let a = &typed[pc];
            let nulls = a.logical_nulls();
            // Inside the period's bounds is inside the period: only rows
            // outside are dated one by one (for the message).
            let times = a.as_any().downcast_ref::<TimestampMicrosecondArray>();
            let days = a.as_any().downcast_ref::<Date32Array>();
            let inside = |row: usize| -> bool {
                match (times, self.period_utc, days, self.period_days) {
                    (Some(t), Some((lo, hi)), _, _) => (lo..hi).contains(&t.value(row)),
                    (_, _, Some(d), Some((lo, hi))) => (lo..hi).contains(&d.value(row)),
                    _ => false,
                }
            };
            for row in 0..a.len() {
                if problems[row].is_some()
                    || nulls.as_ref().is_some_and(|n| n.is_null(row))
                    || inside(row)
                {
                    continue;
                }
                // The row's own period would show the value's year and month.
                let local = local_date(a, row, tz);
                if local.is_some_and(|d| Period::of(d) != p) {
                    set(
                        problems,
                        row,
                        Some(pc),
                        format!("outside the run's period {p}"),
                    );
                }
            }
        }
        if !self.key_cols.is_empty() {
            let keys: Vec<KeyCol> = self
                .key_cols
                .iter()
                .map(|&k| KeyCol::of(&typed[k]))
                .collect();
            let fills = *self.file_fills.get_or_insert(self.seen.is_empty());
            let mut batch = std::mem::take(&mut self.batch_keys);
            batch.clear();
            for (row, problem) in problems.iter().enumerate() {
                if problem.is_none() {
                    batch.push((row, self.digest(&keys, row)));
                }
            }
            // Inserted in row order (the first copy is kept), each slot
            // fetched a few rows ahead.
            self.seen.reserve(batch.len());
            for (i, &(row, digest)) in batch.iter().enumerate() {
                if let Some(&(_, ahead)) = batch.get(i + PREFETCH_AHEAD) {
                    self.seen.prefetch(ahead);
                }
                if self.seen.insert(digest) {
                    if !fills {
                        self.file_keys.push(digest);
                    }
                } else {
                    // The key's columns, not its values (analysts read
                    // reasons unmasked); the value is in `value`.
                    let names: Vec<&str> = self
                        .key_cols
                        .iter()
                        .map(|&k| self.columns[k].name.as_str())
                        .collect();
                    set(
                        problems,
                        row,
                        Some(self.key_cols[0]),
                        format!(
                            "duplicate key ({}): the first copy was kept",
                            names.join(", ")
                        ),
                    );
                }
            }
            self.batch_keys = batch;
        }
    }
}

/// How many rows ahead a key's slot is fetched: enough inserts to cover a
/// memory access (~100 ns), few enough that the lines are still cached.
const PREFETCH_AHEAD: usize = 8;

fn type_column(
    ci: usize,
    c: &Column,
    parser: &mut Parser,
    raw: &ArrayRef,
    problems: &mut [Option<Problem>],
) -> ArrayRef {
    let target = c.ty.arrow();
    if raw.data_type() == &target {
        return raw.clone();
    }
    // Text of another encoding (large, view, dictionary) is read as text.
    let text_of_other_kind = matches!(
        raw.data_type(),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
    ) && c.ty != ColumnType::String;
    let as_text = if text_of_other_kind {
        cast(raw, &DataType::Utf8).ok()
    } else {
        None
    };
    let Some(strings) = as_text
        .as_ref()
        .unwrap_or(raw)
        .as_any()
        .downcast_ref::<StringArray>()
    else {
        return typed::convert(ci, c, &mut parser.zone, raw, problems);
    };
    let mut fail = |row: usize, reason: String| {
        if problems[row].is_none() {
            problems[row] = Some(Problem {
                column: Some(ci),
                reason,
            });
        }
    };
    macro_rules! parse_into {
        ($builder:expr, $parse:expr) => {{
            let mut b = $builder;
            for (row, v) in strings.iter().enumerate() {
                match v {
                    None => b.append_null(),
                    Some(s) => match $parse(s) {
                        Ok(x) => b.append_value(x),
                        Err(reason) => {
                            fail(row, reason);
                            b.append_null()
                        }
                    },
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let Parser { layout, zone } = parser;
    let layout = layout.as_ref();
    match c.ty {
        ColumnType::String => raw.clone(),
        ColumnType::Int => {
            parse_into!(Int64Builder::with_capacity(strings.len()), |s: &str| s
                .trim()
                .parse::<i64>()
                .map_err(|e| match e.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow =>
                        "does not fit an int (64 bits)".to_string(),
                    _ => "not an int".to_string(),
                }))
        }
        ColumnType::Double => {
            parse_into!(Float64Builder::with_capacity(strings.len()), |s: &str| s
                .trim()
                .parse::<f64>()
                .map_err(|_| "not a double".to_string()))
        }
        ColumnType::Bool => {
            parse_into!(BooleanBuilder::with_capacity(strings.len()), parse_bool)
        }
        ColumnType::Date => {
            let fmt = c.format.as_deref().unwrap_or("%Y-%m-%d");
            parse_into!(Date32Builder::with_capacity(strings.len()), |s: &str| {
                let t = s.trim();
                layout
                    .and_then(|l| l.date(t))
                    .map(Ok)
                    .unwrap_or_else(|| NaiveDate::parse_from_str(t, fmt))
                    .map(|d| d.num_days_from_ce_() - EPOCH_DAYS_CE)
                    .map_err(|e| format!("not a date ({fmt}): {e}"))
            })
        }
        ColumnType::Timestamp => {
            let fmt = c.format.as_deref();
            parse_into!(
                TimestampMicrosecondBuilder::with_capacity(strings.len()).with_timezone("UTC"),
                |s: &str| {
                    layout
                        .and_then(|l| l.datetime(s.trim()))
                        .and_then(|n| zone.to_utc_micros(n))
                        .map(Ok)
                        .unwrap_or_else(|| parse_timestamp(s, fmt, zone.tz()))
                }
            )
        }
        ColumnType::Decimal { precision, scale } => parse_into!(
            Decimal128Builder::with_capacity(strings.len())
                .with_precision_and_scale(precision, scale)
                .unwrap_or_default(),
            |s: &str| parse_decimal(s, precision, scale)
        ),
    }
}
