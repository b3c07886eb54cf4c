//! Delimited text (`csv: {delimiter, header, quote}`): any one-byte
//! delimiter, with or without a header line naming the columns. A line that
//! cannot be split into the declared fields is rejected here; value-level
//! problems are left to the conformer.

use super::lines::{Builders, not_text, open};
use super::{Reader, Sink};
use crate::sources::control::Tally;
use crate::sources::discover::{Guess, Proposal, SAMPLE_ROWS, read_err, rendered};
use crate::sources::{Drift, Error, Source};
use crate::spec::Diags;
use crate::spec::types::ColumnType;
use crate::warehouse::log::Rejected;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

/// CSV (or any delimited text) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// One character; `"|"` for pipe-delimited, `"\t"` for tabs.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether the first line names the columns.
    #[serde(default = "default_true")]
    pub header: bool,
    #[serde(default = "default_quote")]
    pub quote: String,
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Csv {
    pub delimiter: u8,
    pub header: bool,
    pub quote: u8,
}

impl Default for Csv {
    fn default() -> Self {
        Csv {
            delimiter: b',',
            header: true,
            quote: b'"',
        }
    }
}

impl CsvSpec {
    /// `at` is the source's YAML path.
    pub fn compile(&self, at: &str, diags: &mut Diags) -> Csv {
        let one = |v: &str| -> Option<u8> {
            let v = if v == "\\t" { "\t" } else { v };
            (v.len() == 1).then(|| v.as_bytes()[0])
        };
        let delimiter = one(&self.delimiter);
        let quote = one(&self.quote);
        if delimiter.is_none() {
            diags.err(
                &format!("{at}.csv.delimiter"),
                format!("delimiter `{}` must be one character", self.delimiter),
                Some("for example \",\", \"|\" or \"\\t\"".into()),
            );
        }
        if quote.is_none() {
            diags.err(
                &format!("{at}.csv.quote"),
                "quote must be one character",
                None,
            );
        }
        Csv {
            delimiter: delimiter.unwrap_or(b','),
            header: self.header,
            quote: quote.unwrap_or(b'"'),
        }
    }
}

impl Reader for Csv {
    fn read(
        &self,
        src: &Source,
        path: &Path,
        name: &str,
        sink: Sink<'_, '_>,
    ) -> Result<u64, Error> {
        read_csv(self, src, path, name, sink)
    }

    fn columns(
        &self,
        _src: &Source,
        path: &Path,
    ) -> Result<Vec<(String, Option<ColumnType>)>, String> {
        if !self.header {
            return Ok(Vec::new());
        }
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .quote(self.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(file);
        let mut rec = csv::StringRecord::new();
        match rdr.read_record(&mut rec) {
            Ok(true) => Ok(rec.iter().map(|s| (s.trim().to_string(), None)).collect()),
            Ok(false) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn names_columns(&self) -> bool {
        self.header
    }

    fn is_text(&self) -> bool {
        true
    }

    fn control_fields(&self, line: &str) -> Vec<String> {
        line.split(char::from(self.delimiter))
            .map(str::to_string)
            .collect()
    }
}

/// Read a delimited file; returns how many rows were rejected before
/// reaching a batch (they count as read).
fn read_csv(
    &Csv {
        delimiter,
        header,
        quote,
    }: &Csv,
    src: &Source,
    path: &Path,
    name: &str,
    Sink {
        emit,
        bad,
        drift,
        tally,
    }: Sink<'_, '_>,
) -> Result<u64, Error> {
    let fname: Arc<str> = name.into();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, open(src, path, name)?));
    let rerr = |e: csv::Error| Error::Read {
        source_name: src.name.clone(),
        file: fname.to_string(),
        reason: e.to_string(),
    };
    let mut record = csv::ByteRecord::new();
    // Position of each declared column in the file's records.
    let (positions, width) = if header {
        if !rdr.read_byte_record(&mut record).map_err(rerr)? {
            return Ok(0); // empty file
        }
        let names: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        let mut pos = Vec::new();
        let mut change = Drift::default();
        for c in &src.columns {
            let at = names.iter().position(|n| n == &c.name);
            if at.is_none() {
                change.missing.insert(c.name.clone());
            }
            pos.push(at);
        }
        change.new = names
            .iter()
            .filter(|n| !n.is_empty() && !src.columns.iter().any(|c| &&c.name == n))
            .cloned()
            .collect();
        change.check(src, &fname, drift)?;
        (pos, names.len())
    } else {
        (
            (0..src.columns.len()).map(Some).collect(),
            src.columns.len(),
        )
    };
    let delim = char::from(delimiter).to_string();
    let mut b = Builders::new(fname.clone(), src.columns.len());
    let mut early = 0u64;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote or similar: reject the rest of the line, go on.
                let line = e.position().map(|p| p.line() as i64).unwrap_or(0);
                bad.push(Rejected {
                    file: fname.to_string(),
                    line,
                    reason: format!("malformed record: {e}"),
                    ..Default::default()
                });
                early += 1;
                continue;
            }
        }
        let line = record.position().map(|p| p.line() as i64).unwrap_or(0);
        let joined = || {
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(&delim)
        };
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue; // blank line
        }
        let control = src.control.as_ref();
        if control.is_some() {
            let first = String::from_utf8_lossy(record.get(0).unwrap_or_default());
            if Tally::is_trailer(control, &first) {
                tally.trailer(
                    record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                );
                continue;
            }
            let total = control
                .and_then(|c| c.total)
                .and_then(|(_, col, _)| positions[col])
                .and_then(|p| record.get(p))
                .map(String::from_utf8_lossy);
            tally.record(control, total.as_deref());
        }
        if record.len() != width {
            bad.push(Rejected {
                file: fname.to_string(),
                line,
                reason: format!(
                    "malformed record: expected {width} fields, found {}",
                    record.len()
                ),
                record: Some(joined()),
                ..Default::default()
            });
            early += 1;
            continue;
        }
        // A column missing from the file (drift ignored) reads as empty.
        // The record's bytes are checked as text once: a field is text when
        // the whole is and the field starts and ends on character
        // boundaries. Otherwise field by field, to name the bad column.
        let whole = std::str::from_utf8(record.as_slice()).ok();
        let text = |p: Option<usize>| -> Option<&str> {
            let Some(p) = p else { return Some("") };
            let Some(r) = record.range(p) else {
                return Some("");
            };
            match whole {
                Some(w) if w.is_char_boundary(r.start) && w.is_char_boundary(r.end) => w.get(r),
                _ => std::str::from_utf8(&record.as_slice()[r]).ok(),
            }
        };
        if let Some(ci) = positions.iter().position(|&p| text(p).is_none()) {
            bad.push(Rejected {
                file: fname.to_string(),
                line,
                column: Some(src.columns[ci].name.clone()),
                reason: not_text(src),
                record: Some(joined()),
                ..Default::default()
            });
            early += 1;
            continue;
        }
        for (ci, &p) in positions.iter().enumerate() {
            match text(p) {
                Some(f) if !f.is_empty() => b.cols[ci].append_value(f),
                _ => b.cols[ci].append_null(),
            }
        }
        b.lines.push(line);
        b.flush_if_full(emit, bad)?;
    }
    b.finish(emit, bad)?;
    Ok(early)
}

/// Sniff the delimiter (the candidate giving the same field count on the
/// most sampled lines), whether line 1 is a header, and the column types.
pub(crate) fn sniff(path: &Path) -> Result<Proposal, crate::sources::discover::Error> {
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
        return Err(crate::sources::discover::Error::Unknown {
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
