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
