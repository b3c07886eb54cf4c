//! `discover`: sniff an extract and propose a source block for a person to
//! review: format and delimiter, header, and per column the narrowest type
//! every sampled value parses as (with the timestamp format), whether it was
//! always present, and whether its name suggests personal data.

use super::formats;
use std::path::Path;

/// Values sampled per column.
pub const SAMPLE_ROWS: usize = 10_000;

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y"];
const TIMESTAMP_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y%m%d%H%M%S",
];
pub(crate) const PERSONAL: &[&str] = &[
    "name",
    "phone",
    "mobile",
    "email",
    "card",
    "address",
    "id_number",
    "passport",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{file}`: {reason}")]
    Read { file: String, reason: String },
    #[error("`{file}`: {reason}")]
    Unknown { file: String, reason: String },
}

/// Share of a column's non-empty values that must fit a type for it to be
/// proposed: extracts carry a few bad rows, which the load quarantines.
pub const FIT: f64 = 0.99;

/// How many of one column's sampled values parse as each candidate type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Guess {
    pub(crate) name: String,
    pub(crate) seen: usize,
    pub(crate) empty: usize,
    bools: usize,
    ints: usize,
    /// Values with a leading zero or more than 15 digits: identifiers.
    codes: usize,
    decimals: usize,
    scale: u32,
    doubles: usize,
    rfc3339: usize,
    dates: [usize; DATE_FORMATS.len()],
    timestamps: [usize; TIMESTAMP_FORMATS.len()],
}

impl Guess {
    pub(crate) fn new(name: &str) -> Self {
        Guess {
            name: name.to_string(),
            seen: 0,
            empty: 0,
            bools: 0,
            ints: 0,
            codes: 0,
            decimals: 0,
            scale: 0,
            doubles: 0,
            rfc3339: 0,
            dates: [0; DATE_FORMATS.len()],
            timestamps: [0; TIMESTAMP_FORMATS.len()],
        }
    }

    pub(crate) fn add(&mut self, v: &str) {
        let v = v.trim();
        self.seen += 1;
        if v.is_empty() {
            self.empty += 1;
            return;
        }
        let digits = v.strip_prefix('-').unwrap_or(v);
        let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if all_digits && ((digits.len() > 1 && digits.starts_with('0')) || digits.len() > 15) {
            self.codes += 1;
        }
        let lower = v.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "true" | "false" | "t" | "f" | "yes" | "no" | "y" | "n"
        ) {
            self.bools += 1;
        }
        if v.parse::<i64>().is_ok() {
            self.ints += 1;
        }
        if let Some(s) = decimal_scale(v) {
            self.decimals += 1;
            self.scale = self.scale.max(s);
        }
        if v.parse::<f64>().is_ok_and(f64::is_finite) {
            self.doubles += 1;
        }
        if chrono::DateTime::parse_from_rfc3339(v).is_ok() {
            self.rfc3339 += 1;
        }
        for (k, f) in DATE_FORMATS.iter().enumerate() {
            if chrono::NaiveDate::parse_from_str(v, f).is_ok() {
                self.dates[k] += 1;
            }
        }
        for (k, f) in TIMESTAMP_FORMATS.iter().enumerate() {
            if chrono::NaiveDateTime::parse_from_str(v, f).is_ok() {
                self.timestamps[k] += 1;
            }
        }
    }

    /// The column's YAML: `{type: …}` with format, required and personal.
    fn yaml(&self) -> String {
        let values = self.seen - self.empty;
        let fits = |n: usize| values > 0 && n as f64 >= FIT * values as f64;
        let lower = self.name.to_ascii_lowercase();
        let personal = PERSONAL.iter().any(|p| lower.contains(p));
        // Identifiers and personal data stay text, whatever their digits.
        let text = personal || self.codes > 0;
        let best = |counts: &[usize]| {
            counts
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .filter(|(_, n)| fits(**n))
                .map(|(k, _)| k)
        };
        let mut parts = vec![if text {
            "type: string".to_string()
        } else if fits(self.bools) {
            "type: bool".to_string()
        } else if fits(self.ints) {
            "type: int".to_string()
        } else if fits(self.decimals) && self.scale > 0 {
            format!("type: \"decimal(18,{})\"", self.scale)
        } else if fits(self.doubles) {
            "type: double".to_string()
        } else if fits(self.rfc3339) {
            "type: timestamp".to_string()
        } else if let Some(k) = best(&self.timestamps) {
            format!("type: timestamp, format: \"{}\"", TIMESTAMP_FORMATS[k])
        } else if let Some(k) = best(&self.dates) {
            match DATE_FORMATS[k] {
                "%Y-%m-%d" => "type: date".to_string(),
                f => format!("type: date, format: \"{f}\""),
            }
        } else {
            "type: string".to_string()
        }];
        if self.empty == 0 && values > 0 {
            parts.push("required: true".into());
        }
        if personal {
            parts.push("personal: mask".into());
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// Decimal places of a plain decimal number, or None.
fn decimal_scale(v: &str) -> Option<u32> {
    let body = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac)).then_some(frac.len() as u32)
}

/// A proposed source block for `path` (its name from the file name).
pub fn discover(path: &Path) -> Result<String, Error> {
    let file = path.display().to_string();
    let lower = file.to_ascii_lowercase();
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = crate::spec::slug(stem.split('.').next().unwrap_or("source"));
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    let name = if name.is_empty() { "source" } else { name };
    let (format_line, columns, rows) = if lower.ends_with(".parquet") {
        formats::parquet::sniff(path)?
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
        formats::jsonl::sniff(path)?
    } else {
        formats::csv::sniff(path)?
    };
    let mut out = format!(
        "# Proposed by `touchpoint discover` from {rows} rows of {file}.\n\
         # Review before use: types, required, personal data, key, time zones.\n\
         sources:\n  {name}:\n    path: {stem}\n    {format_line}\n    columns:\n"
    );
    for (col, yaml) in &columns {
        out.push_str(&format!("      {}: {yaml}\n", yaml_key(col)));
    }
    Ok(out)
}

fn yaml_key(k: &str) -> String {
    if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() {
        k.to_string()
    } else {
        format!("\"{}\"", k.replace('"', "\\\""))
    }
}

pub(crate) fn read_err(file: &Path, e: impl ToString) -> Error {
    Error::Read {
        file: file.display().to_string(),
        reason: e.to_string(),
    }
}

/// The format line, each column's name and YAML, and the rows sampled.
pub(crate) type Proposal = (String, Vec<(String, String)>, usize);

pub(crate) fn rendered(guesses: Vec<Guess>) -> Vec<(String, String)> {
    guesses
        .into_iter()
        .map(|g| (g.name.clone(), g.yaml()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(values: &[&str]) -> String {
        let mut g = Guess::new("x");
        for v in values {
            g.add(v);
        }
        g.yaml()
    }

    #[test]
    fn narrowest_type_every_value_fits() {
        assert_eq!(guess(&["1", "22", "-3"]), "{type: int, required: true}");
        assert_eq!(
            guess(&["1.50", "2", "3.125"]),
            "{type: \"decimal(18,3)\", required: true}"
        );
        assert_eq!(guess(&["0001", "0002"]), "{type: string, required: true}");
        assert_eq!(
            guess(&["4000000000000123"]),
            "{type: string, required: true}"
        );
        // 1 bad value in 100 is still an int column (the load quarantines it).
        let mut v: Vec<&str> = vec!["7"; 99];
        v.push("7x");
        assert_eq!(guess(&v), "{type: int, required: true}");
        v.push("8y");
        assert_eq!(guess(&v), "{type: string, required: true}");
        assert_eq!(guess(&["yes", "no", ""]), "{type: bool}");
        assert_eq!(
            guess(&["2024-01-31", "2024-02-29"]),
            "{type: date, required: true}"
        );
        assert_eq!(
            guess(&["31/01/2024 08:00:00", "01/02/2024 23:59:59"]),
            "{type: timestamp, format: \"%d/%m/%Y %H:%M:%S\", required: true}"
        );
        assert_eq!(
            guess(&["2024-01-31T08:00:00+08:00"]),
            "{type: timestamp, required: true}"
        );
        assert_eq!(guess(&["1e3", "2.5"]), "{type: double, required: true}");
        assert_eq!(guess(&["abc", "1"]), "{type: string, required: true}");
        assert_eq!(guess(&["", ""]), "{type: string}");
    }
}
