//! Survey responses: `surveys/surveys_YYYY-MM.csv`.
//!
//! A share of touchpoints (about 12% of branch visits, calls and online
//! sessions, 3% of ATM transactions) produce a response the same or the next
//! day. Scores fall after long waits, complaints, failures and for customers
//! close to churn. Responses are queued by local response day, sorted by
//! time and written day by day into the month file of their response date.
//!
//! Two truths the analytics must recover (both in `_truth/params.json`):
//! - the expectation is drawn by tier, independently of the experience, so
//!   experience − expectation (seed 001) means something: Premier Top expects
//!   more and its gap is the lowest for the same service;
//! - the likelihood to recommend mixes the touchpoint's experience (weight
//!   `LOYALTY_WEIGHT`) with the customer's standing loyalty, so some
//!   touchpoints drive loyalty more than others (importance–performance).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, Tier, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{mix, std_normal};
use super::sink::{TextFile, customer_id, reset};
use super::time::{Day, fmt_utc_z};

pub(crate) const HEADER: [&str; 12] = [
    "response_id",
    "customer_id",
    "responded_at",
    "channel",
    "touchpoint",
    "stage",
    "csat",
    "nps",
    "effort",
    "experience",
    "expectation",
    "comment",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 1,
    date: Some((2, DateStyle::IsoPrefix)),
    numeric: Some(6),
    amount: None,
    text: true,
};

pub(crate) const CH_ATM: u8 = 0;
pub(crate) const CH_BRANCH: u8 = 1;
pub(crate) const CH_ONLINE: u8 = 2;
pub(crate) const CH_CALL: u8 = 3;
const CHANNELS: [&str; 4] = ["atm", "branch", "online", "call_centre"];

pub(crate) const PRE: u8 = 0;
pub(crate) const IN: u8 = 1;
pub(crate) const POST: u8 = 2;
const STAGES: [&str; 3] = ["pre", "in", "post"];

/// Response probability for branch visits, calls and online sessions; ATM.
pub(crate) const RESPONSE_RATE: f64 = 0.12;
pub(crate) const RESPONSE_RATE_ATM: f64 = 0.03;

pub(crate) const SCRIPT: &str = "<script>alert(1)</script>";
const HTML: [&str; 3] = [
    "<b>great</b>",
    "<b>great</b> service",
    "Staff were <b>great</b>",
];
const QUOTED: [&str; 4] = [
    "Staff said \"please wait\", then nothing happened, again",
    "The \"express\" counter was not express, sadly",
    "Good, but \"fees\" are high",
    "\"Quick\", friendly, helpful",
];
const POSITIVE: [&str; 10] = [
    "服务很好，谢谢",
    "手机银行很方便",
    "職員很有耐心",
    "Very helpful staff",
    "Quick and easy",
    "Great service, thank you",
    "Smooth transfer",
    "办理很快",
    "The app is easy to use",
    "Friendly teller",
];
const NEUTRAL: [&str; 6] = [
    "还可以",
    "OK",
    "Average experience",
    "一般般",
    "Nothing special",
    "It was fine",
];
const NEGATIVE: [&str; 10] = [
    "排队时间太长",
    "Waited too long at the branch",
    "等了很久都没有人处理",
    "App keeps logging me out",
    "职员态度不好",
    "Fees are too high",
    "电话一直转接",
    "Could not get through to an agent",
    "Card was declined for no reason",
    "Nobody solved my problem",
];

/// Mean expectation (1–5) by tier (top, high, middle, low), drawn without
/// regard to the experience: the better served expect more.
pub(crate) const EXPECTATION_MEAN: [f64; 4] = [4.3, 3.9, 3.5, 3.2];
pub(crate) const EXPECTATION_SD: f64 = 0.6;

