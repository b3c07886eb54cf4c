//! Tests of the whole generator: determinism, the manifest invariant, that
//! every file parses (and that exactly the counted rows are dirty), tier
//! shares, the pre-churn ramp, and an ignored throughput measurement.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Int32Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{GenerateOptions, GenerateSummary, generate};

fn run(dir: &Path, customers: u64, months: u32, dirty_rate: f64) -> GenerateSummary {
    run_chunked(dir, customers, months, dirty_rate, super::CHUNK_CUSTOMERS)
}

pub(super) fn run_chunked(
    dir: &Path,
    customers: u64,
    months: u32,
    dirty_rate: f64,
    chunk_customers: u64,
) -> GenerateSummary {
    let opts = GenerateOptions {
        chunk_customers,
        customers,
        months,
        out: dir.to_path_buf(),
        dirty_rate,
        seed: 7,
        ..GenerateOptions::default()
    };
    generate(&opts).expect("generate")
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            out.push(p.strip_prefix(base).expect("prefix").to_path_buf());
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn files_under(dir: &Path, sub: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.starts_with(sub))
        .map(|p| dir.join(p))
        .collect()
}

#[test]
fn same_seed_same_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let sa = run(a.path(), 250, 2, 0.02);
    let sb = run(b.path(), 250, 2, 0.02);
    assert_eq!(sa.events, sb.events);
    let fa = files(a.path());
    assert_eq!(fa, files(b.path()));
    assert!(fa.len() > 100);
    for f in &fa {
        let x = fs::read(a.path().join(f)).expect("read");
        let y = fs::read(b.path().join(f)).expect("read");
        assert!(x == y, "{} differs", f.display());
    }
}

#[test]
fn manifest_invariant_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run(dir.path(), 300, 2, 0.05);
    let keys: Vec<&str> = s.sources.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "atm",
            "balances",
            "branch",
            "callcentre",
            "complaints",
            "customers",
            "leads",
            "online",
            "rm",
            "surveys"
        ]
    );
    let mut events = 0;
    let mut nfiles = 0;
    for (name, t) in &s.sources {
        assert_eq!(
            t.rows_written,
            t.clean + t.dirty.values().sum::<u64>(),
            "{name}"
        );
        let (mut rows, mut clean, mut dirty) = (0, 0, 0);
        for (period, p) in &t.by_period {
            assert_eq!(p.rows_written, p.clean + p.dirty, "{name} {period}");
            rows += p.rows_written;
            clean += p.clean;
            dirty += p.dirty;
        }
        assert_eq!((rows, clean), (t.rows_written, t.clean), "{name}");
        assert_eq!(dirty, t.rows_written - t.clean, "{name}");
        assert!(t.rows_written > 0, "{name}");
        events += t.rows_written;
        nfiles += t.files;
    }
    assert_eq!(s.events, events);
    assert_eq!(s.files, nfiles);
    assert_eq!(s.sources["atm"].files, 31 + 29);
    assert_eq!(s.sources["callcentre"].files, 31 + 29);
    assert_eq!(s.sources["online"].files, 2);
    assert_eq!(s.sources["customers"].rows_written, 300);
    assert!(s.sources["customers"].dirty.is_empty());
    for src in [
        "atm",
        "branch",
        "callcentre",
        "surveys",
        "balances",
        "complaints",
        "rm",
    ] {
        assert_eq!(s.sources[src].dirty.get("truncated"), Some(&1), "{src}");
    }
    assert!(!s.sources["online"].dirty.contains_key("truncated"));
    assert!(!s.sources["online"].dirty.contains_key("malformed"));
    for kind in [
        "malformed",
        "impossible_date",
        "negative_amount",
        "unknown_customer",
        "duplicate",
    ] {
        assert!(
            s.sources["atm"].dirty.contains_key(kind),
            "atm lacks {kind}: {:?}",
            s.sources["atm"].dirty
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.path().join("_truth/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest, serde_json::to_value(&s.sources).expect("value"));
    let params: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("_truth/params.json")).expect("params"))
            .expect("json");
    assert_eq!(params["bgnbd"]["r"], 0.9);
    assert_eq!(params["options"]["customers"], 300);
}

/// Per-source validators: each returns whether a row is clean.
struct Checker {
    customers: u32,
    ids: HashSet<String>,
}

