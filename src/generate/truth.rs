//! Ground truth for tests and reports: `_truth/customers.csv` (latent tier,
//! churn, BG/NBD and spend parameters), `_truth/params.json` (options and
//! distribution parameters) and `_truth/manifest.json` (per-source tallies).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::Datelike;
use serde_json::json;

use super::customers::{
    BACKGROUND_HAZARD_MONTHLY, BGNBD_A, BGNBD_ALPHA, BGNBD_B, BGNBD_R, NEW_SHARE, PRODUCTS,
    Population, QUIET_LEVEL, REFERRAL_SHARE, SLOW_LAMBDA, SPEND_GAMMA, SPEND_P, SPEND_Q,
    TIER_SHARES, customer_number,
};
use super::dirty::Kind;
use super::sink::{create, csv_err, csv_snapshot, io_err, money};
use super::time::{Calendar, fmt_date};
use super::{
    GenerateError, GenerateOptions, SourceTally, atm, balances, branch, callcentre, complaints,
    leads, online, rm, sim, surveys,
};

/// Write `_truth/customers.csv`.
pub(crate) fn write_customers(
    path: &Path,
    pop: &Population,
    cal: &Calendar,
    append: bool,
) -> Result<(), GenerateError> {
    let mut w = csv_snapshot(
        path,
        append,
        &[
            "customer_id",
            "tier",
            "churn_date",
            "closed_date",
            "lambda_per_week",
            "p_dropout",
            "spend_nu",
            "relationship_balance_start",
        ],
    )?;
    let map = csv_err(path);
    let window = cal.len();
    let (mut churn, mut closed, mut rel) = (String::new(), String::new(), String::new());
    for (i, c) in pop.customers.iter().enumerate() {
        churn.clear();
        closed.clear();
        rel.clear();
        if let Some(d) = c.churn {
            fmt_date(&mut churn, cal.civil(d));
        }
        if let Some(d) = c.closed.filter(|&d| d < window) {
            fmt_date(&mut closed, cal.civil(d));
        }
        money(&mut rel, c.rel_start);
        w.write_record([
            format!("C{:07}", customer_number(pop.base + i as u32)).as_str(),
            c.tier.name(),
            churn.as_str(),
            closed.as_str(),
            format!("{}", c.lambda).as_str(),
            format!("{}", c.p).as_str(),
            format!("{}", c.nu).as_str(),
            rel.as_str(),
        ])
        .map_err(&map)?;
    }
    w.flush().map_err(io_err(path))?;
    Ok(())
}

