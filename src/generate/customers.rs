//! The customer population and the CRM `customers.csv` extract.
//!
//! Draws each customer's latent tier (exact quotas, shuffled), relationship
//! balance inside the tier's band and its split over products, liabilities,
//! demographics, opening date and referrer, and the BG/NBD purchase
//! parameters. The purchase process is pre-simulated from per-purchase
//! streams to find the dropout (latent churn) date, so the day loop can ramp
//! activity down before it; the day loop later replays the same purchases.

use std::path::Path;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma};

use super::rng::{self, exponential, lognormal};
use super::sink::{csv_err, csv_snapshot, io_err};
use super::time::{Calendar, days_from_civil, fmt_date};
use super::{GenerateError, GenerateOptions};

/// BG/NBD: purchase rate lambda ~ Gamma(shape R, rate ALPHA), per week.
pub(crate) const BGNBD_R: f64 = 0.9;
pub(crate) const BGNBD_ALPHA: f64 = 4.0;
/// BG/NBD: dropout probability after each purchase p ~ Beta(A, B).
/// Mean p = 0.017: with ~12 purchases a year this gives ~16% annual churn
/// (with the background hazard), inside the 10-20% a retail bank sees.
pub(crate) const BGNBD_A: f64 = 0.7;
pub(crate) const BGNBD_B: f64 = 40.0;
/// Gamma-Gamma spend: nu ~ Gamma(shape Q, rate GAMMA); amount ~ Gamma(shape P, rate nu).
/// Mean spend = P * GAMMA / (Q - 1) = 3,000 HKD.
pub(crate) const SPEND_P: f64 = 6.0;
pub(crate) const SPEND_Q: f64 = 4.0;
pub(crate) const SPEND_GAMMA: f64 = 1500.0;
/// Customers whose purchase rate is below this (per week) also face a
/// background churn hazard of `BACKGROUND_HAZARD_MONTHLY` per month.
pub(crate) const SLOW_LAMBDA: f64 = 0.03;
pub(crate) const BACKGROUND_HAZARD_MONTHLY: f64 = 0.015;
/// Share of customers opening during the window, and referred by another.
pub(crate) const NEW_SHARE: f64 = 0.03;
pub(crate) const REFERRAL_SHARE: f64 = 0.08;
/// Tier shares: top, high, middle, low.
pub(crate) const TIER_SHARES: [f64; 4] = [0.05, 0.15, 0.60, 0.20];
/// Activity level reached at the churn date, after the linear ramp.
pub(crate) const QUIET_LEVEL: f64 = 0.1;

pub(crate) const PRODUCTS: [&str; 6] = [
    "savings",
    "time_deposit",
    "investment",
    "insurance",
    "mortgage",
    "credit_card",
];
pub(crate) const REGIONS: [&str; 3] = ["Hong Kong Island", "Kowloon", "New Territories"];

const SURNAMES: [&str; 24] = [
    "Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Lam", "Tsang", "Yip", "Kwok",
    "Tam", "Fung", "Ma", "Cheng", "Chow", "Tang", "Yeung", "Mak", "Siu", "Lo", "Choi", "Poon",
];
const GIVEN: [&str; 24] = [
    "Tai Man",
    "Mei Ling",
    "Siu Ming",
    "Ka Yan",
    "Wing Sze",
    "Chi Keung",
    "Ka Ho",
    "Hoi Yan",
    "Wai Kit",
    "Suet Ying",
    "Kwok Wing",
    "Pui Shan",
    "Chun Hei",
    "Yee Man",
    "Ming Fai",
    "Sze Wan",
    "Kin Wah",
    "Lai Kuen",
    "Tsz Hin",
    "Wing Yan",
    "Hon Ming",
    "Man Yee",
    "Cheuk Lam",
    "Yuk Lan",
];
const ENGLISH: [&str; 24] = [
    "Peter", "Mary", "John", "Karen", "David", "Winnie", "Michael", "Grace", "Kelvin", "Joyce",
    "Raymond", "Cindy", "Eric", "Vivian", "Tony", "Ivy", "Jason", "Carmen", "Alan", "Fiona", "Ken",
    "Queenie", "Samuel", "Natalie",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    Top = 0,
    High = 1,
    Middle = 2,
    Low = 3,
}

impl Tier {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tier::Top => "top",
            Tier::High => "high",
            Tier::Middle => "middle",
            Tier::Low => "low",
        }
    }

    pub(crate) fn i(self) -> usize {
        self as usize
    }
}

