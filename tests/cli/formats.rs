//! Fixed-width text in GBK, as a legacy core-banking system exports it:
//! byte positions, a title line, padding, and every kind of bad line.

use crate::common::{generate, ok, project};

fn query(dir: &std::path::Path, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = ok(
        dir,
        &[
            "query",
            "--pipeline",
            "pipelines/core.yaml",
            "--format",
            "json",
            sql,
        ],
    );
    serde_json::from_str::<Vec<serde_json::Map<String, serde_json::Value>>>(text.trim())
        .expect("json rows")
}

const PIPELINE: &str = r#"
name: core
timezone: Asia/Hong_Kong
extracts: ../data
sources:
  accounts:
    path: core/accounts.txt
    encoding: gbk
    fixed_width:
      skip_lines: 1
      positions: {account_id: [1, 10], holder: [11, 10], balance: [21, 11], as_of: [33, 10]}
    key: [account_id]
    columns:
      account_id: {type: string, required: true}
      holder: {type: string, personal: clear}
      balance: {type: "decimal(18,2)", required: true, min: 0}
      as_of: {type: date}
"#;

/// Run `pipelines/core.yaml` for 2024-01: `source`'s rows read, loaded
/// and quarantined, from the run summary.
fn run_counts(dir: &std::path::Path, source: &str) -> (i64, i64, i64) {
    let summary: serde_json::Value = serde_json::from_str(&ok(
        dir,
        &[
            "run",
            "pipelines/core.yaml",
            "--period",
            "2024-01",
            "--json",
        ],
    ))
    .expect("json");
    let step = crate::common::step(&summary, source);
    let n = |k: &str| step[k].as_i64().unwrap_or_else(|| panic!("{k} in {step}"));
    (n("rows_read"), n("rows_loaded"), n("rows_quarantined"))
}

fn gbk(s: &str) -> Vec<u8> {
    let (b, _, unmappable) = encoding_rs::GBK.encode(s);
    assert!(!unmappable, "{s}");
    b.into_owned()
}

#[test]
fn fixed_width_gbk_by_byte_position() {
    let tmp = project();
    let dir = tmp.path();
    std::fs::write(dir.join("pipelines/core.yaml"), PIPELINE).expect("yaml");
    std::fs::create_dir_all(dir.join("data/core")).expect("mkdir");
    let mut file = Vec::new();
    file.extend(b"ACCT-EXPORT 20240131\r\n");
    // 10 + 10 (GBK: two bytes per Chinese character) + 11 + 1 + 10 bytes.
    file.extend(gbk("0000000001王小明    00001234.50 2024-01-31\r\n"));
    file.extend(gbk("0000000002陈大文    00000100.00 2024-01-31\r\n"));
    // Negative balance: fails `min: 0`.
    file.extend(gbk("0000000003李        -0000005.00 2024-01-31\r\n"));
    // The layout cuts 王 in half at byte 20: not valid GBK in `holder`.
    file.extend(gbk("0000000004ABCDEFGHI王0001.00 2024-01-31\r\n"));
    // Trailing blanks trimmed by the exporter: no balance, which is required.
    file.extend(gbk("0000000005周\r\n"));
    std::fs::write(dir.join("data/core/accounts.txt"), file).expect("write");

    assert_eq!(run_counts(dir, "accounts"), (5, 2, 3));
    let rows = query(
        dir,
        "SELECT account_id, holder, CAST(balance AS VARCHAR) AS balance, CAST(as_of AS VARCHAR) AS as_of FROM accounts ORDER BY account_id",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["account_id"], "0000000001");
    assert_eq!(rows[0]["holder"], "王小明");
    assert_eq!(rows[0]["balance"], "1234.50");
    assert_eq!(rows[0]["as_of"], "2024-01-31");
    assert_eq!(rows[1]["holder"], "陈大文");
    assert_eq!(rows[1]["balance"], "100.00");
    let q = query(
        dir,
        "SELECT line, column_name, reason FROM _quarantine WHERE source = 'accounts' ORDER BY line",
    );
    let got: Vec<(i64, String, String)> = q
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().expect("line"),
                r["column_name"].as_str().unwrap_or("").to_string(),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    // Lines count from the title line (line 1).
    assert_eq!((got[0].0, got[0].1.as_str()), (4, "balance"));
    assert_eq!((got[1].0, got[1].1.as_str()), (5, "holder"));
    assert!(got[1].2.starts_with("not valid GBK text"), "{got:?}");
    assert_eq!((got[2].0, got[2].1.as_str()), (6, "balance"));
}

