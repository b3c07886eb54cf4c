//! Delimited text and JSON lines → raw string columns, one per declared column.
//! A line that cannot even be split into the declared fields is rejected here;
//! value-level problems are left to the conformer.

use super::control::Tally;
use super::{BATCH_ROWS, Drift, Error, RawBatch};
use crate::pipeline::{Format, Source};
use crate::warehouse::log::Rejected;
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

type Emit<'a> = dyn FnMut(RawBatch, &mut Vec<Rejected>) -> Result<(), Error> + 'a;

struct Builders {
    file: Arc<str>,
    lines: Vec<i64>,
    cols: Vec<StringBuilder>,
}

impl Builders {
    fn new(file: Arc<str>, n: usize) -> Self {
        Builders {
            file,
            lines: Vec::with_capacity(BATCH_ROWS),
            cols: (0..n).map(|_| StringBuilder::new()).collect(),
        }
    }

    fn take(&mut self) -> RawBatch {
        let columns: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        RawBatch {
            file: self.file.clone(),
            lines: std::mem::take(&mut self.lines),
            columns,
        }
    }

    fn flush_if_full(&mut self, emit: &mut Emit, bad: &mut Vec<Rejected>) -> Result<(), Error> {
        if self.lines.len() >= BATCH_ROWS {
            emit(self.take(), bad)?;
        }
        Ok(())
    }

    fn finish(&mut self, emit: &mut Emit, bad: &mut Vec<Rejected>) -> Result<(), Error> {
        if !self.lines.is_empty() {
            emit(self.take(), bad)?;
        }
        Ok(())
    }
}

/// Read the next line (with its newline) into `buf`; `false` at the end.
fn next_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    src: &Source,
    fname: &str,
) -> Result<bool, Error> {
    buf.clear();
    let n = reader.read_until(b'\n', buf).map_err(|e| Error::Read {
        source_name: src.name.clone(),
        file: fname.to_string(),
        reason: e.to_string(),
    })?;
    Ok(n > 0)
}

/// Why a field is not text: bytes that are not UTF-8, or not the source's
/// declared encoding (transcoding marks those).
fn not_text(src: &Source) -> String {
    match src.encoding {
        Some(e) => format!("not valid {} text", e.name()),
        None => "not valid UTF-8 text (declare the source's `encoding:`)".into(),
    }
}

fn open(src: &Source, path: &Path, name: &str) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|e| Error::Read {
        source_name: src.name.clone(),
        file: name.to_string(),
        reason: e.to_string(),
    })
}

/// Read a delimited file; returns how many rows were rejected before
/// reaching a batch (they count as read).
pub fn read_csv(
    src: &Source,
    path: &Path,
    name: &str,
    emit: &mut Emit,
    bad: &mut Vec<Rejected>,
    drift: &mut Drift,
    tally: &mut Tally,
) -> Result<u64, Error> {
    let Format::Csv {
        delimiter,
        header,
        quote,
    } = src.format
    else {
        return Ok(0);
    };
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

/// Read JSON lines; a line that is not a JSON object is rejected whole.
pub fn read_jsonl(
    src: &Source,
    path: &Path,
    name: &str,
    emit: &mut Emit,
    bad: &mut Vec<Rejected>,
    drift: &mut Drift,
) -> Result<u64, Error> {
    // Keys no column declares (JSON omits nulls, so absent keys are not drift).
    let mut new_keys = std::collections::BTreeSet::new();
    let fname: Arc<str> = name.into();
    let mut reader = BufReader::with_capacity(1 << 20, open(src, path, name)?);
    let mut b = Builders::new(fname.clone(), src.columns.len());
    let mut buf = Vec::new();
    let mut line = 0i64;
    let mut early = 0u64;
    let index: HashMap<&str, usize> = src
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    while next_line(&mut reader, &mut buf, src, &fname)? {
        line += 1;
        // Never decode lossily: a byte that is not text quarantines the line.
        let Ok(text) = std::str::from_utf8(&buf) else {
            bad.push(Rejected {
                file: fname.to_string(),
                line,
                reason: not_text(src),
                record: Some(String::from_utf8_lossy(&buf).chars().take(2000).collect()),
                ..Default::default()
            });
            early += 1;
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let members = match serde_json::from_str::<Members>(text) {
            Ok(m) => m.0,
            Err(e) => {
                bad.push(Rejected {
                    file: fname.to_string(),
                    line,
                    reason: format!("malformed JSON: {e}"),
                    record: Some(text.chars().take(2000).collect()),
                    ..Default::default()
                });
                early += 1;
                continue;
            }
        };
        // The last of a repeated key wins, as in any JSON reader.
        let mut slots: Vec<Option<&Raw>> = vec![None; src.columns.len()];
        for (Key(k), v) in members {
            match index.get(k.as_ref()) {
                Some(&ci) => slots[ci] = Some(v),
                None => {
                    if !new_keys.contains(k.as_ref()) {
                        new_keys.insert(k.into_owned());
                    }
                }
            }
        }
        for (ci, v) in slots.iter().enumerate() {
            let raw = v.map(|v| v.get()).unwrap_or("null");
            if raw == "null" || raw == "\"\"" {
                b.cols[ci].append_null();
            } else if raw.starts_with('"') {
                match raw.get(1..raw.len() - 1).filter(|s| !s.contains('\\')) {
                    Some(plain) => b.cols[ci].append_value(plain),
                    // Escapes: decode the string (it parsed, so it decodes).
                    None => b.cols[ci]
                        .append_value(serde_json::from_str::<String>(raw).unwrap_or_default()),
                }
            } else {
                // A number, boolean, object or array: its text as written.
                b.cols[ci].append_value(raw);
            }
        }
        b.lines.push(line);
        b.flush_if_full(emit, bad)?;
    }
    b.finish(emit, bad)?;
    Drift {
        new: new_keys,
        ..Default::default()
    }
    .check(src, &fname, drift)?;
    Ok(early)
}

type Raw = serde_json::value::RawValue;

/// A JSON object's members in order: keys borrowed from the line unless
/// they hold escapes, values as written.
struct Members<'a>(Vec<(Key<'a>, &'a Raw)>);

struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(Visit(PhantomData))
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Members<'a>, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(member) = m.next_entry::<Key<'a>, &'a Raw>()? {
                    out.push(member);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Visit(PhantomData))
    }
}

