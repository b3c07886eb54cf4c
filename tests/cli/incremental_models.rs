//! Models rebuilt only where their inputs changed (issue 23 item 2): a
//! seeded random sequence of runs — days delivered late, a corrected file,
//! a removed file, a changed customer master, runs of single months out of
//! order, a full refresh — and after every run each model table equals a
//! from-scratch build of every model over the same sources.

use crate::common::{
    copy_dir, generate, hold_back_last_atm_day, ok, ok_all, ok_all_env, project, touchpoint,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Columns that belong to the run that wrote them, not to the data.
const VOLATILE: [&str; 7] = [
    "run_id",
    "started_at",
    "loaded_at",
    "checked_at",
    "fitted_at",
    "seconds",
    "generated_at",
];

/// A small, seeded generator (the sequence must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// The models, in build order, from `validate`'s output.
fn models(dir: &Path) -> Vec<String> {
    let out = ok(dir, &["validate"]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("model order: "))
        .expect("model order");
    line.split(" → ").map(str::to_string).collect()
}

/// Every model table's rows as sorted text lines, run columns left out and
/// doubles rounded (a sum over other batches may differ in its last bit).
fn dump(dir: &Path, models: &[String]) -> BTreeMap<String, Vec<String>> {
    let cols = crate::common::query(
        dir,
        "SELECT table_name, column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &cols {
        let (t, name, ty) = (
            c["table_name"].as_str().expect("t"),
            c["column_name"].as_str().expect("c"),
            c["data_type"].as_str().expect("ty"),
        );
        if !models.iter().any(|m| m == t) || VOLATILE.contains(&name) {
            continue;
        }
        let v = if ty.contains("Float") {
            format!("CAST(round(\"{name}\", 6) AS VARCHAR)")
        } else {
            format!("CAST(\"{name}\" AS VARCHAR)")
        };
        by_table
            .entry(t.to_string())
            .or_default()
            .push(format!("coalesce({v}, '∅')"));
    }
    let sql = by_table
        .iter()
        .map(|(t, exprs)| {
            format!(
                "SELECT '{t}' AS t, concat_ws('|', {}) AS r FROM \"{t}\"",
                exprs.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let csv = ok(dir, &["query", "--format", "csv", &sql]);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let (t, r) = line.split_once(',').expect("t,r");
        out.entry(t.to_string()).or_default().push(r.to_string());
    }
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

/// The model tables of `dir` against every model built whole over the
/// same sources (a copy of the project with the model tables removed, run
/// for the same periods: every source is skipped, every model built).
fn same_as_a_full_build(dir: &Path, periods: &str, models: &[String], step: &str) {
    let scratch_tmp = tempfile::tempdir().expect("tmp");
    let scratch = scratch_tmp.path();
    for d in ["pipelines", "queries", "reports", "data", "warehouse"] {
        copy_dir(&dir.join(d), &scratch.join(d));
    }
    for m in models {
        let _ = std::fs::remove_dir_all(scratch.join("warehouse").join(m));
    }
    let out = ok(scratch, &["run", "--period", periods]);
    assert!(
        !out.contains("\nload  "),
        "{step}: the copy read extracts again:\n{out}"
    );
    let (a, b) = (dump(dir, models), dump(scratch, models));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (t, rows) in &a {
        let full = &b[t];
        if rows != full {
            let only_inc: Vec<&String> =
                rows.iter().filter(|r| !full.contains(r)).take(3).collect();
            let only_full: Vec<&String> =
                full.iter().filter(|r| !rows.contains(r)).take(3).collect();
            panic!(
                "{step}: `{t}` differs from a full build ({} vs {} rows)\nincremental only: {only_inc:?}\nfull only: {only_full:?}",
                rows.len(),
                full.len()
            );
        }
    }
}

/// Daily files of the three daily sources.
fn daily(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (sub, ext) in [("atm", "csv"), ("branch", "jsonl"), ("callcentre", "txt")] {
        for m in 1..=4 {
            let d = dir.join(format!("data/{sub}/2024/{m:02}"));
            if let Ok(rd) = std::fs::read_dir(&d) {
                out.extend(
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == ext)),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn incremental_models_equal_a_full_build_after_every_run() {
    let p = project();
    let dir = p.path();
    generate(dir, 120, 4, 11, &[]);
    let models = models(dir);
    // Held back: every daily file from 2024-03-25 on, to arrive late.
    let stash = dir.join("stash");
    std::fs::create_dir_all(&stash).expect("stash");
    let mut held: Vec<(PathBuf, PathBuf)> = Vec::new();
    for f in daily(dir) {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let digits: String = name.chars().filter(char::is_ascii_digit).collect();
        // atm_YYYYMMDD, tickets_YYYYMMDD, calls_DDMMYYYY.
        let (month, day) = if name.starts_with("calls_") {
            (&digits[2..4], &digits[0..2])
        } else {
            (&digits[4..6], &digits[6..8])
        };
        if (month, day) >= ("03", "25") {
            let to = stash.join(format!("{}-{name}", held.len()));
            std::fs::rename(&f, &to).expect("hold back");
            held.push((f, to));
        }
    }
    assert!(held.len() > 20, "{} held back", held.len());
    ok(dir, &["run", "--period", "2024-01..2024-03"]);
    same_as_a_full_build(dir, "2024-01..2024-03", &models, "first run");
    let mut rng = Lcg(2024);
    let mut rebuilt_by_period = 0;
    for step in 0..7 {
        let what = match rng.below(5) {
            0 | 1 if !held.is_empty() => {
                // Late days arrive: a few, or all that are left.
                let n = if held.len() < 6 {
                    held.len()
                } else {
                    1 + rng.below(5)
                };
                for _ in 0..n {
                    let (back, from) = held.remove(rng.below(held.len()));
                    std::fs::rename(&from, &back).expect("deliver");
                }
                format!("{n} late file(s) delivered")
            }
            2 => {
                // A corrected ATM file: one amount changes.
                let atm: Vec<PathBuf> = daily(dir)
                    .into_iter()
                    .filter(|f| f.to_string_lossy().contains("/atm/"))
                    .collect();
                let f = &atm[rng.below(atm.len())];
                let text = std::fs::read_to_string(f).expect("read");
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                if lines.len() > 1 {
                    let mut fields: Vec<String> = lines[1].split(',').map(str::to_string).collect();
                    fields[6] = format!("{}.00", 100 + 100 * rng.below(20));
                    lines[1] = fields.join(",");
                }
                std::fs::write(f, lines.join("\n") + "\n").expect("write");
                format!("{} corrected", f.display())
            }
            3 => {
                // A branch file withdrawn.
                let branch: Vec<PathBuf> = daily(dir)
                    .into_iter()
                    .filter(|f| f.to_string_lossy().contains("/branch/"))
                    .collect();
                let f = &branch[rng.below(branch.len())];
                std::fs::remove_file(f).expect("remove");
                format!("{} removed", f.display())
            }
            _ => {
                // The customer master changes a region.
                let f = dir.join("data/crm/customers.csv");
                let text = std::fs::read_to_string(&f).expect("read");
                let regions = ["Kowloon", "New Territories", "Hong Kong Island"];
                let pick = regions[rng.below(3)];
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                let at = 1 + rng.below(lines.len() - 1);
                let header: Vec<&str> = lines[0].split(',').collect();
                let region = header.iter().position(|h| *h == "region").expect("region");
                let mut fields: Vec<String> = lines[at].split(',').map(str::to_string).collect();
                fields[region] = pick.to_string();
                lines[at] = fields.join(",");
                std::fs::write(&f, lines.join("\n") + "\n").expect("write");
                format!("customer on line {at} moved to {pick}")
            }
        };
        let periods = match rng.below(4) {
            0 => "2024-01..2024-04".to_string(),
            1 => format!("2024-{:02}", 1 + rng.below(4)),
            2 => "2024-03..2024-04".to_string(),
            _ => format!("2024-{:02}..2024-04", 2 + rng.below(3)),
        };
        let mut args = vec!["run", "--period", periods.as_str()];
        if rng.below(6) == 0 {
            args.push("--full-refresh");
        }
        let out = touchpoint(dir, &args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "step {step} ({what}; {args:?}): {text}"
        );
        eprintln!("step {step}: {what}; {args:?}");
        for l in text.lines().filter(|l| l.contains("customer_month")) {
            eprintln!("  {l}");
        }
        rebuilt_by_period += text.matches("model customer_month: rebuilt 2024-").count();
        same_as_a_full_build(
            dir,
            &periods,
            &models,
            &format!("step {step}: {what}; {args:?}"),
        );
    }
    assert!(
        rebuilt_by_period > 0,
        "the sequence never rebuilt a model by period"
    );
}

/// A model too big for the memory pool in one query is built a few months
/// at a time (here `TOUCHPOINT_PART_ROWS=1` makes every month a part where
/// the lookback allows), unless the parts would read months again and one
/// query's plan holds nothing that grows with its input: the rows, whole
/// and when late days arrive, equal every model built in one query.
#[test]
fn models_built_in_parts_equal_one_query_each() {
    let p = project();
    let dir = p.path();
    generate(dir, 120, 4, 13, &[]);
    let models = models(dir);
    let stash = dir.join("stash");
    std::fs::create_dir_all(&stash).expect("stash");
    let mut held = Vec::new();
    for f in daily(dir) {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        // atm_YYYYMMDD: February's and March's last days arrive late.
        if name.starts_with("atm_") && (name.contains("0227") || name.contains("0328")) {
            let to = stash.join(&name);
            std::fs::rename(&f, &to).expect("hold back");
            held.push((f, to));
        }
    }
    assert_eq!(held.len(), 2, "{held:?}");
    let parts = [("TOUCHPOINT_PART_ROWS", "1".to_string())];
    let run = |periods: &str| ok_all_env(dir, &["run", "--period", periods], &parts);
    let line = |text: &str, model: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("model {model}:")))
            .unwrap_or_else(|| panic!("no line for {model}:\n{text}"))
            .to_string()
    };
    let out = run("2024-01..2024-04");
    let cm = line(&out, "customer_month");
    assert!(
        cm.contains("rebuilt whole")
            && cm.contains("in 4 parts (2024-01, 2024-02, 2024-03, 2024-04)"),
        "{cm}"
    );
    // A month pairs with the month before: four parts, each reading two
    // months (January alone).
    assert!(
        line(&out, "channel_migration").contains("in 4 parts"),
        "{out}"
    );
    // Twelve months of inactivity: every part would read everything.
    assert!(!line(&out, "churn_features").contains("parts"), "{out}");
    same_as_a_full_build(dir, "2024-01..2024-04", &models, "built in parts");

    for (back, from) in &held {
        std::fs::rename(from, back).expect("deliver");
    }
    // Room for 50 rows a part: a month is still a part by itself, but a
    // plan that holds at most 50 rows (`channel_migration`'s two-row cross
    // join) and whose parts would read a month twice is one query.
    let roomier = [("TOUCHPOINT_PART_ROWS", "50".to_string())];
    let out = ok_all_env(dir, &["run", "--period", "2024-01..2024-04"], &roomier);
    let cm = line(&out, "customer_month");
    assert!(
        cm.contains("rebuilt 2024-02, 2024-03") && cm.contains("in 2 parts"),
        "{cm}"
    );
    let migration = line(&out, "channel_migration");
    assert!(
        migration.contains("in one query: ") && migration.contains("streams or spills"),
        "{migration}"
    );
    same_as_a_full_build(dir, "2024-01..2024-04", &models, "late days, in parts");
}

/// The churn step rebuilt by period (issue 23 item 1): a new day at the
/// end of the year leaves its training and test rows as they were, so the
/// kept fit (`refit: on_change`) scores the months whose features changed,
/// with no fit; a corrected balance in a training month moves the fit, and
/// every row is scored again. Both times the tables equal a full build.
#[test]
fn the_churn_step_scores_changed_months_while_its_fit_holds() {
    let p = project();
    let dir = p.path();
    generate(dir, 150, 12, 5, &[]);
    let models = models(dir);
    let (last, held) = hold_back_last_atm_day(dir, "2024/12");
    let out = ok_all(dir, &["run", "--period", "2024-01..2024-12"]);
    assert!(
        out.contains("model churn_risk: AUC"),
        "the churn model was not fitted:\n{out}"
    );

    std::fs::rename(&held, &last).expect("deliver");
    let out = ok_all(dir, &["run", "--period", "2024-12"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("model churn_risk:"))
        .unwrap_or_else(|| panic!("no churn_risk line:\n{out}"));
    assert!(
        line.contains("rebuilt 2024-09, 2024-10, 2024-11, 2024-12:") && !line.contains("whole"),
        "a new December day should rescore September to December only: {line}"
    );
    // September, a test month, was written again with the same rows: the
    // kept fit scored the months, with no fit (no AUC to report).
    assert!(
        line.contains("the kept fit scored 2024-09..2024-12") && !line.contains("AUC"),
        "a new December day should not fit again: {line}"
    );
    same_as_a_full_build(dir, "2024-01..2024-12", &models, "a new day");

    // A training month's balance is corrected: the fit moves.
    let f = dir.join("data/crm/balances/balances_2024-02.csv");
    let text = std::fs::read_to_string(&f).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for l in lines.iter_mut().skip(1).step_by(3) {
        let mut fields: Vec<String> = l.split(',').map(str::to_string).collect();
        fields[3] = "1.00".into();
        *l = fields.join(",");
    }
    std::fs::write(&f, lines.join("\n") + "\n").expect("write");
    let out = ok_all(dir, &["run", "--period", "2024-02"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("model churn_risk:"))
        .unwrap_or_else(|| panic!("no churn_risk line:\n{out}"));
    assert!(
        line.contains("rebuilt whole") && line.contains("the fit changed"),
        "a changed training month should refit and rescore everything: {line}"
    );
    same_as_a_full_build(
        dir,
        "2024-01..2024-12",
        &models,
        "a corrected training month",
    );
}

/// A model is rebuilt for what decides its rows, not for where the project
/// lies: the same project moved to another folder (a restore, a release
/// directory, a CI checkout), with a model's description reworded, runs
/// again with every model skipped; an edited SQL file rebuilds its model.
#[test]
fn a_moved_project_rebuilds_nothing() {
    let p = project();
    generate(p.path(), 60, 2, 3, &[]);
    ok_all(p.path(), &["run", "--period", "2024-01..2024-02"]);
    let moved = tempfile::tempdir().expect("tempdir");
    let dir = moved.path().join("elsewhere");
    copy_dir(p.path(), &dir);
    drop(p);
    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let text = std::fs::read_to_string(&yaml).expect("read");
    let reworded = text.replacen(
        "description: Interactions, share and amount per channel, month and tier.",
        "description: Each month's interactions, share and amount by channel and tier.",
        1,
    );
    assert_ne!(reworded, text, "the description to reword is gone");
    std::fs::write(&yaml, reworded).expect("write");

    let out = ok_all(&dir, &["run", "--period", "2024-01..2024-02"]);
    let built: Vec<&str> = out.lines().filter(|l| l.starts_with("model ")).collect();
    assert!(
        built.is_empty(),
        "a moved project rebuilt models:\n{}",
        built.join("\n")
    );
    assert!(out.contains("skip  model channel_mix_monthly"), "{out}");

    let sql = dir.join("queries/channel_mix_monthly.sql");
    let text = std::fs::read_to_string(&sql).expect("read");
    std::fs::write(&sql, format!("-- reworded\n{text}")).expect("write");
    let out = ok_all(&dir, &["run", "--period", "2024-01..2024-02"]);
    assert!(
        out.contains("model channel_mix_monthly: rebuilt whole: its definition changed"),
        "{out}"
    );
}
