//! JSON lines (`jsonl: {}`): one object per line. A line that is not a JSON
//! object is rejected whole; numbers are loaded from their text as written
//! (an amount never passes through a float).

use super::lines::{self, Builders, not_text, open};
use super::{Reader, Sink};
use crate::sources::discover::{Guess, Proposal, SAMPLE_ROWS, read_err, rendered};
use crate::sources::{Drift, Error, Source};
use crate::spec::types::ColumnType;
use crate::warehouse::log::Rejected;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

/// JSON lines: one object per line; no options yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSpec {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Jsonl;

/// How many lines of a file are looked at for new keys (schema evolution).
const SAMPLE_LINES: usize = 10_000;

impl Reader for Jsonl {
    fn read(
        &self,
        src: &Source,
        path: &Path,
        name: &str,
        sink: Sink<'_, '_>,
    ) -> Result<u64, Error> {
        read_jsonl(src, path, name, sink)
    }

    fn columns(
        &self,
        _src: &Source,
        path: &Path,
    ) -> Result<Vec<(String, Option<ColumnType>)>, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut keys = BTreeSet::new();
        for line in BufReader::new(file)
            .lines()
            .take(SAMPLE_LINES)
            .map_while(Result::ok)
        {
            if let Ok(obj) =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line)
            {
                keys.extend(obj.keys().cloned());
            }
        }
        Ok(keys.into_iter().map(|k| (k, None)).collect())
    }

    fn names_columns(&self) -> bool {
        true
    }

    fn is_text(&self) -> bool {
        true
    }
}

/// Read JSON lines; a line that is not a JSON object is rejected whole.
fn read_jsonl(
    src: &Source,
    path: &Path,
    name: &str,
    Sink {
        emit, bad, drift, ..
    }: Sink<'_, '_>,
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
    while lines::next_line(&mut reader, &mut buf, src, &fname)? {
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
                    reason: malformed(&e),
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
        // Each value's text; a string's escapes decoded. A string that
        // does not decode (a lone UTF-16 surrogate, `"\ud800"`) is no
        // text: the row is quarantined, never loaded as "" or cut short.
        let mut values: Vec<Option<Cow<str>>> = Vec::with_capacity(slots.len());
        let mut undecodable = None;
        for (ci, v) in slots.iter().enumerate() {
            let raw = v.map(|v| v.get()).unwrap_or("null");
            values.push(if raw == "null" || raw == "\"\"" {
                None
            } else if raw.starts_with('"') {
                match raw.get(1..raw.len() - 1).filter(|s| !s.contains('\\')) {
                    Some(plain) => Some(Cow::Borrowed(plain)),
                    None => match serde_json::from_str::<String>(raw) {
                        Ok(s) => Some(Cow::Owned(s)),
                        Err(_) => {
                            undecodable = Some(ci);
                            break;
                        }
                    },
                }
            } else {
                // A number, boolean, object or array: its text as written.
                Some(Cow::Borrowed(raw))
            });
        }
        if let Some(ci) = undecodable {
            bad.push(Rejected {
                file: fname.to_string(),
                line,
                column: Some(src.columns[ci].name.clone()),
                reason: "not valid text: a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair)".into(),
                record: Some(text.to_string()),
                ..Default::default()
            });
            early += 1;
            continue;
        }
        for (ci, v) in values.into_iter().enumerate() {
            match v {
                Some(v) => b.cols[ci].append_value(v),
                None => b.cols[ci].append_null(),
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

/// Why a line is not a JSON object, by position and kind only: serde's
/// message quotes the text it met, which may be a personal value.
fn malformed(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Data => "not a JSON object",
        Category::Eof => "ends before the object does",
        Category::Syntax | Category::Io => "syntax error",
    };
    format!("malformed JSON: {what} (column {})", e.column())
}

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

/// Sniff a JSON-lines sample: every key seen, and its values' types.
pub(crate) fn sniff(path: &Path) -> Result<Proposal, crate::sources::discover::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_not_an_object_is_named_without_its_value() {
        for line in [
            r#""4111-1111-1111-1111""#,
            "4111111111111111",
            "[\"4111 1111\"]",
        ] {
            let e = serde_json::from_str::<Members>(line)
                .err()
                .expect("not an object");
            let reason = malformed(&e);
            assert!(reason.starts_with("malformed JSON"), "{reason}");
            assert!(!reason.contains("4111"), "{reason}");
        }
        let e = serde_json::from_str::<Members>(r#"{"a": 1,"#)
            .err()
            .expect("cut short");
        assert!(malformed(&e).contains("ends before"), "{}", malformed(&e));
    }
}