/// One customer's latent and observable state (kept for the whole run).
#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub tier: Tier,
    pub birth_year: u16,
    pub region: u8,
    /// 1..=12.
    pub home_branch: u8,
    /// Day offset from the window start (negative: before the window).
    pub opened: i32,
    /// Latent churn day (inside the window only).
    pub churn: Option<i32>,
    /// First day of the pre-churn ramp.
    pub ramp_start: i32,
    /// Account closure day (may fall after the window).
    pub closed: Option<i32>,
    pub referred_by: Option<u32>,
    pub lambda: f64,
    pub p: f64,
    pub nu: f64,
    pub card: u64,
    pub phone: u32,
    pub name: [u8; 3],
    pub name_style: u8,
    /// Cents per product (see [`PRODUCTS`]).
    pub balances: [i64; 6],
    pub rel_start: i64,
    pub card_typical: i64,
    pub age_factor: f64,
    /// BG/NBD replay state: next purchase number and time (days from the window start).
    pub purchase_k: u32,
    pub next_purchase: f64,
    pub purchasing: bool,
}

impl Customer {
    /// Open on day `d`: opened on or before it and not yet closed.
    pub(crate) fn is_open(&self, d: i32) -> bool {
        self.opened <= d && self.closed.is_none_or(|c| d < c)
    }

    /// Activity multiplier for non-purchase channels on day `d`.
    pub(crate) fn activity(&self, d: i32) -> f64 {
        match self.churn {
            Some(ch) if d >= ch => QUIET_LEVEL,
            Some(ch) if d >= self.ramp_start => {
                let len = f64::from((ch - self.ramp_start).max(1));
                1.0 - (1.0 - QUIET_LEVEL) * f64::from(d - self.ramp_start) / len
            }
            _ => 1.0,
        }
    }

    /// Within the pre-churn ramp (or after the churn date).
    pub(crate) fn in_ramp(&self, d: i32) -> bool {
        self.churn.is_some() && d >= self.ramp_start
    }

    /// Within 90 days before the churn date (or after it).
    pub(crate) fn near_churn(&self, d: i32) -> bool {
        self.churn.is_some_and(|ch| d >= ch - 90)
    }

    pub(crate) fn full_name(&self) -> String {
        person_name(self.name, self.name_style)
    }

    #[cfg(test)]
    pub(crate) fn relationship_balance(&self) -> i64 {
        self.balances[..4].iter().sum()
    }
}

/// A Hong Kong name from three table picks and a style (Chinese, English
/// first, or both); customers and leads share it.
pub(crate) fn person_name(name: [u8; 3], style: u8) -> String {
    let s = SURNAMES[usize::from(name[0]) % SURNAMES.len()];
    let g = GIVEN[usize::from(name[1]) % GIVEN.len()];
    let e = ENGLISH[usize::from(name[2]) % ENGLISH.len()];
    match style {
        0 => format!("{s} {g}"),
        1 => format!("{e} {s}"),
        _ => format!("{e} {s} {g}"),
    }
}

/// First inter-purchase gap (days) and dropout coin of purchase `k`, with the
/// stream positioned for the purchase's own attributes.
pub(crate) fn purchase_draws(
    seed: u64,
    cust: u32,
    k: u32,
    lambda: f64,
    p: f64,
) -> (f64, bool, ChaCha8Rng) {
    let mut r = rng::purchase_stream(seed, cust, k);
    let gap_days = exponential(&mut r, lambda) * 7.0;
    let dropout = r.random::<f64>() < p;
    (gap_days, dropout, r)
}

/// One chunk of the customer base: customers `base + 1 ..= base + len`.
pub(crate) struct Population {
    /// Global index of `customers[0]`.
    pub base: u32,
    pub customers: Vec<Customer>,
}

/// Draw the customer's relationship balance (cents) inside its tier's band.
fn draw_relationship(rng: &mut ChaCha8Rng, tier: Tier, th: [i64; 3]) -> i64 {
    let [t0, t1, t2] = th.map(|t| t as f64 * 100.0);
    let x = match tier {
        Tier::Top => {
            let median_excess = (1.5e9 - t0).max(t0 / 4.0);
            t0 + 100.0 + lognormal(rng, median_excess, 0.6)
        }
        Tier::High => {
            let u: f64 = rng.random();
            (t1.ln() + u * (t0.ln() - t1.ln()))
                .exp()
                .clamp(t1 + 100.0, t0)
        }
        Tier::Middle => {
            let u: f64 = rng.random();
            (t2 * (t1 / t2).powf(u.powf(1.6))).clamp(t2 + 100.0, t1)
        }
        Tier::Low => {
            let u: f64 = rng.random();
            (u.powf(1.3) * t2).clamp(100.0, t2)
        }
    };
    x.round() as i64
}