/// JSON lines: numbers load from their text as written (an amount never
/// passes through a float), strings are unescaped, a repeated key keeps its
/// last value, `null` and "" are null, nested values keep their JSON text,
/// and a line that is not an object, or a number with an exponent, is
/// quarantined.
#[test]
fn json_lines_load_values_as_written() {
    let tmp = project();
    let dir = tmp.path();
    std::fs::write(
        dir.join("pipelines/core.yaml"),
        r#"
name: core
timezone: Asia/Hong_Kong
extracts: ../data
sources:
  payments:
    path: pay/payments.jsonl
    jsonl: {}
    key: [id]
    columns:
      id: {type: string, required: true}
      amount: {type: "decimal(38,2)"}
      note: {type: string}
      urgent: {type: bool}
      meta: {type: string}
"#,
    )
    .expect("yaml");
    std::fs::create_dir_all(dir.join("data/pay")).expect("mkdir");
    let lines = [
        r#"{"id":"p1","amount":123456789012345678.91,"note":"tab\there \"quoted\" \u00e9","urgent":true,"meta":{"a":[1,2]}}"#,
        r#"{"id":"p2","amount":0.10,"note":"","urgent":false,"meta":null,"amount":7.25}"#,
        r#"{"i\u0064":"p3","amount":-5,"note":"plain"}"#,
        r#"["not","an","object"]"#,
        r#"{"id":"p4","amount":1.234}"#,
        r#"{"id":"p5","amount":1e3}"#,
    ];
    std::fs::write(dir.join("data/pay/payments.jsonl"), lines.join("\n") + "\n").expect("write");
    assert_eq!(run_counts(dir, "payments"), (6, 3, 3));
    let rows = query(
        dir,
        "SELECT id, CAST(amount AS VARCHAR) AS amount, note, CAST(urgent AS VARCHAR) AS urgent, meta FROM payments ORDER BY id",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["amount"], "123456789012345678.91");
    assert_eq!(rows[0]["note"], "tab\there \"quoted\" é");
    assert_eq!(rows[0]["urgent"], "true");
    assert_eq!(rows[0]["meta"], r#"{"a":[1,2]}"#);
    // The repeated `amount` keeps its last value; "" and null are null.
    assert_eq!(rows[1]["amount"], "7.25");
    assert!(
        ["note", "meta"]
            .iter()
            .all(|c| rows[1].get(*c).is_none_or(serde_json::Value::is_null)),
        "{rows:?}"
    );
    assert_eq!(rows[1]["urgent"], "false");
    // A key written with an escape is still `id`.
    assert_eq!(
        (&rows[2]["id"], &rows[2]["amount"]),
        (&"p3".into(), &"-5.00".into())
    );
    let q = query(
        dir,
        "SELECT line, column_name, value, reason FROM _quarantine WHERE source = 'payments' ORDER BY line",
    );
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q[0]["line"], 4);
    assert!(
        q[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("malformed JSON")),
        "{q:?}"
    );
    assert_eq!(
        (&q[1]["line"], &q[1]["column_name"]),
        (&5.into(), &"amount".into())
    );
    // An exponent is not a decimal's text: quarantined, not rounded.
    assert_eq!(
        (&q[2]["line"], &q[2]["column_name"], &q[2]["value"]),
        (&6.into(), &"amount".into(), &"1e3".into())
    );
}

