//! Every first-version metric on a hand-made bank of four customers over four
//! months, checked against values worked out by hand (in the comments).

use crate::common::{close, f, ok, project, query};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, Int32Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::path::Path;
use std::sync::Arc;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("ts")
        .timestamp_micros()
}

fn fixture(dir: &Path) {
    write(
        dir,
        "data/crm/customers.csv",
        "customer_id,full_name,phone,birth_year,region,home_branch,opened_date,closed_date,referred_by\n\
C0000001,Chan Tai Man,+852 9123 4567,1980,Kowloon,B05,2020-01-15,,\n\
C0000002,Wong Mei Ling,+852 9234 5678,1995,Kowloon,B05,2023-06-01,,C0000001\n\
C0000003,Lee Ka Yan,+852 9345 6789,1960,Kowloon,B06,2015-03-01,2024-04-10,\n\
C0000004,Ho Siu Fung,+852 9456 7890,1975,Kowloon,B06,2018-01-01,,\n",
    );
    let head = "customer_id,as_of_date,product,balance\n";
    let c1 = |d: &str| {
        format!(
            "C0000001,{d},savings,5000000.00\nC0000001,{d},investment,4000000.00\nC0000001,{d},mortgage,1000000.00\nC0000002,{d},savings,15000.50\n"
        )
    };
    write(
        dir,
        "data/crm/balances/balances_2024-01.csv",
        &format!(
            "{head}{}C0000003,2024-01-31,savings,100000.00\nC0000004,2024-01-31,time_deposit,2000000.00\n",
            c1("2024-01-31")
        ),
    );
    write(
        dir,
        "data/crm/balances/balances_2024-02.csv",
        &format!(
            "{head}{}C0000003,2024-02-29,savings,100000.00\nC0000004,2024-02-29,time_deposit,2000000.00\n",
            c1("2024-02-29")
        ),
    );
    write(
        dir,
        "data/crm/balances/balances_2024-03.csv",
        &format!(
            "{head}{}C0000003,2024-03-31,savings,70000.00\nC0000004,2024-03-31,time_deposit,2000000.00\n",
            c1("2024-03-31")
        ),
    );
    write(
        dir,
        "data/crm/balances/balances_2024-04.csv",
        &format!(
            "{head}{}C0000004,2024-04-30,time_deposit,1500000.00\n",
            c1("2024-04-30")
        ),
    );

    let atm = "txn_id,card_number,customer_id,atm_id,txn_time,txn_type,amount,currency,status\n";
    write(
        dir,
        "data/atm/2024/01/atm_20240105.csv",
        &format!(
            "{atm}\
A1,4000111122223333,C0000003,ATM001,2024-01-05 10:00:00,withdrawal,500.00,HKD,approved\n\
A2,4000111122223333,C0000003,ATM001,2024-01-05 11:00:00,withdrawal,1000.00,HKD,approved\n\
A3,4000222233334444,C0000001,ATM002,2024-01-05 12:00:00,balance_inquiry,0.00,HKD,approved\n\
A4,4000333344445555,C0000004,ATM002,2024-01-05 13:00:00,deposit,20000.00,HKD,approved\n"
        ),
    );
    // 00:30 local on 1 Feb is still 31 Jan in UTC: it belongs to February.
    write(
        dir,
        "data/atm/2024/02/atm_20240201.csv",
        &format!(
            "{atm}A5,4000333344445555,C0000004,ATM002,2024-02-01 00:30:00,deposit,20000.00,HKD,approved\n"
        ),
    );
    write(
        dir,
        "data/atm/2024/02/atm_20240210.csv",
        &format!(
            "{atm}\
A6,4000111122223333,C0000003,ATM001,2024-02-10 10:00:00,withdrawal,300.00,HKD,approved\n\
A7,4000111122223333,C0000003,ATM001,2024-02-10 10:05:00,withdrawal,300.00,HKD,approved\n"
        ),
    );
    write(
        dir,
        "data/atm/2024/03/atm_20240301.csv",
        &format!(
            "{atm}A8,4000333344445555,C0000004,ATM002,2024-03-01 09:00:00,deposit,20000.00,HKD,approved\n"
        ),
    );
    write(
        dir,
        "data/atm/2024/04/atm_20240401.csv",
        &format!(
            "{atm}A9,4000333344445555,C0000004,ATM002,2024-04-01 09:00:00,deposit,1000.00,HKD,approved\n"
        ),
    );

    write(
        dir,
        "data/branch/2024/01/tickets_20240110.jsonl",
        "\
{\"ticket_id\":\"T1\",\"branch_id\":\"B05\",\"customer_id\":\"C0000001\",\"service_type\":\"wealth_advice\",\"issued_at\":\"2024-01-10T09:00:00+08:00\",\"called_at\":\"2024-01-10T09:10:00+08:00\",\"served_at\":\"2024-01-10T09:25:00+08:00\"}\n\
{\"ticket_id\":\"T2\",\"branch_id\":\"B05\",\"customer_id\":\"C0000002\",\"service_type\":\"cash\",\"issued_at\":\"2024-01-10T10:00:00+08:00\",\"called_at\":\"2024-01-10T10:40:00+08:00\",\"served_at\":\"2024-01-10T10:50:00+08:00\"}\n",
    );
    write(
        dir,
        "data/branch/2024/02/tickets_20240212.jsonl",
        "\
{\"ticket_id\":\"T3\",\"branch_id\":\"B06\",\"customer_id\":\"C0000003\",\"service_type\":\"complaint\",\"issued_at\":\"2024-02-12T11:00:00+08:00\",\"called_at\":\"2024-02-12T11:20:00+08:00\",\"served_at\":\"2024-02-12T11:50:00+08:00\"}\n",
    );

    write(
        dir,
        "data/callcentre/2024/01/calls_15012024.txt",
        "call_id|customer_id|call_start|queue_seconds|handle_seconds|reason|outcome\nK1|C0000003|15/01/2024 10:00:00|120|300|complaint|resolved\n",
    );

    let sv = "response_id,customer_id,responded_at,channel,touchpoint,stage,csat,nps,effort,experience,expectation,comment\n";
    write(
        dir,
        "data/surveys/surveys_2024-01.csv",
        &format!(
            "{sv}\
S1,C0000001,2024-01-05T04:00:00Z,branch,teller,in,5,10,2,4,4,\n\
S2,C0000002,2024-01-06T04:00:00Z,branch,queue,post,2,3,6,1,4,排队时间太长\n\
S3,C0000003,2024-01-07T04:00:00Z,atm,cash withdrawal,in,4,9,1,4,5,\n\
S4,C0000004,2024-01-08T04:00:00Z,online,mobile transfer,in,3,7,3,3,3,ok\n"
        ),
    );
    write(
        dir,
        "data/surveys/surveys_2024-02.csv",
        &format!(
            "{sv}S5,C0000003,2024-02-10T04:00:00Z,branch,complaint,post,1,0,7,1,4,still waiting\n"
        ),
    );

    // Complaint cases: K1 answered after 6 h and resolved after 2 days; K2
    // answered after 48 h, still pending at the extract's latest time (its
    // answer, 17 Jan 02:00 UTC).
    write(
        dir,
        "data/complaints/cases_2024-01.csv",
        "case_id,customer_id,opened_at,channel,touchpoint,category,first_response_at,resolved_at,reopened\n\
K1,C0000001,2024-01-10T02:00:00Z,branch,branch complaint,fees,2024-01-10T08:00:00Z,2024-01-12T02:00:00Z,0\n\
K2,C0000003,2024-01-15T02:00:00Z,call_centre,complaint call,staff,2024-01-17T02:00:00Z,,0\n",
    );

    // Leads: L1 a corporate-banking customer never contacted (a prospect,
    // possible); L2 another bank's customer, known mid-February, contacted
    // 1 March and found without the need on 20 March; L3 a campaign name
    // contacted in January and assessed qualified on 2 April.
    write(
        dir,
        "data/crm/leads.csv",
        "lead_id,full_name,phone,source,known_date,contacted_date,assessed_date,assessment,converted_customer_id\n\
L1,Yip Kin Wah,+852 9111 2222,corporate_banking,2023-12-01,,,,\n\
L2,Tam Sze Wan,+852 9222 3333,other_bank,2024-02-15,2024-03-01,2024-03-20,no_need,\n\
L3,Ma Cheuk Lam,+852 9333 4444,campaign,2024-01-20,2024-01-25,2024-04-02,qualified,\n",
    );

    // Relationship managers' contacts: 30 and 20 minutes in January.
    write(
        dir,
        "data/rm/contacts_2024-01.csv",
        "contact_id,rm_id,customer_id,contacted_at,kind,minutes\n\
RC1,RM01,C0000001,2024-01-08T03:00:00Z,meeting,30\n\
RC2,RM02,C0000002,2024-01-09T03:00:00Z,call,20\n",
    );

    // Online sessions: Parquet, as the online-banking platform writes it.
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("session_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("device", DataType::Utf8, false),
        Field::new("login_at", ts, false),
        Field::new("duration_seconds", DataType::Int32, false),
        Field::new("actions", DataType::Int32, false),
        Field::new("transactions", DataType::Int32, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new("failures", DataType::Int32, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["O1", "O2", "O3"])),
        Arc::new(StringArray::from(vec!["C0000001", "C0000002", "C0000002"])),
        Arc::new(StringArray::from(vec!["web", "mobile", "mobile"])),
        Arc::new(StringArray::from(vec!["desktop", "ios", "ios"])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                micros("2024-01-03T02:00:00Z"),
                micros("2024-01-04T02:00:00Z"),
                micros("2024-01-20T02:00:00Z"),
            ])
            .with_timezone("UTC"),
        ),
        Arc::new(Int32Array::from(vec![300, 120, 60])),
        Arc::new(Int32Array::from(vec![5, 3, 2])),
        Arc::new(Int32Array::from(vec![1, 1, 0])),
        Arc::new(
            Decimal128Array::from(vec![500000_i128, 10000, 0])
                .with_precision_and_scale(18, 2)
                .expect("decimal"),
        ),
        Arc::new(Int32Array::from(vec![0, 0, 0])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).expect("batch");
    std::fs::create_dir_all(dir.join("data/online")).expect("mkdir");
    let file =
        std::fs::File::create(dir.join("data/online/sessions_2024-01.parquet")).expect("create");
    let mut w =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