/// Product weights (savings, time deposit, investment, insurance) and the
/// probability of holding each, by tier.
const SPLIT_WEIGHTS: [[f64; 4]; 4] = [
    [0.12, 0.18, 0.45, 0.25],
    [0.22, 0.25, 0.33, 0.20],
    [0.50, 0.25, 0.15, 0.10],
    [0.85, 0.10, 0.03, 0.02],
];
const SPLIT_HELD: [[f64; 4]; 4] = [
    [1.0, 0.8, 0.98, 0.9],
    [1.0, 0.7, 0.85, 0.7],
    [1.0, 0.45, 0.35, 0.35],
    [1.0, 0.12, 0.08, 0.1],
];
const MORTGAGE_SHARE: [f64; 4] = [0.25, 0.35, 0.30, 0.08];
const MORTGAGE_MEDIAN_HKD: [f64; 4] = [8.0e6, 5.0e6, 3.0e6, 1.5e6];
const CARD_SHARE: [f64; 4] = [0.85, 0.80, 0.65, 0.40];
const CARD_MEDIAN_HKD: [f64; 4] = [40_000.0, 20_000.0, 8_000.0, 3_000.0];

fn split(rng: &mut ChaCha8Rng, tier: Tier, total: i64) -> [i64; 6] {
    let mut w = [0.0f64; 4];
    for (i, wi) in w.iter_mut().enumerate() {
        if rng.random::<f64>() < SPLIT_HELD[tier.i()][i] {
            *wi = SPLIT_WEIGHTS[tier.i()][i] * rng.random_range(0.5..1.5);
        }
    }
    w[0] = w[0].max(0.01);
    let sum: f64 = w.iter().sum();
    let mut out = [0i64; 6];
    let mut rest = total;
    for i in 1..4 {
        out[i] = ((total as f64) * w[i] / sum).floor() as i64;
        rest -= out[i];
    }
    out[0] = rest;
    out
}

/// Age multiplier of online activity.
fn age_factor(birth_year: u16) -> f64 {
    match birth_year {
        y if y > 1990 => 1.6,
        y if y >= 1975 => 1.2,
        y if y >= 1960 => 0.9,
        _ => 0.5,
    }
}

impl Population {
    /// The whole customer base as one chunk.
    #[cfg(test)]
    pub(crate) fn generate(
        opts: &GenerateOptions,
        cal: &Calendar,
    ) -> Result<Population, GenerateError> {
        let mut rng = rng::stream(opts.seed, rng::SALT_POPULATION);
        Self::chunk(&mut rng, opts, cal, 0, opts.customers as usize)
    }