/// Schema drift: a new or missing column in an extract fails the load by
/// default and names the columns; with `on_schema_change: ignore` the
/// declared columns load and the drift is reported in the run and `_runs`.
#[test]
fn schema_drift_fails_or_is_reported() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 100, 1, 2, &[]);
    let atm = dir.join("data/atm/2024/01");
    // A new last column in one file…
    let f = atm.join("atm_20240103.csv");
    let text = std::fs::read_to_string(&f).expect("atm");
    let added: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "branch_code" } else { "X" }))
        .collect();
    std::fs::write(&f, added).expect("write");
    // …and a missing `currency` column (the 8th) in another.
    let g = atm.join("atm_20240104.csv");
    let text = std::fs::read_to_string(&g).expect("atm");
    let dropped: String = text
        .lines()
        .map(|l| {
            let mut v: Vec<&str> = l.split(',').collect();
            if v.len() == 9 {
                v.remove(7);
            }
            format!("{}\n", v.join(","))
        })
        .collect();
    std::fs::write(&g, dropped).expect("write");

    let run = ["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"];
    let out = crate::common::touchpoint(dir, &run);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("atm_20240103.csv"), "{err}");
    assert!(err.contains("new column(s) branch_code"), "{err}");

    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let y = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(
        &yaml,
        y.replacen(
            "    key: [txn_id]\n",
            "    key: [txn_id]\n    on_schema_change: ignore\n",
            1,
        ),
    )
    .expect("yaml");
    let out = crate::common::touchpoint(dir, &run);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "atm: schema drift (on_schema_change: ignore): new column(s) branch_code; missing column(s) currency"
        ),
        "{err}"
    );
    let logged = crate::common::query(
        dir,
        "SELECT message FROM _runs WHERE kind = 'source' AND table_name = 'atm'",
    );
    assert!(
        logged[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("branch_code")),
        "{logged:?}"
    );
    // The file without `currency` loaded, with nulls there.
    let nulls = crate::common::query(
        dir,
        "SELECT COUNT(*) AS n FROM atm WHERE currency IS NULL AND CAST(txn_time AS DATE) IN (DATE '2024-01-04', DATE '2024-01-03')",
    );
    assert!(crate::common::f(&nulls[0], "n") > 0.0);

    // A new key in JSON lines is drift too.
    let b = dir.join("data/branch/2024/01/tickets_20240105.jsonl");
    let text = std::fs::read_to_string(&b).expect("branch");
    std::fs::write(
        &b,
        text.replacen("{\"ticket_id\"", "{\"kiosk\":1,\"ticket_id\"", 1),
    )
    .expect("write");
    let out = crate::common::touchpoint(dir, &run);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("new column(s) kiosk"), "{err}");
}

/// `discover` proposes a source block that validates and loads as is.
#[test]
fn discover_proposes_a_source_that_loads() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 1, 6, &[]);
    let calls = ok(
        dir,
        &["discover", "data/callcentre/2024/01/calls_02012024.txt"],
    );
    assert!(
        calls.contains("csv: {delimiter: \"|\", header: true}"),
        "{calls}"
    );
    assert!(
        calls.contains(
            "call_start: {type: timestamp, format: \"%d/%m/%Y %H:%M:%S\", required: true}"
        ),
        "{calls}"
    );
    assert!(calls.contains("queue_seconds: {type: int"), "{calls}");

    ok(
        dir,
        &[
            "discover",
            "data/atm/2024/01/atm_20240102.csv",
            "--out",
            "atm.yaml",
        ],
    );
    let block = std::fs::read_to_string(dir.join("atm.yaml")).expect("block");
    for want in [
        "txn_time: {type: timestamp, format: \"%Y-%m-%d %H:%M:%S\"",
        "amount: {type: \"decimal(18,2)\"",
        "card_number: {type: string, required: true, personal: mask}",
    ] {
        assert!(block.contains(want), "{want} missing in\n{block}");
    }
    // Pasted under a pipeline header, it validates and loads.
    std::fs::write(
        dir.join("pipelines/discovered.yaml"),
        format!(
            "name: discovered\ntimezone: Asia/Hong_Kong\nextracts: ../data/atm/2024/01\n{block}"
        ),
    )
    .expect("yaml");
    ok(dir, &["validate", "pipelines/discovered.yaml"]);
    let summary: serde_json::Value = serde_json::from_str(&ok(
        dir,
        &[
            "run",
            "pipelines/discovered.yaml",
            "--period",
            "2024-01",
            "--json",
            "--warehouse",
            "discovered_wh",
        ],
    ))
    .expect("json");
    let step = crate::common::step(&summary, "atm");
    let data_lines = std::fs::read_to_string(dir.join("data/atm/2024/01/atm_20240102.csv"))
        .expect("atm")
        .lines()
        .count() as i64
        - 1;
    let (read, loaded, bad) = (
        step["rows_read"].as_i64().expect("n"),
        step["rows_loaded"].as_i64().expect("n"),
        step["rows_quarantined"].as_i64().expect("n"),
    );
    assert_eq!(read, data_lines);
    assert_eq!(read, loaded + bad);
    assert!(loaded as f64 >= 0.97 * read as f64, "{step}");
}

