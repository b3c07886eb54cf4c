//! Synthetic data generator: a Hong Kong retail bank's customer-experience
//! extracts (CRM, balances, ATM, branch queue tickets, online sessions,
//! call centre, surveys, complaint cases, relationship managers' contacts)
//! with ground truth and deliberate defects.
//!
//! [`generate`] is deterministic for a seed and chunk size (same bytes on
//! every run) and streams to disk: it simulates the customer base in chunks
//! (`chunk_customers` at a time, each chunk over the whole window, appending
//! to the daily files), so memory holds one chunk's state and one day's
//! events whatever the number of customers or months.
//!
//! Layout: [`customers`] draws the population and writes the CRM file,
//! [`sim`] runs the day loop over the channel modules ([`atm`], [`branch`],
//! [`online`], [`callcentre`], [`surveys`], [`complaints`], [`rm`], [`balances`]), [`dirty`] and
//! [`sink`] inject defects and write text files, [`truth`] writes `_truth/`.

mod atm;
mod balances;
mod branch;
mod callcentre;
mod complaints;
mod customers;
mod dirty;
mod leads;
mod online;
mod rm;
mod rng;
mod sim;
mod sink;
mod surveys;
mod time;
mod truth;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Datelike;

use self::dirty::Kind;
use self::sink::Counts;

/// Options of [`generate`].
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Number of customers (`C0000001`..).
    pub customers: u64,
    /// Number of whole months simulated.
    pub months: u32,
    /// First day of the first month.
    pub start: chrono::NaiveDate,
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Probability that a data row is dirty (default 0.005).
    pub dirty_rate: f64,
    /// Relationship-balance tier thresholds in whole HKD: top, high, middle.
    pub tier_thresholds: [i64; 3],
    /// Customers simulated at a time: bounds memory. Output depends on it
    /// (the same seed and chunk size give the same bytes).
    pub chunk_customers: u64,
}

/// Default chunk: ~10 MB of customer state.
pub const CHUNK_CUSTOMERS: u64 = 50_000;

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            customers: 2000,
            months: 12,
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
            seed: 42,
            out: PathBuf::from("data"),
            dirty_rate: 0.005,
            tier_thresholds: [8_000_000, 1_000_000, 20_000],
            chunk_customers: CHUNK_CUSTOMERS,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GenerateSummary {
    /// All data rows written, all sources.
    pub events: u64,
    /// Data files written (all sources; `_truth/` not included).
    pub files: u64,
    pub seconds: f64,
    pub sources: BTreeMap<String, SourceTally>,
}

/// Per-source counts (also written to `_truth/manifest.json`).
#[derive(serde::Serialize, Clone, Default, Debug)]
pub struct SourceTally {
    pub files: u64,
    pub rows_written: u64,
    pub clean: u64,
    pub dirty: BTreeMap<String, u64>,
    pub by_period: BTreeMap<String, PeriodTally>,
}

/// Per-source, per-month counts.
#[derive(serde::Serialize, Clone, Default, Debug)]
pub struct PeriodTally {
    pub rows_written: u64,
    pub clean: u64,
    pub dirty: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("parquet: {0}")]
    Parquet(String),
}

/// The names of all sources in the manifest.
pub(crate) const SOURCES: [&str; 9] = [
    "atm",
    "balances",
    "branch",
    "callcentre",
    "complaints",
    "customers",
    "online",
    "rm",
    "surveys",
];

/// Accumulates [`SourceTally`]s as files are closed.
pub(crate) struct Tallies {
    pub map: BTreeMap<String, SourceTally>,
}

impl Tallies {
    fn new() -> Tallies {
        Tallies {
            map: SOURCES
                .iter()
                .map(|s| ((*s).to_string(), SourceTally::default()))
                .collect(),
        }
    }

    /// Count one closed file of `source` belonging to month `period`.
    /// Count a file's rows; `new_file` is false when a later customer chunk
    /// appended to a file already counted.
    pub(crate) fn add(&mut self, source: &str, period: &str, counts: &Counts, new_file: bool) {
        let t = self.map.entry(source.to_string()).or_default();
        t.files += u64::from(new_file);
        t.rows_written += counts.rows;
        t.clean += counts.clean;
        for k in Kind::ALL {
            let n = counts.dirty[k.index()];
            if n > 0 {
                *t.dirty.entry(k.name().to_string()).or_default() += n;
            }
        }
        let p = t.by_period.entry(period.to_string()).or_default();
        p.rows_written += counts.rows;
        p.clean += counts.clean;
        p.dirty += counts.dirty.iter().sum::<u64>();
    }
}

