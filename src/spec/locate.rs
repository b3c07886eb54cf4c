//! Maps a config path (`sources.atm.columns.amount.type`) to the line and column
//! where it stands in the YAML text, so semantic errors found after
//! deserialisation can still point at the file.
//!
//! serde_yaml drops positions once a document becomes a `Value`; a second,
//! event-level pass over the same text (yaml-rust2) recovers them cheaply.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Positions of every key and value in a YAML document, by dotted path.
#[derive(Debug, Default, Clone)]
pub struct Locator {
    /// path -> (line, column) of the key (or the sequence item).
    keys: HashMap<String, (usize, usize)>,
    /// path -> (line, column) of the value.
    values: HashMap<String, (usize, usize)>,
    /// path -> a scalar value's text as written (serde_yaml reads
    /// `99999999999999999.99` as a float; a bound needs its digits).
    scalars: HashMap<String, String>,
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    loc: Locator,
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

impl Builder {
    /// Path of the node that starts now, registering its position.
    fn node_path(&mut self, mark: Marker, is_scalar_key_candidate: Option<&str>) -> Option<String> {
        let pos = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => {
                    let p = join(path, &key);
                    self.loc.values.insert(p.clone(), pos);
                    Some(p)
                }
                None => {
                    // This node is a key.
                    if let Some(k) = is_scalar_key_candidate {
                        let p = join(path, k);
                        self.loc.keys.insert(p.clone(), pos);
                        *pending_key = Some(k.to_string());
                    }
                    None
                }
            },
            Some(Frame::Seq { path, index }) => {
                let p = join(path, &index.to_string());
                *index += 1;
                self.loc.keys.insert(p.clone(), pos);
                self.loc.values.insert(p.clone(), pos);
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(p) = self.node_path(mark, Some(&value)) {
                    self.loc.scalars.insert(p, value);
                }
            }
            Event::Alias(_) => {
                self.node_path(mark, Some("*alias"));
            }
            Event::MappingStart(..) => {
                let path = self.node_path(mark, None).unwrap_or_default();
                self.stack.push(Frame::Map {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(mark, None).unwrap_or_default();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Locator {
    /// Index `text`; a document that does not parse gives an empty index (the
    /// syntax error itself is reported by serde_yaml with its own position).
    pub fn new(text: &str) -> Self {
        let mut b = Builder {
            stack: Vec::new(),
            loc: Locator::default(),
        };
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut b, false);
        b.loc
    }

    /// Where the value at `path` stands; falls back to its key, then to the
    /// nearest ancestor that is known.
    pub fn value(&self, path: &str) -> Option<(usize, usize)> {
        self.lookup(path, true)
    }

    /// The text of the scalar value at `path`, as written.
    pub fn scalar(&self, path: &str) -> Option<&str> {
        self.scalars.get(path).map(String::as_str)
    }

    /// Where the key at `path` stands (for unknown-key errors).
    pub fn key(&self, path: &str) -> Option<(usize, usize)> {
        self.lookup(path, false)
    }

    fn lookup(&self, path: &str, prefer_value: bool) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        let mut prefer_value = prefer_value;
        loop {
            let hit = if prefer_value {
                self.values.get(&p).or_else(|| self.keys.get(&p))
            } else {
                self.keys.get(&p).or_else(|| self.values.get(&p))
            };
            if let Some(pos) = hit {
                return Some(*pos);
            }
            // An ancestor is named by its key: a block mapping's own mark
            // points past its first key, which would mislead.
            prefer_value = false;
            match p.rfind('.') {
                Some(i) => p.truncate(i),
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_values() {
        let text = "name: x\nsources:\n  atm:\n    path: a.csv\n    columns:\n      amount: {type: int}\nlist:\n  - a\n  - b\n";
        let loc = Locator::new(text);
        assert_eq!(loc.key("sources.atm.path"), Some((4, 5)));
        assert_eq!(loc.value("sources.atm.path"), Some((4, 11)));
        assert_eq!(loc.value("sources.atm.columns.amount.type"), Some((6, 22)));
        assert_eq!(loc.value("list.1"), Some((9, 5)));
        // Unknown leaf falls back to the parent.
        assert_eq!(loc.value("sources.atm.nope"), Some((3, 3)));
    }
}
