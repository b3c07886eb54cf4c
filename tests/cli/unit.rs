//! `touchpoint test`: model unit tests from the YAML, run in memory.

use crate::common::{ok, project, touchpoint};

#[test]
fn model_tests_pass_fail_and_never_touch_the_warehouse() {
    let tmp = project();
    let dir = tmp.path();
    // No extracts and no warehouse: the tests need neither.
    let text = ok(dir, &["test", "pipelines/monthly_cx.yaml"]);
    assert!(
        text.contains("ok    pyramid_shares_and_balances (segment_pyramid: 3 rows)"),
        "{text}"
    );
    // Every declared test ran and passed: "N passed, 0 failed (N tests …)".
    let summary = text
        .lines()
        .find(|l| l.ends_with("tests in the pipeline)"))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    let words: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(words[1..4], ["passed,", "0", "failed"], "{summary}");
    assert_eq!(words[0], words[4].trim_start_matches('('), "{summary}");
    assert!(words[0].parse::<usize>().expect("count") >= 20, "{summary}");
    assert!(!dir.join("warehouse").exists(), "the warehouse was touched");

    // A wrong expectation fails with the rows that differ.
    let p = dir.join("pipelines/monthly_cx.yaml");
    let yaml = std::fs::read_to_string(&p).expect("read");
    let wrong = yaml.replace(
        "customers: 1, share: 0.3333333333, total_balance: 1000,",
        "customers: 1, share: 0.3333333333, total_balance: 1001,",
    );
    assert_ne!(wrong, yaml);
    std::fs::write(&p, &wrong).expect("write");
    let out = touchpoint(
        dir,
        &[
            "test",
            "pipelines/monthly_cx.yaml",
            "--filter",
            "pyramid_shares",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  pyramid_shares_and_balances"),
        "{stdout}"
    );
    assert!(stdout.contains("expected but not produced:"), "{stdout}");
    assert!(stdout.contains("total_balance=1001.00"), "{stdout}");
    assert!(stdout.contains("produced but not expected:"), "{stdout}");
    assert!(stdout.contains("total_balance=1000.00"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");

    // A column the model does not produce is a located pipeline error.
    std::fs::write(
        &p,
        yaml.replace("high_risk_share: 0.5,", "high_risk_pct: 0.5,"),
    )
    .expect("write");
    let out = touchpoint(dir, &["test", "pipelines/monthly_cx.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("unknown column `high_risk_pct`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `high_risk`?"), "{stderr}");
    assert!(stderr.contains("monthly_cx.yaml:"), "{stderr}");
}
