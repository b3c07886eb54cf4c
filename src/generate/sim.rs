//! The day loop: draws every customer's activity day by day and streams it
//! to the daily and monthly files.
//!
//! Per open customer-day, the non-purchase channels (ATM, branch, online,
//! call centre) are independent Poisson processes; they are drawn exactly as
//! one Poisson count with the summed rate, each event then assigned to a
//! channel in proportion to its rate. Rates ramp down before churn. BG/NBD
//! purchases are replayed from their per-purchase streams. Events are kept
//! only for the current day, sorted by time and written out.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::Gamma;

use super::complaints::{self, Cases};
use super::customers::{Customer, Population, SPEND_P, purchase_draws};
use super::dirty::Dice;
use super::online::{OnlineEvent, OnlineFile};
use super::rng::{self, poisson};
use super::sink::{Format, TextFile};
use super::surveys::{Queue, RESPONSE_RATE, RESPONSE_RATE_ATM};
use super::time::{Calendar, Day};
use super::{
    GenerateError, GenerateOptions, Tallies, atm, balances, branch, callcentre, online, rm, surveys,
};

/// Monthly drift of branch visits (x 0.97^m) and online sessions (x 1.02^m).
pub(crate) const BRANCH_TREND: f64 = 0.97;
pub(crate) const ONLINE_TREND: f64 = 1.02;
/// Complaint multiplier in the pre-churn ramp.
pub(crate) const RAMP_COMPLAINT_FACTOR: f64 = 3.0;

const ATM: usize = 0;
const BRANCH: usize = 1;
const ONLINE: usize = 2;
const CALLS: usize = 3;
const SURVEYS: usize = 4;
const BALANCES: usize = 5;
const COMPLAINTS: usize = 6;
const RM: usize = 7;

/// One day's events, per channel.
#[derive(Default)]
struct DayEvents {
    atm: Vec<atm::AtmEvent>,
    branch: Vec<branch::BranchEvent>,
    online: Vec<OnlineEvent>,
    calls: Vec<callcentre::CallEvent>,
}

impl DayEvents {
    fn clear(&mut self) {
        self.atm.clear();
        self.branch.clear();
        self.online.clear();
        self.calls.clear();
    }
}

struct Rates {
    branch_trend: f64,
    online_trend: f64,
}

#[allow(clippy::too_many_arguments)]
fn simulate_customer_day(
    rng: &mut ChaCha8Rng,
    seed: u64,
    spend: &Gamma<f64>,
    i: u32,
    c: &mut Customer,
    day: &Day,
    rates: &Rates,
    ev: &mut DayEvents,
    queue: &mut Queue,
    cases: &mut Cases,
) {
    let d = day.index;
    let inv_dim = 1.0 / f64::from(day.days_in_month);
    let act = c.activity(d) * inv_dim;
    let complaint = if c.in_ramp(d) {
        RAMP_COMPLAINT_FACTOR
    } else {
        1.0
    };
    let t = c.tier.i();
    let atm_r = atm::MONTHLY_RATE[t] * act;
    let branch_r = branch::MONTHLY_RATE[t] * rates.branch_trend * branch::weekday_weight(day) * act;
    let online_r = online::MONTHLY_RATE[t] * c.age_factor * rates.online_trend * act;
    let call_r = callcentre::MONTHLY_RATE * act;
    let total = atm_r + branch_r + online_r + call_r;
    let n = poisson(rng, total);
    for _ in 0..n {
        let x = rng.random::<f64>() * total;
        if x < atm_r {
            let e = atm::draw(rng, i, c);
            queue.offer(rng, RESPONSE_RATE_ATM, i, c, day, e.secs, e.touch());
            ev.atm.push(e);
        } else if x < atm_r + branch_r {
            let e = branch::draw(rng, i, c, day, complaint);
            queue.offer(rng, RESPONSE_RATE, i, c, day, e.served, e.touch());
            if e.is_complaint() {
                cases.open(i, c, day, e.served, complaints::BRANCH);
            }
            ev.branch.push(e);
        } else if x < atm_r + branch_r + online_r {
            let e = online::draw_session(rng, i, c);
            queue.offer(rng, RESPONSE_RATE, i, c, day, e.end(), e.touch());
            ev.online.push(e);
        } else {
            let e = callcentre::draw(rng, i, c, complaint);
            queue.offer(rng, RESPONSE_RATE, i, c, day, e.end(), e.touch());
            if e.is_complaint() {
                cases.open(i, c, day, e.end(), complaints::CALL);
            }
            ev.calls.push(e);
        }
    }

    // BG/NBD purchases falling on this day.
    let day_end = f64::from(d + 1);
    while c.purchasing && c.next_purchase < day_end {
        if c.churn.is_some_and(|ch| d >= ch) {
            c.purchasing = false;
            break;
        }
        let k = c.purchase_k;
        let (_, dropout, mut prng) = purchase_draws(seed, i, k, c.lambda, c.p);
        let secs = ((c.next_purchase - f64::from(d)) * 86_400.0).clamp(0.0, 86_399.0) as u32;
        let e = online::draw_purchase(&mut prng, i, c, secs, spend);
        queue.offer(rng, RESPONSE_RATE, i, c, day, e.end(), e.touch());
        ev.online.push(e);
        if dropout {
            c.purchasing = false;
        } else {
            c.purchase_k = k + 1;
            let (gap, _, _) = purchase_draws(seed, i, k + 1, c.lambda, c.p);
            c.next_purchase += gap;
        }
    }
}

