//! Leads: `crm/leads.csv`, the people the bank knows who hold no personal
//! account yet — seed 001's prospects (customers of another line of the
//! bank, such as corporate banking), suspects (another bank's customers it
//! has data on) and campaign responders — with the sales team's first
//! contact, its assessment (need and means to buy: `qualified`, `no_need`,
//! `no_means`) and, for a lead who opened an account, the customer number.
//!
//! A snapshot at the window's end: a step that falls after it is blank.
//! Every customer index draws from its own stream, so adding leads left
//! every other value of a seed as it was.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Population, customer_number, person_name};
use super::rng::{mix, pick};
use super::sink::{csv_err, csv_snapshot, io_err};
use super::time::{Calendar, fmt_date};

pub(crate) const HEADER: [&str; 9] = [
    "lead_id",
    "full_name",
    "phone",
    "source",
    "known_date",
    "contacted_date",
    "assessed_date",
    "assessment",
    "converted_customer_id",
];

pub(crate) const SOURCES: [&str; 3] = ["corporate_banking", "other_bank", "campaign"];
pub(crate) const SOURCE_WEIGHTS: [f64; 3] = [0.4, 0.35, 0.25];
pub(crate) const ASSESSMENTS: [&str; 3] = ["qualified", "no_need", "no_means"];
pub(crate) const ASSESSMENT_WEIGHTS: [f64; 3] = [0.45, 0.35, 0.20];
/// Share of the customers who open inside the window that came from a lead.
pub(crate) const CONVERTED_SHARE: f64 = 0.4;
/// Leads that have not opened, per customer of the base.
pub(crate) const OPEN_LEAD_RATE: f64 = 0.25;
/// Chance that the sales team contacts a lead, by source.
pub(crate) const CONTACT_PROB: [f64; 3] = [0.8, 0.3, 0.6];
/// Chance that a contacted lead is assessed.
pub(crate) const ASSESS_PROB: f64 = 0.7;

const SALT_LEADS: u64 = 0x1EAD_5EED;

/// One lead; days are offsets from the window start.
struct Lead {
    id: u32,
    name: [u8; 3],
    style: u8,
    phone: u32,
    source: usize,
    known: i32,
    contacted: Option<i32>,
    assessed: Option<(i32, usize)>,
    converted: Option<u32>,
}

fn person(rng: &mut ChaCha8Rng) -> ([u8; 3], u8, u32) {
    let name = [
        rng.random_range(0..24u8),
        rng.random_range(0..24u8),
        rng.random_range(0..24u8),
    ];
    let style = pick(rng, &[0.5, 0.35, 0.15]) as u8;
    (name, style, 90_000_000 + rng.random_range(0..10_000_000u32))
}

/// The leads of customer index `global` (0-based): the lead an account
/// opened in the window came from, if any, and an independent open lead.
fn draw(seed: u64, global: u32, opened: i32, window: i32) -> [Option<Lead>; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, mix(SALT_LEADS, u64::from(global))));
    let converted = (opened >= 0 && rng.random::<f64>() < CONVERTED_SHARE).then(|| {
        let (name, style, phone) = person(&mut rng);
        let span = rng.random_range(40..=240);
        let known = opened - span;
        let contacted = known + rng.random_range(1..=span / 3);
        let assessed = rng.random_range(contacted + 1..=opened);
        Lead {
            id: 2 * global + 1,
            name,
            style,
            phone,
            source: pick(&mut rng, &SOURCE_WEIGHTS),
            known,
            contacted: Some(contacted),
            assessed: Some((assessed, 0)),
            converted: Some(global),
        }
    });
    let open = (rng.random::<f64>() < OPEN_LEAD_RATE).then(|| {
        let (name, style, phone) = person(&mut rng);
        let source = pick(&mut rng, &SOURCE_WEIGHTS);
        let known = rng.random_range(-365..window);
        let contacted = (rng.random::<f64>() < CONTACT_PROB[source])
            .then(|| known + rng.random_range(3..=60))
            .filter(|&d| d < window);
        let assessed = contacted
            .filter(|_| rng.random::<f64>() < ASSESS_PROB)
            .map(|c| {
                (
                    c + rng.random_range(7..=90),
                    pick(&mut rng, &ASSESSMENT_WEIGHTS),
                )
            })
            .filter(|&(d, _)| d < window);
        Lead {
            id: 2 * global + 2,
            name,
            style,
            phone,
            source,
            known,
            contacted,
            assessed,
            converted: None,
        }
    });
    [converted, open]
}

