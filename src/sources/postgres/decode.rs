//! Binary COPY fields → the raw Arrow columns the conformer takes. Where a
//! value fits its declared type exactly it is decoded straight into that
//! type (an `int8` into int, a `numeric(18,2)` into decimal(18,2), a
//! `timestamptz` into UTC microseconds), so the conformer passes it
//! through. Where one value of a batch does not (a `numeric(20,4)` value
//! with four decimals into decimal(18,2), `infinity`, a local time that
//! does not exist in its zone), that batch's column is sent as exact text
//! instead and the conformer parses it like a CSV field: the row is
//! quarantined with the same reason a file's would get, never rounded.
//! Text that is not valid UTF-8 rejects its row here.

use super::binary::Rows;
use super::types::Wire;
use crate::sources::timestamp::Zone;
use crate::spec::types::ColumnType;
use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::filter;
use std::sync::Arc;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// How one selected column is decoded.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub wire: Wire,
    pub declared: ColumnType,
    /// The zone of a `timestamp` without one.
    pub zone: Zone,
}

/// A row rejected while decoding: its index in the batch, the column, the
/// value as far as it can be shown, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub row: usize,
    pub column: usize,
    pub value: String,
    pub reason: String,
}

/// Decode every column of `rows`; rejected rows are left out of the
/// columns and listed (by their index in `rows`).
pub fn decode(cols: &mut [Column], rows: &Rows) -> Result<(Vec<ArrayRef>, Vec<BadRow>), String> {
    let mut bad = Vec::new();
    let mut out = Vec::with_capacity(cols.len());
    for (ci, c) in cols.iter_mut().enumerate() {
        out.push(column(c, rows, ci, &mut bad)?);
    }
    if bad.is_empty() {
        return Ok((out, bad));
    }
    bad.sort_by_key(|b| b.row);
    bad.dedup_by_key(|b| b.row);
    let keep: BooleanArray = (0..rows.len())
        .map(|r| Some(bad.binary_search_by_key(&r, |b| b.row).is_err()))
        .collect();
    let out = out
        .iter()
        .map(|a| filter(a.as_ref(), &keep))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((out, bad))
}

fn be<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], String> {
    b.try_into()
        .map_err(|_| format!("a {what} of {} bytes, not {N}", b.len()))
}

fn i16_of(b: &[u8]) -> Result<i64, String> {
    Ok(i16::from_be_bytes(be(b, "int2")?).into())
}
fn i32_of(b: &[u8]) -> Result<i64, String> {
    Ok(i32::from_be_bytes(be(b, "int4")?).into())
}
fn i64_of(b: &[u8]) -> Result<i64, String> {
    Ok(i64::from_be_bytes(be(b, "int8")?))
}

/// An integer field of any width.
fn int_of(w: Wire, b: &[u8]) -> Result<i64, String> {
    match w {
        Wire::Int2 => i16_of(b),
        Wire::Int4 => i32_of(b),
        _ => i64_of(b),
    }
}

/// Why a typed decode gave up on a batch's column: send it as text.
struct AsText;

