//! Buffered text-file sinks (CSV, pipe-delimited, JSON lines).
//!
//! A sink formats one row at a time and keeps exactly one line pending so
//! that, when the file is the source's truncation target, its last data line
//! can be cut without a trailing newline. It also remembers the previous
//! clean line for duplicates and counts rows, clean rows and defects.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::GenerateError;
use super::dirty::{Dice, Kind, Layout};

/// Map an I/O error to [`GenerateError::Io`] for `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Map a CSV error to [`GenerateError::Io`] for `path`.
pub(crate) fn csv_err(path: &Path) -> impl Fn(csv::Error) -> GenerateError + '_ {
    move |e| GenerateError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// A whole-file CSV extract written by customer chunks: the first chunk
/// creates it with its header, a later one (`append`) adds rows.
pub(crate) fn csv_snapshot(
    path: &Path,
    append: bool,
    header: &[&str],
) -> Result<csv::Writer<BufWriter<File>>, GenerateError> {
    let mut w = csv::Writer::from_writer(open(path, append)?);
    if !append {
        w.write_record(header).map_err(csv_err(path))?;
    }
    Ok(w)
}

/// Create the parent directory of `path` and open it for buffered writing.
pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, GenerateError> {
    open(path, false)
}

/// [`create`], or with `append` add to the file a previous customer chunk
/// wrote.
pub(crate) fn open(path: &Path, append: bool) -> Result<BufWriter<File>, GenerateError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(path))?;
    }
    let f = if append {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(path))?
    } else {
        File::create(path).map_err(io_err(path))?
    };
    Ok(BufWriter::with_capacity(1 << 16, f))
}

/// Row and defect counts of one file.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub rows: u64,
    pub clean: u64,
    pub dirty: [u64; 6],
}

impl Counts {
    fn add(&mut self, kind: Option<Kind>) {
        self.rows += 1;
        match kind {
            None => self.clean += 1,
            Some(k) => self.dirty[k.index()] += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Pipe,
    Jsonl(&'static [&'static str]),
}

/// A `Write` into a shared buffer, so one csv writer can format many lines.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) struct TextFile {
    path: PathBuf,
    out: BufWriter<File>,
    format: Format,
    shared: Shared,
    csv: csv::Writer<Shared>,
    line: Vec<u8>,
    pending: Vec<u8>,
    pending_kind: Option<Kind>,
    pending_protected: bool,
    has_pending: bool,
    last_clean: Vec<u8>,
    has_clean: bool,
    counts: Counts,
}

impl TextFile {
    /// Create the file and write its header line, or (`append`) continue
    /// the one an earlier customer chunk wrote, without a second header.
    pub(crate) fn open(
        path: PathBuf,
        format: Format,
        header: &[&str],
        append: bool,
    ) -> Result<TextFile, GenerateError> {
        let out = open(&path, append)?;
        let shared = Shared::default();
        let csv = csv::WriterBuilder::new()
            .flexible(true)
            .buffer_capacity(4096)
            .from_writer(shared.clone());
        let mut file = TextFile {
            path,
            out,
            format,
            shared,
            csv,
            line: Vec::with_capacity(256),
            pending: Vec::with_capacity(256),
            pending_kind: None,
            pending_protected: false,
            has_pending: false,
            last_clean: Vec::with_capacity(256),
            has_clean: false,
            counts: Counts::default(),
        };
        match format {
            Format::Jsonl(_) => {}
            _ if append => {}
            _ => {
                let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
                file.format_line(&header)?;
                let path = file.path.clone();
                file.out.write_all(&file.line).map_err(io_err(&path))?;
                file.out.write_all(b"\n").map_err(io_err(&path))?;
            }
        }
        Ok(file)
    }

    pub(crate) fn is_jsonl(&self) -> bool {
        matches!(self.format, Format::Jsonl(_))
    }

