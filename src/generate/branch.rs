//! Branch queue tickets: `branch/YYYY/MM/tickets_YYYYMMDD.jsonl`, one file per day.
//!
//! Branches open 09:00-17:00 on weekdays and 09:00-13:00 on Saturdays
//! (last ticket 15 minutes before closing), closed on Sundays. Waits are
//! lognormal (median ~11 minutes overall, sigma 0.8), longer at the busy
//! Kowloon branches B05-B08 and on Mondays and Saturdays.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, Tier, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, pick};
use super::sink::{TextFile, customer_id, reset};
use super::surveys::{CH_BRANCH, IN, POST, PRE, Touch};
use super::time::{Day, fmt_rfc3339_hk};

pub(crate) const KEYS: [&str; 7] = [
    "ticket_id",
    "branch_id",
    "customer_id",
    "service_type",
    "issued_at",
    "called_at",
    "served_at",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 2,
    date: Some((4, DateStyle::IsoPrefix)),
    numeric: None,
    amount: None,
    text: true,
};

/// Expected branch visits per customer-month by tier (top, high, middle, low).
pub(crate) const MONTHLY_RATE: [f64; 4] = [1.0, 0.8, 0.5, 0.5];
/// Wait model: base median minutes, lognormal sigma, busy-branch and busy-day factors.
pub(crate) const WAIT_MEDIAN_MIN: f64 = 9.5;
pub(crate) const WAIT_SIGMA: f64 = 0.8;
pub(crate) const BUSY_BRANCH_FACTOR: f64 = 1.3;
pub(crate) const BUSY_DAY_FACTOR: f64 = 1.2;
pub(crate) const SERVICE_MEDIAN_MIN: f64 = 8.0;

const SERVICES: [&str; 6] = [
    "cash",
    "account_opening",
    "wealth_advice",
    "loan",
    "enquiry",
    "complaint",
];
const TOUCHPOINTS: [&str; 6] = [
    "cash service",
    "account opening",
    "wealth advice",
    "loan application",
    "branch enquiry",
    "branch complaint",
];
const STAGES: [u8; 6] = [IN, IN, PRE, IN, PRE, POST];
const WEALTH_SHARE: [f64; 4] = [0.35, 0.25, 0.08, 0.02];
const COMPLAINT: usize = 5;

/// Day-of-week weight of branch visits (closed on Sunday; the other six
/// days share the weekly volume).
pub(crate) fn weekday_weight(day: &Day) -> f64 {
    if day.weekday == 6 { 0.0 } else { 7.0 / 6.0 }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BranchEvent {
    pub cust: u32,
    pub branch: u8,
    pub service: u8,
    pub issued: u32,
    pub called: u32,
    pub served: u32,
}

impl BranchEvent {
    pub(crate) fn is_complaint(&self) -> bool {
        usize::from(self.service) == COMPLAINT
    }

    pub(crate) fn touch(&self) -> Touch {
        let s = usize::from(self.service);
        let wait = self.called - self.issued;
        let mut penalty = 0.03;
        if wait > 30 * 60 {
            penalty = -0.3;
        } else if wait > 15 * 60 {
            penalty = -0.08;
        }
        if s == COMPLAINT {
            penalty -= 0.35;
        }
        Touch {
            channel: CH_BRANCH,
            touchpoint: TOUCHPOINTS[s],
            stage: STAGES[s],
            penalty,
        }
    }
}

pub(crate) fn draw(
    rng: &mut ChaCha8Rng,
    cust: u32,
    c: &Customer,
    day: &Day,
    complaint_factor: f64,
) -> BranchEvent {
    let branch = if rng.random::<f64>() < 0.8 {
        c.home_branch
    } else {
        rng.random_range(1..=12u8)
    };
    let weights = [
        0.35,
        0.06,
        WEALTH_SHARE[c.tier.i()],
        if c.tier == Tier::Low { 0.05 } else { 0.1 },
        0.25,
        0.04 * complaint_factor,
    ];
    let service = pick(rng, &weights) as u8;
    let close = if day.weekday == 5 {
        13 * 3600
    } else {
        17 * 3600
    };
    let issued = rng.random_range(9 * 3600..close - 15 * 60);
    let mut median = WAIT_MEDIAN_MIN;
    if (5..=8).contains(&branch) {
        median *= BUSY_BRANCH_FACTOR;
    }
    if day.weekday == 0 || day.weekday == 5 {
        median *= BUSY_DAY_FACTOR;
    }
    let wait = (lognormal(rng, median, WAIT_SIGMA) * 60.0)
        .round()
        .clamp(0.0, 4.0 * 3600.0) as u32;
    let service_factor = match service {
        1 => 3.0,
        2 | 3 => 2.5,
        5 => 1.8,
        _ => 1.0,
    };
    let service_secs = (lognormal(rng, SERVICE_MEDIAN_MIN * service_factor, 0.5) * 60.0)
        .round()
        .clamp(60.0, 2.0 * 3600.0) as u32;
    let called = issued + wait;
    BranchEvent {
        cust,
        branch,
        service,
        issued,
        called,
        served: called + service_secs,
    }
}

fn fill(f: &mut Vec<String>, e: &BranchEvent, day: &Day, id: u64) {
    use std::fmt::Write as _;
    reset(f, 7);
    let _ = write!(f[0], "T{id:09}");
    let _ = write!(f[1], "B{:02}", e.branch);
    customer_id(&mut f[2], customer_number(e.cust));
    f[3].push_str(SERVICES[usize::from(e.service)]);
    fmt_rfc3339_hk(&mut f[4], day, e.issued);
    fmt_rfc3339_hk(&mut f[5], day, e.called);
    fmt_rfc3339_hk(&mut f[6], day, e.served);
}

/// Write one day's tickets (sorted by issue time).
pub(crate) fn write_day(
    file: &mut TextFile,
    dice: &mut Dice,
    events: &mut [BranchEvent],
    day: &Day,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    events.sort_by_key(|e| (e.issued, e.cust));
    for e in events.iter() {
        file.emit(dice, &LAYOUT, false, false, fields, |f| {
            *next_id += 1;
            fill(f, e, day, *next_id);
        })?;
    }
    Ok(())
}
