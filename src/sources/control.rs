//! Control totals: a trailer record or a control file states how many
//! records an extract holds (and a hash total of an amount column). A file
//! that disagrees — a truncated or doubled transfer — fails its load, so
//! nothing of it is committed.

use super::spec::ControlSpec;
use super::{Column, Control, ControlAt, Error, ExtractFile, Format, Source};
use crate::spec::types::ColumnType;
use crate::spec::{Diags, did_you_mean};

impl ControlSpec {
    /// `at` is the source's YAML path; `columns` its compiled columns.
    pub fn compile(
        &self,
        at: &str,
        format: &Format,
        columns: &[Column],
        diags: &mut Diags,
    ) -> Option<Control> {
        let c = self;
        let at = format!("{at}.control");
        if !matches!(format, Format::Csv(_) | Format::FixedWidth(_)) {
            diags.err(
                &at,
                "control totals are read from text extracts (csv or fixed_width)",
                Some(
                    "remove `control`, or check the file's count with a `row_count_change` check"
                        .into(),
                ),
            );
            return None;
        }
        let where_ = match (&c.trailer, &c.file) {
            (Some(t), None) if !t.is_empty() => ControlAt::Trailer(t.clone()),
            // Beside the extract: a name, never a path (`../../x/{stem}.ctl`).
            (None, Some(f)) if f.contains(['/', '\\']) || f.contains("..") => {
                diags.err(
                    &format!("{at}.file"),
                    format!(
                        "the control file `{f}` must be a file name beside the extract, not a path"
                    ),
                    Some("e.g. `file: \"{stem}.ctl\"`".into()),
                );
                return None;
            }
            (None, Some(f)) if f.contains("{name}") || f.contains("{stem}") => {
                ControlAt::File(f.clone())
            }
            (None, Some(_)) => {
                diags.err(
                    &format!("{at}.file"),
                    "the control file's name must use `{name}` or `{stem}`",
                    Some(
                        "e.g. `file: \"{stem}.ctl\"` for atm_20240101.ctl beside atm_20240101.csv"
                            .into(),
                    ),
                );
                return None;
            }
            _ => {
                diags.err(
                    &at,
                    "declare exactly one of `trailer` (the marker of the last record) or `file`",
                    None,
                );
                return None;
            }
        };
        if c.count == 0 {
            diags.err(&format!("{at}.count"), "fields are counted from 1", None);
            return None;
        }
        let total = match (c.total, &c.total_column) {
            (None, None) => None,
            (Some(f), Some(col)) if f >= 1 => {
                let Some(i) = columns.iter().position(|x| &x.name == col) else {
                    let near = did_you_mean(col, columns.iter().map(|x| x.name.as_str()));
                    diags.err(
                        &format!("{at}.total_column"),
                        format!("unknown column `{col}`"),
                        near.map(|n| format!("did you mean `{n}`?")),
                    );
                    return None;
                };
                let scale = match columns[i].ty {
                    ColumnType::Decimal { scale, .. } => scale,
                    ColumnType::Int => 0,
                    _ => {
                        diags.err(
                            &format!("{at}.total_column"),
                            format!("`{col}` is not a decimal or int column"),
                            None,
                        );
                        return None;
                    }
                };
                Some((f - 1, i, scale))
            }
            _ => {
                diags.err(
                    &at,
                    "`total` (a field, from 1) and `total_column` go together",
                    None,
                );
                return None;
            }
        };
        Some(Control {
            at: where_,
            count_field: c.count - 1,
            total,
        })
    }
}

/// What the reader counted in one file.
#[derive(Debug, Default)]
pub struct Tally {
    /// Data records (every record that is not a header, blank or the
    /// trailer; rejected ones too: they were sent).
    pub records: u64,
    /// Sum of the total column in its declared scale.
    pub total: i128,
    /// Records whose total column could not be read as a number.
    pub unreadable: u64,
    /// The trailer's fields, once seen.
    pub trailer: Option<Vec<String>>,
    /// Records after the trailer.
    pub after_trailer: u64,
}

impl Tally {
    /// Is this record (its fields as split by the reader) the trailer?
    pub fn is_trailer(control: Option<&Control>, first_field: &str) -> bool {
        matches!(control, Some(Control { at: ControlAt::Trailer(m), .. }) if first_field.trim() == m)
    }

