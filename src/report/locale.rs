//! A report's language: a catalog `reports/i18n/<tag>.yaml` beside the
//! templates maps each English label to its translation, its `_values`
//! entry maps codes found in the data (channels, tiers, alert names) to
//! what a reader of that language sees, and its `_format` entry says how
//! periods and money read. English is built in; any other locale is its
//! catalog (a missing label or code stays as written, so a new one never
//! breaks a report).

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// How a locale writes periods and money.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    /// A month: `{year}`, `{month}` (number) and `{mon}` (its short name).
    pub month: String,
    /// A quarter: `{year}`, `{quarter}`.
    pub quarter: String,
    /// Short month names, January first (for `{mon}`).
    #[serde(default = "month_names")]
    pub month_names: Vec<String>,
    /// Money: `{amount}` and `{currency}`.
    pub money: String,
    /// Large amounts in units, largest first: at or above `from`, the
    /// amount divided by `divide` (default `from`) with `digits` decimals
    /// and the unit after it.
    #[serde(default)]
    pub money_units: Vec<MoneyUnit>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyUnit {
    pub from: f64,
    pub divide: Option<f64>,
    pub unit: String,
    pub digits: usize,
}

fn month_names() -> Vec<String> {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for Format {
    /// English: `Dec 2024`, `Q4 2024`, `HKD 12.3M`.
    fn default() -> Self {
        Format {
            month: "{mon} {year}".into(),
            quarter: "Q{quarter} {year}".into(),
            month_names: month_names(),
            money: "{currency} {amount}".into(),
            money_units: vec![MoneyUnit {
                from: 10_000_000.0,
                divide: Some(1_000_000.0),
                unit: "M".into(),
                digits: 1,
            }],
        }
    }
}

/// A report language: its tag, its labels, its names for codes in the
/// data and its formats.
#[derive(Debug, Clone, Default)]
pub struct Locale {
    pub tag: String,
    pub messages: Arc<HashMap<String, String>>,
    /// Code in the data (`online`, `branch_p90_wait`) → what readers see.
    pub values: Arc<HashMap<String, String>>,
    pub format: Arc<Format>,
}

/// The built-in language.
pub const ENGLISH: &str = "en";

impl Locale {
    pub fn english() -> Self {
        Locale {
            tag: ENGLISH.into(),
            ..Default::default()
        }
    }

    /// Whether `tag` can name a catalog file: letters, digits and `-`
    /// (`zh-CN`, `en-GB`), nothing that could be a path.
    pub fn valid_tag(tag: &str) -> bool {
        !tag.is_empty()
            && tag.len() <= 35
            && !tag.starts_with('-')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    /// Where the catalog of `tag` lives for templates in `dir`.
    pub fn catalog_path(dir: &Path, tag: &str) -> std::path::PathBuf {
        dir.join("i18n").join(format!("{tag}.yaml"))
    }

    /// Load `tag`'s catalog from `<template dir>/i18n/<tag>.yaml` (English
    /// needs none).
    pub fn load(dir: &Path, tag: &str) -> Result<Locale, String> {
        let file = Self::catalog_path(dir, tag);
        // English needs no catalog: its text is the templates'. An `en.yaml`
        // may still name the codes in the data (`_values`).
        if tag == ENGLISH && !file.is_file() {
            return Ok(Locale::english());
        }
        if !Self::valid_tag(tag) {
            return Err(format!("`{tag}` is not a locale tag"));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
        let map: serde_yaml::Mapping =
            serde_yaml::from_str(&text).map_err(|e| format!("`{}`: {e}", file.display()))?;
        let mut messages = HashMap::new();
        let mut values = HashMap::new();
        let mut format = Format::default();
        for (k, v) in map {
            let Some(key) = k.as_str() else { continue };
            if key == "_format" {
                format = serde_yaml::from_value(v)
                    .map_err(|e| format!("`{}` (_format): {e}", file.display()))?;
            } else if key == "_values" {
                values = serde_yaml::from_value(v)
                    .map_err(|e| format!("`{}` (_values): {e}", file.display()))?;
            } else if let Some(text) = v.as_str() {
                messages.insert(key.to_string(), text.to_string());
            }
        }
        Ok(Locale {
            tag: tag.into(),
            messages: Arc::new(messages),
            values: Arc::new(values),
            format: Arc::new(format),
        })
    }

    /// A label in this language: its catalog entry, or the English text.
    pub fn text<'a>(&'a self, english: &'a str) -> &'a str {
        self.messages.get(english).map_or(english, String::as_str)
    }

    /// A code from the data as readers of this language see it
    /// (`online` → `网上银行`); a code the catalog does not name stays.
    pub fn label<'a>(&'a self, code: &'a str) -> &'a str {
        self.values.get(code).map_or(code, String::as_str)
    }

    /// `2024-12` → `Dec 2024` / `2024年12月`; `2024-Q4` → `Q4 2024` / `2024年第4季度`.
    pub fn period_label(&self, period: &str) -> String {
        let Some((y, rest)) = period.split_once('-') else {
            return period.to_string();
        };
        if let Some(q) = rest.strip_prefix('Q') {
            return self
                .format
                .quarter
                .replace("{year}", y)
                .replace("{quarter}", q);
        }
        let m: usize = rest.parse().unwrap_or(0);
        match self.format.month_names.get(m.wrapping_sub(1)) {
            Some(mon) if (1..=12).contains(&m) => self
                .format
                .month
                .replace("{year}", y)
                .replace("{month}", &m.to_string())
                .replace("{mon}", mon),
            _ => period.to_string(),
        }
    }

    /// Money as a banker in this locale reads it: `HKD 12.3M` / `HKD 1,234`
    /// in English; `1.23亿 HKD` / `4,521.3万 HKD` / `1,234 HKD` in Chinese.
    pub fn money(&self, x: f64, currency: &str) -> String {
        let amount = self
            .format
            .money_units
            .iter()
            .find(|u| x.abs() >= u.from)
            .map(|u| {
                let d = u.divide.unwrap_or(u.from);
                format!("{}{}", super::format::group(x / d, u.digits), u.unit)
            })
            .unwrap_or_else(|| super::format::group(x, 0));
        // Without a currency (none declared), the amount alone.
        self.format
            .money
            .replace("{currency}", currency)
            .replace("{amount}", &amount)
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chinese() -> Locale {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        Locale::load(&dir, "zh-CN").expect("shipped catalog")
    }

    #[test]
    fn chinese_amounts_use_wan_and_yi() {
        let zh = chinese();
        assert_eq!(zh.money(123_456_789.0, "HKD"), "1.23亿 HKD");
        assert_eq!(zh.money(45_213_000.0, "CNY"), "4,521.3万 CNY");
        assert_eq!(zh.money(1234.4, "CNY"), "1,234 CNY");
        assert_eq!(Locale::english().money(12_345_678.0, "HKD"), "HKD 12.3M");
        assert_eq!(Locale::english().money(45_210.4, "HKD"), "HKD 45,210");
    }

    #[test]
    fn period_labels() {
        let zh = chinese();
        let en = Locale::english();
        assert_eq!(zh.period_label("2024-12"), "2024年12月");
        assert_eq!(zh.period_label("2024-Q4"), "2024年第4季度");
        assert_eq!(en.period_label("2024-03"), "Mar 2024");
        assert_eq!(en.period_label("2024-Q1"), "Q1 2024");
        assert_eq!(en.period_label("2024-13"), "2024-13");
    }

    #[test]
    fn a_missing_catalog_is_an_error() {
        assert!(Locale::load(Path::new("/nonexistent"), "fr").is_err());
    }

    /// English needs no catalog; the shipped `en.yaml` names the codes, and
    /// keeps the English formats.
    #[test]
    fn english_names_codes_from_its_optional_catalog() {
        let bare = Locale::load(Path::new("/nonexistent"), "en").expect("no catalog needed");
        assert_eq!(bare.label("call_centre"), "call_centre");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let en = Locale::load(&dir, "en").expect("shipped catalog");
        assert_eq!(en.label("call_centre"), "Call centre");
        assert_eq!(en.label("Premier"), "Premier");
        assert_eq!(en.period_label("2024-03"), "Mar 2024");
        assert_eq!(en.money(24_164_000_000.0, "HKD"), "HKD 24,164.0M");
    }

    /// A tag names a file in `i18n/`: nothing that walks out of it.
    #[test]
    fn a_tag_is_never_a_path() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        for bad in [
            "../i18n/zh-CN",
            "i18n/zh-CN",
            "/etc/passwd",
            "zh_CN.",
            "",
            "-x",
            "zh CN",
        ] {
            assert!(!Locale::valid_tag(bad), "{bad}");
            assert!(Locale::load(&dir, bad).is_err(), "{bad}");
        }
        assert!(Locale::valid_tag("zh-CN") && Locale::valid_tag("en"));
    }

    #[test]
    fn codes_in_the_data_have_names() {
        let zh = chinese();
        assert_eq!(zh.label("online"), "网上银行");
        assert_eq!(zh.label("branch_p90_wait"), "网点等候超时");
        assert_eq!(zh.label("B01"), "B01");
        assert_eq!(Locale::english().label("online"), "online");
    }
}
