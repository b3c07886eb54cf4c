//! Numbers as a banker reads them: thousands separators, currency codes,
//! percentages and signed changes. A missing value prints as an en dash.

use minijinja::value::Value;

fn as_f64(v: &Value) -> Option<f64> {
    if v.is_none() || v.is_undefined() {
        return None;
    }
    f64::try_from(v.clone()).ok()
}

/// `1234567.8` with 0 digits → `1,234,568`.
pub fn group(x: f64, digits: usize) -> String {
    let s = format!("{:.*}", digits, x.abs());
    let (int, frac) = s
        .split_once('.')
        .map(|(a, b)| (a.to_string(), Some(b.to_string())))
        .unwrap_or((s.clone(), None));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    // Avoid "-0" after rounding.
    if x < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-{out}")
    } else {
        out
    }
}

pub fn number(v: &Value, digits: usize) -> String {
    as_f64(v)
        .map(|x| group(x, digits))
        .unwrap_or_else(|| "–".into())
}

/// Money as the locale writes it; a missing value is an en dash.
pub fn money(v: &Value, currency: &str, locale: &super::locale::Locale) -> String {
    match as_f64(v) {
        Some(x) => locale.money(x, currency),
        None => "–".into(),
    }
}

/// A fraction (0.123) as `12.3%`.
pub fn percent(v: &Value, digits: usize) -> String {
    as_f64(v)
        .map(|x| format!("{}%", group(x * 100.0, digits)))
        .unwrap_or_else(|| "–".into())
}

/// A change with its sign: `+1.5`, `−0.3`.
pub fn signed(v: &Value, digits: usize) -> String {
    match as_f64(v) {
        Some(x) if x > 0.0 => format!("+{}", group(x, digits)),
        Some(x) if x < 0.0 => format!("−{}", group(-x, digits)),
        Some(_) => group(0.0, digits),
        None => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_banker() {
        assert_eq!(group(1234567.8, 0), "1,234,568");
        assert_eq!(group(-1234.5, 1), "-1,234.5");
        assert_eq!(group(-0.04, 1), "0.0");
        let en = super::super::locale::Locale::english();
        assert_eq!(money(&Value::from(45210.4), "HKD", &en), "HKD 45,210");
        assert_eq!(money(&Value::from(12_345_678.0), "HKD", &en), "HKD 12.3M");
        assert_eq!(money(&Value::from(()), "HKD", &en), "–");
        assert_eq!(percent(&Value::from(0.1234), 1), "12.3%");
        assert_eq!(signed(&Value::from(-0.25), 2), "−0.25");
        assert_eq!(number(&Value::from(()), 0), "–");
    }
}
