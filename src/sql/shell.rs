//! The analysts' interactive SQL shell (`touchpoint sql`): statements end
//! with `;` and may span lines; backslash commands (`\dt`, `\d table`,
//! `\timing`, `\format`, `\o`, `\q`) stand alone. Tab completes table
//! and column names and commands; history is kept in
//! `~/.touchpoint_history`. Without a terminal it reads statements from
//! stdin, so scripts and tests can drive it.

use super::Session;
use super::output::{OutputFormat, write_batches};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

const COMMANDS: [&str; 8] = [
    "\\dt", "\\d", "\\timing", "\\format", "\\o", "\\q", "\\?", "\\help",
];

const HELP: &str = "\\dt              list tables
\\d TABLE         describe a table's columns
\\timing          show each statement's time (toggle)
\\format MODE     table, csv, json or markdown
\\o FILE          write results to FILE (Parquet when it ends in .parquet); \\o alone: back to the screen
\\q               quit
SQL statements end with `;` and may span lines; EXPLAIN ANALYZE <query>; shows the plan with timings.";

struct Shell {
    ctx: SessionContext,
    tables: Vec<String>,
    format: OutputFormat,
    timing: bool,
    output: Option<PathBuf>,
}

/// Run the shell over `session`: a terminal gets line editing, completion
/// and history; piped input runs as a script.
pub async fn run(
    session: Session,
    format: OutputFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let Session { ctx, tables, .. } = session;
    let mut shell = Shell {
        ctx,
        tables: tables.clone(),
        format,
        timing: false,
        output: None,
    };
    if !std::io::stdin().is_terminal() {
        // Scripted: read everything, run statement by statement.
        let stdin = std::io::stdin();
        let mut buffer = String::new();
        for line in stdin.lock().lines() {
            let line = line?;
            if shell.feed(&mut buffer, &line, out).await {
                break;
            }
        }
        if !buffer.trim().is_empty() {
            shell.statement(buffer.trim(), out).await;
        }
        return Ok(());
    }
    let columns = columns(&shell.ctx, &tables).await;
    let mut editor: Editor<Completion, DefaultHistory> = Editor::new()
        .map_err(|e| std::io::Error::other(format!("cannot open the terminal: {e}")))?;
    editor.set_helper(Some(Completion { tables, columns }));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".touchpoint_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let _ = writeln!(
        out,
        "touchpoint sql: \\? for help, \\q to quit; statements end with `;`"
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "touchpoint> "
        } else {
            "        ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if shell.feed(&mut buffer, &line, out).await {
                    break;
                }
            }
            // Ctrl-C drops the statement being typed; Ctrl-D quits.
            Err(rustyline::error::ReadlineError::Interrupted) => buffer.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

impl Shell {
    /// Take one line; run what it completes. `true` means quit.
    async fn feed(&mut self, buffer: &mut String, line: &str, out: &mut dyn Write) -> bool {
        let trimmed = line.trim();
        if buffer.trim().is_empty() && trimmed.starts_with('\\') {
            buffer.clear();
            return self.command(trimmed, out).await;
        }
        buffer.push_str(line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let sql = std::mem::take(buffer);
            self.statement(sql.trim().trim_end_matches(';'), out).await;
        }
        false
    }

    async fn command(&mut self, line: &str, out: &mut dyn Write) -> bool {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let arg = words.next();
        match (cmd, arg) {
            ("\\q", _) => return true,
            ("\\?" | "\\help", _) => {
                let _ = writeln!(out, "{HELP}");
            }
            ("\\dt", _) => {
                self.statement(
                    "SELECT table_name FROM information_schema.tables \
                     WHERE table_schema = 'public' ORDER BY table_name",
                    out,
                )
                .await
            }
            ("\\d", Some(t)) => {
                let t = t.replace('\'', "''");
                self.statement(
                    &format!(
                        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                         WHERE table_name = '{t}' ORDER BY ordinal_position"
                    ),
                    out,
                )
                .await
            }
            ("\\timing", _) => {
                self.timing = !self.timing;
                let _ = writeln!(out, "timing {}", if self.timing { "on" } else { "off" });
            }
            ("\\format", Some(f)) => match <OutputFormat as clap::ValueEnum>::from_str(f, true) {
                Ok(f) => self.format = f,
                Err(_) => {
                    let _ = writeln!(out, "error: formats are table, csv, json, markdown");
                }
            },
            ("\\o", file) => {
                self.output = file.map(PathBuf::from);
                let _ = match &self.output {
                    Some(f) => writeln!(out, "results go to {}", f.display()),
                    None => writeln!(out, "results go to the screen"),
                };
            }
            _ => {
                let _ = writeln!(out, "error: unknown command `{line}`; \\? lists them");
            }
        }
        false
    }