fn finish(
    file: TextFile,
    truncate: &mut bool,
    tallies: &mut Tallies,
    source: &str,
    period: &str,
    new_file: bool,
) -> Result<(), GenerateError> {
    let (counts, truncated) = file.finish(*truncate)?;
    if truncated {
        *truncate = false;
    }
    tallies.add(source, period, &counts, new_file);
    Ok(())
}

/// The day loop's state that carries over from one customer chunk to the
/// next: random streams, defect dice, record ids, pending truncations.
pub(crate) struct Sim {
    rng: ChaCha8Rng,
    bal_rng: ChaCha8Rng,
    dice: [Dice; 8],
    spend: Gamma<f64>,
    ids: [u64; 8],
    fields: Vec<String>,
    ev: DayEvents,
    /// A source whose target file has no data line truncates its next file instead.
    truncate: [bool; 8],
    script_seen: bool,
}

impl Sim {
    pub(crate) fn new(opts: &GenerateOptions) -> Result<Sim, GenerateError> {
        let seed = opts.seed;
        Ok(Sim {
            rng: rng::stream(seed, rng::SALT_ACTIVITY),
            bal_rng: rng::stream(seed, rng::SALT_BALANCES),
            dice: std::array::from_fn(|s| {
                Dice::new(
                    rng::stream(seed, rng::SALT_DIRTY + s as u64),
                    opts.dirty_rate,
                )
            }),
            spend: Gamma::new(SPEND_P, 1.0)
                .map_err(|e| GenerateError::Invalid(format!("distribution: {e}")))?,
            ids: [0u64; 8],
            fields: Vec::new(),
            ev: DayEvents::default(),
            truncate: [false; 8],
            script_seen: false,
        })
    }

