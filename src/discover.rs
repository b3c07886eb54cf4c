//! `discover`: sniff an extract and propose a source block for a person to
//! review: format and delimiter, header, and per column the narrowest type
//! every sampled value parses as (with the timestamp format), whether it was
//! always present, and whether its name suggests personal data.

use std::collections::BTreeSet;
use std::io::BufRead;
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
const PERSONAL: &[&str] = &[
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
struct Guess {
    name: String,
    seen: usize,
    empty: usize,
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
    fn new(name: &str) -> Self {
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

    fn add(&mut self, v: &str) {
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
        parquet(path)?
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
        jsonl(path)?
    } else {
        delimited(path)?
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

fn read_err(file: &Path, e: impl ToString) -> Error {
    Error::Read {
        file: file.display().to_string(),
        reason: e.to_string(),
    }
}

/// Sniff the delimiter (the candidate giving the same field count on the
/// most sampled lines), whether line 1 is a header, and the column types.
/// The format line, each column's name and YAML, and the rows sampled.
type Proposal = (String, Vec<(String, String)>, usize);

fn rendered(guesses: Vec<Guess>) -> Vec<(String, String)> {
    guesses
        .into_iter()
        .map(|g| (g.name.clone(), g.yaml()))
        .collect()
}

fn delimited(path: &Path) -> Result<Proposal, Error> {
    let f = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    let mut lines = Vec::new();
    for l in std::io::BufReader::new(f).lines().take(SAMPLE_ROWS + 1) {
        let l = l.map_err(|e| {
            read_err(
                path,
                format!("{e} (declare `encoding:` for non-UTF-8 files)"),
            )
        })?;
        if !l.trim().is_empty() {
            lines.push(l);
        }
    }
    if lines.is_empty() {
        return Err(Error::Unknown {
            file: path.display().to_string(),
            reason: "the file is empty".into(),
        });
    }
    let mut best = (b',', 0usize);
    for d in [b',', b'|', b'\t', b';'] {
        let counts: Vec<usize> = lines.iter().map(|l| split(l, d).len()).collect();
        let first = counts[0];
        let agree = counts.iter().filter(|&&c| c == first).count();
        if first > 1 && agree > best.1 {
            best = (d, agree);
        }
    }
    let delim = best.0;
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l, delim)).collect();
    // A header: every cell of line 1 is a name (not a number or date) and
    // at least one column below it holds numbers or dates.
    let head = &rows[0];
    let is_name = |s: &str| {
        let s = s.trim();
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
            && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err()
    };
    let header = head.iter().all(|c| is_name(c))
        && rows.len() > 1
        && head.iter().collect::<BTreeSet<_>>().len() == head.len();
    let names: Vec<String> = if header {
        head.iter().map(|s| s.trim().to_string()).collect()
    } else {
        (1..=head.len()).map(|i| format!("column_{i}")).collect()
    };
    let mut guesses: Vec<Guess> = names.iter().map(|n| Guess::new(n)).collect();
    let body = if header { &rows[1..] } else { &rows[..] };
    for r in body {
        for (g, v) in guesses.iter_mut().zip(r) {
            g.add(v);
        }
    }
    let d = match delim {
        b'\t' => "\"\\t\"".to_string(),
        other => format!("\"{}\"", char::from(other)),
    };
    let line = format!("csv: {{delimiter: {d}, header: {header}}}");
    Ok((line, rendered(guesses), body.len()))
}

/// Split one line on `delim`, honouring double quotes.
fn split(line: &str, delim: u8) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    r.records()
        .next()
        .and_then(|x| x.ok())
        .map(|rec| rec.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

fn jsonl(path: &Path) -> Result<Proposal, Error> {
    let f = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    let mut guesses: Vec<Guess> = Vec::new();
    let mut rows = 0;
    for l in std::io::BufReader::new(f).lines().take(SAMPLE_ROWS) {
        let l = l.map_err(|e| read_err(path, e))?;
        let Ok(obj) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&l) else {
            continue;
        };
        rows += 1;
        for k in obj.keys() {
            if !guesses.iter().any(|g| &g.name == k) {
                let mut g = Guess::new(k);
                // Absent in the rows before: those count as empty.
                g.empty = rows - 1;
                g.seen = rows - 1;
                guesses.push(g);
            }
        }
        for g in guesses.iter_mut() {
            match obj.get(&g.name) {
                None | Some(serde_json::Value::Null) => g.add(""),
                Some(serde_json::Value::String(s)) => g.add(s),
                Some(other) => g.add(&other.to_string()),
            }
        }
    }
    Ok(("jsonl: {}".into(), rendered(guesses), rows))
}

/// Parquet carries its types: map them; nullable columns are optional.
fn parquet(path: &Path) -> Result<Proposal, Error> {
    use datafusion::arrow::datatypes::DataType;
    let f = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    let builder =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| read_err(path, e))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let columns = builder
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let ty = match field.data_type() {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    "int".into()
                }
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "int".into(),
                DataType::Float32 | DataType::Float64 => "double".into(),
                DataType::Boolean => "bool".into(),
                DataType::Date32 | DataType::Date64 => "date".into(),
                DataType::Timestamp(_, _) => "timestamp".into(),
                DataType::Decimal128(p, s) => format!("\"decimal({p},{s})\""),
                _ => "string".into(),
            };
            let mut yaml = format!("type: {ty}");
            if !field.is_nullable() {
                yaml.push_str(", required: true");
            }
            let lower = field.name().to_ascii_lowercase();
            if PERSONAL.iter().any(|p| lower.contains(p)) {
                yaml.push_str(", personal: mask");
            }
            (field.name().clone(), format!("{{{yaml}}}"))
        })
        .collect();
    Ok(("parquet: {}".into(), columns, rows))
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
