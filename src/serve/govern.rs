//! A statement under the server's limits while its rows stream to the
//! client: cancel requests, the statement timeout, the result's row and
//! byte caps, and its audit line — written when the last row is sent, on
//! the first error, or when the client goes away mid-result.

use super::audit::{Audit, Entry, Outcome};
use futures::{FutureExt, Stream, StreamExt};
use pgwire::api::cancel::CancelHandler;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::watch;

/// The server's caps on one statement.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub statement_timeout: std::time::Duration,
    pub max_rows: u64,
    pub max_bytes: u64,
    pub max_statement_bytes: usize,
}

/// A PostgreSQL error with its SQLSTATE and, when there is one, a hint.
pub fn error(code: &str, message: impl Into<String>, hint: Option<String>) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message.into());
    info.hint = hint;
    PgWireError::UserError(Box::new(info))
}

/// Cancel requests, by (pid, secret key): each connection's counter, bumped
/// by a cancel; a statement stops when it changes.
#[derive(Debug, Default)]
pub struct Cancels {
    map: std::sync::Mutex<CancelMap>,
}

/// (pid, secret key) → the connection's cancel counter.
type CancelMap = HashMap<(i32, Vec<u8>), watch::Sender<u64>>;

impl Cancels {
    pub fn register(&self, key: (i32, Vec<u8>), tx: watch::Sender<u64>) {
        self.lock().insert(key, tx);
    }

    pub fn remove(&self, key: &(i32, Vec<u8>)) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancelMap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, req: CancelRequest) {
        let key = (req.pid, req.secret_key.to_bytes().to_vec());
        if let Some(tx) = self.lock().get(&key) {
            tx.send_modify(|n| *n += 1);
        }
    }
}

