//! Cluster mode against real processes: a `touchpoint scheduler` and two
//! `touchpoint executor`s on loopback, the demo pipeline run on them, and
//! every table compared with a local run of the same data.

use crate::common::{
    Env, free_ports, generate, listening, ok, ok_env, on_fresh_ports, project, snapshot,
    touchpoint_env,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scheduler and executors, each its own process, killed when dropped.
pub struct Cluster {
    scheduler: Option<Child>,
    executors: Vec<Child>,
    pub engine: String,
    _logs: tempfile::TempDir,
}

impl Cluster {
    pub fn start(executors: usize) -> Cluster {
        Cluster::start_with(executors, &[])
    }

    /// Executors with `env` too (a bucket's endpoint and credentials).
    pub fn start_with(executors: usize, env: Env) -> Cluster {
        let logs = tempfile::tempdir().expect("tempdir");
        // Started, and listening on `port`; its stderr when it is not.
        let spawn = |args: &[String], log: &str, port: u16| -> Result<Child, String> {
            let path = |suffix: &str| logs.path().join(format!("{log}.{suffix}"));
            let file = |suffix: &str| std::fs::File::create(path(suffix)).expect("log");
            let mut child = Command::new(crate::common::bin())
                .args(args)
                .env("TOUCHPOINT_HASH_KEY", crate::common::HASH_KEY)
                .env_remove("TOUCHPOINT_HASH_KEY_FILE")
                .env("TOUCHPOINT_MEMORY_MB", "256")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::from(file("out")))
                .stderr(Stdio::from(file("err")))
                .spawn()
                .expect("spawn touchpoint");
            listening(&mut child, port, || {
                std::fs::read_to_string(path("err")).unwrap_or_default()
            })?;
            Ok(child)
        };
        let (scheduler, port) = on_fresh_ports(1, "the scheduler", |_, p| {
            let args = [
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{}", p[0]),
            ];
            spawn(&args, "scheduler", p[0]).map(|child| (child, p[0]))
        });
        let mut children = Vec::new();
        for i in 0..executors {
            let work = logs.path().join(format!("work{i}"));
            std::fs::create_dir_all(&work).expect("mkdir");
            let child = on_fresh_ports(2, "an executor", |_, p| {
                spawn(
                    &[
                        "executor".into(),
                        "--scheduler".into(),
                        format!("127.0.0.1:{port}"),
                        "--bind".into(),
                        format!("127.0.0.1:{}", p[0]),
                        "--grpc-port".into(),
                        p[1].to_string(),
                        "--slots".into(),
                        "2".into(),
                        "--work-dir".into(),
                        work.display().to_string(),
                    ],
                    &format!("executor{i}"),
                    p[0],
                )
            });
            children.push(child);
        }
        Cluster {
            scheduler: Some(scheduler),
            executors: children,
            engine: format!("ballista://127.0.0.1:{port}"),
            _logs: logs,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("TOUCHPOINT_ENGINE", self.engine.clone())]
    }

    /// SIGKILL executor `i`: no goodbye to the scheduler.
    pub fn kill_executor(&mut self, i: usize) {
        let _ = self.executors[i].kill();
        let _ = self.executors[i].wait();
    }

    pub fn stop_scheduler(&mut self) {
        if let Some(mut s) = self.scheduler.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stop_scheduler();
    }
}