    pub fn trailer(&mut self, fields: Vec<String>) {
        self.trailer = Some(fields);
    }

    /// Count a data record; `total` is its total column's text.
    pub fn record(&mut self, control: Option<&Control>, total: Option<&str>) {
        let Some(c) = control else {
            return;
        };
        if self.trailer.is_some() {
            self.after_trailer += 1;
            return;
        }
        self.records += 1;
        if let Some((_, _, scale)) = c.total {
            match total.filter(|t| !t.trim().is_empty()) {
                None => {}
                Some(t) => match super::conform::parse_decimal(t, 38, scale) {
                    Ok(v) => self.total += v,
                    Err(_) => self.unreadable += 1,
                },
            }
        }
    }
}

/// The file's stated count and total against what was read.
pub fn verify(src: &Source, file: &ExtractFile, tally: &Tally) -> Result<(), Error> {
    let Some(c) = &src.control else {
        return Ok(());
    };
    let fail = |reason: String| Error::Control {
        source_name: src.name.clone(),
        file: file.name.clone(),
        reason,
    };
    let fields = match &c.at {
        ControlAt::Trailer(marker) => {
            let Some(t) = tally.trailer.clone() else {
                return Err(fail(format!(
                    "no trailer record (`{marker}…`) at the end: the file is truncated or incomplete"
                )));
            };
            if tally.after_trailer > 0 {
                return Err(fail(format!(
                    "{} record(s) after the trailer: two files joined, or a damaged transfer",
                    tally.after_trailer
                )));
            }
            t
        }
        ControlAt::File(template) => control_file(src, file, template).map_err(fail)?,
    };
    let field = |i: usize, what: &str| -> Result<String, Error> {
        fields.get(i).map(|f| f.trim().to_string()).ok_or_else(|| {
            fail(format!(
                "the control record has no field {} ({what})",
                i + 1
            ))
        })
    };
    let stated = field(c.count_field, "record count")?;
    let count: u64 = stated
        .parse()
        .map_err(|_| fail(format!("the record count `{stated}` is not a number")))?;
    if count != tally.records {
        return Err(fail(format!(
            "the control record says {count} records, the file holds {}: a truncated or doubled transfer",
            tally.records
        )));
    }
    if let Some((f, col, scale)) = c.total {
        let name = &src.columns[col].name;
        let stated = field(f, "hash total")?;
        let want = super::conform::parse_decimal(&stated, 38, scale)
            .map_err(|_| fail(format!("the hash total `{stated}` is not a number")))?;
        if want != tally.total || tally.unreadable > 0 {
            let unreadable = if tally.unreadable > 0 {
                format!(" ({} record(s) had an unreadable {name})", tally.unreadable)
            } else {
                String::new()
            };
            return Err(fail(format!(
                "the control total of {name} is {}, the records sum to {}{unreadable}",
                show(want, scale),
                show(tally.total, scale)
            )));
        }
    }
    Ok(())
}

fn show(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return v.to_string();
    }
    let p = 10i128.pow(scale as u32);
    let sign = if v < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0w$}",
        v.abs() / p,
        v.abs() % p,
        w = scale as usize
    )
}

/// The control file's name for the extract `extract` (a path or URL).
pub fn file_name(extract: &str, template: &str) -> String {
    let base = extract.rsplit(['/', '\\']).next().unwrap_or(extract);
    let stem = base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base);
    template.replace("{name}", base).replace("{stem}", stem)
}

/// The last non-empty line of the control file beside `file`, split into
/// fields (by the source's delimiter, else by whitespace).
fn control_file(src: &Source, file: &ExtractFile, template: &str) -> Result<Vec<String>, String> {
    let sibling = file.sibling(&file_name(&file.name, template));
    sibling.check_inside(src).map_err(|e| e.to_string())?;
    let copy = sibling
        .raw_copy(&src.name)
        .map_err(|e| format!("control file `{}` cannot be read: {e}", sibling.name))?;
    let text = std::fs::read_to_string(&copy.path)
        .map_err(|e| format!("control file `{}`: {e}", sibling.name))?;
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("control file `{}` is empty", sibling.name))?;
    Ok(src.format.reader().control_fields(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_money_in_its_scale() {
        assert_eq!(show(456789, 2), "4567.89");
        assert_eq!(show(-5, 2), "-0.05");
        assert_eq!(show(12, 0), "12");
    }
}
