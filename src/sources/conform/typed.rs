//! Typed input (Parquet) of another type than declared: a value loads only
//! when the declared type holds it exactly, else its row is quarantined
//! with the reason. A timestamp without a zone is wall-clock time in the
//! column's zone (as CSV text without an offset is); money is never
//! rounded; an int is never cut; nanoseconds are never dropped.

use super::cells::{PRECISION_LOST, parse_decimal};
use super::*;
use datafusion::arrow::array::{
    Date64Array, Float32Array, PrimitiveArray, UInt64Array, new_null_array,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

/// A number as the file holds it, read one value at a time.
enum Num<'a> {
    Int(Int64Array),
    UInt(&'a UInt64Array),
    /// A float, with its own shortest text (an f32's is not its f64's).
    F64(&'a Float64Array),
    F32(Float32Array),
    Dec(&'a Decimal128Array, i8),
}

enum Value {
    Int(i64),
    UInt(u64),
    Float(f64, String),
    Dec(i128, i8),
}

impl Num<'_> {
    fn of(raw: &ArrayRef) -> Option<Num<'_>> {
        use DataType::*;
        let any = raw.as_any();
        Some(match raw.data_type() {
            Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Int64 => {
                // Widening to 64 bits is exact.
                let a = cast(raw, &Int64).ok()?;
                Num::Int(a.as_any().downcast_ref::<Int64Array>()?.clone())
            }
            UInt64 => Num::UInt(any.downcast_ref()?),
            Float64 => Num::F64(any.downcast_ref()?),
            Float16 | Float32 => {
                let a = cast(raw, &Float32).ok()?;
                Num::F32(a.as_any().downcast_ref::<Float32Array>()?.clone())
            }
            Decimal128(_, s) => Num::Dec(any.downcast_ref()?, *s),
            _ => return None,
        })
    }

    fn get(&self, row: usize) -> Value {
        match self {
            Num::Int(a) => Value::Int(a.value(row)),
            Num::UInt(a) => Value::UInt(a.value(row)),
            Num::F64(a) => Value::Float(a.value(row), a.value(row).to_string()),
            Num::F32(a) => Value::Float(f64::from(a.value(row)), a.value(row).to_string()),
            Num::Dec(a, s) => Value::Dec(a.value(row), *s),
        }
    }
}

const NOT_FINITE: &str = "not a finite number";
const NOT_WHOLE: &str = "not a whole number (an int is never cut)";
/// 2^63, exactly: the first float past every i64.
const TWO_63: f64 = -(i64::MIN as f64);
const TOO_BIG_INT: &str = "does not fit an int (64 bits)";

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// An unscaled decimal at scale `s` rescaled exactly to `to`.
fn rescale(v: i128, s: i8, to: i8) -> Result<i128, String> {
    let (s, to) = (i32::from(s), i32::from(to));
    if s > to {
        let f = pow10((s - to) as u32).ok_or("does not fit")?;
        if v % f != 0 {
            return Err(format!("more than {to} decimal places"));
        }
        Ok(v / f)
    } else {
        pow10((to - s) as u32)
            .and_then(|f| v.checked_mul(f))
            .ok_or_else(|| "does not fit".into())
    }
}

fn to_int(v: Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(i),
        Value::UInt(u) => i64::try_from(u).map_err(|_| TOO_BIG_INT.into()),
        Value::Float(f, _) if !f.is_finite() => Err(NOT_FINITE.into()),
        Value::Float(f, _) if f.fract() != 0.0 => Err(NOT_WHOLE.into()),
        // 2^63 is exactly representable; anything from it up does not fit.
        Value::Float(f, _) if !(-TWO_63..TWO_63).contains(&f) => Err(TOO_BIG_INT.into()),
        Value::Float(f, _) => Ok(f as i64),
        Value::Dec(d, s) => {
            let whole = rescale(d, s, 0).map_err(|_| NOT_WHOLE.to_string())?;
            i64::try_from(whole).map_err(|_| TOO_BIG_INT.into())
        }
    }
}

fn to_double(v: Value) -> Result<f64, String> {
    // Integers a double holds exactly: |v| <= 2^53.
    const EXACT: u64 = 1 << 53;
    match v {
        Value::Int(i) if i.unsigned_abs() <= EXACT => Ok(i as f64),
        Value::UInt(u) if u <= EXACT => Ok(u as f64),
        Value::Int(_) | Value::UInt(_) => {
            Err("too large for a double to hold exactly (beyond 2^53)".into())
        }
        // As the same text from CSV would load.
        Value::Float(_, text) => text.parse::<f64>().map_err(|_| NOT_FINITE.into()),
        Value::Dec(d, s) => decimal_text(d, s)
            .parse::<f64>()
            .map_err(|_| "not a number".into()),
    }
}

