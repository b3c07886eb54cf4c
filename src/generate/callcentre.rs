//! Call-centre calls: `callcentre/YYYY/MM/calls_DDMMYYYY.txt`, pipe-delimited,
//! one file per day. About 6% of calls are abandoned (more after long queues).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::{Customer, customer_number};
use super::dirty::{DateStyle, Dice, Layout};
use super::rng::{lognormal, pick, time_of_day};
use super::sink::{TextFile, customer_id, reset};
use super::surveys::{CH_CALL, IN, POST, PRE, Touch};
use super::time::{Day, fmt_dmy};

pub(crate) const HEADER: [&str; 7] = [
    "call_id",
    "customer_id",
    "call_start",
    "queue_seconds",
    "handle_seconds",
    "reason",
    "outcome",
];

pub(crate) const LAYOUT: Layout = Layout {
    customer: 1,
    date: Some((2, DateStyle::Dmy)),
    numeric: Some(3),
    amount: None,
    text: true,
};

/// Expected calls per customer-month.
pub(crate) const MONTHLY_RATE: f64 = 0.3;
/// Complaint share of calls (multiplied by 3 in the pre-churn ramp).
pub(crate) const COMPLAINT_SHARE: f64 = 0.08;

const REASONS: [&str; 4] = ["inquiry", "complaint", "sale", "card_service"];
const OUTCOMES: [&str; 3] = ["resolved", "transferred", "abandoned"];
const TOUCHPOINTS: [&str; 4] = [
    "phone enquiry",
    "complaint call",
    "phone sales",
    "card service call",
];
const STAGES: [u8; 4] = [PRE, POST, IN, POST];
const HOURS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.5, 3.0, 3.0, 2.5, 2.5, 3.0, 3.0, 2.8, 2.5, 2.0,
    1.8, 1.5, 1.2, 0.0, 0.0,
];

#[derive(Clone, Copy, Debug)]
pub(crate) struct CallEvent {
    pub cust: u32,
    pub secs: u32,
    pub queue: u32,
    pub handle: u32,
    pub reason: u8,
    pub outcome: u8,
}

impl CallEvent {
    pub(crate) fn is_complaint(&self) -> bool {
        self.reason == 1
    }

    pub(crate) fn touch(&self) -> Touch {
        let r = usize::from(self.reason);
        let mut penalty = 0.0;
        if r == 1 {
            penalty -= 0.35;
        }
        if self.outcome == 2 {
            penalty -= 0.3;
        } else if self.outcome == 1 {
            penalty -= 0.05;
        }
        if self.queue > 300 {
            penalty -= 0.1;
        }
        Touch {
            channel: CH_CALL,
            touchpoint: TOUCHPOINTS[r],
            stage: STAGES[r],
            penalty,
        }
    }

    /// Seconds after midnight at which the call ended.
    pub(crate) fn end(&self) -> u32 {
        self.secs + self.queue + self.handle
    }
}

pub(crate) fn draw(
    rng: &mut ChaCha8Rng,
    cust: u32,
    _c: &Customer,
    complaint_factor: f64,
) -> CallEvent {
    let secs = time_of_day(rng, &HOURS);
    let complaint = COMPLAINT_SHARE * complaint_factor;
    let reason = pick(rng, &[0.55, complaint, 0.10, 0.25]) as u8;
    let queue = lognormal(rng, 60.0, 1.1).round().clamp(0.0, 1800.0) as u32;
    let p_abandon = if queue > 300 {
        0.35
    } else if queue > 120 {
        0.08
    } else {
        0.02
    };
    let u: f64 = rng.random();
    let (handle, outcome) = if u < p_abandon {
        (0, 2)
    } else {
        let factor = if reason == 1 { 1.8 } else { 1.0 };
        let handle = lognormal(rng, 240.0 * factor, 0.6)
            .round()
            .clamp(20.0, 5400.0) as u32;
        let p_transfer = if reason == 1 { 0.3 } else { 0.12 };
        (
            handle,
            if rng.random::<f64>() < p_transfer {
                1
            } else {
                0
            },
        )
    };
    CallEvent {
        cust,
        secs,
        queue,
        handle,
        reason,
        outcome,
    }
}

fn fill(f: &mut Vec<String>, e: &CallEvent, day: &Day, id: u64) {
    use std::fmt::Write as _;
    reset(f, 7);
    let _ = write!(f[0], "CL{id:09}");
    customer_id(&mut f[1], customer_number(e.cust));
    fmt_dmy(&mut f[2], day, e.secs);
    let _ = write!(f[3], "{}", e.queue);
    let _ = write!(f[4], "{}", e.handle);
    f[5].push_str(REASONS[usize::from(e.reason)]);
    f[6].push_str(OUTCOMES[usize::from(e.outcome)]);
}

/// Write one day's calls (sorted by start time).
pub(crate) fn write_day(
    file: &mut TextFile,
    dice: &mut Dice,
    events: &mut [CallEvent],
    day: &Day,
    next_id: &mut u64,
    fields: &mut Vec<String>,
) -> Result<(), GenerateError> {
    events.sort_by_key(|e| (e.secs, e.cust));
    for e in events.iter() {
        file.emit(dice, &LAYOUT, false, false, fields, |f| {
            *next_id += 1;
            fill(f, e, day, *next_id);
        })?;
    }
    Ok(())
}
