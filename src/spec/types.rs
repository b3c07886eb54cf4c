//! Column types as written in YAML (`string`, `int`, `decimal(18,2)`, …) and
//! their Arrow equivalents.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use std::fmt;
use std::str::FromStr;

/// A declared column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int,
    Double,
    Bool,
    Date,
    /// Stored as microseconds in UTC.
    Timestamp,
    Decimal {
        precision: u8,
        scale: i8,
    },
}

pub const TYPE_NAMES: &str = "string, int, double, bool, date, timestamp, decimal(P,S)";

impl FromStr for ColumnType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "string" | "text" | "varchar" => ColumnType::String,
            "int" | "integer" | "bigint" | "long" => ColumnType::Int,
            "double" | "float" => ColumnType::Double,
            "bool" | "boolean" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            _ => {
                let inner = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown type `{s}`"))?;
                let (p, sc) = inner
                    .split_once(',')
                    .ok_or_else(|| format!("`{s}` needs precision and scale"))?;
                let precision: u8 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad precision in `{s}`"))?;
                let scale: i8 = sc
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad scale in `{s}`"))?;
                if precision == 0 || precision > 38 || scale < 0 || scale as u8 > precision {
                    return Err(format!(
                        "`{s}`: need 1 <= precision <= 38 and 0 <= scale <= precision"
                    ));
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::String => f.write_str("string"),
            ColumnType::Int => f.write_str("int"),
            ColumnType::Double => f.write_str("double"),
            ColumnType::Bool => f.write_str("bool"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
        }
    }
}

impl ColumnType {
    pub fn arrow(&self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int => DataType::Int64,
            ColumnType::Double => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            ColumnType::Int | ColumnType::Double | ColumnType::Decimal { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types() {
        assert_eq!(
            "decimal(18, 2)".parse::<ColumnType>(),
            Ok(ColumnType::Decimal {
                precision: 18,
                scale: 2
            })
        );
        assert_eq!("Timestamp".parse::<ColumnType>(), Ok(ColumnType::Timestamp));
        assert!("decimal(2,5)".parse::<ColumnType>().is_err());
        assert!("money".parse::<ColumnType>().is_err());
    }
}
