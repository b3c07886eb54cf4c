//! The leads extract and seed 001's ladder under hostile input: malformed
//! and contradictory lead rows are quarantined with their reasons and the
//! load reconciles; a lead that names no customer stays a prospect (and a
//! warning says so); names and phones are masked for an analyst; a
//! regional role sees the wake-up list of its region only and no lead.

use crate::common::{f, generate, ok, project, query, query_env, touchpoint_env};

#[test]
fn hostile_leads_are_quarantined_and_the_ladder_stays_governed() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 3, 11, &[]);
    // Two months without a deal make a former patron dormant here, so three
    // months of data have dormant customers.
    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let pipeline = std::fs::read_to_string(&yaml).expect("pipeline");
    assert!(pipeline.contains("      - [6, 24]"));
    std::fs::write(
        &yaml,
        pipeline.replacen("      - [6, 24]", "      - [2, 24]", 1),
    )
    .expect("write");
    let path = dir.join("data/crm/leads.csv");
    let mut text = std::fs::read_to_string(&path).expect("leads");
    let clean = text.lines().count() - 1;
    let first_id = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("a lead")
        .to_string();
    for row in [
        // A known date that is no date.
        "L90000001,Chan Tai Man,+852 9123 4567,other_bank,2024-02-30,,,,",
        // An assessment the source does not accept.
        "L90000002,Lee Ka Yan,+852 9234 5678,campaign,2024-01-05,2024-01-09,2024-01-20,maybe,",
        // An unknown source.
        "L90000003,Wong Siu Ming,+852 9345 6789,dark_web,2024-01-05,,,,",
        // The first lead's id again.
        &format!("{first_id},Ho Mei Ling,+852 9456 7890,campaign,2024-01-05,,,,"),
        // Converted into a customer that does not exist: loaded, warned,
        // and still a prospect.
        "L90000004,<script>alert(1)</script>,+852 9567 8901,corporate_banking,2023-12-01,2023-12-05,2024-01-10,qualified,C9999999",
    ] {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write leads");
    let out = ok(
        dir,
        &[
            "run",
            "pipelines/monthly_cx.yaml",
            "--period",
            "2024-01..2024-03",
        ],
    );
    assert!(out.contains("ok"), "{out}");

    let quarantined = query(
        dir,
        "SELECT column_name, reason FROM _quarantine WHERE source = 'leads' ORDER BY line",
    );
    let reasons: Vec<String> = quarantined
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["column_name"].as_str().unwrap_or(""),
                r["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for want in ["known_date", "assessment", "source", "lead_id"] {
        assert!(
            reasons.iter().any(|r| r.starts_with(want)),
            "{want}: {reasons:?}"
        );
    }
    // read = loaded + quarantined, for the leads as for every source.
    let loaded = query(dir, "SELECT COUNT(*) AS n FROM leads");
    assert_eq!(f(&loaded[0], "n") as usize + reasons.len(), clean + 5);

    // The orphan lead: a warning, and on the ladder as a qualified prospect.
    let warned = query(
        dir,
        "SELECT COUNT(*) AS n FROM _checks WHERE check_name LIKE '%converted_customer_id%' AND status <> 'pass'",
    );
    assert!(f(&warned[0], "n") >= 1.0, "{warned:?}");
    let orphan = query(
        dir,
        "SELECT period, stage, layer FROM prospect_ladder WHERE lead_id = 'L90000004' ORDER BY period",
    );
    let stages: Vec<String> = orphan
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["period"].as_str().unwrap_or(""),
                r["stage"].as_str().unwrap_or(""),
                r["layer"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            "2024-01 qualified_prospect Prospect",
            "2024-02 qualified_prospect Prospect",
            "2024-03 qualified_prospect Prospect"
        ]
    );

    // Names and phones are masked for an analyst, the script included.
    let shown = ok(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT full_name, phone FROM leads",
        ],
    );
    assert!(
        !shown.contains("<script>") && !shown.contains("Chan Tai Man"),
        "{shown}"
    );
    assert!(!shown.contains("+852 9567 8901"), "{shown}");

    // A regional role: no lead table at all (no region to filter on), and
    // only its region's dormant customers.
    let kim = [("TOUCHPOINT_READER", "kowloon_manager".to_string())];
    let hidden = touchpoint_env(
        dir,
        &["query", "SELECT COUNT(*) FROM prospect_ladder"],
        &kim,
    );
    assert!(!hidden.status.success(), "a regional role read the leads");
    let theirs = query_env(
        dir,
        "SELECT region, COUNT(*) AS n FROM dormant_customers GROUP BY region",
        &kim,
    );
    let everyone = query(
        dir,
        "SELECT region, COUNT(*) AS n FROM dormant_customers GROUP BY region",
    );
    let kowloon = everyone
        .iter()
        .find(|r| r["region"] == "Kowloon")
        .expect("Kowloon sleepers");
    assert!(everyone.len() > 1, "{everyone:?}");
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(
        (theirs[0]["region"].as_str(), f(&theirs[0], "n")),
        (Some("Kowloon"), f(kowloon, "n"))
    );
}