    /// Run the whole window for one chunk of customers, writing every extract
    /// except `customers.csv`. Chunk `part` > 0 appends to the daily and
    /// monthly text files and writes its own Parquet part; only the `last`
    /// chunk truncates lines, so a truncated line is always a file's end.
    pub(crate) fn run(
        &mut self,
        opts: &GenerateOptions,
        cal: &Calendar,
        pop: &mut Population,
        part: usize,
        last: bool,
        tallies: &mut Tallies,
    ) -> Result<(), GenerateError> {
        let out: &Path = &opts.out;
        let seed = opts.seed;
        let append = part > 0;
        let base = pop.base;
        let Sim {
            rng,
            bal_rng,
            dice,
            spend,
            ids,
            fields,
            ev,
            truncate,
            script_seen,
        } = self;
        let mut queue = Queue::new(seed);
        // The case system's extract is as of the window's end.
        let end = cal
            .month_days(cal.periods.len().saturating_sub(1))
            .last()
            .map_or(0, |d| d.midnight_utc + 86_400);
        let mut cases = Cases::new(seed, end);

        let months = cal.periods.len();
        let trunc_day = cal.len() / 2;
        let trunc_month = months / 2;
        // A zero dirty rate gives a fully clean data set (no truncated lines either).
        let dirty_on = opts.dirty_rate > 0.0 && last;
        let first_month_end = cal.month_days(0).last().map_or(0, |d| d.index);

        for m in 0..months {
            let period = cal.periods[m].as_str();
            let rates = Rates {
                branch_trend: BRANCH_TREND.powi(m as i32),
                online_trend: ONLINE_TREND.powi(m as i32),
            };
            let online_name = if append {
                format!("sessions_{period}_part{part}.parquet")
            } else {
                format!("sessions_{period}.parquet")
            };
            let mut online_file = OnlineFile::create(out.join("online").join(online_name))?;
            let mut survey_file = TextFile::open(
                out.join("surveys").join(format!("surveys_{period}.csv")),
                Format::Csv,
                &surveys::HEADER,
                append,
            )?;
            let mut case_file = TextFile::open(
                out.join("complaints").join(format!("cases_{period}.csv")),
                Format::Csv,
                &complaints::HEADER,
                append,
            )?;

            for day in cal.month_days(m) {
                let (y, mo, dd) = (day.year, day.month, day.day);
                let atm_path = out
                    .join("atm")
                    .join(format!("{y:04}"))
                    .join(format!("{mo:02}"))
                    .join(format!("atm_{y:04}{mo:02}{dd:02}.csv"));
                let branch_path = out
                    .join("branch")
                    .join(format!("{y:04}"))
                    .join(format!("{mo:02}"))
                    .join(format!("tickets_{y:04}{mo:02}{dd:02}.jsonl"));
                let call_path = out
                    .join("callcentre")
                    .join(format!("{y:04}"))
                    .join(format!("{mo:02}"))
                    .join(format!("calls_{dd:02}{mo:02}{y:04}.txt"));

                ev.clear();
                for (i, c) in pop.customers.iter_mut().enumerate() {
                    if c.is_open(day.index) {
                        simulate_customer_day(
                            rng,
                            seed,
                            spend,
                            base + i as u32,
                            c,
                            day,
                            &rates,
                            ev,
                            &mut queue,
                            &mut cases,
                        );
                    }
                }

                if dirty_on && day.index == trunc_day {
                    truncate[ATM] = true;
                    truncate[BRANCH] = true;
                    truncate[CALLS] = true;
                }

                let mut f = TextFile::open(atm_path, Format::Csv, &atm::HEADER, append)?;
                atm::write_day(
                    &mut f,
                    &mut dice[ATM],
                    &mut ev.atm,
                    day,
                    pop,
                    &mut ids[ATM],
                    fields,
                )?;
                finish(f, &mut truncate[ATM], tallies, "atm", period, !append)?;

                let mut f = TextFile::open(
                    branch_path,
                    Format::Jsonl(&branch::KEYS),
                    &branch::KEYS,
                    append,
                )?;
                branch::write_day(
                    &mut f,
                    &mut dice[BRANCH],
                    &mut ev.branch,
                    day,
                    &mut ids[BRANCH],
                    fields,
                )?;
                finish(f, &mut truncate[BRANCH], tallies, "branch", period, !append)?;

                let mut f = TextFile::open(call_path, Format::Pipe, &callcentre::HEADER, append)?;
                callcentre::write_day(
                    &mut f,
                    &mut dice[CALLS],
                    &mut ev.calls,
                    day,
                    &mut ids[CALLS],
                    fields,
                )?;
                finish(
                    f,
                    &mut truncate[CALLS],
                    tallies,
                    "callcentre",
                    period,
                    !append,
                )?;

                online_file.write_day(&mut dice[ONLINE], &mut ev.online, day, &mut ids[ONLINE])?;

                let force = !*script_seen && day.index >= first_month_end;
                *script_seen |= surveys::write_day(
                    &mut survey_file,
                    &mut dice[SURVEYS],
                    &mut queue.today,
                    force,
                    &mut ids[SURVEYS],
                    fields,
                )?;
                queue.advance();
                complaints::write_day(
                    &mut case_file,
                    &mut dice[COMPLAINTS],
                    &mut cases,
                    &mut ids[COMPLAINTS],
                    fields,
                )?;
            }

            let counts = online_file.finish()?;
            tallies.add("online", period, &counts, true);
            if dirty_on && m == trunc_month {
                truncate[SURVEYS] = true;
                truncate[BALANCES] = true;
                truncate[COMPLAINTS] = true;
                truncate[RM] = true;
            }
            finish(
                survey_file,
                &mut truncate[SURVEYS],
                tallies,
                "surveys",
                period,
                !append,
            )?;
            finish(
                case_file,
                &mut truncate[COMPLAINTS],
                tallies,
                "complaints",
                period,
                !append,
            )?;

            let mut contacts = Vec::new();
            for (i, c) in pop.customers.iter().enumerate() {
                rm::draw_month(
                    seed,
                    base + i as u32,
                    c,
                    m,
                    cal.month_days(m),
                    &mut contacts,
                );
            }
            let mut f = TextFile::open(
                out.join("rm").join(format!("contacts_{period}.csv")),
                Format::Csv,
                &rm::HEADER,
                append,
            )?;
            rm::write_month(&mut f, &mut dice[RM], &mut contacts, &mut ids[RM], fields)?;
            finish(f, &mut truncate[RM], tallies, "rm", period, !append)?;

            let mut f = TextFile::open(
                out.join("crm")
                    .join("balances")
                    .join(format!("balances_{period}.csv")),
                Format::Csv,
                &balances::HEADER,
                append,
            )?;
            balances::write_month(&mut f, &mut dice[BALANCES], bal_rng, pop, cal, m, fields)?;
            finish(
                f,
                &mut truncate[BALANCES],
                tallies,
                "balances",
                period,
                !append,
            )?;
        }
        Ok(())
    }
}
