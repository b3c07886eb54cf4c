//! One cell's text as a typed value: exact decimals, bank forms of
//! booleans, timestamps in a column's format and time zone; and how a
//! rejected cell is shown. Errors say what is wrong, never the value: that
//! goes to `_quarantine.value` (masked for a personal column), while a
//! reason is shown to every reader.

use super::*;

pub(super) trait DaysFromCe {
    fn num_days_from_ce_(&self) -> i32;
}
impl DaysFromCe for NaiveDate {
    fn num_days_from_ce_(&self) -> i32 {
        chrono::Datelike::num_days_from_ce(self)
    }
}

pub(super) fn cell(a: &ArrayRef, row: usize) -> String {
    if a.is_null(row) {
        String::new()
    } else {
        array_value_to_string(a, row).unwrap_or_default()
    }
}

/// The local calendar date of a date or UTC-timestamp cell in `tz`.
pub(super) fn local_date(a: &ArrayRef, row: usize, tz: Tz) -> Option<NaiveDate> {
    if let Some(t) = a.as_any().downcast_ref::<TimestampMicrosecondArray>() {
        let utc = DateTime::<Utc>::from_timestamp_micros(t.value(row))?;
        return Some(utc.with_timezone(&tz).date_naive());
    }
    if let Some(d) = a.as_any().downcast_ref::<Date32Array>() {
        return NaiveDate::from_num_days_from_ce_opt(d.value(row) + EPOCH_DAYS_CE);
    }
    None
}

/// A column downcast once for its range checks (a downcast per row cost
/// two virtual calls per value).
pub(super) enum Ranged<'a> {
    Dec(&'a Decimal128Array),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Other,
}

impl<'a> Ranged<'a> {
    pub(super) fn of(a: &'a ArrayRef) -> Self {
        let any = a.as_any();
        if let Some(d) = any.downcast_ref::<Decimal128Array>() {
            Ranged::Dec(d)
        } else if let Some(i) = any.downcast_ref::<Int64Array>() {
            Ranged::Int(i)
        } else if let Some(f) = any.downcast_ref::<Float64Array>() {
            Ranged::Float(f)
        } else {
            Ranged::Other
        }
    }
}

/// Why a value is outside its column's bounds (naming the bound, never the
/// value). NaN is in no range; infinity is beyond every bound on its side.
pub(super) fn out_of_range(
    a: &Ranged,
    row: usize,
    lo: Option<Bound>,
    hi: Option<Bound>,
    c: &Column,
) -> Option<String> {
    use std::cmp::Ordering;
    let cmp = |b: Bound| -> Option<Ordering> {
        match (b, a) {
            (Bound::Dec(y), Ranged::Dec(d)) => Some(d.value(row).cmp(&y)),
            (Bound::Int(y), Ranged::Int(i)) => Some(i.value(row).cmp(&y)),
            (Bound::Float(y), Ranged::Float(f)) => f.value(row).partial_cmp(&y),
            _ => None,
        }
    };
    if let Ranged::Float(f) = a
        && f.value(row).is_nan()
        && (lo.is_some() || hi.is_some())
    {
        return Some("not a number (NaN), which no range holds".into());
    }
    if lo.and_then(cmp) == Some(Ordering::Less) {
        return Some(format!(
            "below the minimum {}",
            c.min.as_deref().unwrap_or_default()
        ));
    }
    if hi.and_then(cmp) == Some(Ordering::Greater) {
        return Some(format!(
            "above the maximum {}",
            c.max.as_deref().unwrap_or_default()
        ));
    }
    None
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "y" | "yes" => Ok(true),
        "false" | "f" | "0" | "n" | "no" => Ok(false),
        _ => Err("not a bool (true/false, Y/N, 1/0)".into()),
    }
}