/// Write `crm/leads.csv` (or with `append` add a later chunk's leads).
/// Returns the row count.
pub(crate) fn write_leads(
    path: &Path,
    pop: &Population,
    cal: &Calendar,
    seed: u64,
    append: bool,
) -> Result<u64, GenerateError> {
    let mut w = csv_snapshot(path, append, &HEADER)?;
    let map = csv_err(path);
    let date = |d: Option<i32>| {
        let mut s = String::new();
        if let Some(d) = d {
            fmt_date(&mut s, cal.civil(d));
        }
        s
    };
    let mut rows = 0;
    for (i, c) in pop.customers.iter().enumerate() {
        let global = pop.base + i as u32;
        for lead in draw(seed, global, c.opened, cal.len())
            .into_iter()
            .flatten()
        {
            let phone = format!("+852 {} {:04}", lead.phone / 10_000, lead.phone % 10_000);
            let converted = lead
                .converted
                .map(|g| format!("C{:07}", customer_number(g)))
                .unwrap_or_default();
            w.write_record([
                format!("L{:08}", lead.id).as_str(),
                person_name(lead.name, lead.style).as_str(),
                phone.as_str(),
                SOURCES[lead.source],
                date(Some(lead.known)).as_str(),
                date(lead.contacted).as_str(),
                date(lead.assessed.map(|a| a.0)).as_str(),
                lead.assessed.map_or("", |a| ASSESSMENTS[a.1]),
                converted.as_str(),
            ])
            .map_err(&map)?;
            rows += 1;
        }
    }
    w.flush().map_err(io_err(path))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{csv_records, run_chunked};
    use std::collections::{HashMap, HashSet};

    /// Leads: unique ids; each lead's steps in order (known, contacted,
    /// assessed, opened) and within the window; a converted lead points at a
    /// customer who opened inside the window, after the lead was assessed
    /// `qualified`. Written in chunks, so ids stay unique across appends.
    #[test]
    fn leads_follow_their_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = run_chunked(dir.path(), 2000, 3, 0.0, 300);
        let leads = csv_records(&dir.path().join("crm/leads.csv"), b',');
        assert_eq!(s.sources["leads"].rows_written, leads.len() as u64);
        let ids: HashSet<&str> = leads.iter().map(|r| r.get(0).unwrap_or("")).collect();
        assert_eq!(ids.len(), leads.len());
        let crm = csv_records(&dir.path().join("crm/customers.csv"), b',');
        let opened: HashMap<&str, &str> = crm
            .iter()
            .map(|r| (r.get(0).unwrap_or(""), r.get(6).unwrap_or("")))
            .collect();
        let (mut converted, mut open, mut assessed) = (0, 0, 0);
        for r in &leads {
            let f = |i: usize| r.get(i).unwrap_or("");
            assert!(f(0).starts_with('L') && f(0).len() == 9, "{r:?}");
            assert!(f(2).starts_with("+852 9") && f(2).len() == 14, "{r:?}");
            assert!(super::SOURCES.contains(&f(3)), "{r:?}");
            // ISO dates compare as text; a later step is never before an earlier one.
            assert!(!f(4).is_empty() && f(4) <= "2024-03-31", "{r:?}");
            if !f(5).is_empty() {
                assert!(f(4) <= f(5) && f(5) <= "2024-03-31", "{r:?}");
            }
            if !f(6).is_empty() {
                assert!(
                    !f(5).is_empty() && f(5) <= f(6) && f(6) <= "2024-03-31",
                    "{r:?}"
                );
                assert!(super::ASSESSMENTS.contains(&f(7)), "{r:?}");
                assessed += 1;
            } else {
                assert!(f(7).is_empty(), "{r:?}");
            }
            if f(8).is_empty() {
                open += 1;
            } else {
                converted += 1;
                let day = opened[f(8)];
                assert!(
                    day >= "2024-01-01" && f(6) <= day && f(7) == "qualified",
                    "{r:?}"
                );
            }
        }
        let new_customers = opened.values().filter(|d| **d >= "2024-01-01").count();
        assert!(new_customers > 0 && converted > 0 && converted < new_customers);
        assert!(
            open > 300 && open < 700,
            "{open} open leads for 2000 customers"
        );
        assert!(assessed > 0);
    }
}