#[test]
fn schema_evolves_when_declared() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 100, 2, 4, &[]);
    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let y = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(
        &yaml,
        y.replacen(
            "    key: [txn_id]\n",
            "    key: [txn_id]\n    on_schema_change: evolve\n",
            1,
        ),
    )
    .expect("yaml");
    crate::common::ok(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
    );

    // February's extract of the 3rd gains a column.
    let f = dir.join("data/atm/2024/02/atm_20240203.csv");
    let text = std::fs::read_to_string(&f).expect("atm");
    let lines = text.lines().count() as i64 - 1;
    let added: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "branch_code" } else { "B07" }))
        .collect();
    std::fs::write(&f, added).expect("write");
    let out = crate::common::touchpoint(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-02"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("atm: schema evolved: column(s) branch_code added"),
        "{err}"
    );

    let q = |sql: &str| crate::common::f(&crate::common::query(dir, sql)[0], "n");
    let rejected = q("SELECT COUNT(*) AS n FROM _quarantine WHERE file LIKE '%atm_20240203.csv'");
    assert_eq!(
        q("SELECT COUNT(*) AS n FROM atm WHERE branch_code = 'B07'"),
        lines as f64 - rejected,
        "every loaded row of the file has the new column"
    );
    assert_eq!(
        q("SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01' AND branch_code IS NOT NULL"),
        0.0,
        "January, loaded before, reads it as null"
    );
    let jan = q("SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01'");
    assert!(jan > 0.0);
    // Reloading January (which has no such column) keeps the column.
    crate::common::ok(
        dir,
        &[
            "run",
            "pipelines/monthly_cx.yaml",
            "--period",
            "2024-01",
            "--full-refresh",
        ],
    );
    assert_eq!(
        q("SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01'"),
        jan
    );
    assert!(q("SELECT COUNT(*) AS n FROM atm WHERE branch_code = 'B07'") > 0.0);
}

/// Parquet values load exactly as the same values from CSV, or their row is
/// quarantined: a timestamp without a time zone is local time in the
/// column's `timezone:` (else the pipeline's), nanoseconds a microsecond
/// cannot hold, a float or a `decimal(18,4)` that `decimal(18,2)` would
/// round, are quarantined with the reason (silent change).
#[test]
fn parquet_values_load_exactly_or_are_quarantined() {
    use datafusion::arrow::array::{
        ArrayRef, Decimal128Array, Float64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray, TimestampNanosecondArray,
    };
    use std::sync::Arc;
    let tmp = project();
    let dir = tmp.path();
    let columns = r#"
    columns:
      id: {type: string, required: true}
      at: {type: timestamp, required: true}
      at_london: {type: timestamp, timezone: Europe/London}
      amount: {type: "decimal(18,2)"}
      fee: {type: "decimal(18,2)"}
"#;
    std::fs::write(
        dir.join("pipelines/core.yaml"),
        format!(
            "name: core\ntimezone: Asia/Hong_Kong\nextracts: ../data\nsources:\n  pay_csv:\n    path: pay/payments.csv\n    csv: {{}}\n    key: [id]{columns}  pay_parquet:\n    path: pay/payments.parquet\n    parquet: {{}}\n    on_schema_change: ignore\n    key: [id]{columns}"
        ),
    )
    .expect("yaml");
    std::fs::create_dir_all(dir.join("data/pay")).expect("mkdir");
    std::fs::write(
        dir.join("data/pay/payments.csv"),
        "id,at,at_london,amount,fee\np1,2024-01-03 09:00:00,2024-01-03 09:00:00,12.34,0.50\n",
    )
    .expect("csv");
    // Wall-clock 2024-01-03 09:00:00 as a naive timestamp's value.
    let nine = 1_704_272_400_000_000i64;
    let ids = ["p1", "p2", "p3", "p4", "p5"];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids.to_vec())),
        Arc::new(TimestampMicrosecondArray::from(vec![nine; 5])),
        Arc::new(TimestampNanosecondArray::from(vec![
            nine * 1000,
            nine * 1000,
            nine * 1000,
            nine * 1000 + 1,
            nine * 1000,
        ])),
        Arc::new(Float64Array::from(vec![12.34, 12.345, 1.0, 1.0, 0.1 + 0.2])),
        Arc::new(
            Decimal128Array::from(vec![5_000, 5_000, 12_345, 5_000, 5_000])
                .with_precision_and_scale(18, 4)
                .expect("decimal"),
        ),
    ];
    let names = ["id", "at", "at_london", "amount", "fee"];
    let batch = RecordBatch::try_from_iter(names.iter().zip(cols)).expect("batch");
    let file = std::fs::File::create(dir.join("data/pay/payments.parquet")).expect("create");
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
        .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");

    assert_eq!(run_counts(dir, "pay_parquet"), (5, 1, 4));
    let sql = |t: &str| {
        format!(
            "SELECT id, CAST(at AS VARCHAR) AS at, CAST(at_london AS VARCHAR) AS at_london, CAST(amount AS VARCHAR) AS amount, CAST(fee AS VARCHAR) AS fee FROM {t}"
        )
    };
    let parquet = query(dir, &sql("pay_parquet"));
    assert_eq!(parquet, query(dir, &sql("pay_csv")), "Parquet vs CSV");
    // 09:00 in Hong Kong is 01:00 UTC; in London (winter) 09:00 UTC.
    assert!(
        parquet[0]["at"]
            .as_str()
            .is_some_and(|t| t.contains("01:00:00")),
        "{parquet:?}"
    );
    assert!(
        parquet[0]["at_london"]
            .as_str()
            .is_some_and(|t| t.contains("09:00:00")),
        "{parquet:?}"
    );
    let q = query(
        dir,
        "SELECT line, column_name, reason FROM _quarantine WHERE source = 'pay_parquet' ORDER BY line",
    );
    let got: Vec<(i64, &str, &str)> = q
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().expect("line"),
                r["column_name"].as_str().expect("column"),
                r["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (2, "amount"));
    assert!(got[0].2.contains("decimal places"), "{got:?}");
    assert_eq!((got[1].0, got[1].1), (3, "fee"));
    assert!(got[1].2.contains("decimal places"), "{got:?}");
    assert_eq!((got[2].0, got[2].1), (4, "at_london"));
    assert!(got[2].2.contains("precision would be lost"), "{got:?}");
    assert_eq!((got[3].0, got[3].1), (5, "amount"));
}

