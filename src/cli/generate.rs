//! `touchpoint generate`: write a synthetic bank's extracts.

use crate::Result;
use crate::generate::{GenerateOptions, generate};
use std::io::Write;
use std::path::PathBuf;

/// Generate a synthetic retail bank's channel extracts (CRM, balances, ATM,
/// branch tickets, online sessions, call-centre calls, surveys), with dirty
/// rows at --dirty-rate and a ground-truth folder `_truth/` for tests.
/// Deterministic for a seed.
///
/// Example: touchpoint generate --customers 20000 --months 12 --start 2024-01 --seed 7 --out data
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[arg(long, default_value_t = 2000)]
    pub customers: u64,
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// First month, YYYY-MM.
    #[arg(long, default_value = "2024-01")]
    pub start: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    /// Share of rows made dirty (malformed, impossible dates, negative amounts,
    /// unknown customers, duplicates).
    #[arg(long, default_value_t = 0.005)]
    pub dirty_rate: f64,
    /// Relationship-balance thresholds (whole HKD) of the value pyramid's top
    /// three tiers, highest first: Premier Top, Premier, Advance. Keep them in
    /// step with the pipeline's `tier_rules` seed.
    #[arg(long, value_delimiter = ',', default_values_t = [8_000_000i64, 1_000_000, 20_000])]
    pub tiers: Vec<i64>,
    /// Customers simulated at a time; memory holds one chunk, so it bounds
    /// memory whatever --customers is. Output depends on it (same seed and
    /// chunk size, same bytes); later chunks append to the daily files and
    /// add `sessions_YYYY-MM_partN.parquet` files.
    #[arg(long, default_value_t = crate::generate::CHUNK_CUSTOMERS)]
    pub chunk_customers: u64,
}

pub fn options(a: &Args) -> Result<GenerateOptions> {
    let start: crate::period::Period = a.start.parse().map_err(|e: crate::period::Error| {
        crate::Error::usage(e.to_string(), "e.g. --start 2024-01")
    })?;
    if !(0.0..=0.5).contains(&a.dirty_rate) {
        return Err(crate::Error::usage(
            "--dirty-rate must be between 0 and 0.5",
            "the default is 0.005 (0.5%)",
        ));
    }
    // `generate` checks that they fall.
    let tiers: [i64; 3] = a.tiers.as_slice().try_into().map_err(|_| {
        crate::Error::usage(
            "--tiers takes three thresholds",
            "e.g. --tiers 8000000,1000000,20000",
        )
    })?;
    Ok(GenerateOptions {
        customers: a.customers,
        months: a.months,
        start: start.first_day(),
        seed: a.seed,
        out: a.out.clone(),
        dirty_rate: a.dirty_rate,
        tier_thresholds: tiers,
        chunk_customers: a.chunk_customers,
    })
}

pub fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let opts = options(&a)?;
    let s = generate(&opts)?;
    writeln!(
        out,
        "generated {} events in {} files under {} in {:.1}s ({:.0} events/s)",
        s.events,
        s.files,
        a.out.display(),
        s.seconds,
        s.events as f64 / s.seconds.max(1e-9)
    )
    .map_err(super::io_err("stdout"))?;
    Ok(())
}
