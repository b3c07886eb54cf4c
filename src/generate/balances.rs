//! Month-end balances: `crm/balances/balances_YYYY-MM.csv`.
//!
//! Balances are integer cents. Each month, customers open for the whole
//! month drift (interest, market moves), mortgages amortise, credit-card
//! balances are redrawn around the customer's typical level, and customers
//! in their pre-churn ramp drain 10-30% of their relationship balances.
//! One row per open customer and held product (balance > 0).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, PRODUCTS, Population, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, std_normal};
use super::sink::{TextFile, customer_id, money, reset};
use super::time::{Calendar, fmt_date};

pub(crate) const HEADER: [&str; 4] = ["customer_id", "as_of_date", "product", "balance"];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 0,
    date: Some((1, DateStyle::IsoPrefix)),
    numeric: Some(3),
    amount: None,
    text: true,
};

/// Monthly outflow range of relationship balances in the pre-churn ramp.
pub(crate) const DRAIN: (f64, f64) = (0.10, 0.30);

fn scale(x: i64, f: f64) -> i64 {
    ((x as f64) * f).round().max(0.0) as i64
}

/// One month of balance movements for a customer open all month.
fn drift(c: &mut Customer, rng: &mut ChaCha8Rng) {
    let b = &mut c.balances;
    b[0] = scale(b[0], 1.0 + 0.002 + 0.03 * std_normal(rng));
    b[1] = scale(b[1], 1.003);
    b[2] = scale(b[2], 1.0 + 0.004 + 0.04 * std_normal(rng));
    b[3] = scale(b[3], 1.002);
    b[4] = scale(b[4], 0.994);
    b[5] = if c.card_typical == 0 || rng.random::<f64>() < 0.1 {
        0
    } else {
        (c.card_typical as f64 * lognormal(rng, 1.0, 0.5)).round() as i64
    };
}

/// Evolve every customer's balances to the end of month `m` and write the file.
pub(crate) fn write_month(
    file: &mut TextFile,
    dice: &mut Dice,
    rng: &mut ChaCha8Rng,
    pop: &mut Population,
    cal: &Calendar,
    m: usize,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    let days = cal.month_days(m);
    let (first, last) = match (days.first(), days.last()) {
        (Some(f), Some(l)) => (f.index, l.index),
        _ => return Ok(()),
    };
    let mut as_of = String::new();
    fmt_date(&mut as_of, cal.civil(last));
    let base = pop.base;
    for (i, c) in pop.customers.iter_mut().enumerate() {
        if !c.is_open(last) {
            continue;
        }
        if c.opened < first {
            drift(c, rng);
        }
        if c.in_ramp(last) {
            for b in c.balances[..4].iter_mut() {
                let out = rng.random_range(DRAIN.0..DRAIN.1);
                *b = scale(*b, 1.0 - out);
            }
        }
        for (p, &bal) in c.balances.iter().enumerate() {
            if bal <= 0 {
                continue;
            }
            file.emit(dice, &LAYOUT, false, false, fields, |f| {
                reset(f, 4);
                customer_id(&mut f[0], customer_number(base + i as u32));
                f[1].push_str(&as_of);
                f[2].push_str(PRODUCTS[p]);
                money(&mut f[3], bal);
            })?;
        }
    }
    Ok(())
}
