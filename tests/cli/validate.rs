//! `touchpoint validate` finds every problem and says where it is.

use crate::common::{generate, ok, project, touchpoint};

#[test]
fn three_mistakes_three_located_errors() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 1, 42, &[]);
    let file = dir.join("pipelines/monthly_cx.yaml");
    let yaml = std::fs::read_to_string(&file).expect("pipeline");
    // 1. an unknown key, 2. a missing file, 3. SQL naming a missing column.
    let yaml = yaml
        .replacen(
            "    title: Customer experience",
            "    titel: Customer experience",
            1,
        )
        .replace(
            "sql: ../queries/data_freshness.sql",
            "sql: ../queries/no_such_file.sql",
        );
    std::fs::write(&file, yaml).expect("write");
    let sql = dir.join("queries/survey_verbatims.sql");
    let text = std::fs::read_to_string(&sql).expect("sql");
    std::fs::write(
        &sql,
        text.replacen(
            "SELECT period, response_id,",
            "SELECT period, respondent_id,",
            1,
        ),
    )
    .expect("write");

    let out = touchpoint(dir, &["validate", "pipelines/monthly_cx.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "exit code; stderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 3, "want exactly three errors:\n{stderr}");
    assert!(stderr.contains("3 errors found"), "{stderr}");
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    // file:line:column for each, pointing at the right place.
    let yaml_now = std::fs::read_to_string(&file).expect("pipeline");
    let line_of = |needle: &str| {
        yaml_now
            .lines()
            .position(|l| l.contains(needle))
            .expect("line")
            + 1
    };
    assert!(
        has(&format!(
            "monthly_cx.yaml:{}:5 (reports.executive_monthly.titel): error: unknown key `titel`",
            line_of("titel:")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `title`?"), "{stderr}");
    assert!(
        has(&format!("monthly_cx.yaml:{}:", line_of("no_such_file.sql")))
            && has("no_such_file.sql"),
        "{stderr}"
    );
    assert!(
        has("survey_verbatims.sql:3:16") && has("respondent_id"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Error {"),
        "debug output leaked:\n{stderr}"
    );
}

#[test]
fn the_shipped_pipeline_validates() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 1, 42, &[]);
    let out = ok(dir, &["validate", "pipelines/monthly_cx.yaml"]);
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn a_dependency_cycle_is_named() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 1, 42, &[]);
    // interactions reads customer_month, which reads interactions.
    let sql = dir.join("queries/interactions.sql");
    let text = std::fs::read_to_string(&sql).expect("sql");
    std::fs::write(
        &sql,
        text.replacen(
            "FROM atm\n",
            "FROM atm WHERE customer_id IN (SELECT customer_id FROM customer_month)\n",
            1,
        ),
    )
    .expect("write");
    let out = touchpoint(dir, &["validate", "pipelines/monthly_cx.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("cycle: ")
            && stderr.contains("customer_month")
            && stderr.contains("interactions"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_are_plain() {
    let tmp = project();
    let out = touchpoint(
        tmp.path(),
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-13"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: `2024-13` is not a period"),
        "{stderr}"
    );
    assert!(stderr.contains("help:"), "{stderr}");
}

/// `graph` shows what each model reads, as read off its SQL by hand here.
#[test]
fn graph_shows_each_models_inputs() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 50, 1, 42, &[]);
    let text = ok(dir, &["graph", "pipelines/monthly_cx.yaml"]);
    // queries/customer_month.sql: FROM balances, product_margins, tier_rules,
    // interactions, surveys, customers.
    assert!(
        text.lines().any(|l| l
            == "model  customer_month ← balances, customers, interactions, product_margins, surveys, tier_rules"),
        "{text}"
    );
    assert!(text.contains("source atm ← customers"), "{text}");
    // A report named like a model is its own node: the model's line lists
    // only what its SQL reads.
    assert!(
        text.lines()
            .any(|l| l == "model  branch_network ← branch_service, branches, customers, surveys"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "report branch_network ← _checks, _runs, branch_network, data_freshness"),
        "{text}"
    );
    // Run order: a model's line comes after the lines of what it reads.
    let at = |name: &str| {
        text.lines()
            .position(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(at("interactions") < at("customer_month"));
    assert!(at("customer_month") < at("churn_risk"));
    let dot = ok(dir, &["graph", "pipelines/monthly_cx.yaml", "--dot"]);
    assert!(dot.starts_with("digraph \"monthly_cx\" {"), "{dot}");
    assert!(
        dot.contains("\"interactions\" -> \"customer_month\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"atm\" [shape=cylinder, label=\"atm\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"branch_network\" -> \"report:branch_network\";"),
        "{dot}"
    );
    assert!(dot.trim_end().ends_with('}'));
}