    /// Run one statement and show its result or error; the shell goes on.
    async fn statement(&mut self, sql: &str, out: &mut dyn Write) {
        let t = Instant::now();
        let result = async {
            let df = self
                .ctx
                .sql_with_options(sql, super::read_only())
                .await
                .map_err(|e| (e, true))?;
            df.collect().await.map_err(|e| (e, false))
        }
        .await;
        match result {
            Ok(batches) => {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                let shown = match &self.output {
                    Some(path) => write_file(path, &batches, self.format)
                        .map(|_| format!("{rows} row(s) written to {}", path.display())),
                    None => write_batches(out, &batches, self.format)
                        .map(|_| format!("{rows} row(s)"))
                        .map_err(|e| e.to_string()),
                };
                match shown {
                    Ok(msg) if self.output.is_some() || self.format == OutputFormat::Table => {
                        let _ = writeln!(out, "{msg}");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = writeln!(out, "error: {e}");
                    }
                }
            }
            // Planning errors get the same help as `touchpoint query`.
            Err((e, true)) => {
                let e = super::explain::reader_error(&self.ctx, sql, e, &self.tables).await;
                let _ = writeln!(out, "error: {e}");
                if let Some(help) = e.help() {
                    let _ = writeln!(out, "  help: {help}");
                }
            }
            Err((e, false)) => {
                let _ = writeln!(out, "error: {}", crate::engine::describe_error(&e));
            }
        }
        if self.timing {
            let _ = writeln!(out, "time: {:.3} s", t.elapsed().as_secs_f64());
        }
    }
}

/// A result to a file: Parquet by extension, else the current format.
fn write_file(
    path: &std::path::Path,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> std::result::Result<(), String> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, first.schema(), None)
            .map_err(|e| e.to_string())?;
        for b in batches {
            w.write(b).map_err(|e| e.to_string())?;
        }
        w.close().map_err(|e| e.to_string())?;
        Ok(())
    } else {
        let mut file = file;
        write_batches(&mut file, batches, format).map_err(|e| e.to_string())
    }
}

/// Every table's column names, for completion.
async fn columns(ctx: &SessionContext, tables: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        if let Ok(p) = ctx.table_provider(t.as_str()).await {
            out.extend(p.schema().fields().iter().map(|f| f.name().clone()));
        }
    }
    out.sort();
    out.dedup();
    out
}

struct Completion {
    tables: Vec<String>,
    columns: Vec<String>,
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        // The word before the cursor, by characters (`'€` is 4 bytes).
        let pos = if line.is_char_boundary(pos) {
            pos
        } else {
            line.len()
        };
        let start = line[..pos]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '\\'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let lower = word.to_lowercase();
        let names: Box<dyn Iterator<Item = &str>> = if word.starts_with('\\') {
            Box::new(COMMANDS.iter().copied())
        } else {
            Box::new(self.tables.iter().chain(&self.columns).map(String::as_str))
        };
        let mut found: Vec<Pair> = names
            .filter(|n| n.to_lowercase().starts_with(&lower))
            .map(|n| Pair {
                display: n.to_string(),
                replacement: n.to_string(),
            })
            .collect();
        found.dedup_by(|a, b| a.replacement == b.replacement);
        Ok((start, found))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tab after a character of more than one byte: no panic, and the
    /// word before the cursor is still completed.
    #[test]
    fn completes_after_multibyte_characters() {
        let c = Completion {
            tables: vec!["churn_risk".into()],
            columns: vec!["customer_id".into()],
        };
        let history = DefaultHistory::new();
        let cx = Context::new(&history);
        for before in ["'€", "—", "’", "，", "香港"] {
            for line in [
                before.to_string(),
                format!("{before}chu"),
                format!("SELECT {before} cu"),
            ] {
                let (start, found) = c.complete(&line, line.len(), &cx).expect("completes");
                assert!(line.is_char_boundary(start), "{line}");
                if line.ends_with("chu") && !before.chars().all(char::is_alphanumeric) {
                    assert_eq!(found.len(), 1, "{line}");
                    assert_eq!(&line[start..], "chu");
                }
            }
        }
    }
}
