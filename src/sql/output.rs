//! Query results for people and programs: an aligned table, CSV or JSON,
//! written to any `Write` (so the CLI and tests share it).

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Markdown,
}

pub fn write_batches(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> std::io::Result<()> {
    let io = |e: datafusion::arrow::error::ArrowError| std::io::Error::other(e.to_string());
    match format {
        OutputFormat::Table => {
            let text = pretty_format_batches(batches).map_err(io)?;
            writeln!(out, "{text}")?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for b in batches {
                w.write(b).map_err(io)?;
            }
        }
        OutputFormat::Markdown => {
            let Some(first) = batches.first() else {
                return Ok(());
            };
            let schema = first.schema();
            let cell = |s: String| s.replace('|', "\\|").replace('\n', " ");
            let names: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| cell(f.name().clone()))
                .collect();
            writeln!(out, "| {} |", names.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(names.len()))?;
            for b in batches {
                for r in 0..b.num_rows() {
                    let row: Vec<String> = b
                        .columns()
                        .iter()
                        .map(|c| {
                            datafusion::arrow::util::display::array_value_to_string(c, r)
                                .map(cell)
                                .map_err(io)
                        })
                        .collect::<std::io::Result<_>>()?;
                    writeln!(out, "| {} |", row.join(" | "))?;
                }
            }
        }
        OutputFormat::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).map_err(io)?;
            w.finish().map_err(io)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