fn to_decimal(v: Value, precision: u8, scale: i8) -> Result<i128, String> {
    let unscaled = match v {
        Value::Int(i) => rescale(i128::from(i), 0, scale),
        Value::UInt(u) => rescale(i128::from(u), 0, scale),
        Value::Float(f, _) if !f.is_finite() => return Err(NOT_FINITE.into()),
        // The shortest text that reads back as the float, exactly as if
        // it had been written in a CSV file.
        Value::Float(_, text) => return parse_decimal(&text, precision, scale),
        Value::Dec(d, s) => rescale(d, s, scale),
    };
    let fits = |v: i128| pow10(u32::from(precision)).is_some_and(|lim| v.abs() < lim);
    match unscaled {
        Ok(v) if fits(v) => Ok(v),
        Err(e) if e.contains("decimal places") => Err(e),
        _ => Err(format!("does not fit decimal({precision},{scale})")),
    }
}

/// An unscaled decimal as text (`-12.34`).
fn decimal_text(v: i128, s: i8) -> String {
    if s <= 0 {
        return format!("{v}{}", "0".repeat(s.unsigned_abs() as usize));
    }
    let digits = format!("{:0>width$}", v.unsigned_abs(), width = s as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - s as usize);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// A timestamp column's values as microseconds and whether they carry a
/// zone (an instant) or not (wall-clock time).
fn micros(raw: &ArrayRef) -> Option<(Column64, bool)> {
    fn scaled<T: ArrowPrimitiveType<Native = i64>>(
        raw: &ArrayRef,
        f: impl Fn(i64) -> Result<i64, String>,
    ) -> Option<Column64> {
        let a = raw.as_any().downcast_ref::<PrimitiveArray<T>>()?;
        Some(a.iter().map(|v| v.map(&f)).collect())
    }
    let overflow = || "out of the range of timestamps".to_string();
    let DataType::Timestamp(unit, tz) = raw.data_type() else {
        return None;
    };
    let values = match unit {
        TimeUnit::Second => {
            scaled::<TimestampSecondType>(raw, |v| v.checked_mul(1_000_000).ok_or_else(overflow))
        }
        TimeUnit::Millisecond => {
            scaled::<TimestampMillisecondType>(raw, |v| v.checked_mul(1000).ok_or_else(overflow))
        }
        TimeUnit::Microsecond => scaled::<TimestampMicrosecondType>(raw, Ok),
        TimeUnit::Nanosecond => scaled::<TimestampNanosecondType>(raw, |v| {
            if v % 1000 == 0 {
                Ok(v / 1000)
            } else {
                Err(PRECISION_LOST.into())
            }
        }),
    }?;
    Some((values, tz.is_some()))
}

fn naive(us: i64) -> Result<NaiveDateTime, String> {
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .ok_or_else(|| "out of the range of timestamps".into())
}

/// Wall-clock time in the column's zone → UTC microseconds.
fn local_to_utc(n: NaiveDateTime, zone: &mut Zone) -> Result<i64, String> {
    zone.to_utc_micros(n)
        .ok_or_else(|| format!("does not exist in time zone {} (a clock change)", zone.tz()))
}

/// Convert typed input of another type than `c` declares; a value that
/// cannot be held exactly is null and its row's problem is set.
pub(super) fn convert(
    ci: usize,
    c: &Column,
    zone: &mut Zone,
    raw: &ArrayRef,
    problems: &mut [Option<Problem>],
) -> ArrayRef {
    let mut fail = |row: usize, reason: String| {
        if problems[row].is_none() {
            problems[row] = Some(Problem {
                column: Some(ci),
                reason,
            });
        }
    };
    let n = raw.len();
    let found = raw.data_type().clone();
    macro_rules! build {
        ($builder:expr, $get:expr) => {{
            let mut b = $builder;
            for row in 0..n {
                if raw.is_null(row) {
                    b.append_null();
                    continue;
                }
                match ($get)(row) {
                    Ok(v) => b.append_value(v),
                    Err(reason) => {
                        fail(row, reason);
                        b.append_null();
                    }
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let num = Num::of(raw);
    let out: Option<ArrayRef> = match c.ty {
        ColumnType::String => cast(raw, &DataType::Utf8).ok(),
        ColumnType::Bool => None,
        ColumnType::Int => {
            num.map(|num| build!(Int64Builder::with_capacity(n), |r| to_int(num.get(r))))
        }
        ColumnType::Double => {
            num.map(|num| build!(Float64Builder::with_capacity(n), |r| to_double(num.get(r))))
        }
        ColumnType::Decimal { precision, scale } => num.map(|num| {
            build!(
                Decimal128Builder::with_capacity(n)
                    .with_precision_and_scale(precision, scale)
                    .unwrap_or_default(),
                |r| to_decimal(num.get(r), precision, scale)
            )
        }),
        ColumnType::Timestamp => timestamps(raw, zone).map(|v| {
            build!(
                TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
                |r: usize| v[r].clone().unwrap_or(Ok(0))
            )
        }),
        ColumnType::Date => dates(raw, &*zone).map(|v| {
            build!(Date32Builder::with_capacity(n), |r: usize| v[r]
                .clone()
                .unwrap_or(Ok(0)))
        }),
    };
    out.unwrap_or_else(|| {
        for row in 0..n {
            if raw.is_valid(row) {
                fail(row, format!("a {found} value cannot be a {}", c.ty));
            }
        }
        new_null_array(&c.ty.arrow(), n)
    })
}

type Column64 = Vec<Option<Result<i64, String>>>;

/// Timestamps (zoned: instants; naive: wall-clock time in the column's
/// zone) and dates (local midnight) as UTC microseconds.
fn timestamps(raw: &ArrayRef, zone: &mut Zone) -> Option<Column64> {
    if let Some((values, zoned)) = micros(raw) {
        if zoned {
            return Some(values);
        }
        let out = values
            .into_iter()
            .map(|v| v.map(|us| us.and_then(naive).and_then(|n| local_to_utc(n, zone))))
            .collect();
        return Some(out);
    }
    let days = days_of(raw)?;
    Some(
        days.into_iter()
            .map(|d| {
                d.map(|d| {
                    d.and_then(|d| {
                        let date = NaiveDate::from_num_days_from_ce_opt(d + EPOCH_DAYS_CE)
                            .ok_or("out of the range of dates")?;
                        local_to_utc(date.and_time(chrono::NaiveTime::MIN), zone)
                    })
                })
            })
            .collect(),
    )
}

/// Dates, and timestamps that are exactly midnight (in the column's zone
/// for an instant), as days since the epoch.
fn dates(raw: &ArrayRef, zone: &Zone) -> Option<Vec<Option<Result<i32, String>>>> {
    if let Some(d) = days_of(raw) {
        return Some(d);
    }
    let (values, zoned) = micros(raw)?;
    let tz = zone.tz();
    let day = move |us: i64| -> Result<i32, String> {
        let n = naive(us)?;
        let local = if zoned {
            n.and_utc().with_timezone(&tz).naive_local()
        } else {
            n
        };
        if local.time() != chrono::NaiveTime::MIN {
            return Err("a timestamp that is not midnight: its time would be lost".into());
        }
        Ok(local.date().num_days_from_ce_() - EPOCH_DAYS_CE)
    };
    Some(
        values
            .into_iter()
            .map(|v| v.map(|us| us.and_then(day)))
            .collect(),
    )
}

fn days_of(raw: &ArrayRef) -> Option<Vec<Option<Result<i32, String>>>> {
    const DAY_MS: i64 = 86_400_000;
    if let Some(d) = raw.as_any().downcast_ref::<Date32Array>() {
        return Some(d.iter().map(|v| v.map(Ok)).collect());
    }
    let d = raw.as_any().downcast_ref::<Date64Array>()?;
    Some(
        d.iter()
            .map(|v| {
                v.map(|ms| {
                    if ms % DAY_MS == 0 {
                        i32::try_from(ms / DAY_MS).map_err(|_| "out of the range of dates".into())
                    } else {
                        Err("a date with a time of day: the time would be lost".into())
                    }
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_and_rescale() {
        assert_eq!(decimal_text(-1234, 2), "-12.34");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(7, -2), "700");
        assert_eq!(rescale(123_400, 4, 2), Ok(1234));
        assert!(rescale(123_450, 4, 2).is_err());
        assert_eq!(rescale(12, 0, 2), Ok(1200));
        assert_eq!(to_int(Value::Float(-TWO_63, String::new())), Ok(i64::MIN));
        assert!(to_int(Value::Float(TWO_63, String::new())).is_err());
        assert!(to_int(Value::UInt(u64::MAX)).is_err());
        assert!(to_double(Value::Int((1 << 53) + 1)).is_err());
        assert_eq!(to_double(Value::Int(1 << 53)), Ok(9_007_199_254_740_992.0));
    }
}
