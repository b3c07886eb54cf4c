//! The analytics steps on the synthetic bank, scored against the
//! generator's ground truth (which the pipeline never reads), and the CLV
//! step on a CSV of transactions in a pipeline of its own.

use crate::common::{f, generate, ok, project, query};
use std::collections::HashMap;

/// Pairwise AUC (ties count half): the plain definition, not the rank-sum
/// shortcut the library uses.
fn pairwise_auc(scored: &[(f64, bool)]) -> f64 {
    let pos: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

fn query_params(
    dir: &std::path::Path,
    sql: &str,
    params: &[&str],
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut args = vec!["query", "--format", "json"];
    for p in params {
        args.extend(["--param", p]);
    }
    args.push(sql);
    crate::common::json_rows(&ok(dir, &args))
}

fn text(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    row.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn churn_model_and_clv_against_the_generators_truth() {
    let customers: u32 = std::env::var("TOUCHPOINT_TRUTH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let tmp = project();
    let dir = tmp.path();
    generate(dir, customers, 12, 42, &[]);
    ok(
        dir,
        &[
            "run",
            "pipelines/monthly_cx.yaml",
            "--period",
            "2024-01..2024-12",
        ],
    );

    // Latent churn dates, never seen by the pipeline.
    let mut truth: HashMap<String, Option<chrono::NaiveDate>> = HashMap::new();
    let mut rdr = csv::Reader::from_path(dir.join("data/_truth/customers.csv")).expect("truth");
    let headers = rdr.headers().expect("headers").clone();
    let (id, churn) = (
        headers.iter().position(|h| h == "customer_id").expect("id"),
        headers
            .iter()
            .position(|h| h == "churn_date")
            .expect("churn"),
    );
    for r in rdr.records() {
        let r = r.expect("record");
        let d = chrono::NaiveDate::parse_from_str(&r[churn], "%Y-%m-%d").ok();
        truth.insert(r[id].to_string(), d);
    }
    // Truly lost within the 3 months after the scored month: the latent
    // dropout happens before the end of that window.
    let lost = |customer: &str, period: &str| -> bool {
        let first =
            chrono::NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").expect("period");
        let end = first
            .checked_add_months(chrono::Months::new(4))
            .expect("date");
        truth
            .get(customer)
            .copied()
            .flatten()
            .is_some_and(|d| d < end)
    };
    let rows = query(
        dir,
        "SELECT r.customer_id, r.period, r.score, f.days_inactive FROM churn_risk r \
         JOIN churn_features f ON f.customer_id = r.customer_id AND f.period = r.period \
         WHERE r.sample = 'test'",
    );
    assert!(rows.len() > customers as usize, "{} test rows", rows.len());
    let (mut model, mut recency) = (Vec::new(), Vec::new());
    for r in &rows {
        let y = lost(&text(r, "customer_id"), &text(r, "period"));
        model.push((f(r, "score"), y));
        recency.push((f(r, "days_inactive"), y));
    }
    let positives = model.iter().filter(|s| s.1).count();
    let (auc_model, auc_recency) = (pairwise_auc(&model), pairwise_auc(&recency));
    eprintln!(
        "churn vs truth: {} test rows, {positives} truly lost; AUC model {auc_model:.3}, recency {auc_recency:.3}",
        rows.len()
    );
    assert!(positives > 20, "too few churners to judge: {positives}");
    assert!(
        auc_model > auc_recency + 0.03 && auc_model > 0.75,
        "the model must clearly beat recency against the truth: {auc_model} vs {auc_recency}"
    );

    // Reasons only name the risky side of a feature (`risk_when`): nobody is
    // told that having no complaints is why they might leave.
    let odd = query(
        dir,
        "SELECT COUNT(*) AS n FROM churn_risk WHERE reason_1 LIKE '0 complaint%' \
         OR reason_2 LIKE '0 complaint%' OR reason_3 LIKE '0 complaint%'",
    );
    assert_eq!(f(&odd[0], "n"), 0.0);
    let high = query(
        dir,
        "SELECT COUNT(*) AS n, COUNT(reason_1) AS explained FROM churn_risk WHERE band = 'high'",
    );
    assert_eq!(
        f(&high[0], "n"),
        f(&high[0], "explained"),
        "every high-risk row has a reason"
    );

    // The model's own report agrees with a recount on its held-out rows.
    let metrics = query(
        dir,
        "SELECT name, value FROM _model_metrics WHERE model = 'churn_risk' AND section = 'metric'",
    );
    let metric = |n: &str| {
        metrics
            .iter()
            .find(|m| text(m, "name") == n)
            .map(|m| f(m, "value"))
            .unwrap_or_else(|| panic!("no metric {n}"))
    };
    assert!(metric("auc_test") > metric("auc_test_baseline"));
    let observed = query(
        dir,
        "SELECT score, outcome FROM churn_risk WHERE sample = 'test'",
    );
    let recount: Vec<(f64, bool)> = observed
        .iter()
        .map(|r| (f(r, "score"), f(r, "outcome") > 0.5))
        .collect();
    let auc = pairwise_auc(&recount);
    assert!(
        (auc - metric("auc_test")).abs() < 1e-9,
        "recounted AUC {auc} vs stored {}",
        metric("auc_test")
    );
    let calibration = query(
        dir,
        "SELECT SUM(rows) AS n FROM _model_metrics WHERE model = 'churn_risk' AND section = 'calibration'",
    );
    assert_eq!(f(&calibration[0], "n") as usize, observed.len());

    // The training log-likelihood, recounted from the training rows'
    // scores and outcomes; the training mean and standard deviation of a
    // feature, recomputed in SQL over those rows (a missing value takes the
    // mean, so it adds to the count but not to the spread).
    let train = query(
        dir,
        "SELECT score, outcome FROM churn_risk WHERE sample = 'train'",
    );
    let ll: f64 = train
        .iter()
        .map(|r| {
            let p = f(r, "score");
            if f(r, "outcome") > 0.5 {
                p.ln()
            } else {
                (1.0 - p).ln()
            }
        })
        .sum();
    crate::common::close(
        metric("log_likelihood_train"),
        ll,
        "training log-likelihood",
    );
    assert_eq!(metric("converged"), 1.0);
    crate::common::close(metric("ridge"), 1e-6 * train.len() as f64, "ridge");
    let spread = query(
        dir,
        "WITH t AS (SELECT f.csat_3m AS v FROM churn_risk r JOIN churn_features f \
           ON f.customer_id = r.customer_id AND f.period = r.period WHERE r.sample = 'train'), \
         m AS (SELECT AVG(v) AS mean FROM t) \
         SELECT m.mean, SQRT(SUM(CASE WHEN t.v IS NULL THEN 0 ELSE (t.v - m.mean) * (t.v - m.mean) END) / COUNT(*)) AS sd \
         FROM t CROSS JOIN m GROUP BY m.mean",
    );
    let scale = query(
        dir,
        "SELECT value, observed FROM _model_metrics WHERE model = 'churn_risk' AND section = 'scale' AND name = 'csat_3m'",
    );
    crate::common::close(
        f(&scale[0], "observed"),
        f(&spread[0], "mean"),
        "csat_3m mean",
    );
    crate::common::close(f(&scale[0], "value"), f(&spread[0], "sd"), "csat_3m scale");

    // BG/NBD and Gamma-Gamma against the generator's parameters.
    let params: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/_truth/params.json")).expect("params"),
    )
    .expect("json");
    let fitted = query(
        dir,
        "SELECT submodel, parameter, value FROM _model_params WHERE model = 'customer_clv'",
    );
    let got = |sub: &str, p: &str| {
        fitted
            .iter()
            .find(|r| text(r, "submodel") == sub && text(r, "parameter") == p)
            .map(|r| f(r, "value"))
            .unwrap_or_else(|| panic!("no {sub}.{p}"))
    };
    let want = |sub: &str, p: &str| params[sub][p].as_f64().expect("truth parameter");
    for (sub, truth_sub, p, tolerance) in [
        ("bgnbd", "bgnbd", "r", 0.15),
        ("bgnbd", "bgnbd", "alpha", 0.15),
        ("gamma_gamma", "gamma_gamma", "p", 0.15),
        ("gamma_gamma", "gamma_gamma", "q", 0.15),
        ("gamma_gamma", "gamma_gamma", "gamma", 0.15),
    ] {
        let (g, w) = (got(sub, p), want(truth_sub, p));
        eprintln!("{sub}.{p}: fitted {g:.4}, simulated with {w}");
        assert!((g - w).abs() / w < tolerance, "{sub}.{p}: {g} vs {w}");
    }
    // The dropout probability is weakly identified in one year; its mean
    // a / (a + b) is what CLV depends on.
    let mean_p = got("bgnbd", "a") / (got("bgnbd", "a") + got("bgnbd", "b"));
    let want_p = want("bgnbd", "a") / (want("bgnbd", "a") + want("bgnbd", "b"));
    eprintln!("mean dropout: fitted {mean_p:.5}, simulated with {want_p:.5}");
    assert!(
        (mean_p - want_p).abs() / want_p < 0.3,
        "{mean_p} vs {want_p}"
    );
    let n = query(dir, "SELECT COUNT(*) AS n FROM customer_clv");
    assert_eq!(f(&n[0], "n") as u32, customers);

    importance_recovers_the_generators_drivers(dir);
    ladder_recounted_from_the_extracts(dir);
}

#[test]
fn clv_step_reads_any_csv_of_transactions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    // A shop's sales: K1 buys on 1 Jan (first purchase: the clock starts),
    // twice on 15 Jan (30 + 5: one occasion of 35) and on 12 Feb;
    // calibration ends 31 Mar. Counted in days (the default): x = 2 repeat
    // occasions, t_x = 42 days = 6 weeks (1 Jan -> 12 Feb), T = 90 days =
    // 90/7 weeks (1 Jan -> 31 Mar, the day itself), mean repeat amount
    // (35 + 50) / 2 = 42.5. Counted exactly: x = 3, mean (30 + 5 + 50) / 3,
    // T = 13 weeks (to the end of 31 Mar). K9 buys after the calibration
    // end: one hold-out purchase. The other customers make the fit possible.
    let mut csv = String::from("client,sale_date,total\n");
    csv.push_str(
        "K1,2024-01-01,10.00\nK1,2024-01-15,30.00\nK1,2024-02-12,50.00\nK1,2024-01-15,5.00\n",
    );
    csv.push_str("K9,2024-01-03,20.00\nK9,2024-01-10,25.00\nK9,2024-04-10,22.00\n");
    for c in 0..200u32 {
        // Deterministic, varied histories: 1 to 6 purchases, various gaps.
        let n = 1 + c % 6;
        for k in 0..n {
            let day = 1 + (c * 7 + k * (3 + c % 11) * 2) % 85;
            let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                .expect("date")
                .checked_add_days(chrono::Days::new(u64::from(day)))
                .expect("date");
            csv.push_str(&format!(
                "S{c:03},{date},{}.{:02}\n",
                15 + (c * 13 + k * 7) % 90,
                c % 100
            ));
        }
    }
    std::fs::write(dir.join("data/sales.csv"), csv).expect("write");
    std::fs::write(
        dir.join("pipelines/shop.yaml"),
        r#"name: shop_clv
timezone: Europe/London
currency: GBP
sources:
  sales:
    path: ../data/sales.csv
    csv: {}
    columns:
      client: {type: string, required: true}
      sale_date: {type: date, required: true}
      total: {type: "decimal(12,2)", required: true}
models:
  clv:
    kind: clv
    from: sales
    customer: client
    at: sale_date
    amount: total
    calibration_end: "2024-03-31"
    horizon_months: 6
    discount_rate: 0.08
  clv_exact:
    kind: clv
    from: sales
    customer: client
    at: sale_date
    amount: total
    calibration_end: "2024-03-31"
    occasion: exact
"#,
    )
    .expect("write");
    ok(dir, &["validate", "pipelines/shop.yaml"]);
    ok(dir, &["run", "pipelines/shop.yaml", "--period", "2024-03"]);
    let k1 = query(dir, "SELECT * FROM clv WHERE client = 'K1'");
    assert_eq!(k1.len(), 1);
    assert_eq!(f(&k1[0], "frequency"), 2.0);
    crate::common::close(f(&k1[0], "recency_weeks"), 6.0, "t_x");
    crate::common::close(f(&k1[0], "age_weeks"), 90.0 / 7.0, "T");
    crate::common::close(f(&k1[0], "monetary"), 42.5, "mean repeat amount");
    let exact = query(dir, "SELECT * FROM clv_exact WHERE client = 'K1'");
    assert_eq!(f(&exact[0], "frequency"), 3.0);
    crate::common::close(f(&exact[0], "recency_weeks"), 6.0, "t_x");
    crate::common::close(f(&exact[0], "age_weeks"), 13.0, "T");
    crate::common::close(f(&exact[0], "monetary"), 85.0 / 3.0, "mean repeat amount");
    let p_alive = f(&k1[0], "p_alive");
    assert!(p_alive > 0.0 && p_alive <= 1.0);
    assert!(f(&k1[0], "clv") > 0.0);
    let k9 = query(dir, "SELECT holdout_purchases FROM clv WHERE client = 'K9'");
    assert_eq!(f(&k9[0], "holdout_purchases"), 1.0);
    let n = query(dir, "SELECT COUNT(*) AS n FROM clv");
    assert_eq!(f(&n[0], "n"), 202.0);
    let params = query(
        dir,
        "SELECT parameter, value FROM _model_params WHERE model = 'clv' AND submodel = 'holdout'",
    );
    let actual = params
        .iter()
        .find(|r| text(r, "parameter") == "actual_purchases")
        .expect("hold-out count");
    assert_eq!(f(actual, "value"), 1.0);

    // Saved queries take named parameters, bound as values: a quote in one
    // is just text, never SQL.
    let sql = "SELECT frequency FROM clv WHERE client = $client";
    let k1 = query_params(dir, sql, &["client=K1"]);
    assert_eq!(f(&k1[0], "frequency"), 2.0);
    assert!(query_params(dir, sql, &["client=K1' OR '1'='1"]).is_empty());
    let out = crate::common::touchpoint(dir, &["query", sql]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--param client=VALUE"),
        "{err}"
    );

    // The analysts' shell, scripted on stdin: a statement over two lines,
    // a describe, markdown output and a Parquet export.
    let mut child = std::process::Command::new(crate::common::bin())
        .arg("sql")
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sql shell");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        b"SELECT client, frequency\n  FROM clv WHERE client = 'K1';\n\\d clv\n\\format markdown\nSELECT COUNT(*) AS n FROM clv;\n\\o out.parquet\nSELECT * FROM clv;\n\\q\n",
    )
    .expect("write");
    let shell = child.wait_with_output().expect("shell");
    let text = String::from_utf8_lossy(&shell.stdout);
    assert!(shell.status.success(), "{text}");
    assert!(text.contains("| K1     | 2         |"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("| p_alive ") && l.contains("| Float64 ")),
        "{text}"
    );
    assert!(text.contains("| n |\n|---|\n| 202 |"), "{text}");
    assert!(text.contains("202 row(s) written to out.parquet"), "{text}");
    assert!(dir.join("out.parquet").is_file());

    // A misnamed column is a validation error that names the key and suggests.
    let yaml = std::fs::read_to_string(dir.join("pipelines/shop.yaml")).expect("read");
    std::fs::write(
        dir.join("pipelines/shop.yaml"),
        yaml.replace("amount: total", "amount: totl"),
    )
    .expect("write");
    let out = crate::common::touchpoint(dir, &["validate", "pipelines/shop.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("models.clv.amount") && err.contains("did you mean `total`"),
        "{err}"
    );
}

/// A churn model on a plain CSV with no baseline declared: no baseline row
/// in `_model_metrics` (not a row with a null value), and the fit's
/// numbers are there as numbers. The label column declares `values: [0, 1]`
/// on an `int` column, which is accepted and enforced.
#[test]
fn churn_step_on_a_plain_csv_without_a_baseline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    // 400 accounts over 12 months; the outcome is known for months 1-9
    // (test: 8-9; training: 1-4, whose 3-month outcome window closes first).
    // Churners use less and complain more (deterministic, mixed).
    let mut csv = String::from("customer_id,period,usage_drop,complaints,churned\n");
    for c in 0..400u32 {
        for m in 1..=12u32 {
            let usage = f64::from((c * 37 + m * 11) % 100) / 100.0;
            let complaints = (c + m) % 4;
            let score =
                usage * 2.0 + f64::from(complaints) * 0.4 + f64::from((c * 7 + m) % 13) / 13.0;
            let label = if m <= 9 {
                u8::from(score > 2.2).to_string()
            } else {
                String::new()
            };
            csv.push_str(&format!(
                "A{c:03},2024-{m:02},{usage},{complaints},{label}\n"
            ));
        }
    }
    // One row whose label is not an accepted value: quarantined.
    csv.push_str("A999,2024-01,0.5,1,2\n");
    std::fs::write(dir.join("data/accounts.csv"), csv).expect("write");
    std::fs::write(
        dir.join("pipelines/telco.yaml"),
        r#"name: telco
timezone: UTC
currency: USD
sources:
  accounts:
    path: ../data/accounts.csv
    csv: {}
    columns:
      customer_id: {type: string, required: true}
      period: {type: string, required: true}
      usage_drop: {type: double}
      complaints: {type: int}
      churned: {type: int, values: [0, 1]}
models:
  risk:
    kind: churn_model
    from: accounts
    label: churned
    horizon_months: 3
    test_periods: 2
    keep: [customer_id, period]
    features:
      usage_drop: "usage fell by {value}"
      complaints: "{value} complaints"
"#,
    )
    .expect("write");
    ok(dir, &["validate", "pipelines/telco.yaml"]);
    ok(dir, &["run", "pipelines/telco.yaml", "--period", "2024-12"]);
    let q = query(
        dir,
        "SELECT COUNT(*) AS n FROM _quarantine WHERE column_name = 'churned'",
    );
    assert_eq!(f(&q[0], "n"), 1.0, "the label 2 is not an accepted value");
    let names = query(
        dir,
        "SELECT name FROM _model_metrics WHERE model = 'risk' AND section = 'metric' ORDER BY name",
    );
    let names: Vec<String> = names.iter().map(|r| text(r, "name")).collect();
    assert!(
        !names.contains(&"auc_test_baseline".to_string()),
        "{names:?}"
    );
    for n in ["auc_test", "converged", "log_likelihood_train", "ridge"] {
        assert!(names.contains(&n.to_string()), "no {n} in {names:?}");
    }
    let nulls = query(
        dir,
        "SELECT COUNT(*) AS n FROM _model_metrics WHERE model = 'risk' AND section IN ('metric', 'scale') AND value IS NULL",
    );
    assert_eq!(f(&nulls[0], "n"), 0.0);
    // Each feature's training mean and spread, recomputed by hand from the
    // training rows (all labelled months before the gap).
    let scale = query(
        dir,
        "SELECT name, value, observed FROM _model_metrics WHERE model = 'risk' AND section = 'scale' ORDER BY name",
    );
    assert_eq!(scale.len(), 2);
    let train = query(
        dir,
        "SELECT a.complaints FROM risk r JOIN accounts a ON a.customer_id = r.customer_id AND a.period = r.period WHERE r.sample = 'train'",
    );
    let v: Vec<f64> = train.iter().map(|r| f(r, "complaints")).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let complaints = scale
        .iter()
        .find(|r| text(r, "name") == "complaints")
        .expect("row");
    crate::common::close(f(complaints, "observed"), mean, "complaints mean");
    crate::common::close(f(complaints, "value"), sd, "complaints sd");
}