fn one(dir: &Path, sql: &str) -> serde_json::Map<String, serde_json::Value> {
    let rows = query(dir, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().expect("row")
}

#[test]
fn hand_computed_metrics() {
    let tmp = project();
    let dir = tmp.path();
    fixture(dir);
    ok(
        dir,
        &[
            "run",
            "pipelines/monthly_cx.yaml",
            "--period",
            "2024-01..2024-04",
        ],
    );

    // Nothing in the fixture is dirty; the 1 Feb 00:30 local ATM row is February's.
    close(
        f(&one(dir, "SELECT COUNT(*) AS n FROM _quarantine"), "n"),
        0.0,
        "quarantined rows",
    );
    close(
        f(
            &one(
                dir,
                "SELECT COUNT(*) AS n FROM atm WHERE period = '2024-02'",
            ),
            "n",
        ),
        3.0,
        "February ATM rows",
    );

    // Value pyramid, January: one customer per tier (share 1/4); mortgage is
    // not relationship balance: C1 = 5,000,000 + 4,000,000.
    for (tier, balance) in [
        ("Premier Top", 9_000_000.0),
        ("Premier", 2_000_000.0),
        ("Advance", 100_000.0),
        ("Personal", 15_000.50),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT customers, share, total_balance FROM segment_pyramid WHERE period = '2024-01' AND tier = '{tier}'"
            ),
        );
        close(f(&r, "customers"), 1.0, tier);
        close(f(&r, "share"), 0.25, tier);
        close(f(&r, "total_balance"), balance, tier);
    }
    // April: C3 closed; three customers, one third each, C4 down to 1.5M.
    let r = one(
        dir,
        "SELECT customers, share, total_balance FROM segment_pyramid WHERE period = '2024-04' AND tier = 'Premier'",
    );
    close(f(&r, "share"), 1.0 / 3.0, "April Premier share");
    close(f(&r, "total_balance"), 1_500_000.0, "April Premier balance");

    // Channel mix, January, all tiers: ATM 4 (A1-A4: 500 + 1000 + 0 + 20000),
    // branch 2, online 3 (5000 + 100 + 0), call centre 1; of 10.
    for (ch, n, share, amount) in [
        ("atm", 4.0, 0.4, 21_500.0),
        ("branch", 2.0, 0.2, 0.0),
        ("online", 3.0, 0.3, 5_100.0),
        ("call_centre", 1.0, 0.1, 0.0),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT interactions, share, amount FROM channel_mix_monthly WHERE period = '2024-01' AND tier = 'All' AND channel = '{ch}'"
            ),
        );
        close(f(&r, "interactions"), n, ch);
        close(f(&r, "share"), share, ch);
        close(f(&r, "amount"), amount, ch);
    }
    // Premier Top (C1) alone: atm, branch, online, a third each.
    let r = one(
        dir,
        "SELECT share FROM channel_mix_monthly WHERE period = '2024-01' AND tier = 'Premier Top' AND channel = 'online'",
    );
    close(f(&r, "share"), 1.0 / 3.0, "Premier Top online share");

    // Satisfaction, January, all channels: csat (5,2,4,3) → 2 of 4 score 4-5;
    // nps (10,3,9,7) → 2 promoters − 1 detractor of 4 = 25 points; effort
    // (2+6+1+3)/4 = 3; gap = experience − expectation (not CSAT − expectation,
    // which is −0.5): ((4-4)+(1-4)+(4-5)+(3-3))/4 = −1.
    let r = one(
        dir,
        "SELECT responses, csat, nps, effort, expectation_gap, small_sample FROM satisfaction_monthly WHERE period = '2024-01' AND channel = 'all' AND tier = 'all' AND stage = 'all'",
    );
    close(f(&r, "responses"), 4.0, "responses");
    close(f(&r, "csat"), 0.5, "csat");
    close(f(&r, "nps"), 25.0, "nps");
    close(f(&r, "effort"), 3.0, "effort");
    close(f(&r, "expectation_gap"), -1.0, "gap");
    assert_eq!(r["small_sample"], serde_json::Value::Bool(true));
    // Branch only: (5, 2) → csat 1/2, nps (1 − 1)/2 = 0, effort 4, gap (0 − 3)/2.
    let r = one(
        dir,
        "SELECT csat, nps, effort, expectation_gap FROM satisfaction_monthly WHERE period = '2024-01' AND channel = 'branch' AND tier = 'all' AND stage = 'all'",
    );
    close(f(&r, "csat"), 0.5, "branch csat");
    close(f(&r, "nps"), 0.0, "branch nps");
    close(f(&r, "effort"), 4.0, "branch effort");
    close(f(&r, "expectation_gap"), -1.5, "branch gap");
    // February: one detractor scoring 1 → csat 0, nps −100.
    let r = one(
        dir,
        "SELECT csat, nps FROM satisfaction_monthly WHERE period = '2024-02' AND channel = 'all' AND tier = 'all' AND stage = 'all'",
    );
    close(f(&r, "csat"), 0.0, "Feb csat");
    close(f(&r, "nps"), -100.0, "Feb nps");

    // Complaints, January: response hours 6 and 48 → median 27; K1 (7 days
    // old) and K2 (2 days) are due for an answer (24 h), only K1 answered in
    // time: 1 of 2; only K1 is due for resolution (5 days), resolved in 2: 1
    // of 1; K2 pending.
    let r = one(
        dir,
        "SELECT cases, responded, median_response_hours, due_response, response_within_sla, resolved, due_resolution, resolution_within_sla, pending FROM complaint_service WHERE period = '2024-01' AND tier = 'All' AND channel = 'All'",
    );
    close(f(&r, "cases"), 2.0, "cases");
    close(f(&r, "responded"), 2.0, "responded");
    close(f(&r, "median_response_hours"), 27.0, "median response");
    close(f(&r, "due_response"), 2.0, "due for an answer");
    close(f(&r, "response_within_sla"), 0.5, "answered in time");
    close(f(&r, "resolved"), 1.0, "resolved");
    close(f(&r, "due_resolution"), 1.0, "due for resolution");
    close(f(&r, "resolution_within_sla"), 1.0, "resolved in time");
    close(f(&r, "pending"), 1.0, "pending");

    // RM time: each view splits January's 50 minutes (C1 30, C2 20) among
    // its groups, whole.
    for breakdown in ["tier", "profit_group", "profit_band"] {
        let r = one(
            dir,
            &format!(
                "SELECT SUM(minutes) AS m, SUM(minutes_share) AS s FROM rm_time WHERE period = '2024-01' AND breakdown = '{breakdown}'"
            ),
        );
        close(f(&r, "m"), 50.0, breakdown);
        close(f(&r, "s"), 1.0, breakdown);
    }

    // Churn points, by the rules in churn_rules.sql:
    //  C3 Feb: complaints (call Jan + branch complaint Feb) 20, csat mean (4,1)=2.5 → 10: 30, medium.
    //  C3 Mar: silent after 3,3 interactions → 30, complaints 20, unhappy 10: 60, high; at risk 70,000 × 0.6.
    //  C2 Mar: silent after (3, 0) → 30, csat 2 → 20: 50, high.
    //  C1 Mar: silent → 30: medium.  C4 Apr: 1.5M < 0.8 × 2M (Jan) → outflow 30: medium.
    for (c, p, points, band) in [
        ("C0000003", "2024-01", 10.0, "low"),
        ("C0000003", "2024-02", 30.0, "medium"),
        ("C0000003", "2024-03", 60.0, "high"),
        ("C0000002", "2024-01", 20.0, "low"),
        ("C0000002", "2024-03", 50.0, "high"),
        ("C0000001", "2024-03", 30.0, "medium"),
        ("C0000001", "2024-02", 0.0, "low"),
        ("C0000004", "2024-03", 0.0, "low"),
        ("C0000004", "2024-04", 30.0, "medium"),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT points, score, band FROM churn_rules WHERE customer_id = '{c}' AND period = '{p}'"
            ),
        );
        close(f(&r, "points"), points, &format!("{c} {p} points"));
        close(f(&r, "score"), points / 100.0, &format!("{c} {p} score"));
        assert_eq!(r["band"], band, "{c} {p}");
    }
    let r = one(
        dir,
        "SELECT balance_at_risk, reasons FROM churn_rules WHERE customer_id = 'C0000003' AND period = '2024-03'",
    );
    close(f(&r, "balance_at_risk"), 42_000.0, "C3 balance at risk");
    assert_eq!(
        r["reasons"],
        "activity down; recent complaints; low satisfaction"
    );
    let r = one(
        dir,
        "SELECT balance_at_risk, reasons FROM churn_rules WHERE customer_id = 'C0000004' AND period = '2024-04'",
    );
    close(f(&r, "balance_at_risk"), 450_000.0, "C4 balance at risk");
    assert_eq!(r["reasons"], "balance outflow");
    // Four months cannot train the churn model (a 3-month outcome window
    // plus held-out months): its table stays empty, `_model_metrics` says
    // why, and the tier view built on it is empty (its arithmetic is the
    // `churn_concentration_by_tier` model test).
    let r = one(dir, "SELECT COUNT(*) AS n FROM churn_by_tier");
    close(f(&r, "n"), 0.0, "churn_by_tier rows without a fitted model");
    let r = one(
        dir,
        "SELECT detail FROM _model_metrics WHERE model = 'churn_risk' AND section = 'status' AND name = 'not_fitted'",
    );
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("labelled period")),
        "{r:?}"
    );

    // CLV = m·r/(1+d−r), d = 0.10. Premier Top: m = 5M×1.5% + 4M×1.2% + 1M×0.9%
    // = 132,000; nobody left → r = 1 → CLV = 132,000/0.1. Advance: C3 closes in
    // April, seen in Jan-Mar → monthly retention 2/3, r = (2/3)^12; m = 1,500.
    let r = one(
        dir,
        "SELECT annual_margin, annual_retention, clv FROM clv_by_tier WHERE period = '2024-01' AND tier = 'Premier Top'",
    );
    close(f(&r, "annual_margin"), 132_000.0, "Premier Top margin");
    close(f(&r, "clv"), 1_320_000.0, "Premier Top CLV");
    let r = one(
        dir,
        "SELECT monthly_retention, clv FROM clv_by_tier WHERE period = '2024-01' AND tier = 'Advance'",
    );
    let ann = (2.0f64 / 3.0).powi(12);
    close(
        f(&r, "monthly_retention"),
        2.0 / 3.0,
        "Advance monthly retention",
    );
    close(f(&r, "clv"), 1_500.0 * ann / (1.1 - ann), "Advance CLV");
    let r = one(
        dir,
        "SELECT clv FROM clv_by_tier WHERE period = '2024-01' AND tier = 'Personal'",
    );
    close(f(&r, "clv"), 15_000.50 * 0.015 / 0.1, "Personal CLV");

    // Branch service, January: waits 10 and 40 minutes → median 25, half over 30;
    // service 15 and 10 → median 12.5.
    let r = one(
        dir,
        "SELECT visits, median_wait, share_over_30, median_service, p90_wait FROM branch_service WHERE period = '2024-01' AND branch_id = 'ALL'",
    );
    close(f(&r, "visits"), 2.0, "visits");
    close(f(&r, "median_wait"), 25.0, "median wait");
    close(f(&r, "share_over_30"), 0.5, "share over 30");
    close(f(&r, "median_service"), 12.5, "median service");
    // p90 by linear interpolation: 10 + 0.9 × (40 − 10) = 37.
    close(f(&r, "p90_wait"), 37.0, "p90 wait");

    // KPIs, January: 4 customers all active; balance 9M + 15,000.50 + 100,000 + 2M;
    // one complaint (C3's call); digital share 3/10; NPS 25.
    let r = one(
        dir,
        "SELECT customers, active_customers, relationship_balance, complaints, digital_share, nps FROM kpi_monthly WHERE period = '2024-01'",
    );
    close(f(&r, "customers"), 4.0, "customers");
    close(f(&r, "active_customers"), 4.0, "active");
    close(
        f(&r, "relationship_balance"),
        11_115_000.50,
        "relationship balance",
    );
    close(f(&r, "complaints"), 1.0, "complaints");
    close(f(&r, "digital_share"), 0.3, "digital share");
    close(f(&r, "nps"), 25.0, "kpi nps");
    close(
        f(
            &one(
                dir,
                "SELECT closed_customers FROM kpi_monthly WHERE period = '2024-04'",
            ),
            "closed_customers",
        ),
        1.0,
        "April closures",
    );

    // Tenure: C1 opened 2020-01 → 48 months in 2024-01; C2 opened 2023-06 → 7.
    close(
        f(
            &one(
                dir,
                "SELECT tenure_months FROM customer_month WHERE customer_id = 'C0000001' AND period = '2024-01'",
            ),
            "tenure_months",
        ),
        48.0,
        "tenure C1",
    );
    close(
        f(
            &one(
                dir,
                "SELECT tenure_months FROM customer_month WHERE customer_id = 'C0000002' AND period = '2024-01'",
            ),
            "tenure_months",
        ),
        7.0,
        "tenure C2",
    );

    // Profit, January = margin / 12 − interactions × unit cost (channel_costs:
    // ATM 4.50, branch 65, online 1.20, call 28):
    //  C1: (5M × 1.5% + 4M × 1.2% + 1M × 0.9%) / 12 = 11,000 − (ATM + branch + online) 70.70 = 10,929.30;
    //  C2: 15,000.50 × 1.5% / 12 = 18.750625 − (branch + 2 online) 67.40 = −48.649375, negative;
    //  C3: 100,000 × 1.5% / 12 = 125 − (2 ATM + call) 37 = 88;
    //  C4: 2M × 0.8% / 12 = 1,333.333… − ATM 4.50 = 1,328.833….
    let c4 = 2_000_000.0 * 0.008 / 12.0 - 4.5;
    for (c, margin, cost, profit, group) in [
        ("C0000001", 11_000.0, 70.7, 10_929.3, "ordinary"),
        ("C0000002", 18.750625, 67.4, -48.649375, "negative"),
        ("C0000003", 125.0, 37.0, 88.0, "ordinary"),
        ("C0000004", c4 + 4.5, 4.5, c4, "ordinary"),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT margin, cost_to_serve, profit, profit_group FROM customer_profit WHERE customer_id = '{c}' AND period = '2024-01'"
            ),
        );
        close(f(&r, "margin"), margin, &format!("{c} margin"));
        close(f(&r, "cost_to_serve"), cost, &format!("{c} cost to serve"));
        close(f(&r, "profit"), profit, &format!("{c} profit"));
        assert_eq!(r["profit_group"], group, "{c}");
    }
    // All four: 12,297.48…; the top 25% (C1) bring 10,929.30 of it, the top
    // half (C1, C4) 12,258.13…; the top 20% of 4 is nobody.
    let total = 10_929.3 + 88.0 + c4 - 48.649375;
    for (p, share) in [
        (20, 0.0),
        (25, 10_929.3 / total),
        (50, (10_929.3 + c4) / total),
        (100, 1.0),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT profit_share FROM profit_curve WHERE period = '2024-01' AND tier = 'All' AND percentile = {p}"
            ),
        );
        close(f(&r, "profit_share"), share, &format!("top {p}%"));
    }
    // Personal (C2 alone) lost money: no share of a loss.
    close(
        f(
            &one(
                dir,
                "SELECT COUNT(profit_share) AS n FROM profit_curve WHERE period = '2024-01' AND tier = 'Personal'",
            ),
            "n",
        ),
        0.0,
        "Personal curve",
    );
    let r = one(
        dir,
        "SELECT customers, share_of_customers, profit, share_of_profit, branch_share FROM profit_by_tier WHERE period = '2024-01' AND tier = 'All' AND profit_group = 'negative'",
    );
    close(f(&r, "customers"), 1.0, "negative customers");
    close(f(&r, "share_of_customers"), 0.25, "negative share");
    close(f(&r, "profit"), -48.649375, "negative profit");
    close(
        f(&r, "share_of_profit"),
        -48.649375 / total,
        "negative share of profit",
    );
    close(f(&r, "branch_share"), 1.0 / 3.0, "negative branch share");

    // Cross-sell, January: C1 holds savings, investment and a mortgage (3),
    // C2, C3 and C4 one product each: (3 + 1 + 1 + 1) / 4 = 1.5 products, a
    // quarter with two or more; C1 referred C2 (opened 2023-06): one referrer,
    // no referral opened in January.
    let r = one(
        dir,
        "SELECT customers, products_per_customer, multi_product_share, savings_penetration, investment_penetration, mortgage_penetration, time_deposit_penetration, referrers, referrals FROM product_penetration WHERE period = '2024-01' AND tier = 'All'",
    );
    close(f(&r, "customers"), 4.0, "penetration customers");
    close(f(&r, "products_per_customer"), 1.5, "products per customer");
    close(f(&r, "multi_product_share"), 0.25, "two or more products");
    close(f(&r, "savings_penetration"), 0.75, "savings penetration");
    close(
        f(&r, "investment_penetration"),
        0.25,
        "investment penetration",
    );
    close(f(&r, "mortgage_penetration"), 0.25, "mortgage penetration");
    close(
        f(&r, "time_deposit_penetration"),
        0.25,
        "time deposit penetration",
    );
    close(f(&r, "referrers"), 1.0, "referrers");
    close(f(&r, "referrals"), 0.0, "referrals");

    // Channels by age in 2024: C2 (born 1995) is 29: under 30, a branch
    // visit and two mobile sessions; C3 (1960) is 64: two ATM withdrawals
    // and a call; C1 (1980) is 44: ATM, branch and web.
    for (band, channel, n, share) in [
        ("under 30", "mobile", 2.0, 2.0 / 3.0),
        ("under 30", "branch", 1.0, 1.0 / 3.0),
        ("60+", "atm", 2.0, 2.0 / 3.0),
        ("60+", "call_centre", 1.0, 1.0 / 3.0),
        ("30-44", "web", 1.0, 1.0 / 3.0),
        ("All", "atm", 4.0, 0.4),
        ("All", "mobile", 2.0, 0.2),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT interactions, share FROM channel_preference WHERE period = '2024-01' AND age_band = '{band}' AND channel = '{channel}'"
            ),
        );
        close(f(&r, "interactions"), n, &format!("{band} {channel}"));
        close(f(&r, "share"), share, &format!("{band} {channel} share"));
    }

    // ATMs, January (31 days): ATM001 (A1, A2) and ATM002 (A3, A4), two each:
    // both at the average load; the network 4 / 2 / 31 a machine a day.
    let r = one(
        dir,
        "SELECT transactions, declined, customers, per_day, load_index FROM atm_network WHERE period = '2024-01' AND atm_id = 'ALL'",
    );
    close(f(&r, "transactions"), 4.0, "ATM transactions");
    close(f(&r, "declined"), 0.0, "ATM declines");
    close(f(&r, "customers"), 3.0, "ATM customers");
    close(f(&r, "per_day"), 4.0 / 2.0 / 31.0, "ATM per day");
    let r = one(
        dir,
        "SELECT transactions, customers, load_index, busy_rank FROM atm_network WHERE period = '2024-01' AND atm_id = 'ATM002'",
    );
    close(f(&r, "customers"), 2.0, "ATM002 customers");
    close(f(&r, "load_index"), 1.0, "ATM002 load");
    close(f(&r, "busy_rank"), 1.0, "ATM002 rank (tied)");

    // Online, January: O1 web; O2 and O3 mobile (C2), one with a transaction.
    let r = one(
        dir,
        "SELECT sessions, customers, session_share, transaction_rate, failure_rate FROM digital_service WHERE period = '2024-01' AND channel = 'mobile'",
    );
    close(f(&r, "sessions"), 2.0, "mobile sessions");
    close(f(&r, "customers"), 1.0, "mobile customers");
    close(f(&r, "session_share"), 2.0 / 3.0, "mobile share");
    close(f(&r, "transaction_rate"), 0.5, "mobile transaction rate");
    close(f(&r, "failure_rate"), 0.0, "mobile failure rate");

    // Churn rate: April's one closure (C3) of March's four customers; the
    // first month has no month before.
    close(
        f(
            &one(
                dir,
                "SELECT churn_rate FROM kpi_monthly WHERE period = '2024-04'",
            ),
            "churn_rate",
        ),
        0.25,
        "April churn rate",
    );
    let r = one(
        dir,
        "SELECT churn_rate FROM kpi_monthly WHERE period = '2024-01'",
    );
    // (A null is left out of the JSON row.)
    assert!(r.get("churn_rate").is_none_or(|v| v.is_null()), "{r:?}");

    // Closure within 3 months by January's satisfaction: C1 (5) very
    // satisfied, C3 (4) satisfied, C4 (3) neutral, C2 (2) dissatisfied; C3
    // closes on 10 April, inside February..April; April is loaded, so
    // January's window is complete and February's is not.
    for (band, closed, rate) in [
        ("very satisfied", 0.0, 0.0),
        ("satisfied", 1.0, 1.0),
        ("neutral", 0.0, 0.0),
        ("dissatisfied", 0.0, 0.0),
        ("All", 1.0, 0.25),
    ] {
        let r = one(
            dir,
            &format!(
                "SELECT closed_3m, closure_rate FROM retention_by_satisfaction WHERE period = '2024-01' AND band = '{band}'"
            ),
        );
        close(f(&r, "closed_3m"), closed, &format!("{band} closures"));
        close(f(&r, "closure_rate"), rate, &format!("{band} closure rate"));
    }
    let r = one(
        dir,
        "SELECT window_complete FROM retention_by_satisfaction WHERE period = '2024-02' AND band = 'All'",
    );
    assert_eq!(
        r["window_complete"],
        serde_json::Value::Bool(false),
        "{r:?}"
    );

    // Seed 001's ladder. Deals = most products held + online purchases so
    // far: C1 3 + 1 (O1) = 4 and has referred C2 (opened 2023) → advocate;
    // C2 1 + 1 (O2; O3 bought nothing) = 2 → repeat; C3 and C4 hold one
    // product and bought nothing → first-time. Nobody is 6 months without
    // a deal in 4 months. Leads in April: L1 possible, L2 a non-customer
    // (no need, 20 March), L3 a qualified prospect (2 April).
    let stages = |period: &str| -> Vec<(String, f64)> {
        query(
            dir,
            &format!("SELECT stage, people FROM loyalty_funnel WHERE period = '{period}' ORDER BY stage_order"),
        )
        .iter()
        .map(|r| (r["stage"].as_str().unwrap_or("").to_string(), f(r, "people")))
        .collect()
    };
    let want = |v: &[(&str, f64)]| -> Vec<(String, f64)> {
        v.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    };
    assert_eq!(
        stages("2024-04"),
        want(&[
            ("non_customer", 1.0),
            ("possible", 1.0),
            ("qualified_prospect", 1.0),
            ("first_time", 1.0),
            ("repeat", 1.0),
            ("advocate", 1.0)
        ])
    );
    // February: L1, L3 (contacted, not assessed) and L2 (known 15
    // February) are possible; C3 is still on the ladder.
    assert_eq!(
        stages("2024-02"),
        want(&[
            ("possible", 3.0),
            ("first_time", 2.0),
            ("repeat", 1.0),
            ("advocate", 1.0)
        ])
    );
    // The whole pyramid in April: C1 Premier Top (9M), C4 Premier (1.5M), C2
    // Personal (15,000.50); C3 closed on 10 April → Inactive; L1 (corporate
    // banking) and L3 (contacted) are prospects; L2 is left out as a
    // non-customer. Six people, so each is 1/6.
    let layers = |period: &str| -> Vec<(String, f64, f64)> {
        query(
            dir,
            &format!("SELECT layer, people, share FROM pyramid_layers WHERE period = '{period}' ORDER BY layer_rank"),
        )
        .iter()
        .map(|r| (r["layer"].as_str().unwrap_or("").to_string(), f(r, "people"), f(r, "share")))
        .collect()
    };
    let sixth = 1.0 / 6.0;
    let april = layers("2024-04");
    let names: Vec<&str> = april.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        names,
        ["Premier Top", "Premier", "Personal", "Inactive", "Prospect"]
    );
    for (l, people, share) in &april {
        let n = if l == "Prospect" { 2.0 } else { 1.0 };
        close(*people, n, l);
        close(*share, n * sixth, l);
    }
    // February: L2, never contacted yet, is a suspect.
    assert!(
        layers("2024-02")
            .iter()
            .any(|l| l.0 == "Suspect" && l.1 == 1.0),
        "{:?}",
        layers("2024-02")
    );
    // Flows into April: C3 left (closed), L3 moved up, the rest stayed.
    let flows: Vec<String> = query(
        dir,
        "SELECT from_stage, to_stage, people FROM loyalty_flows WHERE period = '2024-04' ORDER BY from_order, to_order",
    )
    .iter()
    .map(|r| format!("{} {} {}", r["from_stage"].as_str().unwrap_or(""), r["to_stage"].as_str().unwrap_or(""), f(r, "people")))
    .collect();
    assert_eq!(
        flows,
        [
            "non_customer non_customer 1",
            "possible possible 1",
            "possible qualified_prospect 1",
            "first_time first_time 1",
            "first_time left 1",
            "repeat repeat 1",
            "advocate advocate 1"
        ]
    );
}