impl Checker {
    fn customer(&self, id: &str) -> bool {
        id.len() == 8
            && id.starts_with('C')
            && id[1..]
                .parse::<u32>()
                .is_ok_and(|n| n >= 1 && n <= self.customers)
    }

    fn new_id(&mut self, id: &str) -> bool {
        self.ids.insert(id.to_string())
    }
}

fn money_ok(s: &str) -> Option<f64> {
    let (whole, frac) = s.split_once('.')?;
    if frac.len() != 2 || whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok()
}

pub(super) fn csv_records(path: &Path, delimiter: u8) -> Vec<csv::StringRecord> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .from_path(path)
        .expect("open");
    r.records().map(|x| x.expect("record")).collect()
}

/// Validate every row of every text file; returns (rows, dirty rows) per source.
fn audit(dir: &Path, customers: u32) -> BTreeMap<&'static str, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut tally = |name: &'static str, clean: bool| {
        let e = out.entry(name).or_insert((0u64, 0u64));
        e.0 += 1;
        e.1 += u64::from(!clean);
    };

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "atm") {
        for r in csv_records(&f, b',') {
            let ok = r.len() == 9 && {
                let amount = money_ok(&r[6]);
                c.new_id(&r[0])
                    && r[0].starts_with('A')
                    && r[1].len() == 16
                    && c.customer(&r[2])
                    && r[3].starts_with("ATM")
                    && NaiveDateTime::parse_from_str(&r[4], "%Y-%m-%d %H:%M:%S").is_ok()
                    && ["withdrawal", "deposit", "transfer", "balance_inquiry"].contains(&&r[5])
                    && amount.is_some_and(|a| a >= 0.0)
                    && (&r[5] != "withdrawal" || r[6].ends_with("00.00"))
                    && (&r[5] != "balance_inquiry" || &r[6] == "0.00")
                    && &r[7] == "HKD"
                    && (&r[8] == "approved" || &r[8] == "declined")
            };
            tally("atm", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    let keys = [
        "ticket_id",
        "branch_id",
        "customer_id",
        "service_type",
        "issued_at",
        "called_at",
        "served_at",
    ];
    for f in files_under(dir, "branch") {
        let text = fs::read_to_string(&f).expect("read");
        for line in text.lines() {
            let ok = match serde_json::from_str::<BTreeMap<String, String>>(line) {
                Ok(m) => {
                    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(&m[k]).ok();
                    m.len() == 7
                        && keys.iter().all(|k| m.contains_key(*k))
                        && c.new_id(&m["ticket_id"])
                        && c.customer(&m["customer_id"])
                        && m["issued_at"].ends_with("+08:00")
                        && matches!((t("issued_at"), t("called_at"), t("served_at")), (Some(a), Some(b), Some(s)) if a <= b && b <= s)
                }
                Err(_) => false,
            };
            tally("branch", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "callcentre") {
        for r in csv_records(&f, b'|') {
            let ok = r.len() == 7
                && c.new_id(&r[0])
                && c.customer(&r[1])
                && NaiveDateTime::parse_from_str(&r[2], "%d/%m/%Y %H:%M:%S").is_ok()
                && r[3].parse::<u32>().is_ok()
                && r[4]
                    .parse::<u32>()
                    .is_ok_and(|h| (&r[6] == "abandoned") == (h == 0))
                && ["inquiry", "complaint", "sale", "card_service"].contains(&&r[5]);
            tally("callcentre", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "surveys") {
        for r in csv_records(&f, b',') {
            let score =
                |i: usize, lo: u32, hi: u32| r[i].parse::<u32>().is_ok_and(|v| v >= lo && v <= hi);
            let ok = r.len() == 12
                && c.new_id(&r[0])
                && c.customer(&r[1])
                && NaiveDateTime::parse_from_str(&r[2], "%Y-%m-%dT%H:%M:%SZ").is_ok()
                && ["atm", "branch", "online", "call_centre"].contains(&&r[3])
                && ["pre", "in", "post"].contains(&&r[5])
                && score(6, 1, 5)
                && score(7, 0, 10)
                && score(8, 1, 7)
                && score(9, 1, 5)
                && score(10, 1, 5)
                && !r[11].contains('\n');
            tally("surveys", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    let utc = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ").ok();
    for f in files_under(dir, "complaints") {
        for r in csv_records(&f, b',') {
            // A pending case has no resolution (and maybe no response);
            // the times never run backwards; only a resolved case reopens.
            let ok = r.len() == 9
                && c.new_id(&r[0])
                && c.customer(&r[1])
                && matches!(
                    (&r[3], &r[4]),
                    ("branch", "branch complaint") | ("call_centre", "complaint call")
                )
                && super::complaints::CATEGORIES.contains(&&r[5])
                && match (utc(&r[2]), &r[6], &r[7]) {
                    (Some(o), "", "") => o.and_utc().timestamp() > 0,
                    (Some(o), first, "") => utc(first).is_some_and(|f| f >= o),
                    (Some(o), first, done) => {
                        matches!((utc(first), utc(done)), (Some(f), Some(d)) if o <= f && f <= d)
                    }
                    _ => false,
                }
                && (&r[8] == "0" || (&r[8] == "1" && !r[7].is_empty()));
            tally("complaints", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "rm") {
        for r in csv_records(&f, b',') {
            let ok = r.len() == 6
                && c.new_id(&r[0])
                && r[1].len() == 4
                && r[1].starts_with("RM")
                && c.customer(&r[2])
                && utc(&r[3]).is_some()
                && super::rm::KINDS.contains(&&r[4])
                && r[5].parse::<u32>().is_ok_and(|m| (1..=240).contains(&m));
            tally("rm", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "crm/balances") {
        for r in csv_records(&f, b',') {
            let ok = r.len() == 4
                && c.customer(&r[0])
                && NaiveDate::parse_from_str(&r[1], "%Y-%m-%d").is_ok()
                && c.new_id(&format!("{}|{}|{}", &r[0], &r[2], &r[1]))
                && money_ok(&r[3]).is_some_and(|b| b > 0.0);
            tally("balances", ok);
        }
    }

    let mut c = Checker {
        customers,
        ids: HashSet::new(),
    };
    for f in files_under(dir, "online") {
        let file = fs::File::open(&f).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            assert!(batch.num_rows() <= super::online::ROW_GROUP_ROWS);
            let schema = batch.schema();
            assert_eq!(
                schema.field(4).data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            );
            assert_eq!(schema.field(8).data_type(), &DataType::Decimal128(18, 2));
            assert!(schema.fields().iter().all(|f| !f.is_nullable()));
            let sid = batch.column(0).as_string::<i32>();
            let cid = batch.column(1).as_string::<i32>();
            let login = batch.column(4).as_primitive::<TimestampMicrosecondType>();
            let tx = batch.column(7).as_primitive::<Int32Type>();
            let amount = batch.column(8).as_primitive::<Decimal128Type>();
            for i in 0..batch.num_rows() {
                assert!(!login.is_null(i) && login.value(i) > 0);
                let ok = c.new_id(sid.value(i)) && c.customer(cid.value(i)) && amount.value(i) >= 0;
                if ok {
                    assert_eq!(
                        tx.value(i) > 0,
                        amount.value(i) > 0,
                        "purchases and only purchases carry amounts"
                    );
                }
                tally("online", ok);
            }
        }
    }
    out
}

#[test]
fn clean_run_parses_and_has_right_shares() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run(dir.path(), 300, 2, 0.0);
    for (name, (rows, dirty)) in audit(dir.path(), 300) {
        assert_eq!(dirty, 0, "{name} has unexpected dirty rows");
        assert_eq!(rows, s.sources[name].rows_written, "{name}");
    }
    // Daily files exist even when empty, with a header.
    let first =
        fs::read_to_string(dir.path().join("atm/2024/01/atm_20240101.csv")).expect("atm file");
    assert!(first.starts_with(
        "txn_id,card_number,customer_id,atm_id,txn_time,txn_type,amount,currency,status\n"
    ));
    assert!(
        dir.path()
            .join("callcentre/2024/02/calls_29022024.txt")
            .exists()
    );
    assert!(
        dir.path()
            .join("branch/2024/02/tickets_20240229.jsonl")
            .exists()
    );

    // CRM file and truth.
    let crm = csv_records(&dir.path().join("crm/customers.csv"), b',');
    assert_eq!(crm.len(), 300);
    assert_eq!(&crm[0][0], "C0000001");
    assert!(
        crm.iter()
            .all(|r| r.len() == 9 && r[2].starts_with("+852 9") && r[2].len() == 14)
    );
    let truth = csv_records(&dir.path().join("_truth/customers.csv"), b',');
    let mut tiers: BTreeMap<String, usize> = BTreeMap::new();
    for r in &truth {
        *tiers.entry(r[1].to_string()).or_default() += 1;
    }
    let share = |t: &str| tiers.get(t).copied().unwrap_or(0) as f64 / 300.0;
    assert!((share("top") - 0.05).abs() < 0.02, "{tiers:?}");
    assert!((share("high") - 0.15).abs() < 0.03, "{tiers:?}");
    assert!((share("middle") - 0.60).abs() < 0.05, "{tiers:?}");
    assert!((share("low") - 0.20).abs() < 0.03, "{tiers:?}");

    // At least one `<script>` comment.
    let scripts = files_under(dir.path(), "surveys")
        .iter()
        .flat_map(|f| csv_records(f, b','))
        .filter(|r| r.get(11) == Some("<script>alert(1)</script>"))
        .count();
    assert!(scripts >= 1);
}

#[test]
fn dirty_rows_are_exactly_the_counted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run(dir.path(), 300, 2, 0.03);
    for (name, (rows, dirty)) in audit(dir.path(), 300) {
        let t = &s.sources[name];
        assert_eq!(rows, t.rows_written, "{name}");
        assert_eq!(dirty, t.rows_written - t.clean, "{name}: {:?}", t.dirty);
    }
    // The truncated line has no trailing newline.
    let mut truncated = 0;
    for f in files_under(dir.path(), "atm") {
        let bytes = fs::read(&f).expect("read");
        if !bytes.ends_with(b"\n") {
            truncated += 1;
        }
    }
    assert_eq!(truncated, 1);
}

/// Customers simulated in chunks (here 3 of 100, 100 and 50) give files a
/// loader cannot tell apart from one pass: one header per file, every row
/// valid or counted dirty, ids unique across chunks, one truncated line per
/// source at a file's very end, and the manifest counting each file once.
#[test]
fn chunked_generation_is_one_consistent_data_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run_chunked(dir.path(), 250, 2, 0.03, 100);
    for (name, (rows, dirty)) in audit(dir.path(), 250) {
        let t = &s.sources[name];
        assert_eq!(rows, t.rows_written, "{name}");
        assert_eq!(dirty, t.rows_written - t.clean, "{name}: {:?}", t.dirty);
    }
    assert_eq!(s.sources["atm"].files, 31 + 29);
    assert_eq!(s.sources["balances"].files, 2);
    // Online sessions: one Parquet part per chunk and month.
    assert_eq!(s.sources["online"].files, 3 * 2);
    assert!(
        dir.path()
            .join("online/sessions_2024-02_part2.parquet")
            .exists()
    );
    assert_eq!(files_under(dir.path(), "online").len(), 6);
    for src in [
        "atm",
        "branch",
        "callcentre",
        "surveys",
        "balances",
        "complaints",
        "rm",
    ] {
        assert_eq!(s.sources[src].dirty.get("truncated"), Some(&1), "{src}");
    }
    let mut truncated = 0;
    for f in files_under(dir.path(), "atm") {
        let text = fs::read_to_string(&f).expect("read");
        assert_eq!(text.matches("txn_id,").count(), 1, "{}", f.display());
        truncated += usize::from(!text.ends_with('\n'));
    }
    assert_eq!(truncated, 1);
    let crm = csv_records(&dir.path().join("crm/customers.csv"), b',');
    let ids: HashSet<&str> = crm.iter().map(|r| r.get(0).unwrap_or("")).collect();
    assert_eq!((crm.len(), ids.len()), (250, 250));
    assert!(ids.contains("C0000001") && ids.contains("C0000250"));
    // Referrals point at existing, earlier-opened customers of any chunk.
    let opened: HashMap<&str, &str> = crm
        .iter()
        .map(|r| (r.get(0).unwrap_or(""), r.get(6).unwrap_or("")))
        .collect();
    for r in &crm {
        if let Some(by) = r.get(8).filter(|b| !b.is_empty()) {
            assert!(opened[by] <= opened[r.get(0).unwrap_or("")], "{r:?}");
        }
    }
    let truth = csv_records(&dir.path().join("_truth/customers.csv"), b',');
    assert_eq!(truth.len(), 250);
    // Deterministic for the seed and chunk size.
    let again = tempfile::tempdir().expect("tempdir");
    run_chunked(again.path(), 250, 2, 0.03, 100);
    for f in files(dir.path()) {
        assert!(
            fs::read(dir.path().join(&f)).ok() == fs::read(again.path().join(&f)).ok(),
            "{} differs",
            f.display()
        );
    }
}

#[test]
fn churners_go_quiet_before_churn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let months = 8;
    run(dir.path(), 800, months, 0.0);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let day = |s: &str| {
        (NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").expect("date") - start).num_days()
    };
    let crm = csv_records(&dir.path().join("crm/customers.csv"), b',');
    let truth = csv_records(&dir.path().join("_truth/customers.csv"), b',');
    // Churners opened before the window whose churn leaves >= 60 days before the ramp.
    let mut churn: BTreeMap<String, i64> = BTreeMap::new();
    for (t, c) in truth.iter().zip(&crm) {
        if !t[2].is_empty() && day(&c[6]) < 0 && day(&t[2]) >= 150 {
            churn.insert(t[0].to_string(), day(&t[2]));
        }
    }
    assert!(churn.len() >= 10, "only {} churners", churn.len());
    let (mut before, mut before_days, mut last, mut last_days) = (0u64, 0i64, 0u64, 0i64);
    for ch in churn.values() {
        before_days += ch - 90;
        last_days += 60;
    }
    let mut count = |cust: &str, d: i64| {
        if let Some(&ch) = churn.get(cust) {
            if d < ch - 90 {
                before += 1;
            } else if d >= ch - 60 && d < ch {
                last += 1;
            }
        }
    };
    for f in files_under(dir.path(), "atm") {
        for r in csv_records(&f, b',') {
            count(&r[2], day(&r[4]));
        }
    }
    for f in files_under(dir.path(), "branch") {
        for line in fs::read_to_string(&f).expect("read").lines() {
            let m: BTreeMap<String, String> = serde_json::from_str(line).expect("json");
            count(&m["customer_id"], day(&m["issued_at"]));
        }
    }
    for f in files_under(dir.path(), "callcentre") {
        for r in csv_records(&f, b'|') {
            let d = NaiveDateTime::parse_from_str(&r[2], "%d/%m/%Y %H:%M:%S")
                .expect("time")
                .date();
            count(&r[1], (d - start).num_days());
        }
    }
    let rate_before = before as f64 / before_days as f64;
    let rate_last = last as f64 / last_days as f64;
    assert!(
        rate_last < 0.75 * rate_before,
        "last-60-day rate {rate_last:.4} vs earlier {rate_before:.4} ({} churners)",
        churn.len()
    );
}

#[test]
fn rejects_bad_options() {
    let bad = [
        GenerateOptions {
            customers: 0,
            ..GenerateOptions::default()
        },
        GenerateOptions {
            months: 0,
            ..GenerateOptions::default()
        },
        GenerateOptions {
            start: NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"),
            ..GenerateOptions::default()
        },
        GenerateOptions {
            dirty_rate: 1.5,
            ..GenerateOptions::default()
        },
        GenerateOptions {
            tier_thresholds: [1, 2, 3],
            ..GenerateOptions::default()
        },
        GenerateOptions {
            chunk_customers: 0,
            ..GenerateOptions::default()
        },
    ];
    for o in bad {
        assert!(
            matches!(generate(&o), Err(super::GenerateError::Invalid(_))),
            "{o:?}"
        );
    }
}

/// `cargo test --release --lib generate::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = GenerateOptions {
        out: dir.path().to_path_buf(),
        ..GenerateOptions::default()
    };
    let s = generate(&opts).expect("generate");
    let churned = csv_records(&dir.path().join("_truth/customers.csv"), b',')
        .iter()
        .filter(|r| !r[2].is_empty())
        .count();
    println!(
        "{} events, {} files in {:.2}s = {:.0} events/s; churned {churned} of {}",
        s.events,
        s.files,
        s.seconds,
        s.events as f64 / s.seconds,
        opts.customers
    );
    for (name, t) in &s.sources {
        println!("{name}: {} rows, dirty {:?}", t.rows_written, t.dirty);
    }
}
