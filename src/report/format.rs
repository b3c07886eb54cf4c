//! Numbers as a banker reads them: thousands separators, currency codes,
//! percentages and signed changes. A missing value prints as an en dash.

use minijinja::value::Value;

/// The language of a report's labels, numbers and dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    ZhCn,
}

impl Locale {
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2024-12` → `Dec 2024` / `2024年12月`; `2024-Q4` → `Q4 2024` / `2024年第4季度`.
pub fn period_label(period: &str, locale: Locale) -> String {
    let Some((y, rest)) = period.split_once('-') else {
        return period.to_string();
    };
    if let Some(q) = rest.strip_prefix('Q') {
        return match locale {
            Locale::En => format!("Q{q} {y}"),
            Locale::ZhCn => format!("{y}年第{q}季度"),
        };
    }
    let m: usize = rest.parse().unwrap_or(0);
    match (locale, m) {
        (Locale::En, 1..=12) => format!("{} {y}", MONTHS[m - 1]),
        (Locale::ZhCn, 1..=12) => format!("{y}年{m}月"),
        _ => period.to_string(),
    }
}

/// Money as a banker in that locale reads it: `HKD 12.3M` / `HKD 1,234`
/// in English; `1.23亿 HKD` / `4,521.3万 HKD` / `1,234 HKD` in Chinese
/// (万 = 10⁴, 亿 = 10⁸).
pub fn money_in(v: &Value, currency: &str, locale: Locale) -> String {
    match (locale, as_f64(v)) {
        (_, None) => "–".into(),
        (Locale::En, Some(_)) => money(v, currency),
        (Locale::ZhCn, Some(x)) if x.abs() >= 1e8 => format!("{}亿 {currency}", group(x / 1e8, 2)),
        (Locale::ZhCn, Some(x)) if x.abs() >= 1e4 => format!("{}万 {currency}", group(x / 1e4, 1)),
        (Locale::ZhCn, Some(x)) => format!("{} {currency}", group(x, 0)),
    }
}

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

/// Money in millions above 10M, else whole units: `HKD 12.3M`, `HKD 45,210`.
pub fn money(v: &Value, currency: &str) -> String {
    match as_f64(v) {
        Some(x) if x.abs() >= 10_000_000.0 => format!("{currency} {}M", group(x / 1e6, 1)),
        Some(x) => format!("{currency} {}", group(x, 0)),
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
        assert_eq!(money(&Value::from(45210.4), "HKD"), "HKD 45,210");
        assert_eq!(money(&Value::from(12_345_678.0), "HKD"), "HKD 12.3M");
        assert_eq!(percent(&Value::from(0.1234), 1), "12.3%");
        assert_eq!(signed(&Value::from(-0.25), 2), "−0.25");
        assert_eq!(number(&Value::from(()), 0), "–");
    }

    #[test]
    fn chinese_amounts_use_wan_and_yi() {
        let zh = Locale::ZhCn;
        assert_eq!(
            money_in(&Value::from(123_456_789.0), "HKD", zh),
            "1.23亿 HKD"
        );
        assert_eq!(
            money_in(&Value::from(45_213_000.0), "CNY", zh),
            "4,521.3万 CNY"
        );
        assert_eq!(money_in(&Value::from(1234.4), "CNY", zh), "1,234 CNY");
        assert_eq!(
            money_in(&Value::from(12_345_678.0), "HKD", Locale::En),
            "HKD 12.3M"
        );
        assert_eq!(period_label("2024-12", zh), "2024年12月");
        assert_eq!(period_label("2024-Q4", zh), "2024年第4季度");
        assert_eq!(period_label("2024-03", Locale::En), "Mar 2024");
        assert_eq!(period_label("2024-Q1", Locale::En), "Q1 2024");
    }
}
