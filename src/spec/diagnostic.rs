//! A located problem in a pipeline, rendered like a compiler message:
//! `pipelines/monthly_cx.yaml:14:7 (sources.atm.csv.delimiter): error text` plus
//! a `help:` line.

use std::fmt;
use std::path::PathBuf;

/// One problem found while loading or validating a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in (the pipeline YAML or a SQL file).
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The config path, e.g. `sources.atm.path` (empty for SQL files).
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<PathBuf>,
        pos: Option<(usize, usize)>,
        path: &str,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = pos.unwrap_or((1, 1));
        Diagnostic {
            file: file.into(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        write!(f, ": error: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to
/// be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&word.to_lowercase(), &c.to_lowercase());
        if d <= (word.len().max(3) / 3).max(2) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        assert_eq!(
            did_you_mean("delimter", ["delimiter", "header", "quote"]),
            Some("delimiter")
        );
        assert_eq!(did_you_mean("zzzzzz", ["delimiter", "header"]), None);
    }

    #[test]
    fn renders_location_and_help() {
        let d = Diagnostic::new("p.yaml", Some((3, 5)), "sources.atm", "bad").with_help("fix it");
        assert_eq!(
            d.to_string(),
            "p.yaml:3:5 (sources.atm): error: bad\n  help: fix it"
        );
    }
}