fn column(
    c: &mut Column,
    rows: &Rows,
    ci: usize,
    bad: &mut Vec<BadRow>,
) -> Result<ArrayRef, String> {
    let n = rows.len();
    let typed: Result<ArrayRef, AsText> = match (c.declared, c.wire) {
        (_, Wire::Text | Wire::Json | Wire::Jsonb | Wire::Other) => return text(c, rows, ci, bad),
        (ColumnType::Int, Wire::Int2 | Wire::Int4 | Wire::Int8) => {
            let mut b = Int64Builder::with_capacity(n);
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => b.append_value(int_of(c.wire, f)?),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        (ColumnType::Double, _) => {
            let mut b = Float64Builder::with_capacity(n);
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => b.append_value(match c.wire {
                        Wire::Float4 => f32::from_be_bytes(be(f, "float4")?).into(),
                        Wire::Float8 => f64::from_be_bytes(be(f, "float8")?),
                        w => int_of(w, f)? as f64,
                    }),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        (ColumnType::Decimal { precision, scale }, w) => {
            let mut b = Decimal128Builder::with_capacity(n);
            let mut failed = false;
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => {
                        let v = match w {
                            Wire::Numeric => numeric_i128(f, precision, scale)?,
                            w => scaled_int(int_of(w, f)?, precision, scale),
                        };
                        match v {
                            Some(v) => b.append_value(v),
                            None => {
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            if failed {
                Err(AsText)
            } else {
                let a = b
                    .finish()
                    .with_precision_and_scale(precision, scale)
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(a))
            }
        }
        (ColumnType::Bool, Wire::Bool) => {
            let mut b = BooleanBuilder::with_capacity(n);
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => b.append_value(be::<1>(f, "bool")?[0] != 0),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        (ColumnType::Date, Wire::Date) => {
            let mut b = Date32Builder::with_capacity(n);
            let mut failed = false;
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => {
                        let d = i32::from_be_bytes(be(f, "date")?);
                        match d.checked_add(PG_EPOCH_DAYS) {
                            // ±infinity are i32::MAX and MIN.
                            Some(x) if d != i32::MAX && d != i32::MIN => b.append_value(x),
                            _ => {
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            if failed {
                Err(AsText)
            } else {
                Ok(Arc::new(b.finish()))
            }
        }
        (ColumnType::Timestamp, Wire::Timestamptz | Wire::Timestamp) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            let mut failed = false;
            for r in 0..n {
                match rows.field(r, ci) {
                    None => b.append_null(),
                    Some(f) => {
                        let us = i64_of(f)?;
                        let v = if us == i64::MAX || us == i64::MIN {
                            None
                        } else if c.wire == Wire::Timestamptz {
                            us.checked_add(PG_EPOCH_MICROS)
                        } else {
                            us.checked_add(PG_EPOCH_MICROS)
                                .and_then(DateTime::from_timestamp_micros)
                                .and_then(|d| c.zone.to_utc_micros(d.naive_utc()))
                        };
                        match v {
                            Some(v) => b.append_value(v),
                            None => {
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            if failed {
                Err(AsText)
            } else {
                Ok(Arc::new(b.finish()))
            }
        }
        // Compile and the extract allow no other pairs; text is always safe.
        _ => Err(AsText),
    };
    match typed {
        Ok(a) => Ok(a),
        Err(AsText) => exact_text(c, rows, ci),
    }
}

/// A text column: the field's bytes (after `jsonb`'s version byte), each
/// checked to be UTF-8.
fn text(c: &Column, rows: &Rows, ci: usize, bad: &mut Vec<BadRow>) -> Result<ArrayRef, String> {
    let n = rows.len();
    let mut b = StringBuilder::with_capacity(n, rows.data.len() / c_max(rows));
    for r in 0..n {
        let Some(mut f) = rows.field(r, ci) else {
            b.append_null();
            continue;
        };
        if c.wire == Wire::Jsonb {
            match f.split_first() {
                Some((1, rest)) => f = rest,
                _ => return Err("a jsonb value of an unknown version".into()),
            }
        }
        match std::str::from_utf8(f) {
            Ok(s) => b.append_value(s),
            Err(_) => {
                bad.push(BadRow {
                    row: r,
                    column: ci,
                    value: String::from_utf8_lossy(f).into_owned(),
                    reason: "not valid UTF-8 text".into(),
                });
                b.append_null();
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

fn c_max(rows: &Rows) -> usize {
    rows.ncols.max(1)
}

/// A typed column as exact text, for the conformer to parse and judge.
/// Times go as RFC 3339 in UTC (a local time placed in its zone first), so
/// the conformer reads them back unchanged; one that cannot be placed
/// (`infinity`, a local time in a spring-forward gap) goes as written, and
/// the conformer rejects it with its reason.
fn exact_text(c: &mut Column, rows: &Rows, ci: usize) -> Result<ArrayRef, String> {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
    for r in 0..rows.len() {
        match rows.field(r, ci) {
            None => b.append_null(),
            Some(f) => match c.wire {
                Wire::Timestamp | Wire::Timestamptz => {
                    let us = i64_of(f)?;
                    let naive = (us != i64::MAX && us != i64::MIN)
                        .then(|| us.checked_add(PG_EPOCH_MICROS))
                        .flatten()
                        .and_then(DateTime::from_timestamp_micros)
                        .map(|d| d.naive_utc());
                    let utc = match (naive, c.wire) {
                        (Some(n), Wire::Timestamptz) => Some(n.and_utc().timestamp_micros()),
                        (Some(n), _) => c.zone.to_utc_micros(n),
                        (None, _) => None,
                    };
                    match (utc.and_then(DateTime::from_timestamp_micros), naive) {
                        (Some(d), _) => b.append_value(
                            d.naive_utc()
                                .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
                                .to_string(),
                        ),
                        (None, Some(n)) if n.and_utc().timestamp_subsec_micros() == 0 => {
                            b.append_value(n.format("%Y-%m-%d %H:%M:%S").to_string())
                        }
                        (None, _) => b.append_value(render(c.wire, f)?),
                    }
                }
                w => b.append_value(render(w, f)?),
            },
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A field as text the conformer parses to the same value (or rejects
/// with the reason a CSV field would get).
pub fn render(w: Wire, f: &[u8]) -> Result<String, String> {
    Ok(match w {
        Wire::Numeric => numeric_text(f)?,
        Wire::Int2 | Wire::Int4 | Wire::Int8 => int_of(w, f)?.to_string(),
        Wire::Date => {
            let d = i32::from_be_bytes(be(f, "date")?);
            match d {
                i32::MAX => "infinity".into(),
                i32::MIN => "-infinity".into(),
                d => NaiveDate::from_num_days_from_ce_opt(d + PG_EPOCH_DAYS + 719_163)
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| format!("day {d}")),
            }
        }
        Wire::Timestamp | Wire::Timestamptz => match i64_of(f)? {
            i64::MAX => "infinity".into(),
            i64::MIN => "-infinity".into(),
            us => us
                .checked_add(PG_EPOCH_MICROS)
                .and_then(DateTime::from_timestamp_micros)
                .map(|d| {
                    let s = d.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
                    if w == Wire::Timestamptz {
                        format!("{s}+00:00")
                    } else {
                        s
                    }
                })
                .unwrap_or_else(|| format!("{us} microseconds")),
        },
        Wire::Bool => (be::<1>(f, "bool")?[0] != 0).to_string(),
        Wire::Float4 => f32::from_be_bytes(be(f, "float4")?).to_string(),
        Wire::Float8 => f64::from_be_bytes(be(f, "float8")?).to_string(),
        Wire::Text | Wire::Json | Wire::Jsonb | Wire::Other => {
            String::from_utf8_lossy(f).into_owned()
        }
    })
}

/// An `int` at a decimal's scale, if it fits the precision.
fn scaled_int(v: i64, precision: u8, scale: i8) -> Option<i128> {
    let v = i128::from(v).checked_mul(POW10.get(scale.max(0) as usize).copied()?)?;
    (v.unsigned_abs() < POW10.get(precision as usize).copied()?.unsigned_abs()).then_some(v)
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// A numeric's header and base-10000 digits.
fn numeric_parts(f: &[u8]) -> Result<(i16, u16, u16, Vec<u16>), String> {
    if f.len() < 8 {
        return Err("a numeric shorter than its header".into());
    }
    let n = i16::from_be_bytes([f[0], f[1]]);
    let weight = i16::from_be_bytes([f[2], f[3]]);
    let sign = u16::from_be_bytes([f[4], f[5]]);
    let dscale = u16::from_be_bytes([f[6], f[7]]);
    if n < 0 || f.len() != 8 + 2 * n as usize {
        return Err("a numeric whose digits do not match its header".into());
    }
    let digits = f[8..]
        .chunks_exact(2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
        .collect::<Vec<_>>();
    if digits.iter().any(|&d| d >= 10_000) {
        return Err("a numeric digit over 9999".into());
    }
    Ok((weight, sign, dscale, digits))
}

/// The numeric at `scale` as an unscaled integer, if that is exact and
/// within `precision` digits (`Ok(None)`: send the column as text).
pub fn numeric_i128(f: &[u8], precision: u8, scale: i8) -> Result<Option<i128>, String> {
    let (weight, sign, _, digits) = numeric_parts(f)?;
    if sign != 0 && sign != NUMERIC_NEG {
        return Ok(None);
    }
    let mut v: i128 = 0;
    for (i, &d) in digits.iter().enumerate() {
        let e = 4 * (i32::from(weight) - i as i32) + i32::from(scale);
        let d = i128::from(d);
        let term = if e >= 0 {
            match POW10.get(e as usize) {
                Some(p) => d.checked_mul(*p),
                None if d == 0 => Some(0),
                None => None,
            }
        } else {
            let div = POW10.get((-e) as usize).copied().unwrap_or(i128::MAX);
            if d % div != 0 {
                return Ok(None);
            }
            Some(d / div)
        };
        match term.and_then(|t| v.checked_add(t)) {
            Some(x) => v = x,
            None => return Ok(None),
        }
    }
    if v >= POW10[precision.min(38) as usize] {
        return Ok(None);
    }
    Ok(Some(if sign == NUMERIC_NEG { -v } else { v }))
}

/// A numeric as exact decimal text, without trailing fractional zeros
/// (`12.3400` is `12.34`: the same value, and what a declared scale of 2
/// accepts).
pub fn numeric_text(f: &[u8]) -> Result<String, String> {
    let (weight, sign, _, digits) = numeric_parts(f)?;
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        0 | NUMERIC_NEG => {}
        other => return Err(format!("a numeric with sign {other:#x}")),
    }
    let w = i32::from(weight);
    let group = |p: i32| -> u16 {
        let i = w - p;
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut int = String::new();
    for p in (0..=w).rev() {
        if int.is_empty() {
            if group(p) != 0 || p == 0 {
                int = group(p).to_string();
            }
        } else {
            int.push_str(&format!("{:04}", group(p)));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let lowest = w - digits.len() as i32 + 1;
    let mut frac = String::new();
    for p in (lowest.min(0)..0).rev() {
        frac.push_str(&format!("{:04}", group(p)));
    }
    let frac = frac.trim_end_matches('0');
    let neg = sign == NUMERIC_NEG && (int != "0" || !frac.is_empty());
    let mut s = String::with_capacity(int.len() + frac.len() + 2);
    if neg {
        s.push('-');
    }
    s.push_str(&int);
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A numeric in binary: `digits` base 10000 with `weight`.
    fn num(weight: i16, neg: bool, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&(if neg { NUMERIC_NEG } else { 0 }).to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_are_exact_or_text() {
        // 12.3456
        let a = num(0, false, 4, &[12, 3456]);
        assert_eq!(numeric_text(&a), Ok("12.3456".into()));
        assert_eq!(numeric_i128(&a, 18, 2), Ok(None), "4 decimals into scale 2");
        assert_eq!(numeric_i128(&a, 18, 4), Ok(Some(123_456)));
        // 12.3400: the same value as 12.34.
        let b = num(0, false, 4, &[12, 3400]);
        assert_eq!(numeric_text(&b), Ok("12.34".into()));
        assert_eq!(numeric_i128(&b, 18, 2), Ok(Some(1234)));
        // -123456789.01 = groups 1,2345,6789 . 0100
        let c = num(2, true, 2, &[1, 2345, 6789, 100]);
        assert_eq!(numeric_text(&c), Ok("-123456789.01".into()));
        assert_eq!(numeric_i128(&c, 18, 2), Ok(Some(-12_345_678_901)));
        assert_eq!(numeric_i128(&c, 10, 2), Ok(None), "too many digits");
        // 0.0005 (weight -1, group 5) and 10000 (weight 1, group 1)
        assert_eq!(numeric_text(&num(-1, false, 4, &[5])), Ok("0.0005".into()));
        assert_eq!(numeric_text(&num(1, false, 0, &[1])), Ok("10000".into()));
        assert_eq!(
            numeric_i128(&num(1, false, 0, &[1]), 18, 2),
            Ok(Some(1_000_000))
        );
        assert_eq!(numeric_text(&num(0, false, 0, &[])), Ok("0".into()));
        // 123456789012345678901234567890.12 at scale 2 fits decimal(38,2).
        let big = num(
            7,
            false,
            2,
            &[12, 3456, 7890, 1234, 5678, 9012, 3456, 7890, 1200],
        );
        assert_eq!(
            numeric_text(&big),
            Ok("123456789012345678901234567890.12".into())
        );
        assert_eq!(
            numeric_i128(&big, 38, 2),
            Ok(Some(12_345_678_901_234_567_890_123_456_789_012))
        );
        let mut nan = num(0, false, 0, &[]);
        nan[4..6].copy_from_slice(&NUMERIC_NAN.to_be_bytes());
        assert_eq!(numeric_text(&nan), Ok("NaN".into()));
        assert_eq!(numeric_i128(&nan, 18, 2), Ok(None));
        assert!(numeric_text(&[0, 1]).is_err());
        assert!(numeric_text(&num(0, false, 0, &[10_000])).is_err());
    }

    #[test]
    fn ints_scale_into_decimals() {
        assert_eq!(scaled_int(123, 18, 2), Some(12_300));
        assert_eq!(scaled_int(-5, 3, 2), Some(-500));
        assert_eq!(scaled_int(10, 3, 2), None, "1000 has 4 digits");
        assert_eq!(
            scaled_int(i64::MAX, 38, 2),
            Some(i128::from(i64::MAX) * 100)
        );
    }

    #[test]
    fn dates_and_times_render() {
        // 2024-06-01 is 8918 days after 2000-01-01.
        assert_eq!(
            render(Wire::Date, &8918i32.to_be_bytes()),
            Ok("2024-06-01".into())
        );
        assert_eq!(
            render(Wire::Date, &i32::MAX.to_be_bytes()),
            Ok("infinity".into())
        );
        let us: i64 = 8918 * 86_400_000_000 + 1_500_000;
        assert_eq!(
            render(Wire::Timestamp, &us.to_be_bytes()),
            Ok("2024-06-01 00:00:01.500000".into())
        );
        assert_eq!(
            render(Wire::Timestamptz, &i64::MIN.to_be_bytes()),
            Ok("-infinity".into())
        );
    }
}