/// How much a touchpoint's experience moves the customer's likelihood to
/// recommend (0 = not at all, 1 = only it). The key moments of seed 001
/// (wealth advice, completing a transaction, enquiry handling) and the
/// complaint touchpoints weigh most; routine self-service least. Distinct
/// values, so the ranking an importance method must recover is strict.
pub(crate) const LOYALTY_WEIGHT: [(&str, f64); 20] = [
    ("wealth advice", 0.90),
    ("loan application", 0.86),
    ("account opening", 0.82),
    ("complaint call", 0.78),
    ("branch complaint", 0.74),
    ("card service call", 0.70),
    ("chat support", 0.66),
    ("mobile banking", 0.62),
    ("mobile transfer", 0.58),
    ("internet banking", 0.54),
    ("online payment", 0.50),
    ("phone enquiry", 0.46),
    ("branch enquiry", 0.42),
    ("phone sales", 0.38),
    ("cash service", 0.34),
    ("chat payment", 0.30),
    ("atm transfer", 0.26),
    ("cash withdrawal", 0.22),
    ("cash deposit", 0.18),
    ("balance inquiry", 0.14),
];

fn loyalty_weight(touchpoint: &str) -> f64 {
    LOYALTY_WEIGHT
        .iter()
        .find(|(t, _)| *t == touchpoint)
        .map_or(0.5, |(_, w)| *w)
}

/// What a touchpoint contributes to a survey.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Touch {
    pub channel: u8,
    pub touchpoint: &'static str,
    pub stage: u8,
    /// Added to the latent satisfaction (negative: worse).
    pub penalty: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Survey {
    /// UTC epoch seconds of the response.
    pub at: i64,
    pub cust: u32,
    pub channel: u8,
    pub touchpoint: &'static str,
    pub stage: u8,
    /// csat, nps, effort, experience, expectation.
    pub scores: [u8; 5],
    pub comment: &'static str,
}

/// Responses due today and tomorrow (local days).
pub(crate) struct Queue {
    pub today: Vec<Survey>,
    pub tomorrow: Vec<Survey>,
    /// Seeds the per-customer and per-response draws that are not on the
    /// activity stream (so adding them left every other value as it was).
    seed: u64,
}

const TIER_ADJ: [f64; 4] = [0.05, 0.03, 0.0, -0.02];

fn score(x: f64, lo: f64, hi: f64) -> u8 {
    x.round().clamp(lo, hi) as u8
}

/// A customer's standing loyalty (0–1 latent, like the satisfaction):
/// the same in every response, whatever the touchpoint.
fn standing_loyalty(seed: u64, cust: u32, c: &Customer, day: i32) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, mix(SALT_LOYALTY, u64::from(cust))));
    let mut r = 0.62 + TIER_ADJ[c.tier.i()] + 0.18 * std_normal(&mut rng);
    if c.near_churn(day) {
        r -= 0.2;
    }
    r
}

const SALT_LOYALTY: u64 = 0x10_7A17;
const SALT_RESPONSE: u64 = 0x5E_C0DE;