/// Read fixed-width text: each declared column is a byte range of the line,
/// decoded in the source's encoding and trimmed of padding spaces. Bytes
/// past a short line's end are an empty field (exports often trim trailing
/// blanks); a field that is not valid text quarantines its row.
pub fn read_fixed(
    src: &Source,
    path: &Path,
    name: &str,
    emit: &mut Emit,
    bad: &mut Vec<Rejected>,
    tally: &mut Tally,
) -> Result<u64, Error> {
    let Format::FixedWidth { skip_lines, ranges } = &src.format else {
        return Ok(0);
    };
    let fname: Arc<str> = name.into();
    let mut reader = BufReader::with_capacity(1 << 20, open(src, path, name)?);
    let mut b = Builders::new(fname.clone(), src.columns.len());
    let enc = src.encoding.unwrap_or(encoding_rs::UTF_8);
    let mut buf = Vec::new();
    let mut line = 0i64;
    let mut early = 0u64;
    let mut fields: Vec<String> = vec![String::new(); ranges.len()];
    while next_line(&mut reader, &mut buf, src, &fname)? {
        line += 1;
        if line as usize <= *skip_lines {
            continue;
        }
        let raw = buf
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(&buf);
        if raw.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let control = src.control.as_ref();
        if control.is_some() {
            // A fixed-width trailer's fields are separated by blanks.
            let text = String::from_utf8_lossy(raw);
            let fields: Vec<String> = text.split_whitespace().map(str::to_string).collect();
            if Tally::is_trailer(control, fields.first().map(String::as_str).unwrap_or("")) {
                tally.trailer(fields);
                continue;
            }
            let total = control.and_then(|c| c.total).and_then(|(_, col, _)| {
                let (start, width) = ranges[col];
                raw.get(start..(start + width).min(raw.len()))
                    .map(String::from_utf8_lossy)
            });
            tally.record(control, total.as_deref());
        }
        let mut invalid = None;
        for (ci, &(start, width)) in ranges.iter().enumerate() {
            let bytes = raw
                .get(start..(start + width).min(raw.len()))
                .unwrap_or(&[]);
            match enc.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => {
                    fields[ci].clear();
                    fields[ci].push_str(text.trim());
                }
                None => {
                    invalid = Some(ci);
                    break;
                }
            }
        }
        if let Some(ci) = invalid {
            bad.push(Rejected {
                file: fname.to_string(),
                line,
                column: Some(src.columns[ci].name.clone()),
                reason: format!(
                    "not valid {} text (or a character cut by the layout)",
                    enc.name()
                ),
                record: Some(String::from_utf8_lossy(raw).chars().take(2000).collect()),
                ..Default::default()
            });
            early += 1;
            continue;
        }
        for (ci, f) in fields.iter().enumerate() {
            if f.is_empty() {
                b.cols[ci].append_null();
            } else {
                b.cols[ci].append_value(f);
            }
        }
        b.lines.push(line);
        b.flush_if_full(emit, bad)?;
    }
    b.finish(emit, bad)?;
    Ok(early)
}
