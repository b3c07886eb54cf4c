//! The run lock as an object in a bucket of a real S3-compatible server
//! (SeaweedFS on loopback), through the library: of many runs that find the
//! same stale lock at once, exactly one takes it over, keeping the dead
//! run's journal; a refused run leaves the holder's lock; only the holder
//! removes it (issue 18 items 7 and 8, on a bucket).

use crate::s3::{BUCKET, KEY, SECRET, start_seaweed};
use object_store::{ObjectStoreExt, path::Path as StorePath};
use std::sync::Arc;
use std::time::{Duration, Instant};
use touchpoint::warehouse::lock::{RunLock, unfinished};
use touchpoint::warehouse::{Error, Warehouse};

const TAKERS: usize = 16;
const ROUNDS: usize = 12;
const PREFIX: &str = "locktest";

fn proc_text(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A lock of a process of this machine that has ended (its pid cannot
/// exist), with a journal.
fn dead_lock() -> String {
    let holder = serde_json::json!({
        "pid": 4294967294u32,
        "host": proc_text("/proc/sys/kernel/hostname"),
        "boot_id": proc_text("/proc/sys/kernel/random/boot_id"),
        "start_time": 0,
        "pid_ns": std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "pipeline": "p",
        "token": "dead",
    });
    format!(
        "{holder}\n{{\"table\":\"atm\",\"version\":3}}\n{{\"table\":\"new_table\",\"version\":null}}\n"
    )
}

/// The warehouse `s3://BUCKET/locktest` for the library: the server's
/// endpoint and keys go in a profile that only this prefix uses.
fn bucket_warehouse(endpoint: &str) -> Warehouse {
    let profile = format!("locktest{}", std::process::id());
    let prefix = touchpoint::store::profile_prefix(&profile);
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        // SAFETY: std orders this with the other test threads' reads of the
        // environment (spawns); no C code of this test binary reads it
        // concurrently. The variables belong to a profile nothing else uses.
        unsafe { std::env::set_var(format!("{prefix}{k}"), v) };
    }
    let url = format!("s3://{BUCKET}/{PREFIX}");
    touchpoint::store::bind_profile(&url, Some(&profile));
    Warehouse::open(&url).expect("open the bucket warehouse")
}

#[test]
fn one_of_many_takes_a_stale_bucket_lock_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_seaweed(&tmp.path().join("seaweed"));
    let wh = bucket_warehouse(&server.endpoint);
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_endpoint(&server.endpoint)
            .with_allow_http(true)
            .with_access_key_id(KEY)
            .with_secret_access_key(SECRET)
            .build()
            .expect("store"),
    );
    let key = StorePath::from(format!("{PREFIX}/_run.lock"));
    let want = vec![
        ("atm".to_string(), Some(3)),
        ("new_table".to_string(), None),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The server listens before its bucket exists.
        let start = Instant::now();
        while let Err(e) = store.put(&key, dead_lock().into()).await {
            assert!(start.elapsed() < Duration::from_secs(60), "put: {e}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        for round in 0..ROUNDS {
            store.put(&key, dead_lock().into()).await.expect("put");
            let go = Arc::new(tokio::sync::Barrier::new(TAKERS));
            let tries: Vec<_> = (0..TAKERS)
                .map(|_| {
                    let (wh, go) = (wh.clone(), go.clone());
                    tokio::spawn(async move {
                        go.wait().await;
                        RunLock::acquire(&wh, "p").await
                    })
                })
                .collect();
            let (mut won, mut refused) = (Vec::new(), Vec::new());
            for t in tries {
                match t.await.expect("task") {
                    Ok(w) => won.push(w),
                    Err(e) => refused.push(e.to_string()),
                }
            }
            assert_eq!(
                won.len(),
                1,
                "round {round}: {} won; {refused:?}",
                won.len()
            );
            for e in &refused {
                assert!(e.contains("another run is using"), "round {round}: {e}");
            }
            let (lock, stale) = won.pop().expect("winner");
            assert_eq!(stale.expect("stale").journal, want, "round {round}");
            // The winner kept the dead run's journal; a refused run left
            // it alone.
            assert!(matches!(
                RunLock::acquire(&wh, "p").await,
                Err(Error::Locked { .. })
            ));
            assert_eq!(unfinished(&wh).await.expect("read"), Some(want.clone()));
            // Its tables not restored, the winner leaves the journal.
            lock.release().await.expect("release");
            assert_eq!(unfinished(&wh).await.expect("read"), Some(want.clone()));
        }

        // The left lock is taken over; once restored, released.
        let (mut lock, stale) = RunLock::acquire(&wh, "p").await.expect("take over");
        assert_eq!(stale.expect("stale").journal, want);
        lock.restored();
        lock.release().await.expect("release");
        assert_eq!(unfinished(&wh).await.expect("read"), None);

        // Only the holder removes its lock: one overwritten meanwhile (by a
        // person, another tool) is neither written to nor removed.
        let (mut lock, _) = RunLock::acquire(&wh, "p").await.expect("fresh");
        store
            .put(&key, dead_lock().into())
            .await
            .expect("overwrite");
        assert!(matches!(
            lock.record("atm", Some(4)).await,
            Err(Error::LockLost { .. })
        ));
        assert!(matches!(lock.release().await, Err(Error::LockLost { .. })));
        assert_eq!(unfinished(&wh).await.expect("read"), Some(want.clone()));
    });
}