impl Queue {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            today: Vec::new(),
            tomorrow: Vec::new(),
            seed,
        }
    }

    /// With probability `prob`, queue a response to a touchpoint of
    /// customer `cust` that ended `end_secs` after local midnight of `day`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn offer(
        &mut self,
        rng: &mut ChaCha8Rng,
        prob: f64,
        cust: u32,
        c: &Customer,
        day: &Day,
        end_secs: u32,
        touch: Touch,
    ) {
        if rng.random::<f64>() >= prob {
            return;
        }
        let r = if rng.random::<f64>() < 0.7 {
            end_secs + rng.random_range(300..10_800)
        } else {
            86_400 + rng.random_range(8 * 3600..23 * 3600)
        };
        // No responses once the account is closed.
        let respond_day = day.index + i32::from(r >= 86_400);
        if c.closed.is_some_and(|closed| respond_day >= closed) {
            return;
        }
        let mut s = 0.62 + TIER_ADJ[c.tier.i()] + 0.18 * std_normal(rng) + touch.penalty;
        if c.near_churn(day.index) {
            s -= 0.2;
        }
        if c.tier == Tier::Low && touch.channel == CH_BRANCH {
            s -= 0.02;
        }
        let s = s.clamp(0.0, 1.0);
        let w = loyalty_weight(touch.touchpoint);
        let loyal =
            (w * s + (1.0 - w) * standing_loyalty(self.seed, cust, c, day.index)).clamp(0.0, 1.0);
        // Draws beyond the first four come from the response's own stream.
        let mut own = ChaCha8Rng::seed_from_u64(mix(
            self.seed,
            mix(
                SALT_RESPONSE,
                (u64::from(cust) << 32) ^ u64::from(day.index as u32) ^ u64::from(end_secs) << 17,
            ),
        ));
        let scores = [
            score(1.0 + 4.0 * s + 0.35 * std_normal(rng), 1.0, 5.0),
            score(10.0 * loyal + 1.0 * std_normal(rng), 0.0, 10.0),
            score(7.0 - 6.0 * s + 0.6 * std_normal(rng), 1.0, 7.0),
            score(1.0 + 4.0 * s + 0.35 * std_normal(&mut own), 1.0, 5.0),
            score(
                EXPECTATION_MEAN[c.tier.i()] + EXPECTATION_SD * std_normal(rng),
                1.0,
                5.0,
            ),
        ];
        let comment = if rng.random::<f64>() < 0.6 {
            ""
        } else {
            let x: f64 = rng.random();
            if x < 1.0 / 200.0 {
                SCRIPT
            } else if x < 0.015 {
                HTML[rng.random_range(0..HTML.len())]
            } else if x < 0.04 {
                QUOTED[rng.random_range(0..QUOTED.len())]
            } else if s < 0.4 {
                NEGATIVE[rng.random_range(0..NEGATIVE.len())]
            } else if s > 0.7 {
                POSITIVE[rng.random_range(0..POSITIVE.len())]
            } else {
                NEUTRAL[rng.random_range(0..NEUTRAL.len())]
            }
        };
        let survey = Survey {
            at: day.midnight_utc + i64::from(r),
            cust,
            channel: touch.channel,
            touchpoint: touch.touchpoint,
            stage: touch.stage,
            scores,
            comment,
        };
        if r < 86_400 {
            self.today.push(survey);
        } else {
            self.tomorrow.push(survey);
        }
    }

    /// Move to the next day: tomorrow's responses become today's.
    pub(crate) fn advance(&mut self) {
        self.today.clear();
        std::mem::swap(&mut self.today, &mut self.tomorrow);
    }
}

fn fill(fields: &mut Vec<String>, s: &Survey, id: u64) {
    use std::fmt::Write as _;
    reset(fields, 12);
    let _ = write!(fields[0], "R{id:09}");
    customer_id(&mut fields[1], customer_number(s.cust));
    fmt_utc_z(&mut fields[2], s.at);
    fields[3].push_str(CHANNELS[usize::from(s.channel)]);
    fields[4].push_str(s.touchpoint);
    fields[5].push_str(STAGES[usize::from(s.stage)]);
    for (i, v) in s.scores.iter().enumerate() {
        let _ = write!(fields[6 + i], "{v}");
    }
    fields[11].push_str(s.comment);
}

/// Write today's responses (sorted by time). With `force_script`, the first
/// response carries the `<script>` comment and is kept clean. Returns whether
/// a clean `<script>` comment was written.
pub(crate) fn write_day(
    file: &mut TextFile,
    dice: &mut Dice,
    rows: &mut [Survey],
    force_script: bool,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<bool, GenerateError> {
    rows.sort_by_key(|s| (s.at, s.cust));
    let mut script = false;
    for (i, s) in rows.iter_mut().enumerate() {
        if i == 0 && force_script {
            s.comment = SCRIPT;
            *next_id += 1;
            fill(fields, s, *next_id);
            file.write_fields(fields, None, true)?;
            script = true;
            continue;
        }
        let protected = s.comment == SCRIPT;
        let kind = file.emit(dice, &LAYOUT, false, protected, fields, |f| {
            *next_id += 1;
            fill(f, s, *next_id);
        })?;
        script |= protected && kind.is_none();
    }
    Ok(script)
}
