//! ATM transactions: `atm/YYYY/MM/atm_YYYYMMDD.csv`, one file per day.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, Population, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, pick, time_of_day};
use super::sink::{TextFile, customer_id, money, reset};
use super::surveys::{CH_ATM, IN, POST, Touch};
use super::time::{Day, fmt_iso_space};

pub(crate) const HEADER: [&str; 9] = [
    "txn_id",
    "card_number",
    "customer_id",
    "atm_id",
    "txn_time",
    "txn_type",
    "amount",
    "currency",
    "status",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 2,
    date: Some((4, DateStyle::IsoPrefix)),
    numeric: Some(6),
    amount: Some(6),
    text: true,
};

/// Expected ATM transactions per customer-month by tier (top, high, middle, low).
pub(crate) const MONTHLY_RATE: [f64; 4] = [1.0, 1.5, 3.0, 4.0];
pub(crate) const APPROVAL_RATE: f64 = 0.97;

const TYPES: [&str; 4] = ["withdrawal", "deposit", "transfer", "balance_inquiry"];
const TYPE_WEIGHTS: [f64; 4] = [0.55, 0.12, 0.13, 0.20];
const TOUCHPOINTS: [&str; 4] = [
    "cash withdrawal",
    "cash deposit",
    "atm transfer",
    "balance inquiry",
];
const HOURS: [f64; 24] = [
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.0, 2.0, 2.0, 2.2, 3.0, 2.5, 2.0, 2.0, 2.2, 2.5, 3.0,
    2.8, 2.2, 1.6, 1.0, 0.6,
];
/// Median withdrawal/deposit in hundreds of HKD by tier.
const CASH_MEDIAN_HUNDREDS: [f64; 4] = [40.0, 25.0, 12.0, 6.0];

#[derive(Clone, Copy, Debug)]
pub(crate) struct AtmEvent {
    pub cust: u32,
    pub secs: u32,
    pub atm: u8,
    pub kind: u8,
    pub amount: i64,
    pub approved: bool,
}

impl AtmEvent {
    pub(crate) fn touch(&self) -> Touch {
        let k = usize::from(self.kind);
        Touch {
            channel: CH_ATM,
            touchpoint: TOUCHPOINTS[k],
            stage: if k == 3 { POST } else { IN },
            penalty: if self.approved { 0.03 } else { -0.3 },
        }
    }
}

pub(crate) fn draw(rng: &mut ChaCha8Rng, cust: u32, c: &Customer) -> AtmEvent {
    let secs = time_of_day(rng, &HOURS);
    let atm = if rng.random::<f64>() < 0.8 {
        c.region * 20 + rng.random_range(1..=20u8)
    } else {
        rng.random_range(1..=60u8)
    };
    let kind = pick(rng, &TYPE_WEIGHTS) as u8;
    let amount = match kind {
        0 | 1 => {
            let hundreds = lognormal(rng, CASH_MEDIAN_HUNDREDS[c.tier.i()], 0.7)
                .round()
                .clamp(1.0, 200.0);
            hundreds as i64 * 10_000
        }
        2 => (lognormal(rng, 2_000.0, 1.0) * 100.0)
            .round()
            .clamp(100.0, 5_000_000.0) as i64,
        _ => 0,
    };
    let approved = rng.random::<f64>() < APPROVAL_RATE;
    AtmEvent {
        cust,
        secs,
        atm,
        kind,
        amount,
        approved,
    }
}

fn fill(f: &mut Vec<String>, e: &AtmEvent, day: &Day, card: u64, id: u64) {
    use std::fmt::Write as _;
    reset(f, 9);
    let _ = write!(f[0], "A{id:010}");
    let _ = write!(f[1], "{card:016}");
    customer_id(&mut f[2], customer_number(e.cust));
    let _ = write!(f[3], "ATM{:03}", e.atm);
    fmt_iso_space(&mut f[4], day, e.secs);
    f[5].push_str(TYPES[usize::from(e.kind)]);
    money(&mut f[6], e.amount);
    f[7].push_str("HKD");
    f[8].push_str(if e.approved { "approved" } else { "declined" });
}

/// Write one day's transactions (sorted by time).
pub(crate) fn write_day(
    file: &mut TextFile,
    dice: &mut Dice,
    events: &mut [AtmEvent],
    day: &Day,
    pop: &Population,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    events.sort_by_key(|e| (e.secs, e.cust));
    for e in events.iter() {
        // Events carry global customer numbers; this chunk starts at `base`.
        let card = pop.customers[(e.cust - pop.base) as usize].card;
        file.emit(dice, &LAYOUT, e.amount > 0, false, fields, |f| {
            *next_id += 1;
            fill(f, e, day, card, *next_id);
        })?;
    }
    Ok(())
}
