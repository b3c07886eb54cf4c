//! Fixed-width text (`fixed_width: {skip_lines, positions}`), as legacy
//! core-banking systems export it: each declared column at a 1-based byte
//! position and width, in the source's encoding.

use super::lines::{self, Builders, open};
use super::{Reader, Sink};
use crate::sources::control::Tally;
use crate::sources::{Error, Source};
use crate::spec::types::ColumnType;
use crate::spec::{Diags, Ordered};
use crate::warehouse::log::Rejected;
use serde::Deserialize;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedWidthSpec {
    /// Lines to skip first (a title or header line).
    #[serde(default)]
    pub skip_lines: usize,
    /// Column → `[start, width]`, start counted from 1, in bytes.
    pub positions: Ordered<[usize; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedWidth {
    pub skip_lines: usize,
    /// Byte ranges (0-based start, width) per declared column, in order.
    pub ranges: Arc<[(usize, usize)]>,
}

impl FixedWidthSpec {
    /// `at` is the source's YAML path; `columns` its declared column names.
    pub fn compile(&self, at: &str, columns: &[&str], diags: &mut Diags) -> FixedWidth {
        let mut ranges = Vec::new();
        for cname in columns {
            match self.positions.get(cname) {
                Some([start, width]) if *start >= 1 && *width >= 1 => {
                    ranges.push((start - 1, *width));
                }
                Some(_) => diags.err(
                    &format!("{at}.fixed_width.positions.{cname}"),
                    "start and width must be at least 1",
                    Some("positions are [start, width] in bytes, start counted from 1".into()),
                ),
                None => diags.err(
                    &format!("{at}.fixed_width.positions"),
                    format!("column `{cname}` has no position"),
                    Some(format!("add `{cname}: [start, width]`")),
                ),
            }
        }
        for (pname, _) in self.positions.iter() {
            if !columns.contains(&pname.as_str()) {
                diags.err(
                    &format!("{at}.fixed_width.positions.{pname}"),
                    format!("position for undeclared column `{pname}`"),
                    None,
                );
            }
        }
        FixedWidth {
            skip_lines: self.skip_lines,
            ranges: ranges.into(),
        }
    }
}

impl Reader for FixedWidth {
    fn read(
        &self,
        src: &Source,
        path: &Path,
        name: &str,
        sink: Sink<'_, '_>,
    ) -> Result<u64, Error> {
        read_fixed(self, src, path, name, sink)
    }

    /// Positions, not names: nothing to evolve from (refused at validation).
    fn columns(
        &self,
        _src: &Source,
        _path: &Path,
    ) -> Result<Vec<(String, Option<ColumnType>)>, String> {
        Ok(Vec::new())
    }

    fn names_columns(&self) -> bool {
        false
    }

    fn is_text(&self) -> bool {
        true
    }
}

/// Read fixed-width text: each declared column is a byte range of the line,
/// decoded in the source's encoding and trimmed of padding spaces. Bytes
/// past a short line's end are an empty field (exports often trim trailing
/// blanks); a field that is not valid text quarantines its row.
fn read_fixed(
    FixedWidth { skip_lines, ranges }: &FixedWidth,
    src: &Source,
    path: &Path,
    name: &str,
    Sink {
        emit, bad, tally, ..
    }: Sink<'_, '_>,
) -> Result<u64, Error> {
    let fname: Arc<str> = name.into();
    let mut reader = BufReader::with_capacity(1 << 20, open(src, path, name)?);
    let mut b = Builders::new(fname.clone(), src.columns.len());
    let enc = src.encoding.unwrap_or(encoding_rs::UTF_8);
    let mut buf = Vec::new();
    let mut line = 0i64;
    let mut early = 0u64;
    let mut fields: Vec<String> = vec![String::new(); ranges.len()];
    while lines::next_line(&mut reader, &mut buf, src, &fname)? {
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