/// A CSV line with every number that has a fraction rounded to 9
/// significant digits: a sum over partitions adds in another order on a
/// cluster, which moves the last bits of a float.
fn rounded(line: &str) -> String {
    line.split(',')
        .map(|cell| match cell.parse::<f64>() {
            Ok(v) if cell.contains(['.', 'e', 'E']) && v.is_finite() && v != 0.0 => {
                format!("{v:.8e}")
            }
            _ => cell.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn rounded_tables(t: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    t.into_iter()
        .map(|(k, v)| {
            let mut lines: Vec<String> = v.iter().map(|l| rounded(l)).collect();
            lines.sort();
            (k, lines)
        })
        .collect()
}

/// The demo bank for three months, run with `env`.
fn three_months(dir: &Path, env: Env) -> String {
    generate(dir, 300, 3, 11, &[]);
    ok_env(dir, &["run", "--period", "2024-01..2024-03"], env)
}

fn compare(local: &BTreeMap<String, Vec<String>>, cluster: &BTreeMap<String, Vec<String>>) {
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        cluster.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (t, rows) in local {
        let other = &cluster[t];
        assert_eq!(rows.len(), other.len(), "{t}: row count");
        if let Some((a, b)) = rows.iter().zip(other).find(|(a, b)| a != b) {
            panic!("{t} differs:\n local:   {a}\n cluster: {b}");
        }
    }
}

#[test]
fn a_pipeline_on_a_cluster_writes_what_a_local_run_writes() {
    let mut cluster = Cluster::start(2);
    let env = cluster.env();
    let (local, remote) = (project(), project());
    three_months(local.path(), &[]);
    // A month a part on the cluster (a big bank's shape): every part reads
    // its inputs filtered to one month, where DataFusion plans a window by
    // period with no sort, which the executors' copy of the plan cannot run
    // unless the scheduler sorts it (cluster/windows.rs).
    let mut parts = env.clone();
    parts.push(("TOUCHPOINT_PART_ROWS", "1".into()));
    generate(remote.path(), 300, 3, 11, &[]);
    let out = crate::common::ok_all_env(
        remote.path(),
        &["run", "--period", "2024-01..2024-03"],
        &parts,
    );
    assert!(out.contains("in 3 parts"), "{out}");
    assert!(out.contains(" ok in "), "{out}");
    let want = rounded_tables(snapshot(local.path(), &[], "data"));
    // Read back through the cluster too: every table's rows as executors scan them.
    let got = rounded_tables(snapshot(remote.path(), &env, "data"));
    assert!(want.len() > 20, "tables: {:?}", want.keys());
    assert!(want["customer_month"].len() > 800);
    compare(&want, &got);
    // And the cluster-built warehouse read locally: the same rows again.
    compare(&want, &rounded_tables(snapshot(remote.path(), &[], "data")));

    // A regional manager through the cluster: Kowloon's customers only.
    let count = |env: Env, reader: &str| -> String {
        let mut env = env.to_vec();
        env.push(("TOUCHPOINT_READER", reader.to_string()));
        ok_env(
            remote.path(),
            &[
                "query",
                "--format",
                "csv",
                "SELECT COUNT(DISTINCT customer_id) AS n, MIN(region) AS lo, MAX(region) AS hi FROM customers",
            ],
            &env,
        )
    };
    let kowloon = ok(
        local.path(),
        &[
            "query",
            "--format",
            "csv",
            "SELECT COUNT(DISTINCT customer_id) AS n FROM customers WHERE region = 'Kowloon'",
        ],
    );
    let n = kowloon.lines().nth(1).expect("count").to_string();
    assert!(n.parse::<u32>().expect("number") > 10);
    let scoped = count(&env, "kowloon_manager");
    assert_eq!(
        scoped.lines().nth(1),
        Some(format!("{n},Kowloon,Kowloon").as_str())
    );

    // A reader's month: the same window over one period, on the cluster.
    let month = "SELECT period, tier, COUNT(*) AS n, SUM(COUNT(*)) OVER (PARTITION BY period) AS t \
                 FROM customer_month WHERE period = '2024-02' GROUP BY period, tier ORDER BY tier";
    assert_eq!(
        ok_env(remote.path(), &["query", "--format", "csv", month], &env),
        ok(local.path(), &["query", "--format", "csv", month])
    );

    // A plan travels with its partition count (fixed here; by default one
    // per 16 MiB it reads, at least the client's own).
    let mut seven = env.clone();
    seven.push(("TOUCHPOINT_CLUSTER_PARTITIONS", "7".into()));
    let explain = "EXPLAIN SELECT tier, COUNT(*) AS n FROM customer_month GROUP BY tier";
    let plan = ok_env(
        remote.path(),
        &["query", "--format", "csv", explain],
        &seven,
    );
    assert!(
        plan.contains("SortShuffleWriterExec: partitioning=Hash([tier@0], 7)"),
        "{plan}"
    );
    // A join to a few rows builds them in every task, not a merge join of
    // the customers shuffled by a five-value key.
    let explain = "EXPLAIN SELECT r.tier, COUNT(*) AS n FROM customer_month cm \
                   JOIN tier_rules r ON r.tier_rank = cm.tier_rank GROUP BY r.tier";
    let plan = ok_env(remote.path(), &["query", "--format", "csv", explain], &env);
    assert!(
        plan.contains("HashJoinExec: mode=CollectLeft, join_type=Inner"),
        "{plan}"
    );
    assert!(!plan.contains("SortMergeJoinExec"), "{plan}");

    // An executor's pool is all of its TOUCHPOINT_MEMORY_MB, shared by its
    // task slots as a local run's is (Ballista's would be 1/slots per task),
    // and a query that outgrows it fails with the pool's size and a way out.
    let small = Cluster::start_with(1, &[("TOUCHPOINT_MEMORY_MB", "1".into())]);
    // One group's list of every interaction a hundred times over: an
    // aggregate that cannot spill, at every size of the demo.
    let outgrows = "WITH k AS (SELECT * FROM (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)) AS t(k)) \
                    SELECT cardinality(array_agg(concat(i.customer_id, i.channel, a.k, b.k))) AS n \
                    FROM interactions i CROSS JOIN k a CROSS JOIN k b";
    let out = touchpoint_env(remote.path(), &["query", outgrows], &small.env());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("pool_size: 1024.0 KB"), "{err}");
    assert!(
        err.contains("help:") && err.contains("TOUCHPOINT_MEMORY_MB"),
        "{err}"
    );
    drop(small);

    // The scheduler gone: the run fails fast, naming it, and changes nothing.
    cluster.stop_scheduler();
    let before = snapshot(remote.path(), &[], "data");
    let t = Instant::now();
    let failed = touchpoint_env(remote.path(), &["run", "--period", "2024-03"], &env);
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(err.contains(&cluster.engine), "{err}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    // Before any seed or load: the cluster is checked first.
    assert!(err.trim_start().starts_with("error:"), "{err}");
    assert_eq!(before, snapshot(remote.path(), &[], "data"));
    let q = touchpoint_env(remote.path(), &["query", "SELECT 1"], &env);
    let err = String::from_utf8_lossy(&q.stderr);
    assert!(
        !q.status.success() && err.contains(&cluster.engine),
        "{err}"
    );
    // A partition count that is not one is named, not taken for the default.
    let mut bad = env.clone();
    bad.push(("TOUCHPOINT_CLUSTER_PARTITIONS", "0".into()));
    let q = touchpoint_env(remote.path(), &["query", "SELECT 1"], &bad);
    let err = String::from_utf8_lossy(&q.stderr);
    assert!(!q.status.success(), "{err}");
    assert!(
        err.contains("TOUCHPOINT_CLUSTER_PARTITIONS=`0`") && err.contains("help:"),
        "{err}"
    );
}

#[test]
fn readers_on_a_cluster_reveal_no_personal_value() {
    use crate::analyst::{attempts, leaks, run_query_env, write_project};
    let cluster = Cluster::start(1);
    let env = cluster.env();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "access:\n  grants:\n    dpo: [customers.full_name]\n");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let as_reader = |sql: &str, reader: &str| {
        let out = run_query_env(dir, sql, reader, &env);
        without_job_ids(&format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    // The control: a granted reader sees names through the cluster, so the
    // masks below are what hides them.
    let dpo = as_reader("SELECT full_name FROM customers", "dpo");
    assert!(leaks(&dpo).iter().any(|l| l.contains("Chan Tai")), "{dpo}");
    let hashed = as_reader("SELECT phone FROM customers", "analyst");
    assert_eq!(
        hashed.lines().filter(|l| l.len() == 64).count(),
        3,
        "{hashed}"
    );
    for sql in attempts(dir) {
        let text = as_reader(&sql, "analyst");
        assert!(
            leaks(&text).is_empty(),
            "{sql} revealed {:?} through the cluster:\n{text}",
            leaks(&text)
        );
    }
}

#[test]
fn validate_refuses_a_remote_cluster_with_a_local_warehouse() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 20, 1, 3, &[]);
    let out = touchpoint_env(
        dir,
        &["validate"],
        &[("TOUCHPOINT_ENGINE", "ballista://10.20.30.40:50050".into())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert_eq!(err.matches("error:").count(), 2, "one problem: {err}");
    assert!(err.contains("is a folder on this machine"), "{err}");
    assert!(err.contains("ballista://10.20.30.40:50050"), "{err}");
    // A loopback cluster shares this machine's folders.
    ok_env(
        dir,
        &["validate"],
        &[("TOUCHPOINT_ENGINE", "ballista://127.0.0.1:50050".into())],
    );
    let bad = touchpoint_env(
        dir,
        &["validate"],
        &[("TOUCHPOINT_ENGINE", "spark://x".into())],
    );
    assert_eq!(bad.status.code(), Some(78));
}

#[test]
fn an_executor_killed_during_the_models_leaves_the_same_tables() {
    use std::io::BufRead;
    let mut cluster = Cluster::start(2);
    let env = cluster.env();
    let (local, remote) = (project(), project());
    three_months(local.path(), &[]);
    generate(remote.path(), 300, 3, 11, &[]);
    let mut run = crate::common::spawn_env(
        remote.path(),
        &["run", "--period", "2024-01..2024-03", "--no-progress"],
        &env,
    );
    // Progress lines go to stderr; the first model line means the loads are
    // done and the models are running on the cluster.
    let stderr = run.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let models = line.starts_with("model ") || line.starts_with("build interactions");
        seen.push(line);
        if models {
            cluster.kill_executor(0);
            break;
        }
    }
    let killed = Instant::now();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = run.wait().expect("wait");
    eprintln!(
        "the run finished {:.1} s after executor 0 was killed, at: {}",
        killed.elapsed().as_secs_f64(),
        seen.last().map(String::as_str).unwrap_or_default()
    );
    assert!(
        status.success(),
        "the run failed after an executor died:\n{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    assert!(seen.iter().any(|l| l.starts_with("build ")), "{seen:?}");
    compare(
        &rounded_tables(snapshot(local.path(), &[], "data")),
        &rounded_tables(snapshot(remote.path(), &[], "data")),
    );
}

/// The warehouse in a bucket whose keys are a credential profile's: the
/// plain `AWS_*` keys are wrong on the client and on every executor, so the
/// executors read only because the plan names the profile and each one
/// takes its own `TOUCHPOINT_PROFILE_DW_*` variables.
#[test]
fn a_warehouse_in_a_bucket_is_read_by_the_executors_with_its_profile() {
    use crate::s3::{KEY, SECRET, s3_env, start_seaweed, upload};
    let store = tempfile::tempdir().expect("tempdir");
    let weed = start_seaweed(store.path());
    let mut bucket: Vec<(&str, String)> = s3_env(&weed.endpoint)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    bucket.push(("AWS_ACCESS_KEY_ID", "nobody".into()));
    bucket.push(("AWS_SECRET_ACCESS_KEY", "wrong".into()));
    bucket.push(("TOUCHPOINT_PROFILE_DW_AWS_ACCESS_KEY_ID", KEY.into()));
    bucket.push(("TOUCHPOINT_PROFILE_DW_AWS_SECRET_ACCESS_KEY", SECRET.into()));
    let cluster = Cluster::start_with(2, &bucket);
    let mut env = bucket.clone();
    env.extend(cluster.env());
    let (local, remote) = (project(), project());
    for dir in [local.path(), remote.path()] {
        generate(dir, 200, 2, 5, &[]);
    }
    let yaml_path = remote.path().join("pipelines/monthly_cx.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).expect("read");
    std::fs::write(
        &yaml_path,
        yaml.replacen(
            "extracts: ../data",
            "extracts: ../data\nprofiles: {extracts: dw, warehouse: dw}",
            1,
        ),
    )
    .expect("write");
    upload(&remote.path().join("data"), &weed.endpoint);
    ok(local.path(), &["run", "--period", "2024-01..2024-02"]);
    ok_env(
        remote.path(),
        &["run", "--period", "2024-01..2024-02"],
        &env,
    );
    let want = rounded_tables(snapshot(local.path(), &[], "data/"));
    let got = rounded_tables(snapshot(remote.path(), &env, "s3://touchpoint/raw/cx/"));
    assert!(want["customer_month"].len() > 300);
    compare(&want, &got);
    // The executors alone hold the profile's keys now: a reader's query
    // through them fails, naming the variables, and nothing falls back to
    // the plain keys.
    drop(cluster);
    let without: Vec<(&str, String)> = bucket
        .iter()
        .filter(|(k, _)| !k.starts_with("TOUCHPOINT_PROFILE_"))
        .cloned()
        .collect();
    let cluster = Cluster::start_with(1, &without);
    let mut wrong = bucket.clone();
    wrong.extend(cluster.env());
    let out = touchpoint_env(
        remote.path(),
        &["query", "SELECT COUNT(*) FROM customer_month"],
        &wrong,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("TOUCHPOINT_PROFILE_DW_"), "{err}");
}

#[test]
fn an_executor_without_the_hash_key_answers_no_hashed_column() {
    use crate::analyst::{leaks, run_query_env, write_project};
    // An empty key is no key: the executor has none.
    let cluster = Cluster::start_with(1, &[("TOUCHPOINT_HASH_KEY", String::new())]);
    let env = cluster.env();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let out = run_query_env(
        dir,
        "SELECT customer_id, phone FROM customers",
        "analyst",
        &env,
    );
    let text = without_job_ids(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("no hash key"), "{text}");
    assert!(leaks(&text).is_empty(), "{text}");
    // Masked (not hashed) columns need no key.
    let names = run_query_env(dir, "SELECT full_name FROM customers", "analyst", &env);
    assert!(names.status.success());
    assert_eq!(
        String::from_utf8_lossy(&names.stdout)
            .matches("***")
            .count(),
        3
    );
}

#[test]
fn the_server_runs_warehouse_statements_on_the_cluster() {
    use crate::serve::{demo, serve_env, sql};
    let cluster = Cluster::start(1);
    let tmp = demo();
    let dir = tmp.path();
    let local = |q: &str| {
        ok(dir, &["query", "--format", "csv", q])
            .lines()
            .nth(1)
            .expect("row")
            .to_string()
    };
    let kowloon =
        local("SELECT COUNT(DISTINCT customer_id) FROM customers WHERE region = 'Kowloon'");
    let total = local("SELECT COUNT(*) FROM customer_month");
    let s = serve_env(dir, &[], &cluster.env());
    let port = cluster.engine.rsplit(':').next().expect("port").to_string();
    let q = |user: &str, q: &str| sql(s.port, user, q).expect(q).trim().to_string();
    assert_eq!(q("ana", "SELECT COUNT(*) FROM customer_month"), total);
    // The plan ran on the cluster: its distributed stages are in EXPLAIN.
    assert!(q("ana", "EXPLAIN SELECT COUNT(*) FROM customer_month").contains("ShuffleWriterExec"));
    // The regional role's filter and the masks travel in the plan.
    assert_eq!(
        q("kim", "SELECT COUNT(DISTINCT customer_id) FROM customers"),
        kowloon
    );
    assert_eq!(q("kim", "SELECT DISTINCT region FROM customers"), "Kowloon");
    let names = q(
        "ana",
        "SELECT full_name FROM customers ORDER BY customer_id LIMIT 5",
    );
    assert_eq!(
        names.lines().filter(|n| n.ends_with("***")).count(),
        5,
        "{names}"
    );
    // Catalog queries (pg_catalog lives in the server) still answer.
    assert!(q("ana", "\\dt").contains("customer_month"));
    drop(cluster);
    let err = sql(
        s.port,
        "ana",
        "SELECT COUNT(*) FROM customer_month WHERE period > '2000'",
    )
    .expect_err("no cluster");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(q("ana", "SELECT 1"), "1");
}

#[test]
fn a_cluster_of_another_build_is_refused_by_name() {
    let cluster = Cluster::start_with(1, &[("TOUCHPOINT_BUILD_TAG", "2026.11".into())]);
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 20, 1, 3, &[]);
    ok(dir, &["run", "--period", "2024-01"]);
    let mut env = cluster.env();
    env.push(("TOUCHPOINT_BUILD_TAG", "2026.12".into()));
    let out = touchpoint_env(dir, &["query", "SELECT COUNT(*) FROM customers"], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("build 2026.11; this client is"), "{err}");
    assert!(err.contains("build 2026.12"), "{err}");
    assert!(err.contains(&cluster.engine), "{err}");
    // The same tag: connected.
    env.pop();
    env.push(("TOUCHPOINT_BUILD_TAG", "2026.11".into()));
    ok_env(dir, &["query", "SELECT COUNT(*) FROM customers"], &env);
    // An executor of another build joining this scheduler is refused at
    // registration and exits, naming the scheduler's build: it is never
    // handed a task the client's check did not vouch for.
    let port = cluster.engine.rsplit(':').next().expect("port").to_string();
    let ports = free_ports(2);
    let stray = Command::new(crate::common::bin())
        .args([
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{port}"),
            "--bind",
            &format!("127.0.0.1:{}", ports[0]),
            "--grpc-port",
            &ports[1].to_string(),
        ])
        .env("TOUCHPOINT_BUILD_TAG", "2026.10")
        .env("TOUCHPOINT_HASH_KEY", crate::common::HASH_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn executor");
    let out = exited_within(stray, Duration::from_secs(90));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("runs another build"), "{err}");
    assert!(err.contains("build 2026.11"), "{err}");
    assert!(err.contains("build 2026.10"), "{err}");
    ok_env(dir, &["query", "SELECT COUNT(*) FROM customers"], &env);
}

/// `child`'s output once it exits; killed (and the test failed) if it is
/// still running after `limit`.
fn exited_within(mut child: Child, limit: Duration) -> std::process::Output {
    let until = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().expect("output")
}

/// Ballista names a job with random letters and digits ("Job 038HTMZNV4000
/// failed"): not data, though it may hold "4000", a card prefix to the leak
/// check. Both tests that look for leaks in cluster errors failed on one.
fn without_job_ids(text: &str) -> String {
    let mut words: Vec<&str> = text.split(' ').collect();
    for i in 1..words.len() {
        if words[i - 1].ends_with("Job") && words[i].chars().all(|c| c.is_ascii_alphanumeric()) {
            words[i] = "<job>";
        }
    }
    words.join(" ")
}