    /// `n` customers from global index `base`, drawn from the population
    /// stream `rng` (shared by the chunks in order, so the draws are the same
    /// whatever is in memory). Tier quotas, opening order and referrals hold
    /// within the chunk.
    pub(crate) fn chunk(
        rng: &mut ChaCha8Rng,
        opts: &GenerateOptions,
        cal: &Calendar,
        base: u32,
        n: usize,
    ) -> Result<Population, GenerateError> {
        let bad = |e: rand_distr::GammaError| GenerateError::Invalid(format!("distribution: {e}"));
        let lambda_d = Gamma::new(BGNBD_R, 1.0 / BGNBD_ALPHA).map_err(bad)?;
        let nu_d = Gamma::new(SPEND_Q, 1.0 / SPEND_GAMMA).map_err(bad)?;
        let p_d = Beta::new(BGNBD_A, BGNBD_B)
            .map_err(|e| GenerateError::Invalid(format!("distribution: {e}")))?;

        // Tiers: exact quotas, shuffled.
        let quota = |s: f64| ((s * n as f64).round() as usize).min(n);
        let top = quota(TIER_SHARES[0]);
        let high = quota(TIER_SHARES[1]).min(n - top);
        let low = quota(TIER_SHARES[3]).min(n - top - high);
        let mut tiers = Vec::with_capacity(n);
        tiers.extend(std::iter::repeat_n(Tier::Top, top));
        tiers.extend(std::iter::repeat_n(Tier::High, high));
        tiers.extend(std::iter::repeat_n(Tier::Low, low));
        tiers.extend(std::iter::repeat_n(Tier::Middle, n - top - high - low));
        tiers.shuffle(rng);

        // Opening dates, sorted so that ids follow opening order.
        let window = cal.len();
        let earliest = (days_from_civil(2005, 1, 1) - cal.start_days) as i32;
        let earliest = if earliest < -365 { earliest } else { -3650 };
        let mut opened: Vec<i32> = (0..n)
            .map(|_| {
                if rng.random::<f64>() < NEW_SHARE {
                    rng.random_range(0..window)
                } else {
                    rng.random_range(earliest..0)
                }
            })
            .collect();
        opened.sort_unstable();

        let window_f = f64::from(window);
        let mut customers = Vec::with_capacity(n);
        for i in 0..n {
            let global = base + i as u32;
            let tier = tiers[i];
            let birth_year: u16 = rng.random_range(1940..=2005);
            let region = rng::pick(rng, &[0.18, 0.30, 0.52]) as u8;
            let home_branch = region * 4 + rng.random_range(1..=4u8);
            let name = [
                rng.random_range(0..24u8),
                rng.random_range(0..24u8),
                rng.random_range(0..24u8),
            ];
            let name_style = rng::pick(rng, &[0.5, 0.35, 0.15]) as u8;
            let phone = 90_000_000 + rng.random_range(0..10_000_000u32);
            let card = 4_000_000_000_000_000u64
                + u64::from(global) * 10_000_000
                + rng.random_range(0..10_000_000u64);
            let rel = draw_relationship(rng, tier, opts.tier_thresholds);
            let mut balances = split(rng, tier, rel);
            if rng.random::<f64>() < MORTGAGE_SHARE[tier.i()] {
                balances[4] =
                    (lognormal(rng, MORTGAGE_MEDIAN_HKD[tier.i()], 0.5) * 100.0).round() as i64;
            }
            let card_typical = if rng.random::<f64>() < CARD_SHARE[tier.i()] {
                (lognormal(rng, CARD_MEDIAN_HKD[tier.i()], 0.8) * 100.0)
                    .round()
                    .max(100.0) as i64
            } else {
                0
            };
            balances[5] = card_typical;
            let referred_by = if rng.random::<f64>() < REFERRAL_SHARE {
                let earlier = opened.partition_point(|&d| d < opened[i]);
                (earlier > 0).then(|| base + rng.random_range(0..earlier) as u32)
            } else {
                None
            };
            let lambda: f64 = lambda_d.sample(rng).max(1e-9);
            let p: f64 = p_d.sample(rng);
            let nu: f64 = nu_d.sample(rng).max(1e-12);
            let ramp_len = rng.random_range(60..=90);
            let close_after = rng.random_range(20..=60);
            let background = if lambda < SLOW_LAMBDA {
                Some(exponential(rng, BACKGROUND_HAZARD_MONTHLY / 30.4375))
            } else {
                None
            };

            // Pre-simulate the purchase process to find the dropout day.
            let start = f64::from(opened[i].max(0));
            let (gap0, _, _) = purchase_draws(opts.seed, global, 0, lambda, p);
            let mut t = start;
            let mut k = 0u32;
            let mut dropout_day = None;
            loop {
                let (gap, dropout, _) = purchase_draws(opts.seed, global, k, lambda, p);
                t += gap;
                if t >= window_f {
                    break;
                }
                if dropout {
                    dropout_day = Some(t.floor() as i32 + 1);
                    break;
                }
                k += 1;
            }
            let background_day = background.map(|b| (start + b).floor() as i32);
            let churn = [dropout_day, background_day]
                .into_iter()
                .flatten()
                .min()
                .filter(|&d| d < window);
            let closed = churn.map(|c| c + close_after);

            customers.push(Customer {
                tier,
                birth_year,
                region,
                home_branch,
                opened: opened[i],
                churn,
                ramp_start: churn.map_or(i32::MAX, |c| c - ramp_len),
                closed,
                referred_by,
                lambda,
                p,
                nu,
                card,
                phone,
                name,
                name_style,
                rel_start: rel,
                balances,
                card_typical,
                age_factor: age_factor(birth_year),
                purchase_k: 0,
                next_purchase: start + gap0,
                purchasing: true,
            });
        }
        Ok(Population { base, customers })
    }
}

/// `C` + 7 digits for a 0-based index.
pub(crate) fn customer_number(idx: u32) -> u32 {
    idx + 1
}