/// Statements running now (a graceful shutdown waits for them), and the
/// slots that admit them: a statement past the cap waits for one (within
/// its timeout) instead of all of them failing for memory together.
#[derive(Debug)]
pub struct Running {
    count: AtomicUsize,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Running {
    pub fn new(max_running: usize) -> Running {
        Running {
            count: AtomicUsize::new(0),
            slots: Arc::new(tokio::sync::Semaphore::new(max_running.max(1))),
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// One statement's watch: its audit entry, its end, its cancel.
pub struct Watch {
    pub audit: Arc<Audit>,
    pub entry: Entry,
    pub deadline: Instant,
    pub cancel: watch::Receiver<u64>,
    running: Arc<Running>,
    /// The statement's execution slot, held until its last row.
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    rows: u64,
    done: bool,
}

impl Watch {
    pub fn new(
        audit: Arc<Audit>,
        entry: Entry,
        deadline: Instant,
        mut cancel: watch::Receiver<u64>,
        running: Arc<Running>,
    ) -> Watch {
        cancel.mark_unchanged();
        running.count.fetch_add(1, Ordering::SeqCst);
        Watch {
            audit,
            entry,
            deadline,
            cancel,
            running,
            slot: None,
            rows: 0,
            done: false,
        }
    }

    /// Record the end once, and stop listening for cancels: a Flight
    /// stream counts as running while its receiver lives, and the client
    /// may see this end (and cancel again) before the stream is dropped.
    pub fn finish(&mut self, outcome: Outcome, error: Option<&str>) {
        if !self.done {
            self.done = true;
            self.cancel = watch::channel(0).1;
            let error = error.map(crate::engine::without_quoted_values);
            self.audit
                .record(&self.entry, self.rows, outcome, error.as_deref());
        }
    }

    /// Wait for an execution slot, then run `fut` (planning, starting the
    /// plan), all under this statement's cancel and deadline.
    pub async fn guard<T>(
        &mut self,
        fut: impl std::future::Future<Output = PgWireResult<T>>,
    ) -> PgWireResult<T> {
        let slots = self.running.slots.clone();
        let fut = async {
            let slot = slots
                .acquire_owned()
                .await
                .map_err(|_| error("57P01", "the server is shutting down", None))?;
            Ok::<_, PgWireError>((slot, fut.await))
        };
        let r = tokio::select! {
            r = fut => match r {
                Ok((slot, r)) => {
                    self.slot = Some(slot);
                    r
                }
                Err(e) => Err(e),
            },
            _ = cancel_requested(self.cancel.clone()) => Err(cancelled()),
            _ = tokio::time::sleep_until(self.deadline.into()) => Err(timed_out()),
        };
        if let Err(e) = &r {
            let outcome = outcome_of(e);
            self.finish(outcome, Some(&e.to_string()));
        }
        r
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Dropped before its end was recorded: the client went away.
        self.finish(Outcome::Disconnected, None);
        self.running.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves when a cancel request arrives; never when the connection (the
/// sender) is gone or has none (Flight SQL).
async fn cancel_requested(mut rx: watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await
    }
}

fn cancelled() -> PgWireError {
    error("57014", "canceling statement due to user request", None)
}

fn timed_out() -> PgWireError {
    error(
        "57014",
        "canceling statement due to statement timeout",
        Some("the server's --statement-timeout caps every statement; narrow the query".into()),
    )
}

fn outcome_of(e: &PgWireError) -> Outcome {
    // Not allowed (read-only, a limit, a protocol rule) or not valid SQL.
    if let PgWireError::UserError(info) = e
        && (info.code.starts_with("42")
            || ["25006", "54000", "0A000", "08P01", "22P03", "22023"].contains(&info.code.as_str()))
    {
        return Outcome::Refused;
    }
    let text = e.to_string();
    if text.contains("statement timeout") {
        Outcome::TimedOut
    } else if text.contains("user request") {
        Outcome::Cancelled
    } else {
        Outcome::Error
    }
}

type Rows<T> = Pin<Box<dyn Stream<Item = PgWireResult<T>> + Send>>;

/// `rows` under `watch`: stops at a cancel, the deadline, or a cap; the
/// audit line is written at the end. `measure` gives one item's rows and
/// bytes (a wire row is one row; an Arrow batch is many).
pub fn govern<T: Send + 'static>(
    rows: Rows<T>,
    watch: Watch,
    limits: Limits,
    measure: fn(&T) -> (u64, u64),
) -> Rows<T> {
    struct State<T> {
        rows: Rows<T>,
        watch: Watch,
        bytes: u64,
        ended: bool,
    }
    let state = State {
        rows,
        watch,
        bytes: 0,
        ended: false,
    };
    Box::pin(futures::stream::unfold(state, move |mut s| async move {
        if s.ended {
            return None;
        }
        // An item already there is taken after two cheap checks: arming a
        // timer and a cancel future for every wire row cost a fifth of a
        // bulk export's time. Otherwise wait for whichever comes first.
        let ready = if matches!(s.watch.cancel.has_changed(), Ok(true)) {
            Some(Some(Err(cancelled())))
        } else if Instant::now() >= s.watch.deadline {
            Some(Some(Err(timed_out())))
        } else {
            s.rows.next().now_or_never()
        };
        let next = match ready {
            Some(next) => next,
            None => tokio::select! {
                biased;
                _ = cancel_requested(s.watch.cancel.clone()) => Some(Err(cancelled())),
                _ = tokio::time::sleep_until(s.watch.deadline.into()) => Some(Err(timed_out())),
                item = s.rows.next() => item,
            },
        };
        match next {
            None => {
                s.watch.finish(Outcome::Ok, None);
                None
            }
            Some(Ok(item)) => {
                let (rows, bytes) = measure(&item);
                s.watch.rows += rows;
                s.bytes += bytes;
                if s.watch.rows > limits.max_rows || s.bytes > limits.max_bytes {
                    s.watch.rows -= rows;
                    let e = error(
                        "54000",
                        format!(
                            "the result is larger than this server allows ({} rows, {} bytes)",
                            limits.max_rows, limits.max_bytes
                        ),
                        Some("add a LIMIT or a filter, or aggregate; the caps are serve's --max-rows and --max-bytes".into()),
                    );
                    s.watch.finish(Outcome::Refused, Some(&e.to_string()));
                    s.ended = true;
                    return Some((Err(e), s));
                }
                Some((Ok(item), s))
            }
            Some(Err(e)) => {
                let outcome = outcome_of(&e);
                s.watch.finish(outcome, Some(&e.to_string()));
                s.ended = true;
                Some((Err(e), s))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_statement_no_longer_listens_for_cancels() {
        let dir = tempfile::tempdir().expect("dir");
        let audit = Arc::new(Audit::open(&dir.path().join("audit.jsonl")).expect("audit"));
        let (tx, rx) = watch::channel(0);
        let client = "127.0.0.1:5432".parse().expect("addr");
        let mut w = Watch::new(
            audit,
            Entry::new("ana", "analyst", client, "SELECT 1"),
            Instant::now(),
            rx,
            Arc::new(Running::new(1)),
        );
        assert_eq!(tx.receiver_count(), 1);
        w.finish(Outcome::Cancelled, Some("canceling statement"));
        assert_eq!(
            tx.receiver_count(),
            0,
            "the end is recorded before the drop"
        );
        drop(w);
    }
}