fn validate(opts: &GenerateOptions) -> Result<(), GenerateError> {
    let bad = |m: String| Err(GenerateError::Invalid(m));
    if opts.customers == 0 || opts.customers >= 9_000_000 {
        return bad(format!(
            "customers must be between 1 and 8,999,999, got {}",
            opts.customers
        ));
    }
    if opts.months == 0 || opts.months > 1200 {
        return bad(format!(
            "months must be between 1 and 1200, got {}",
            opts.months
        ));
    }
    if opts.start.day() != 1 {
        return bad(format!(
            "start must be the first day of a month, got {}",
            opts.start
        ));
    }
    if !(1900..=9000).contains(&opts.start.year()) {
        return bad(format!(
            "start year must be between 1900 and 9000, got {}",
            opts.start.year()
        ));
    }
    if opts.chunk_customers == 0 {
        return bad("chunk_customers must be at least 1".into());
    }
    if !(opts.dirty_rate.is_finite() && (0.0..=1.0).contains(&opts.dirty_rate)) {
        return bad(format!(
            "dirty_rate must be between 0 and 1, got {}",
            opts.dirty_rate
        ));
    }
    let [t0, t1, t2] = opts.tier_thresholds;
    if !(t0 > t1 && t1 > t2 && t2 > 0 && t0 <= 1_000_000_000_000) {
        return bad(format!(
            "tier_thresholds must be decreasing, positive and at most 10^12 HKD, got [{t0}, {t1}, {t2}]"
        ));
    }
    Ok(())
}

/// Generate the whole data set under `opts.out`.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    let started = std::time::Instant::now();
    validate(opts)?;
    let cal = time::Calendar::new(opts.start.year(), opts.start.month(), opts.months);
    let mut tallies = Tallies::new();
    let mut sim = sim::Sim::new(opts)?;
    let mut pop_rng = rng::stream(opts.seed, rng::SALT_POPULATION);
    let truth_dir = opts.out.join("_truth");
    let chunk = opts.chunk_customers;
    let chunks = opts.customers.div_ceil(chunk);
    let mut rows = 0;
    let mut lead_rows = 0;
    for part in 0..chunks {
        let base = part * chunk;
        let n = chunk.min(opts.customers - base);
        let mut pop =
            customers::Population::chunk(&mut pop_rng, opts, &cal, base as u32, n as usize)?;
        let append = part > 0;
        sim.run(
            opts,
            &cal,
            &mut pop,
            part as usize,
            part + 1 == chunks,
            &mut tallies,
        )?;
        rows += customers::write_crm(
            &opts.out.join("crm").join("customers.csv"),
            &pop,
            &cal,
            append,
        )?;
        lead_rows += leads::write_leads(
            &opts.out.join("crm").join("leads.csv"),
            &pop,
            &cal,
            opts.seed,
            append,
        )?;
        truth::write_customers(&truth_dir.join("customers.csv"), &pop, &cal, append)?;
    }
    let last_period = cal.periods.last().cloned().unwrap_or_default();
    tallies.add(
        "customers",
        &last_period,
        &Counts {
            rows,
            clean: rows,
            dirty: [0; 6],
        },
        true,
    );

    tallies.add(
        "leads",
        &last_period,
        &Counts {
            rows: lead_rows,
            clean: lead_rows,
            dirty: [0; 6],
        },
        true,
    );

    truth::write_params(&truth_dir.join("params.json"), opts, &cal)?;
    truth::write_manifest(&truth_dir.join("manifest.json"), &tallies.map)?;

    let events = tallies.map.values().map(|t| t.rows_written).sum();
    let files = tallies.map.values().map(|t| t.files).sum();
    Ok(GenerateSummary {
        events,
        files,
        seconds: started.elapsed().as_secs_f64(),
        sources: tallies.map,
    })
}