/// Write `crm/customers.csv` (end-of-window snapshot), or with `append`
/// add a later chunk. Returns the row count.
pub(crate) fn write_crm(
    path: &Path,
    pop: &Population,
    cal: &Calendar,
    append: bool,
) -> Result<u64, GenerateError> {
    let mut w = csv_snapshot(
        path,
        append,
        &[
            "customer_id",
            "full_name",
            "phone",
            "birth_year",
            "region",
            "home_branch",
            "opened_date",
            "closed_date",
            "referred_by",
        ],
    )?;
    let map = csv_err(path);
    let window = cal.len();
    let mut opened = String::new();
    let mut closed = String::new();
    for (i, c) in pop.customers.iter().enumerate() {
        opened.clear();
        fmt_date(&mut opened, cal.civil(c.opened));
        closed.clear();
        if let Some(d) = c.closed.filter(|&d| d < window) {
            fmt_date(&mut closed, cal.civil(d));
        }
        let phone = format!(
            "+852 {} {}",
            c.phone / 10_000,
            format_args!("{:04}", c.phone % 10_000)
        );
        let referred = c
            .referred_by
            .map(|r| format!("C{:07}", customer_number(r)))
            .unwrap_or_default();
        w.write_record([
            format!("C{:07}", customer_number(pop.base + i as u32)).as_str(),
            c.full_name().as_str(),
            phone.as_str(),
            c.birth_year.to_string().as_str(),
            REGIONS[usize::from(c.region)],
            format!("B{:02}", c.home_branch).as_str(),
            opened.as_str(),
            closed.as_str(),
            referred.as_str(),
        ])
        .map_err(&map)?;
    }
    w.flush().map_err(io_err(path))?;
    Ok(pop.customers.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(n: u64) -> GenerateOptions {
        GenerateOptions {
            customers: n,
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn bgnbd_draws_match_parameters() {
        let mut rng = rng::stream(11, 0);
        let lambda_d = Gamma::new(BGNBD_R, 1.0 / BGNBD_ALPHA).expect("gamma");
        let p_d = Beta::new(BGNBD_A, BGNBD_B).expect("beta");
        let n = 20_000;
        let lam: f64 = (0..n).map(|_| lambda_d.sample(&mut rng)).sum::<f64>() / f64::from(n);
        let p: f64 = (0..n).map(|_| p_d.sample(&mut rng)).sum::<f64>() / f64::from(n);
        let want_lam = BGNBD_R / BGNBD_ALPHA;
        let want_p = BGNBD_A / (BGNBD_A + BGNBD_B);
        assert!(
            (lam / want_lam - 1.0).abs() < 0.1,
            "lambda mean {lam} vs {want_lam}"
        );
        assert!((p / want_p - 1.0).abs() < 0.1, "p mean {p} vs {want_p}");

        // And the population itself carries draws from the same laws.
        let cal = Calendar::new(2024, 1, 12);
        let pop = Population::generate(&opts(20_000), &cal).expect("population");
        let lam: f64 = pop.customers.iter().map(|c| c.lambda).sum::<f64>() / 20_000.0;
        assert!(
            (lam / want_lam - 1.0).abs() < 0.1,
            "population lambda mean {lam}"
        );
        let spend: f64 = pop.customers.iter().map(|c| SPEND_P / c.nu).sum::<f64>() / 20_000.0;
        let want_spend = SPEND_P * SPEND_GAMMA / (SPEND_Q - 1.0);
        assert!(
            (spend / want_spend - 1.0).abs() < 0.1,
            "mean spend {spend} vs {want_spend}"
        );
    }

    #[test]
    fn tiers_balances_and_referrals() {
        let o = opts(1000);
        let cal = Calendar::new(2024, 1, 12);
        let pop = Population::generate(&o, &cal).expect("population");
        let [t0, t1, t2] = o.tier_thresholds.map(|t| t * 100);
        let mut counts = [0usize; 4];
        for (i, c) in pop.customers.iter().enumerate() {
            counts[c.tier.i()] += 1;
            let rel = c.relationship_balance();
            assert_eq!(rel, c.rel_start);
            assert!(c.balances.iter().all(|b| *b >= 0));
            match c.tier {
                Tier::Top => assert!(rel > t0),
                Tier::High => assert!(rel > t1 && rel <= t0),
                Tier::Middle => assert!(rel > t2 && rel <= t1),
                Tier::Low => assert!(rel >= 0 && rel <= t2),
            }
            if let Some(r) = c.referred_by {
                assert!(
                    pop.customers[r as usize].opened < c.opened,
                    "referrer {r} of {i} opened later"
                );
            }
        }
        assert_eq!(counts, [50, 150, 600, 200]);
        let churned = pop.customers.iter().filter(|c| c.churn.is_some()).count();
        // ~16.5% expected (Monte Carlo of the same BG/NBD parameters).
        assert!(churned > 100 && churned < 250, "churned {churned}");
    }
}
