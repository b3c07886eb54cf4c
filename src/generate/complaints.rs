//! Complaint cases: `complaints/cases_YYYY-MM.csv`, one row per complaint
//! (a branch complaint visit or a complaint call) in the month it opened,
//! as the case system shows it at the end of the window: when the bank
//! first answered and when it resolved the case (blank while pending), and
//! whether the customer reopened it (seed 002: complaints answered 及时、有效).
//!
//! A case's draws come from its own stream, so adding the extract left
//! every other value of a seed as it was.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, mix, pick};
use super::sink::{TextFile, customer_id, reset};
use super::time::{Day, fmt_utc_z};

pub(crate) const HEADER: [&str; 9] = [
    "case_id",
    "customer_id",
    "opened_at",
    "channel",
    "touchpoint",
    "category",
    "first_response_at",
    "resolved_at",
    "reopened",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 1,
    date: Some((2, DateStyle::IsoPrefix)),
    numeric: Some(8),
    amount: None,
    text: true,
};

pub(crate) const BRANCH: u8 = 0;
pub(crate) const CALL: u8 = 1;
const CHANNELS: [&str; 2] = ["branch", "call_centre"];
const TOUCHPOINTS: [&str; 2] = ["branch complaint", "complaint call"];
pub(crate) const CATEGORIES: [&str; 6] = [
    "fees",
    "waiting time",
    "staff",
    "card",
    "digital banking",
    "other",
];
pub(crate) const CATEGORY_WEIGHTS: [f64; 6] = [0.25, 0.2, 0.15, 0.15, 0.15, 0.1];
/// Median hours to the first response, by channel (branch, call centre).
pub(crate) const FIRST_RESPONSE_MEDIAN_HOURS: [f64; 2] = [20.0, 4.0];
pub(crate) const FIRST_RESPONSE_SIGMA: f64 = 1.0;
/// Median days from the first response to the resolution.
pub(crate) const RESOLUTION_MEDIAN_DAYS: f64 = 2.5;
pub(crate) const RESOLUTION_SIGMA: f64 = 0.9;
/// Both times scale by tier (top, high, middle, low): the best served are
/// answered first.
pub(crate) const TIER_FACTOR: [f64; 4] = [0.5, 0.7, 1.0, 1.2];
/// Reopen probability, and its rise when the resolution took over 5 days.
pub(crate) const REOPEN: (f64, f64) = (0.06, 0.10);

const SALT_CASE: u64 = 0xCA5E;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Case {
    at: i64,
    cust: u32,
    channel: u8,
    category: u8,
    first: Option<i64>,
    resolved: Option<i64>,
    reopened: bool,
}

/// Today's new cases; `end` is the extract's moment (the window's end).
pub(crate) struct Cases {
    seed: u64,
    end: i64,
    pub today: Vec<Case>,
}

impl Cases {
    pub(crate) fn new(seed: u64, end: i64) -> Self {
        Self {
            seed,
            end,
            today: Vec::new(),
        }
    }

    /// Open a case for customer `cust`'s complaint that ended `secs` after
    /// local midnight of `day` on `channel`.
    pub(crate) fn open(&mut self, cust: u32, c: &Customer, day: &Day, secs: u32, channel: u8) {
        let key = (u64::from(cust) << 32)
            ^ (u64::from(day.index as u32) << 20)
            ^ u64::from(secs)
            ^ (u64::from(channel) << 62);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, mix(SALT_CASE, key)));
        let at = day.midnight_utc + i64::from(secs);
        let tier = TIER_FACTOR[c.tier.i()];
        let category = pick(&mut rng, &CATEGORY_WEIGHTS) as u8;
        let hours = lognormal(
            &mut rng,
            FIRST_RESPONSE_MEDIAN_HOURS[usize::from(channel)] * tier,
            FIRST_RESPONSE_SIGMA,
        );
        let days = lognormal(&mut rng, RESOLUTION_MEDIAN_DAYS * tier, RESOLUTION_SIGMA);
        let first = at + (hours * 3600.0).round().clamp(60.0, 90.0 * 86_400.0) as i64;
        let resolved = first + (days * 86_400.0).round().clamp(600.0, 180.0 * 86_400.0) as i64;
        let p = REOPEN.0 + if days > 5.0 { REOPEN.1 } else { 0.0 };
        let reopened = rng.random::<f64>() < p;
        let (first, resolved) = (
            (first <= self.end).then_some(first),
            (resolved <= self.end).then_some(resolved),
        );
        self.today.push(Case {
            at,
            cust,
            channel,
            category,
            first,
            resolved,
            reopened: reopened && resolved.is_some(),
        });
    }
}

fn fill(fields: &mut Vec<String>, c: &Case, id: u64) {
    use std::fmt::Write as _;
    reset(fields, 9);
    let _ = write!(fields[0], "CS{id:09}");
    customer_id(&mut fields[1], customer_number(c.cust));
    fmt_utc_z(&mut fields[2], c.at);
    fields[3].push_str(CHANNELS[usize::from(c.channel)]);
    fields[4].push_str(TOUCHPOINTS[usize::from(c.channel)]);
    fields[5].push_str(CATEGORIES[usize::from(c.category)]);
    if let Some(t) = c.first {
        fmt_utc_z(&mut fields[6], t);
    }
    if let Some(t) = c.resolved {
        fmt_utc_z(&mut fields[7], t);
    }
    fields[8].push(if c.reopened { '1' } else { '0' });
}

/// Write today's cases, by opening time, and clear them.
pub(crate) fn write_day(
    file: &mut TextFile,
    dice: &mut Dice,
    cases: &mut Cases,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    cases.today.sort_by_key(|c| (c.at, c.cust));
    for c in &cases.today {
        file.emit(dice, &LAYOUT, false, false, fields, |f| {
            *next_id += 1;
            fill(f, c, *next_id);
        })?;
    }
    cases.today.clear();
    Ok(())
}