/// Write `_truth/params.json`: the options (without the output path, so the
/// file is identical wherever it is written) and the model parameters.
pub(crate) fn write_params(
    path: &Path,
    opts: &GenerateOptions,
    cal: &Calendar,
) -> Result<(), GenerateError> {
    let mut first = String::new();
    let mut last = String::new();
    fmt_date(&mut first, cal.civil(0));
    fmt_date(&mut last, cal.civil(cal.len() - 1));
    let start = format!(
        "{:04}-{:02}-{:02}",
        opts.start.year(),
        opts.start.month(),
        opts.start.day()
    );
    let doc = json!({
        "options": {
            "customers": opts.customers,
            "months": opts.months,
            "start": start,
            "seed": opts.seed,
            "dirty_rate": opts.dirty_rate,
            "tier_thresholds_hkd": opts.tier_thresholds,
        },
        "window": {
            "first_day": first,
            "last_day": last,
            "days": cal.len(),
            "timezone": "Asia/Hong_Kong (UTC+08:00, no DST)",
        },
        "tiers": {
            "shares": {"top": TIER_SHARES[0], "high": TIER_SHARES[1], "middle": TIER_SHARES[2], "low": TIER_SHARES[3]},
            "relationship_balance_bands_hkd": {
                "top": [format!("> {}", opts.tier_thresholds[0]), "lognormal, median about 15,000,000".to_string()],
                "high": [opts.tier_thresholds[1], opts.tier_thresholds[0]],
                "middle": [opts.tier_thresholds[2], opts.tier_thresholds[1]],
                "low": [0, opts.tier_thresholds[2]],
            },
            "relationship_products": &PRODUCTS[..4],
            "liabilities": &PRODUCTS[4..],
        },
        "customers": {
            "opened_during_window_share": NEW_SHARE,
            "referred_share": REFERRAL_SHARE,
            "birth_years": [1940, 2005],
        },
        "bgnbd": {
            "r": BGNBD_R,
            "alpha": BGNBD_ALPHA,
            "a": BGNBD_A,
            "b": BGNBD_B,
            "time_unit": "week",
            "lambda": "Gamma(shape r, rate alpha) purchases per week",
            "p": "Beta(a, b) dropout probability after each repeat purchase",
            "clock_start": "max(window start, opened_date); no purchase at time 0",
            "purchase_record": "online session with transactions = 1 and amount = spend",
        },
        "gamma_gamma": {
            "p": SPEND_P,
            "q": SPEND_Q,
            "gamma": SPEND_GAMMA,
            "nu": "Gamma(shape q, rate gamma)",
            "amount": "Gamma(shape p, rate nu), HKD, rounded to cents",
            "mean_spend_hkd": SPEND_P * SPEND_GAMMA / (SPEND_Q - 1.0),
        },
        "churn": {
            "churn_date": "day after the purchase at which the BG/NBD dropout coin fell, if inside the window",
            "background": {"lambda_below_per_week": SLOW_LAMBDA, "monthly_hazard": BACKGROUND_HAZARD_MONTHLY},
            "closed_after_days": [20, 60],
            "ramp_days_before_churn": [60, 90],
            "ramp_floor": QUIET_LEVEL,
            "ramp_complaint_factor": sim::RAMP_COMPLAINT_FACTOR,
            "ramp_monthly_outflow": [balances::DRAIN.0, balances::DRAIN.1],
        },
        "channels_per_customer_month": {
            "tier_order": ["top", "high", "middle", "low"],
            "atm": atm::MONTHLY_RATE,
            "branch": branch::MONTHLY_RATE,
            "branch_trend": sim::BRANCH_TREND,
            "online": online::MONTHLY_RATE,
            "online_trend": sim::ONLINE_TREND,
            "online_age_factor": {"born_after_1990": 1.6, "1975_1990": 1.2, "1960_1974": 0.9, "before_1960": 0.5},
            "call_centre": callcentre::MONTHLY_RATE,
            "call_complaint_share": callcentre::COMPLAINT_SHARE,
        },
        "branch": {
            "wait_median_minutes_base": branch::WAIT_MEDIAN_MIN,
            "wait_sigma": branch::WAIT_SIGMA,
            "busy_branches": ["B05", "B06", "B07", "B08"],
            "busy_branch_factor": branch::BUSY_BRANCH_FACTOR,
            "busy_days": ["Monday", "Saturday"],
            "busy_day_factor": branch::BUSY_DAY_FACTOR,
            "service_median_minutes": branch::SERVICE_MEDIAN_MIN,
            "hours": {"weekday": "09:00-17:00", "saturday": "09:00-13:00", "sunday": "closed"},
        },
        "surveys": {
            "response_rate": surveys::RESPONSE_RATE,
            "response_rate_atm": surveys::RESPONSE_RATE_ATM,
            "empty_comment_share": 0.6,
            "script_comment_share": 1.0 / 200.0,
            "expectation_mean_by_tier": {
                "top": surveys::EXPECTATION_MEAN[0], "high": surveys::EXPECTATION_MEAN[1],
                "middle": surveys::EXPECTATION_MEAN[2], "low": surveys::EXPECTATION_MEAN[3],
            },
            "expectation_sd": surveys::EXPECTATION_SD,
            "expectation": "drawn by tier, independently of the experience",
            "nps": "10 × (w × experience latent + (1 − w) × the customer's standing loyalty) + N(0, 1)",
            "loyalty_weight_by_touchpoint": surveys::LOYALTY_WEIGHT.iter().map(|(t, w)| (t.to_string(), *w)).collect::<BTreeMap<_, _>>(),
        },
        "complaints": {
            "opened_by": "every branch complaint visit and complaint call",
            "categories": complaints::CATEGORIES.iter().zip(complaints::CATEGORY_WEIGHTS).map(|(c, w)| (c.to_string(), w)).collect::<BTreeMap<_, _>>(),
            "first_response_median_hours": {"branch": complaints::FIRST_RESPONSE_MEDIAN_HOURS[0], "call_centre": complaints::FIRST_RESPONSE_MEDIAN_HOURS[1]},
            "first_response_sigma": complaints::FIRST_RESPONSE_SIGMA,
            "resolution_median_days_after_response": complaints::RESOLUTION_MEDIAN_DAYS,
            "resolution_sigma": complaints::RESOLUTION_SIGMA,
            "tier_factor": {"top": complaints::TIER_FACTOR[0], "high": complaints::TIER_FACTOR[1], "middle": complaints::TIER_FACTOR[2], "low": complaints::TIER_FACTOR[3]},
            "reopen_probability": complaints::REOPEN.0,
            "reopen_extra_after_5_days": complaints::REOPEN.1,
            "as_of": "the window's end: later responses and resolutions are blank",
        },
        "rm": {
            "monthly_contacts_by_tier": {"top": rm::MONTHLY_CONTACTS[0], "high": rm::MONTHLY_CONTACTS[1], "middle": rm::MONTHLY_CONTACTS[2], "low": rm::MONTHLY_CONTACTS[3]},
            "median_minutes_by_tier": {"top": rm::MEDIAN_MINUTES[0], "high": rm::MEDIAN_MINUTES[1], "middle": rm::MEDIAN_MINUTES[2], "low": rm::MEDIAN_MINUTES[3]},
            "minutes_sigma": rm::MINUTES_SIGMA,
            "kinds": rm::KINDS.iter().zip(rm::KIND_WEIGHTS).map(|(k, w)| (k.to_string(), w)).collect::<BTreeMap<_, _>>(),
            "rms_per_branch": rm::RMS_PER_BRANCH,
            "office_hours_local": "09:00-18:00",
        },
        "leads": {
            "sources": leads::SOURCES.iter().zip(leads::SOURCE_WEIGHTS).map(|(k, w)| (k.to_string(), w)).collect::<BTreeMap<_, _>>(),
            "converted_share_of_new_customers": leads::CONVERTED_SHARE,
            "open_leads_per_customer": leads::OPEN_LEAD_RATE,
            "contact_probability_by_source": leads::SOURCES.iter().zip(leads::CONTACT_PROB).map(|(k, w)| (k.to_string(), w)).collect::<BTreeMap<_, _>>(),
            "assess_probability": leads::ASSESS_PROB,
            "assessments": leads::ASSESSMENTS.iter().zip(leads::ASSESSMENT_WEIGHTS).map(|(k, w)| (k.to_string(), w)).collect::<BTreeMap<_, _>>(),
            "as_of": "the window's end: later contacts and assessments are blank",
        },
        "atm": {"approval_rate": atm::APPROVAL_RATE},
        "online": {"row_group_rows": online::ROW_GROUP_ROWS},
        "dirty": {
            "rate": opts.dirty_rate,
            "kinds": Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        },
    });
    write_json(path, &doc)
}

/// Write `_truth/manifest.json`: the per-source tallies.
pub(crate) fn write_manifest(
    path: &Path,
    sources: &BTreeMap<String, SourceTally>,
) -> Result<(), GenerateError> {
    let doc = serde_json::to_value(sources).map_err(|e| GenerateError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    write_json(path, &doc)
}

fn write_json(path: &Path, doc: &serde_json::Value) -> Result<(), GenerateError> {
    let mut out = create(path)?;
    serde_json::to_writer_pretty(&mut out, doc).map_err(|e| GenerateError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    out.write_all(b"\n").map_err(io_err(path))?;
    out.flush().map_err(io_err(path))?;
    Ok(())
}