/// Pearson's r by the two-pass definition (means first, then centred
/// products), not the one-pass integer sums the model uses.
fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Ranks 1..n (no ties expected: the truth's weights are distinct).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    for (rank, &i) in order.iter().enumerate() {
        r[i] = rank as f64 + 1.0;
    }
    r
}

/// `importance_performance` against a recount from the loaded answers, and
/// its importance ranking against the generator's loyalty weights (which
/// the pipeline never reads).
fn importance_recovers_the_generators_drivers(dir: &std::path::Path) {
    let period = "2024-12";
    let answers = query(
        dir,
        &format!(
            "SELECT touchpoint, csat, nps FROM surveys WHERE period = '{period}' \
             AND csat IS NOT NULL AND nps IS NOT NULL AND touchpoint IS NOT NULL AND channel IS NOT NULL"
        ),
    );
    let mut by_touchpoint: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    for a in &answers {
        by_touchpoint
            .entry(text(a, "touchpoint"))
            .or_default()
            .push((f(a, "csat"), f(a, "nps")));
    }
    let model = query(
        dir,
        &format!(
            "SELECT touchpoint, responses, performance, importance, importance_low, importance_high, quadrant \
             FROM importance_performance WHERE period = '{period}' AND tier = 'All'"
        ),
    );
    assert_eq!(model.len(), by_touchpoint.len(), "one row per touchpoint");
    // The quadrant lines, recounted over the touchpoints with 30+ answers.
    let placed: Vec<(f64, f64)> = by_touchpoint
        .values()
        .filter(|p| p.len() >= 30)
        .filter_map(|p| {
            Some((
                pearson(p)?,
                p.iter().map(|x| x.0).sum::<f64>() / p.len() as f64,
            ))
        })
        .collect();
    assert!(
        placed.len() >= 10,
        "only {} touchpoints placed",
        placed.len()
    );
    let mean_imp = placed.iter().map(|p| p.0).sum::<f64>() / placed.len() as f64;
    let mean_perf = placed.iter().map(|p| p.1).sum::<f64>() / placed.len() as f64;
    for m in &model {
        let tp = text(m, "touchpoint");
        let pairs = &by_touchpoint[&tp];
        assert_eq!(f(m, "responses") as usize, pairs.len(), "{tp}");
        let perf = pairs.iter().map(|p| p.0).sum::<f64>() / pairs.len() as f64;
        crate::common::close(f(m, "performance"), perf, &tp);
        let Some(r) = pearson(pairs) else {
            assert!(
                m.get("importance").is_none_or(|v| v.is_null()),
                "{tp}: no variance, yet {m:?}"
            );
            continue;
        };
        crate::common::close(f(m, "importance"), r, &tp);
        if pairs.len() > 3 {
            // Fisher's z interval, 95%.
            let half = 1.959963984540054 / (pairs.len() as f64 - 3.0).sqrt();
            crate::common::close(f(m, "importance_low"), (r.atanh() - half).tanh(), &tp);
            crate::common::close(f(m, "importance_high"), (r.atanh() + half).tanh(), &tp);
        }
        if pairs.len() >= 30 {
            let want = match (r >= mean_imp, perf >= mean_perf) {
                (true, false) => "concentrate here",
                (true, true) => "keep up",
                (false, false) => "low priority",
                (false, true) => "possible overkill",
            };
            assert_eq!(text(m, "quadrant"), want, "{tp}: r {r}, performance {perf}");
        } else {
            assert!(
                m.get("quadrant").is_none_or(|v| v.is_null()),
                "{tp}: {} answers placed",
                pairs.len()
            );
        }
    }

    // Against the truth: a month of 4,000 customers places a dozen
    // touchpoints with wide intervals, so the ranking is judged on each
    // touchpoint's mean importance over the months it was placed.
    let yearly = query(
        dir,
        "SELECT touchpoint, AVG(importance) AS importance FROM importance_performance \
         WHERE tier = 'All' AND quadrant IS NOT NULL GROUP BY touchpoint",
    );
    let derived: Vec<(String, f64)> = yearly
        .iter()
        .map(|r| (text(r, "touchpoint"), f(r, "importance")))
        .collect();
    assert!(derived.len() >= 12, "{derived:?}");

    let params: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/_truth/params.json")).expect("params"),
    )
    .expect("json");
    let weights = &params["surveys"]["loyalty_weight_by_touchpoint"];
    let truth: Vec<f64> = derived
        .iter()
        .map(|(tp, _)| {
            weights[tp]
                .as_f64()
                .unwrap_or_else(|| panic!("no weight for {tp}"))
        })
        .collect();
    let found: Vec<f64> = derived.iter().map(|d| d.1).collect();
    let spearman = pearson(
        &ranks(&truth)
            .into_iter()
            .zip(ranks(&found))
            .collect::<Vec<_>>(),
    )
    .expect("ranks vary");
    eprintln!(
        "importance vs truth ({} touchpoints, mean over the months placed): Spearman {spearman:.3}",
        derived.len()
    );
    assert!(
        spearman > 0.9,
        "derived importance must recover the drivers: {spearman} {derived:?}"
    );
}

