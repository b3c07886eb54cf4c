//! Relationship managers' contact log: `rm/contacts_YYYY-MM.csv`, one row per
//! contact (a meeting, a call or a message) with the minutes it took.
//!
//! Seed 001's rule is 10 / 30 / 60: the most valuable tenth of customers
//! should get 60% of RMs' time. The bank simulated here spreads its RMs
//! thinner: contacts follow the tier (a Poisson count a month at
//! `MONTHLY_CONTACTS`), so much of the time goes to customers who bring
//! little profit. Each customer-month draws from its own stream, so adding
//! the log left every other value of a seed as it was.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, mix, pick, poisson};
use super::sink::{TextFile, customer_id, reset};
use super::time::{Day, fmt_utc_z};

pub(crate) const HEADER: [&str; 6] = [
    "contact_id",
    "rm_id",
    "customer_id",
    "contacted_at",
    "kind",
    "minutes",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 2,
    date: Some((3, DateStyle::IsoPrefix)),
    numeric: Some(5),
    amount: None,
    text: true,
};

/// Expected contacts a customer-month, by tier (top, high, middle, low).
pub(crate) const MONTHLY_CONTACTS: [f64; 4] = [2.0, 1.2, 0.35, 0.08];
/// Median minutes of a contact, by tier.
pub(crate) const MEDIAN_MINUTES: [f64; 4] = [35.0, 25.0, 15.0, 10.0];
pub(crate) const MINUTES_SIGMA: f64 = 0.6;
pub(crate) const KINDS: [&str; 3] = ["meeting", "call", "message"];
pub(crate) const KIND_WEIGHTS: [f64; 3] = [0.3, 0.5, 0.2];
/// Two relationship managers per branch: RM01 and RM02 serve B01.
pub(crate) const RMS_PER_BRANCH: u32 = 2;

const SALT_RM: u64 = 0x005E_1A7E;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Contact {
    at: i64,
    cust: u32,
    rm: u32,
    kind: u8,
    minutes: u32,
}

/// Draw customer `cust`'s contacts of month `m` (its `days`), on days the
/// account is open; appends to `out`.
pub(crate) fn draw_month(
    seed: u64,
    cust: u32,
    c: &Customer,
    m: usize,
    days: &[Day],
    out: &mut Vec<Contact>,
) {
    let open: Vec<&Day> = days.iter().filter(|d| c.is_open(d.index)).collect();
    if open.is_empty() {
        return;
    }
    let mut rng =
        ChaCha8Rng::seed_from_u64(mix(seed, mix(SALT_RM, (u64::from(cust) << 16) ^ m as u64)));
    let t = c.tier.i();
    let share = open.len() as f64 / days.len() as f64;
    let n = poisson(&mut rng, MONTHLY_CONTACTS[t] * share);
    for _ in 0..n {
        let day = open[rng.random_range(0..open.len())];
        // Office hours, 09:00 to 18:00 local.
        let secs = rng.random_range(9 * 3600..18 * 3600);
        let minutes = lognormal(&mut rng, MEDIAN_MINUTES[t], MINUTES_SIGMA)
            .round()
            .clamp(1.0, 240.0) as u32;
        out.push(Contact {
            at: day.midnight_utc + i64::from(secs),
            cust,
            rm: u32::from(c.home_branch) * RMS_PER_BRANCH + rng.random_range(0..RMS_PER_BRANCH) + 1,
            kind: pick(&mut rng, &KIND_WEIGHTS) as u8,
            minutes,
        });
    }
}

fn fill(fields: &mut Vec<String>, c: &Contact, id: u64) {
    use std::fmt::Write as _;
    reset(fields, 6);
    let _ = write!(fields[0], "RC{id:09}");
    let _ = write!(fields[1], "RM{:02}", c.rm);
    customer_id(&mut fields[2], customer_number(c.cust));
    fmt_utc_z(&mut fields[3], c.at);
    fields[4].push_str(KINDS[usize::from(c.kind)]);
    let _ = write!(fields[5], "{}", c.minutes);
}

/// Write a month's contacts, by time, and clear them.
pub(crate) fn write_month(
    file: &mut TextFile,
    dice: &mut Dice,
    contacts: &mut Vec<Contact>,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    contacts.sort_by_key(|c| (c.at, c.cust));
    for c in contacts.iter() {
        file.emit(dice, &LAYOUT, false, false, fields, |f| {
            *next_id += 1;
            fill(f, c, *next_id);
        })?;
    }
    contacts.clear();
    Ok(())
}