/// A lone UTF-16 surrogate (`\ud800`) is JSON syntax but no character: the
/// row is quarantined, not loaded as "" (which passes `required`) or with
/// the text after it lost (silent change). A line that is a JSON string is
/// malformed, and the reason does not repeat it (personal data in text).
#[test]
fn json_lone_surrogates_are_quarantined() {
    let tmp = project();
    let dir = tmp.path();
    std::fs::write(
        dir.join("pipelines/core.yaml"),
        r#"
name: core
timezone: Asia/Hong_Kong
extracts: ../data
sources:
  notes:
    path: notes/notes.jsonl
    jsonl: {}
    columns:
      id: {type: string, required: true}
      note: {type: string, personal: mask}
"#,
    )
    .expect("yaml");
    std::fs::create_dir_all(dir.join("data/notes")).expect("mkdir");
    let lines = [
        r#"{"id":"n1","note":"caf\u00e9"}"#,
        r#"{"id":"\ud800","note":"x"}"#,
        r#"{"id":"n3","note":"ab\udc00cd"}"#,
        r#"{"id":"n4","note":"\ud83d\ude00 ok"}"#,
        r#""Chan Tai Man +852 9123 4567""#,
    ];
    std::fs::write(dir.join("data/notes/notes.jsonl"), lines.join("\n") + "\n").expect("write");
    assert_eq!(run_counts(dir, "notes"), (5, 2, 3));
    let rows = query(dir, "SELECT id FROM notes ORDER BY id");
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, vec!["n1", "n4"]);
    let q = query(
        dir,
        "SELECT line, column_name, reason FROM _quarantine WHERE source = 'notes' ORDER BY line",
    );
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(
        (&q[0]["line"], &q[0]["column_name"]),
        (&2.into(), &"id".into())
    );
    assert_eq!(
        (&q[1]["line"], &q[1]["column_name"]),
        (&3.into(), &"note".into())
    );
    for r in &q[..2] {
        assert!(
            r["reason"]
                .as_str()
                .is_some_and(|t| t.contains("surrogate")),
            "{q:?}"
        );
    }
    let malformed = q[2]["reason"].as_str().expect("reason");
    assert!(malformed.starts_with("malformed JSON"), "{malformed}");
    assert!(
        !malformed.contains("Chan") && !malformed.contains("9123"),
        "{malformed}"
    );
}