    fn format_line(&mut self, fields: &[String]) -> Result<(), GenerateError> {
        self.line.clear();
        match self.format {
            Format::Csv => {
                self.csv
                    .write_record(fields)
                    .map_err(|e| GenerateError::Io {
                        path: self.path.clone(),
                        source: e.into(),
                    })?;
                self.csv.flush().map_err(io_err(&self.path))?;
                let mut buf = self.shared.0.borrow_mut();
                let end = buf.len() - usize::from(buf.last() == Some(&b'\n'));
                self.line.extend_from_slice(&buf[..end]);
                buf.clear();
            }
            Format::Pipe => {
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        self.line.push(b'|');
                    }
                    self.line.extend_from_slice(f.as_bytes());
                }
            }
            Format::Jsonl(keys) => {
                self.line.push(b'{');
                for (i, (k, v)) in keys.iter().zip(fields).enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    json_string(&mut self.line, k);
                    self.line.push(b':');
                    json_string(&mut self.line, v);
                }
                self.line.push(b'}');
            }
        }
        Ok(())
    }

    /// Format and queue a row. `kind` is the defect already applied to the
    /// fields (`None` for clean rows); malformed JSON lines are cut here.
    /// A `protected` row is never truncated.
    pub(crate) fn write_fields(
        &mut self,
        fields: &[String],
        kind: Option<Kind>,
        protected: bool,
    ) -> Result<(), GenerateError> {
        self.format_line(fields)?;
        if kind == Some(Kind::Malformed) && self.is_jsonl() {
            let cut = char_floor(&self.line, self.line.len() * 3 / 5);
            self.line.truncate(cut);
        }
        if kind.is_none() {
            self.last_clean.clear();
            self.last_clean.extend_from_slice(&self.line);
            self.has_clean = true;
        }
        self.push_line(kind, protected)
    }

    /// Queue a verbatim copy of the previous clean line, counted as a duplicate.
    pub(crate) fn write_duplicate(&mut self) -> Result<(), GenerateError> {
        self.line.clear();
        self.line.extend_from_slice(&self.last_clean);
        self.push_line(Some(Kind::Duplicate), false)
    }

    /// Roll the dice for a row and write it: `fill` formats the row's fields
    /// (it is not called for duplicates, so ids stay contiguous). A clean
    /// `protected` row is never the one truncated.
    pub(crate) fn emit(
        &mut self,
        dice: &mut Dice,
        layout: &Layout,
        amount_positive: bool,
        protected: bool,
        fields: &mut Vec<String>,
        fill: impl FnOnce(&mut Vec<String>),
    ) -> Result<Option<Kind>, GenerateError> {
        let kind = dice.roll(layout, self.has_clean, amount_positive);
        if kind == Some(Kind::Duplicate) {
            self.write_duplicate()?;
            return Ok(kind);
        }
        fill(fields);
        if let Some(k) = kind {
            dice.corrupt(k, fields, layout, self.is_jsonl());
        }
        self.write_fields(fields, kind, protected && kind.is_none())?;
        Ok(kind)
    }

    fn push_line(&mut self, kind: Option<Kind>, protected: bool) -> Result<(), GenerateError> {
        if self.has_pending {
            self.flush_pending(false)?;
        }
        std::mem::swap(&mut self.line, &mut self.pending);
        self.pending_kind = kind;
        self.pending_protected = protected;
        self.has_pending = true;
        Ok(())
    }

    fn flush_pending(&mut self, truncate: bool) -> Result<bool, GenerateError> {
        self.has_pending = false;
        if truncate && !self.pending_protected {
            let cut = truncation_point(&self.pending, self.format);
            self.out
                .write_all(&self.pending[..cut])
                .map_err(io_err(&self.path))?;
            self.counts.add(Some(Kind::Truncated));
            return Ok(true);
        }
        self.out
            .write_all(&self.pending)
            .map_err(io_err(&self.path))?;
        self.out.write_all(b"\n").map_err(io_err(&self.path))?;
        self.counts.add(self.pending_kind);
        Ok(false)
    }

    /// Flush and close. With `truncate`, the last data line is cut (unless
    /// the file has no data line or it is protected). Returns the counts and
    /// whether a line was truncated.
    pub(crate) fn finish(mut self, truncate: bool) -> Result<(Counts, bool), GenerateError> {
        let mut truncated = false;
        if self.has_pending {
            truncated = self.flush_pending(truncate)?;
        }
        self.out.flush().map_err(io_err(&self.path))?;
        Ok((self.counts, truncated))
    }
}

/// Where to cut a line so that at least two fields are missing (and, for
/// JSON, the object does not parse), on a UTF-8 character boundary.
fn truncation_point(line: &[u8], format: Format) -> usize {
    let half = line.len() / 2;
    let delim = match format {
        Format::Csv => b',',
        Format::Pipe => b'|',
        Format::Jsonl(_) => return char_floor(line, half.max(1)),
    };
    // Positions of real separators (CSV quotes may hide delimiters).
    let mut in_quotes = false;
    let mut seps = Vec::new();
    for (i, b) in line.iter().enumerate() {
        if *b == b'"' && format == Format::Csv {
            in_quotes = !in_quotes;
        } else if *b == delim && !in_quotes {
            seps.push(i);
        }
    }
    // With n fields there are n-1 separators; keep at most n-2 fields by
    // cutting before separator number n-2 (index n-3).
    let n = seps.len() + 1;
    let limit = if n >= 3 { seps[n - 3] } else { line.len() };
    char_floor(line, half.min(limit).max(1))
}

fn char_floor(line: &[u8], mut at: usize) -> usize {
    at = at.min(line.len());
    while at > 0 && at < line.len() && (line[at] & 0xC0) == 0x80 {
        at -= 1;
    }
    at
}

/// Append `s` as a JSON string literal.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Make `fields` hold exactly `n` empty strings (keeping their capacity).
pub(crate) fn reset(fields: &mut Vec<String>, n: usize) {
    fields.resize_with(n, String::new);
    fields.truncate(n);
    for f in fields.iter_mut() {
        f.clear();
    }
}

/// Format integer cents as a plain decimal with exactly two decimals.
pub(crate) fn money(s: &mut String, cents: i64) {
    use std::fmt::Write as _;
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    let _ = write!(s, "{sign}{}.{:02}", a / 100, a % 100);
}

/// Format a customer id, `C` + 7 digits, from a customer number.
pub(crate) fn customer_id(s: &mut String, number: u32) {
    use std::fmt::Write as _;
    let _ = write!(s, "C{number:07}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_drops_two_fields() {
        let line = b"A1,4000,C0000001,ATM001,2024-01-01 10:00:00,withdrawal,100.00,HKD,approved";
        let cut = truncation_point(line, Format::Csv);
        let kept = &line[..cut];
        let fields = kept.iter().filter(|b| **b == b',').count() + 1;
        assert!(fields <= 9 - 2, "{}", String::from_utf8_lossy(kept));
        let json = br#"{"a":"1","b":"2"}"#;
        let cut = truncation_point(json, Format::Jsonl(&["a", "b"]));
        assert!(serde_json::from_slice::<serde_json::Value>(&json[..cut]).is_err());
    }
}
