//! Named parameters of saved queries (`$tier`), bound as values, never
//! pasted into the SQL text.

use datafusion::scalar::ScalarValue;

/// `NAME=VALUE` from the command line.
pub fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v))
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("`{s}`: write NAME=VALUE, e.g. tier=Premier")),
    }
}

/// A parameter's value with the type it looks like: a whole number is an
/// integer, a decimal a double, true/false a boolean, anything else text.
pub fn typed(v: &str) -> ScalarValue {
    if let Ok(i) = v.parse::<i64>() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = v.parse::<f64>()
        && v.contains('.')
    {
        ScalarValue::Float64(Some(f))
    } else if v == "true" || v == "false" {
        ScalarValue::Boolean(Some(v == "true"))
    } else {
        ScalarValue::Utf8(Some(v.to_string()))
    }
}
