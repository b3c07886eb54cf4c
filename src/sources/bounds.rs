//! A column's `min`/`max`, compiled to the column's own type so a value is
//! compared exactly: an int bound as an integer (past a double's 53 bits),
//! a decimal bound at the column's scale, a double bound as a finite
//! double. A bound that cannot be applied exactly is a `validate` error,
//! never silently dropped.

use crate::spec::types::ColumnType;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Int(i64),
    /// Unscaled, at the column's scale.
    Dec(i128),
    Float(f64),
}

/// A bound's text (as written in the YAML) in the column's type, or why it
/// cannot be applied to it.
pub fn compile(text: &str, ty: ColumnType) -> Result<Bound, String> {
    let t = text.trim();
    match ty {
        ColumnType::Int => {
            // A whole number; `10.0` is one, `0.5` is not.
            let (int, frac) = t.split_once('.').unwrap_or((t, ""));
            if !frac.bytes().all(|b| b == b'0') {
                return Err(format!(
                    "`{t}` is not a whole number, and the column is an int"
                ));
            }
            int.parse::<i64>()
                .map(Bound::Int)
                .map_err(|_| format!("`{t}` is not an int of at most 64 bits"))
        }
        ColumnType::Decimal { precision, scale } => {
            super::conform::parse_decimal(t, precision, scale)
                .map(Bound::Dec)
                .map_err(|e| format!("`{t}` cannot be a bound of a {ty} column: {e}"))
        }
        ColumnType::Double => match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Bound::Float(v)),
            _ => Err(format!("`{t}` is not a finite number")),
        },
        _ => Err(format!(
            "`min`/`max` need a numeric column, this one is {ty}"
        )),
    }
}

/// Whether `min` is above `max` (no value could pass).
pub fn crossed(min: Bound, max: Bound) -> bool {
    match (min, max) {
        (Bound::Int(a), Bound::Int(b)) => a > b,
        (Bound::Dec(a), Bound::Dec(b)) => a > b,
        (Bound::Float(a), Bound::Float(b)) => a > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_apply_exactly_or_not_at_all() {
        let dec = ColumnType::Decimal {
            precision: 12,
            scale: 2,
        };
        assert_eq!(compile("0.01", dec), Ok(Bound::Dec(1)));
        assert!(compile("0.001", dec).is_err());
        assert!(compile("99999999999.99", dec).is_err());
        assert_eq!(
            compile("9007199254740993", ColumnType::Int),
            Ok(Bound::Int(9_007_199_254_740_993))
        );
        assert_eq!(compile("10.0", ColumnType::Int), Ok(Bound::Int(10)));
        assert!(compile("0.5", ColumnType::Int).is_err());
        assert!(compile(".nan", ColumnType::Double).is_err());
        assert!(compile("NaN", ColumnType::Double).is_err());
        assert!(compile("inf", ColumnType::Double).is_err());
        assert_eq!(compile("1e3", ColumnType::Double), Ok(Bound::Float(1000.0)));
        assert!(crossed(Bound::Dec(10_000), Bound::Dec(1_000)));
        assert!(!crossed(Bound::Int(1), Bound::Int(1)));
    }
}
