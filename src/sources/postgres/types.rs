//! PostgreSQL's types as this reader sees them: how each arrives in binary
//! COPY ([`Wire`]), which declared column types can hold it, and which one
//! `discover` proposes.

use crate::spec::types::ColumnType;
use tokio_postgres::types::Type;

/// A column's values as the binary COPY stream carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Date,
    /// Without a zone: a wall-clock time, placed in a zone by the column's
    /// `timezone:` (else the pipeline's).
    Timestamp,
    /// An instant (stored in UTC).
    Timestamptz,
    /// Text that can be parsed into other types like a CSV field
    /// (`text`, `varchar`, `char(n)`, `name`).
    Text,
    /// JSON kept as its text (`json`; `jsonb` has a version byte first).
    Json,
    Jsonb,
    /// Anything else (`uuid`, `bytea`, `interval`, arrays, …): read only
    /// as text, cast by the server.
    Other,
}

/// How `t` arrives.
pub fn wire(t: &Type) -> Wire {
    match *t {
        Type::BOOL => Wire::Bool,
        Type::INT2 => Wire::Int2,
        Type::INT4 => Wire::Int4,
        Type::INT8 => Wire::Int8,
        Type::FLOAT4 => Wire::Float4,
        Type::FLOAT8 => Wire::Float8,
        Type::NUMERIC => Wire::Numeric,
        Type::DATE => Wire::Date,
        Type::TIMESTAMP => Wire::Timestamp,
        Type::TIMESTAMPTZ => Wire::Timestamptz,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::UNKNOWN => {
            Wire::Text
        }
        Type::JSON => Wire::Json,
        Type::JSONB => Wire::Jsonb,
        _ => Wire::Other,
    }
}

/// The type's name as PostgreSQL writes it, with its modifier
/// (`numeric(20,4)`, `varchar(40)`).
pub fn type_name(t: &Type, typmod: i32) -> String {
    match (wire(t), *t == Type::VARCHAR || *t == Type::BPCHAR) {
        (Wire::Numeric, _) => match numeric_typmod(typmod) {
            Some((p, s)) => format!("numeric({p},{s})"),
            None => "numeric".into(),
        },
        (_, true) if typmod >= 4 => format!("{}({})", t.name(), typmod - 4),
        _ => t.name().to_string(),
    }
}

/// A numeric's declared precision and scale (none when unconstrained).
pub fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    (typmod >= 4).then(|| (((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff))
}

/// The declared type that holds every value of the column, if one does.
pub fn natural(w: Wire, typmod: i32) -> Option<ColumnType> {
    Some(match w {
        Wire::Bool => ColumnType::Bool,
        Wire::Int2 | Wire::Int4 | Wire::Int8 => ColumnType::Int,
        Wire::Float4 | Wire::Float8 => ColumnType::Double,
        Wire::Numeric => {
            let (p, s) = numeric_typmod(typmod)?;
            if !(1..=38).contains(&p) || s < 0 || s > p {
                return None;
            }
            ColumnType::Decimal {
                precision: p as u8,
                scale: s as i8,
            }
        }
        Wire::Date => ColumnType::Date,
        Wire::Timestamp | Wire::Timestamptz => ColumnType::Timestamp,
        Wire::Text | Wire::Json | Wire::Jsonb | Wire::Other => ColumnType::String,
    })
}

/// Why a column of `type_name` cannot be declared `declared`, or `None`
/// when every value loads exactly or is quarantined row by row (a numeric
/// with more decimals than the declared scale, text that does not parse).
pub fn cannot_hold(w: Wire, type_name: &str, declared: ColumnType) -> Option<String> {
    let ok = match declared {
        ColumnType::String => true,
        ColumnType::Int => matches!(w, Wire::Int2 | Wire::Int4 | Wire::Int8 | Wire::Text),
        // An int8 or a numeric can hold more digits than a double keeps.
        ColumnType::Double => matches!(
            w,
            Wire::Float4 | Wire::Float8 | Wire::Int2 | Wire::Int4 | Wire::Text
        ),
        ColumnType::Decimal { .. } => {
            matches!(
                w,
                Wire::Numeric | Wire::Int2 | Wire::Int4 | Wire::Int8 | Wire::Text
            )
        }
        ColumnType::Bool => matches!(w, Wire::Bool | Wire::Text),
        ColumnType::Date => matches!(w, Wire::Date | Wire::Text),
        ColumnType::Timestamp => matches!(w, Wire::Timestamp | Wire::Timestamptz | Wire::Text),
    };
    if ok {
        return None;
    }
    let hint = match (w, declared) {
        (Wire::Numeric | Wire::Int8, ColumnType::Double) => {
            "; declare it `decimal(P,S)` (exact), or cast it in a `query:`"
        }
        (Wire::Float4 | Wire::Float8, ColumnType::Decimal { .. } | ColumnType::Int) => {
            "; a float is not exact: declare it `double`"
        }
        (Wire::Timestamp | Wire::Timestamptz, ColumnType::Date) => {
            "; declare it `timestamp`, or cast it to date in a `query:`"
        }
        _ => "",
    };
    Some(format!(
        "the database's `{type_name}` cannot be loaded as {declared}{hint}"
    ))
}

/// Whether the column is selected as `::text`: declared text of another
/// type (the server writes it), or a type this reader does not decode.
pub fn as_text(w: Wire, declared: ColumnType) -> bool {
    match declared {
        ColumnType::String => !matches!(w, Wire::Text | Wire::Json | Wire::Jsonb),
        _ => cannot_hold(w, "", declared).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_holds_what() {
        let dec = ColumnType::Decimal {
            precision: 18,
            scale: 2,
        };
        // A wider numeric loads row by row (a value with more decimals is
        // quarantined, never rounded).
        assert_eq!(cannot_hold(Wire::Numeric, "numeric(20,4)", dec), None);
        assert!(cannot_hold(Wire::Numeric, "numeric", ColumnType::Double).is_some());
        assert!(cannot_hold(Wire::Float8, "float8", dec).is_some());
        assert!(cannot_hold(Wire::Timestamptz, "timestamptz", ColumnType::Date).is_some());
        assert_eq!(cannot_hold(Wire::Other, "uuid", ColumnType::String), None);
        assert!(as_text(Wire::Other, ColumnType::String));
        assert!(!as_text(Wire::Jsonb, ColumnType::String));
        assert_eq!(numeric_typmod((20 << 16) + 4 + 4), Some((20, 4)));
        assert_eq!(numeric_typmod(-1), None);
        assert_eq!(
            natural(Wire::Numeric, (20 << 16) + 4 + 4),
            Some(ColumnType::Decimal {
                precision: 20,
                scale: 4
            })
        );
        assert_eq!(natural(Wire::Numeric, -1), None);
        assert_eq!(type_name(&Type::NUMERIC, (20 << 16) + 8), "numeric(20,4)");
        assert_eq!(type_name(&Type::VARCHAR, 44), "varchar(40)");
    }
}