/// Exact decimal text → unscaled i128. Never goes through floating point;
/// more fractional digits than the scale is an error, not a rounding.
pub fn parse_decimal(s: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let t = s.trim();
    let bad = || format!("not a decimal({precision},{scale})");
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = scale.max(0) as usize;
    if frac.len() > scale {
        return Err(format!("more than {scale} decimal places"));
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > precision as usize {
        return Err(format!("does not fit decimal({precision},{scale})"));
    }
    let mut v: i128 = 0;
    for b in int
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', scale - frac.len()))
    {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { -v } else { v })
}

/// Timestamp text → microseconds since the epoch, UTC. Without a format,
/// RFC 3339 (with offset) or `YYYY-MM-DD HH:MM:SS` local to `tz`. Digits
/// below a microsecond are an error (they would be cut off), and no error
/// quotes the text.
pub fn parse_timestamp(s: &str, fmt: Option<&str>, tz: Tz) -> Result<i64, String> {
    let t = s.trim();
    let local = |n: NaiveDateTime| -> Result<i64, String> {
        whole_micros(n.and_utc().timestamp_subsec_nanos())?;
        tz.from_local_datetime(&n)
            .earliest()
            .map(|d| d.with_timezone(&Utc).timestamp_micros())
            .ok_or_else(|| format!("does not exist in time zone {tz} (a clock change)"))
    };
    let instant = |d: DateTime<chrono::FixedOffset>| -> Result<i64, String> {
        whole_micros(d.timestamp_subsec_nanos())?;
        Ok(d.with_timezone(&Utc).timestamp_micros())
    };
    match fmt {
        Some(f) if f.contains("%z") || f.contains("%:z") => DateTime::parse_from_str(t, f)
            .map_err(|e| format!("not a timestamp ({f}): {e}"))
            .and_then(instant),
        Some(f) => local(
            NaiveDateTime::parse_from_str(t, f)
                .map_err(|e| format!("not a timestamp ({f}): {e}"))?,
        ),
        None => {
            if let Ok(d) = DateTime::parse_from_rfc3339(t) {
                return instant(d);
            }
            local(
                NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").map_err(|e| {
                    format!("not a timestamp (RFC 3339 or YYYY-MM-DD HH:MM:SS): {e}")
                })?,
            )
        }
    }
}

/// Timestamps are stored to the microsecond: finer digits are refused.
pub(super) fn whole_micros(subsec_nanos: u32) -> Result<(), String> {
    if subsec_nanos.is_multiple_of(1000) {
        Ok(())
    } else {
        Err(PRECISION_LOST.into())
    }
}

pub(super) const PRECISION_LOST: &str = "precision would be lost: digits below a microsecond (timestamps are stored to the microsecond)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("123.45", 18, 2), Ok(12345));
        assert_eq!(parse_decimal("-0.5", 18, 2), Ok(-50));
        assert_eq!(parse_decimal("7", 18, 2), Ok(700));
        assert!(parse_decimal("1.234", 18, 2).is_err());
        assert!(parse_decimal("12x.50", 18, 2).is_err());
        assert!(parse_decimal("", 18, 2).is_err());
        assert!(parse_decimal("12345", 5, 2).is_err());
        // 0.1 + 0.2 style values stay exact.
        assert_eq!(parse_decimal("0.30", 18, 2), Ok(30));
    }

    #[test]
    fn timestamps_normalise_to_utc() {
        let hk: Tz = "Asia/Hong_Kong".parse().expect("tz");
        // 09:00 in Hong Kong is 01:00 UTC.
        let want = DateTime::parse_from_rfc3339("2024-01-03T01:00:00Z")
            .expect("ts")
            .timestamp_micros();
        assert_eq!(parse_timestamp("2024-01-03 09:00:00", None, hk), Ok(want));
        assert_eq!(
            parse_timestamp("03/01/2024 09:00:00", Some("%d/%m/%Y %H:%M:%S"), hk),
            Ok(want)
        );
        assert_eq!(
            parse_timestamp("2024-01-03T09:00:00+08:00", None, Tz::UTC),
            Ok(want)
        );
        assert!(parse_timestamp("2024-02-30 10:00:00", None, hk).is_err());
        // Digits below a microsecond are refused, not cut off.
        assert_eq!(
            parse_timestamp("2024-01-03T01:00:00.000001Z", None, hk),
            Ok(want + 1)
        );
        for text in [
            "2024-01-03T01:00:00.0000011Z",
            "2024-01-03 09:00:00.123456789",
        ] {
            let f = text.contains(' ').then_some("%Y-%m-%d %H:%M:%S%.f");
            let e = parse_timestamp(text, f, hk).expect_err(text);
            assert!(e.contains("precision would be lost"), "{e}");
        }
        assert!(parse_timestamp("2024-13-01 10:00:00", None, hk).is_err());
    }

    #[test]
    fn bools_in_bank_forms() {
        assert_eq!(parse_bool("Y"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
