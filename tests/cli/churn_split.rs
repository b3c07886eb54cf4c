//! The churn step on data without a time axis: a seeded fraction of the
//! customers is held out. The split is recomputed here from the README's
//! formula (FNV-1a 64 of the seed's bytes and the customer id, SplitMix64's
//! finaliser, the top 53 bits over 2^53, held out below the fraction), and
//! the held-out AUC from the output's scores by counting pairs.

use crate::common::{f, ok, query, touchpoint};
use std::collections::HashMap;
use std::path::Path;

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 14_695_981_039_346_656_037;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(1_099_511_628_211);
    }
    h
}

fn draw(seed: u64, id: &str) -> f64 {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    let mut z = fnv1a64(&bytes).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / 9_007_199_254_740_992.0
}

fn pipeline(split: &str) -> String {
    format!(
        r#"name: telco_snapshot
timezone: UTC
currency: USD
sources:
  accounts:
    path: ../data/accounts.csv
    csv: {{}}
    columns:
      customer_id: {{type: string, required: true}}
      usage_drop: {{type: double}}
      complaints: {{type: int}}
      churned: {{type: int, values: [0, 1]}}
models:
  risk:
    kind: churn_model
    from: accounts
    label: churned
{split}
    features:
      usage_drop: "usage fell by {{value}}"
      complaints: "{{value}} complaints"
"#
    )
}

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    // 500 customers, one row each; every 10th has no known outcome yet.
    let mut csv = String::from("customer_id,usage_drop,complaints,churned\n");
    for c in 0..500u32 {
        let usage = f64::from((c * 37) % 100) / 100.0;
        let complaints = (c * 3) % 5;
        let score = usage * 2.0 + f64::from(complaints) * 0.4 + f64::from((c * 7) % 13) / 13.0;
        let label = if c % 10 == 9 {
            String::new()
        } else {
            u8::from(score > 2.2).to_string()
        };
        csv.push_str(&format!("C{c:04},{usage},{complaints},{label}\n"));
    }
    std::fs::write(dir.join("data/accounts.csv"), csv).expect("write");
}

/// AUC by counting: the share of (positive, negative) pairs the score
/// orders correctly, ties counting half.
fn auc_by_pairs(scored: &[(f64, bool)]) -> f64 {
    let (mut right, mut pairs) = (0.0, 0.0);
    for (p, _) in scored.iter().filter(|s| s.1) {
        for (n, _) in scored.iter().filter(|s| !s.1) {
            pairs += 1.0;
            right += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    right / pairs
}

#[test]
fn a_seeded_fraction_splits_data_without_a_time_axis() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    project(dir);
    let yaml = dir.join("pipelines/telco.yaml");
    std::fs::write(
        &yaml,
        pipeline("    split: {test_fraction: 0.3, seed: 7, by: customer_id}"),
    )
    .expect("write");
    ok(dir, &["validate", "pipelines/telco.yaml"]);
    ok(dir, &["run", "pipelines/telco.yaml", "--period", "2024-12"]);

    let rows = query(
        dir,
        "SELECT customer_id, sample, score, outcome FROM risk ORDER BY customer_id",
    );
    assert_eq!(rows.len(), 500);
    let (mut train, mut test) = (0, 0);
    let mut held_out = Vec::new();
    for r in &rows {
        let id = r["customer_id"].as_str().expect("id");
        let n: u32 = id[1..].parse().expect("number");
        let want = if n % 10 == 9 {
            "score"
        } else if draw(7, id) < 0.3 {
            test += 1;
            "test"
        } else {
            train += 1;
            "train"
        };
        assert_eq!(r["sample"].as_str(), Some(want), "{id}");
        if want == "test" {
            held_out.push((f(r, "score"), f(r, "outcome") > 0.5));
        }
    }
    // 450 labelled customers, about 30% of them held out.
    assert_eq!(train + test, 450);
    assert!((100..=170).contains(&test), "{test} held out");

    let metrics = query(
        dir,
        "SELECT name, value, rows, detail FROM _model_metrics WHERE model = 'risk' AND section = 'metric'",
    );
    let by_name: HashMap<String, &serde_json::Map<String, serde_json::Value>> = metrics
        .iter()
        .map(|r| (r["name"].as_str().expect("name").to_string(), r))
        .collect();
    let auc = by_name["auc_test"];
    assert_eq!(f(auc, "rows"), f64::from(test));
    assert_eq!(f(by_name["auc_train"], "rows"), f64::from(train));
    let detail = auc["detail"].as_str().expect("detail");
    assert!(
        detail.contains("seeded split by customer_id: test fraction 0.3, seed 7"),
        "{detail}"
    );
    crate::common::close(f(auc, "value"), auc_by_pairs(&held_out), "auc_test");

    // Another seed, another split (the same customers, other sides).
    std::fs::write(&yaml, pipeline("    split: {test_fraction: 0.3, seed: 8}")).expect("write");
    ok(dir, &["run", "pipelines/telco.yaml", "--period", "2024-12"]);
    let again = query(
        dir,
        "SELECT customer_id, sample FROM risk ORDER BY customer_id",
    );
    let moved = again
        .iter()
        .zip(&rows)
        .filter(|(a, b)| a["sample"] != b["sample"])
        .count();
    assert!(moved > 50, "only {moved} customers changed side");
    for r in &again {
        let id = r["customer_id"].as_str().expect("id");
        if r["sample"] == "test" {
            assert!(draw(8, id) < 0.3, "{id}");
        }
    }
}

#[test]
fn a_split_mixed_with_the_time_keys_or_out_of_range_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    project(dir);
    for (split, wants) in [
        (
            "    split: {test_fraction: 0.3}\n    test_periods: 2",
            "belongs to the time split",
        ),
        ("    split: {test_fraction: 1.5}", "between 0 and 1"),
        ("    split: {test_fraction: 0.2, shuffle: true}", "shuffle"),
        ("    split: {test_fraction: 0.2, by: account}", "account"),
    ] {
        std::fs::write(dir.join("pipelines/telco.yaml"), pipeline(split)).expect("write");
        let out = touchpoint(dir, &["validate", "pipelines/telco.yaml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{split} passed validate");
        assert!(err.contains(wants), "{split}: {err}");
        assert!(
            !err.contains("keep.0"),
            "the split's column is named once: {err}"
        );
    }
}
