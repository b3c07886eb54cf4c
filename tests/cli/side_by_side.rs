//! Models build side by side (`TOUCHPOINT_MODEL_PARALLELISM`, or by default
//! the small ones, each once the models it reads are built): the same
//! tables as one at a time, the lines
//! in the pipeline's order, and a model that fails while others build
//! leaves the warehouse as it was.

use crate::common::{generate, ok, ok_all_env, project, snapshot, touchpoint_env};

const RUN: [&str; 4] = [
    "run",
    "pipelines/monthly_cx.yaml",
    "--period",
    "2024-01..2024-03",
];

/// The models named by the run's progress lines, in the order printed.
fn model_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("model ").or(l.strip_prefix("skip  model ")))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

/// Rows with every fractional number to 12 significant digits. A model
/// built beside others plans for its share of the cores (one partition
/// instead of two here), and a floating-point mean adds its values in
/// another order: `call_centre_service`'s mean handling time differs in
/// the 16th digit (5.799285714285715 against …714), as it already did
/// between machines of different core counts.
fn to_12_digits(rows: &[String]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|line| {
            line.split(',')
                .map(|v| match v.parse::<f64>() {
                    Ok(x) if v.contains('.') || v.contains('e') => format!("{x:.11e}"),
                    _ => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn models_side_by_side_build_the_tables_of_one_at_a_time() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 3, 11, &[]);
    let env = |wh: &str, n: &str| {
        [
            ("TOUCHPOINT_WAREHOUSE", wh.to_string()),
            ("TOUCHPOINT_MODEL_PARALLELISM", n.to_string()),
        ]
    };
    let one = env("one", "1");
    let four = env("four", "4");
    // The default: small builds (all of them at this size) side by side.
    let default = [("TOUCHPOINT_WAREHOUSE", "default".to_string())];
    let said_one = ok_all_env(dir, &RUN, &one);
    let said_four = ok_all_env(dir, &RUN, &four);
    let out = touchpoint_env(dir, &[&RUN[..], &["--json"]].concat(), &default);
    let said_default = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said_default}");
    // With the cores for it, some of them built at the same time.
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let spans: Vec<(f64, f64)> = summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "model")
        .map(|s| {
            let start = s["started_at"].as_f64().expect("started_at") / 1e6;
            (start, start + s["seconds"].as_f64().expect("seconds"))
        })
        .collect();
    let overlap = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(overlap, cores > 1, "{spans:?}");
    let a = snapshot(dir, &one, "");
    for other in [&four[..], &default[..]] {
        let b = snapshot(dir, other, "");
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (t, rows) in &a {
            assert!(
                to_12_digits(rows) == to_12_digits(&b[t]),
                "{t} differs when models build side by side ({other:?})"
            );
        }
    }
    // Reported in the pipeline's order, whatever order they finished in.
    let order = model_lines(&said_one);
    assert!(order.len() > 40, "{said_one}");
    assert_eq!(model_lines(&said_four), order);
    assert_eq!(model_lines(&said_default), order);
    // Nothing new: every model is skipped, still in that order.
    let again = ok_all_env(dir, &RUN, &four);
    assert_eq!(model_lines(&again), order);
    assert_eq!(
        again.matches("skip  model ").count(),
        order.len(),
        "{again}"
    );
}

#[test]
fn a_model_failing_beside_others_leaves_the_warehouse_as_it_was() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 2, 5, &[]);
    ok(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
    );
    let before = snapshot(dir, &[], "");
    // A model that fails while its rows are computed (an integer division
    // by zero), read from the first table most models read, so others are
    // building beside it.
    std::fs::write(
        dir.join("queries/boom.sql"),
        "SELECT customer_id, period, 1 / (interactions - interactions) AS x FROM customer_month",
    )
    .expect("sql");
    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let text = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(
        &yaml,
        text.replacen(
            "\nmodels:\n",
            "\nmodels:\n  boom:\n    sql: ../queries/boom.sql\n",
            1,
        ),
    )
    .expect("yaml");
    let many = [("TOUCHPOINT_MODEL_PARALLELISM", "4".to_string())];
    let out = touchpoint_env(
        dir,
        &[
            "run",
            "pipelines/monthly_cx.yaml",
            "--period",
            "2024-01..2024-02",
        ],
        &many,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("model `boom`"), "{err}");
    assert!(err.to_lowercase().contains("divide by zero"), "{err}");
    let after = snapshot(dir, &[], "");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (t, rows) in &before {
        assert!(rows == &after[t], "{t}: changed by the failed run");
    }
}