/// Seed 001's ladder and pyramid recounted by a second method: the lead
/// stages, Prospect / Suspect layers and closed customers straight from
/// the generator's CRM files, and the customer stages replayed in Rust
/// from the loaded customer months, online purchases and referrals; every
/// month's counts must equal `loyalty_funnel` and `pyramid_layers`.
fn ladder_recounted_from_the_extracts(dir: &std::path::Path) {
    use std::collections::BTreeMap;
    let months: Vec<String> = (1..=12).map(|m| format!("2024-{m:02}")).collect();
    let month_end = |p: &str| {
        let (y, m): (i32, u32) = (
            p[..4].parse().expect("year"),
            p[5..].parse().expect("month"),
        );
        let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        chrono::NaiveDate::from_ymd_opt(next.0, next.1, 1).expect("date") - chrono::Days::new(1)
    };
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let records = |path: &str| -> Vec<HashMap<String, String>> {
        let mut rdr = csv::Reader::from_path(dir.join(path)).expect("csv");
        let headers = rdr.headers().expect("headers").clone();
        rdr.records()
            .map(|r| {
                let r = r.expect("record");
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    };
    let crm = records("data/crm/customers.csv");
    let opened: HashMap<String, chrono::NaiveDate> = crm
        .iter()
        .map(|c| {
            (
                c["customer_id"].clone(),
                date(&c["opened_date"]).expect("opened"),
            )
        })
        .collect();
    let leads = records("data/crm/leads.csv");
    assert!(leads.len() > 500, "{} leads", leads.len());

    // Expected counts: (period, stage or layer) -> people.
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in &months {
        let end = month_end(p);
        let by = |d: &str| date(d).is_some_and(|d| d <= end);
        for l in &leads {
            let converted = l["converted_customer_id"].as_str();
            if !by(&l["known_date"]) || (!converted.is_empty() && opened[converted] <= end) {
                continue;
            }
            let stage = match (by(&l["assessed_date"]), l["assessment"].as_str()) {
                (true, "qualified") => "qualified_prospect",
                (true, _) => "non_customer",
                _ => "possible",
            };
            *want.entry((p.clone(), stage.into())).or_default() += 1;
            if stage != "non_customer" {
                let layer = if l["source"] == "corporate_banking" || by(&l["contacted_date"]) {
                    "Prospect"
                } else {
                    "Suspect"
                };
                *want.entry((p.clone(), layer.into())).or_default() += 1;
            }
        }
        let closed = crm.iter().filter(|c| by(&c["closed_date"])).count() as u64;
        if closed > 0 {
            want.insert((p.clone(), "Inactive".into()), closed);
        }
    }

    // Customer stages replayed from the loaded tables.
    let rules = query(dir, "SELECT dormant_months FROM ladder_rules");
    let dormant_after = f(&rules[0], "dormant_months") as i64;
    let index =
        |p: &str| p[..4].parse::<i64>().expect("y") * 12 + p[5..].parse::<i64>().expect("m");
    let mut purchases: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for r in query(
        dir,
        "SELECT customer_id, CAST(period AS VARCHAR) AS period, COUNT(*) AS n FROM online_sessions WHERE transactions > 0 GROUP BY 1, 2",
    ) {
        purchases
            .entry(text(&r, "customer_id"))
            .or_default()
            .push((index(&text(&r, "period")), f(&r, "n")));
    }
    let referred_by: Vec<(String, chrono::NaiveDate)> = crm
        .iter()
        .filter(|c| !c["referred_by"].is_empty())
        .map(|c| (c["referred_by"].clone(), opened[&c["customer_id"]]))
        .collect();
    let cm = query(
        dir,
        "SELECT customer_id, period, products_held, interactions FROM customer_month ORDER BY customer_id, period",
    );
    let mut by_customer: BTreeMap<String, Vec<(String, f64, f64)>> = BTreeMap::new();
    for r in &cm {
        by_customer
            .entry(text(r, "customer_id"))
            .or_default()
            .push((
                text(r, "period"),
                f(r, "products_held"),
                f(r, "interactions"),
            ));
    }
    for (id, rows) in &by_customer {
        // Every month the customer bought in, held or not, counts.
        let bought = purchases.get(id).cloned().unwrap_or_default();
        let first = rows
            .iter()
            .map(|r| index(&r.0))
            .chain(bought.iter().map(|b| b.0))
            .min()
            .expect("rows");
        // A deal month: a purchase, or more products than in any month before.
        let mut deal_months: Vec<i64> = bought.iter().map(|b| b.0).collect();
        let mut most: Option<f64> = None;
        for (p, products, _) in rows {
            if most.is_some_and(|m| *products > m) {
                deal_months.push(index(p));
            }
            most = Some(most.map_or(*products, |m| m.max(*products)));
        }
        for (p, _, _) in rows {
            let i = index(p);
            let purchases_to_date: f64 = bought.iter().filter(|b| b.0 <= i).map(|b| b.1).sum();
            let most_products = rows
                .iter()
                .filter(|r| index(&r.0) <= i)
                .map(|r| r.1)
                .fold(0.0, f64::max);
            let deals = most_products + purchases_to_date;
            let last_deal = deal_months.iter().filter(|&&d| d <= i).max();
            let since_deal = i - last_deal.copied().unwrap_or(first - 1);
            let end = month_end(p);
            let referred = referred_by.iter().any(|(by, o)| by == id && *o <= end);
            let stage = if deals >= 2.0 && since_deal >= dormant_after {
                "dormant"
            } else if deals >= 2.0 && referred {
                "advocate"
            } else if deals >= 2.0 {
                "repeat"
            } else {
                "first_time"
            };
            *want.entry((p.clone(), stage.into())).or_default() += 1;
        }
    }

    let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in query(dir, "SELECT period, stage AS k, people FROM loyalty_funnel")
        .iter()
        .chain(&query(
            dir,
            "SELECT period, layer AS k, people FROM pyramid_layers WHERE layer IN ('Inactive', 'Prospect', 'Suspect')",
        ))
    {
        got.insert((text(r, "period"), text(r, "k")), f(r, "people") as u64);
    }
    let dec = |k: &str| {
        want.get(&("2024-12".to_string(), k.to_string()))
            .copied()
            .unwrap_or(0)
    };
    eprintln!(
        "ladder, 2024-12: non-customer {}, possible {}, qualified {}, first-time {}, repeat {}, advocate {}, dormant {}; Inactive {}, Prospect {}, Suspect {}",
        dec("non_customer"),
        dec("possible"),
        dec("qualified_prospect"),
        dec("first_time"),
        dec("repeat"),
        dec("advocate"),
        dec("dormant"),
        dec("Inactive"),
        dec("Prospect"),
        dec("Suspect")
    );
    assert!(
        dec("dormant") > 0
            && dec("advocate") > 0
            && dec("first_time") > 0
            && dec("qualified_prospect") > 0
    );
    let differ: Vec<_> = got
        .keys()
        .chain(want.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| (k, got.get(k), want.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "(month, stage): model, recount: {differ:?}"
    );
}
