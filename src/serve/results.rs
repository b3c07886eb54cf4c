//! Answers kept for the statements a dashboard repeats. Within one finished
//! run a query's answer cannot change, so a tile refreshed every minute by
//! every viewer is computed once per run. An answer is kept per user (not
//! per role: a function may name the user), run and `as_of`, statement text
//! and bound values; only when the query finished cleanly, is deterministic
//! (no `now()`, `random()`) and small enough; the oldest answers go first
//! when the memory given to the cache (`serve --result-cache-mb`) is full.
//! A new run changes the key, so nothing stale is ever served.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::expr::WindowFunctionDefinition;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::RecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What an answer is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub user: String,
    pub run: String,
    /// Whether `SET touchpoint.as_of` named the run.
    pub named: bool,
    pub sql: String,
    /// The bound parameter values, rendered with their types.
    pub params: String,
}

/// A kept answer.
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    bytes: usize,
}

pub struct Results {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Answer>>,
    /// Keys, oldest first.
    order: VecDeque<Key>,
    bytes: usize,
}

impl Results {
    /// A cache of `capacity` bytes (0: keep nothing).
    pub fn new(capacity: usize) -> Results {
        Results {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One answer may take an eighth of the cache, so a few large results
    /// cannot push out every dashboard tile.
    fn largest(&self) -> usize {
        self.capacity / 8
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Answer>> {
        if self.capacity == 0 {
            return None;
        }
        self.inner().map.get(key).cloned()
    }

    fn keep(&self, key: Key, answer: Answer) {
        if answer.bytes > self.largest() {
            return;
        }
        let mut inner = self.inner();
        if inner.map.contains_key(&key) {
            return;
        }
        while inner.bytes + answer.bytes > self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(a) = inner.map.remove(&old) {
                inner.bytes -= a.bytes;
            }
        }
        inner.bytes += answer.bytes;
        inner.order.push_back(key.clone());
        inner.map.insert(key, Arc::new(answer));
    }

    /// Whether `plan`'s answer may be kept: every function in it, subqueries
    /// included, gives the same answer for the same input forever
    /// (immutable). Not `random()` (volatile), nor `now()` or
    /// `current_date` (stable: fixed within a statement only).
    pub fn cacheable(&self, plan: &LogicalPlan) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let changing = |e: &Expr| {
            e.exists(|e| {
                Ok(match e {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility != Volatility::Immutable
                    }
                    Expr::AggregateFunction(f) => {
                        f.func.signature().volatility != Volatility::Immutable
                    }
                    Expr::WindowFunction(w) => match &w.fun {
                        WindowFunctionDefinition::AggregateUDF(f) => {
                            f.signature().volatility != Volatility::Immutable
                        }
                        WindowFunctionDefinition::WindowUDF(f) => {
                            f.signature().volatility != Volatility::Immutable
                        }
                    },
                    _ => false,
                })
            })
            .unwrap_or(true)
        };
        let mut volatile = false;
        let _ = plan.apply_with_subqueries(|p| {
            volatile |= p.expressions().iter().any(changing);
            Ok(if volatile {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        });
        !volatile
    }

    /// `stream` as it is, recording its batches; kept under `key` once it
    /// has ended without an error, within the size an answer may take. A
    /// client that stops early, a limit or an error leaves nothing behind.
    pub fn recording(
        self: &Arc<Self>,
        key: Key,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        Box::pin(Recording {
            schema: stream.schema(),
            inner: stream,
            cache: self.clone(),
            key: Some(key),
            kept: Some(Vec::new()),
            bytes: 0,
        })
    }

    /// An answer replayed as a stream.
    pub fn replay(answer: &Answer) -> SendableRecordBatchStream {
        let batches: Vec<Result<RecordBatch>> = answer.batches.iter().cloned().map(Ok).collect();
        Box::pin(RecordBatchStreamAdapter::new(
            answer.schema.clone(),
            futures::stream::iter(batches),
        ))
    }
}

struct Recording {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    cache: Arc<Results>,
    key: Option<Key>,
    kept: Option<Vec<RecordBatch>>,
    bytes: usize,
}

impl Stream for Recording {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = std::task::ready!(self.inner.poll_next_unpin(cx));
        match &next {
            Some(Ok(batch)) => {
                self.bytes += batch.get_array_memory_size();
                if self.bytes > self.cache.largest() {
                    self.kept = None;
                }
                if let Some(k) = self.kept.as_mut() {
                    k.push(batch.clone());
                }
            }
            Some(Err(_)) => self.kept = None,
            None => {
                if let (Some(batches), Some(key)) = (self.kept.take(), self.key.take()) {
                    let answer = Answer {
                        schema: self.schema.clone(),
                        batches,
                        bytes: self.bytes,
                    };
                    self.cache.keep(key, answer);
                }
            }
        }
        Poll::Ready(next)
    }
}

impl RecordBatchStream for Recording {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::prelude::SessionContext;

    fn key(sql: &str) -> Key {
        Key {
            user: "ana".into(),
            run: "r1".into(),
            named: false,
            sql: sql.into(),
            params: String::new(),
        }
    }

    fn batch(n: i64) -> RecordBatch {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        RecordBatch::try_from_iter([("a", a)]).expect("batch")
    }

    /// Run `stream` to its end through the cache.
    fn drain(cache: &Arc<Results>, k: Key, batches: Vec<RecordBatch>, fail: bool) {
        let schema = batches[0].schema();
        let mut items: Vec<Result<RecordBatch>> = batches.into_iter().map(Ok).collect();
        if fail {
            items.push(Err(datafusion::error::DataFusionError::Execution(
                "x".into(),
            )));
        }
        let s: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(items),
        ));
        let out: Vec<_> = futures::executor::block_on(cache.recording(k, s).collect::<Vec<_>>());
        assert!(!out.is_empty());
    }

    #[test]
    fn only_whole_small_answers_are_kept_and_the_oldest_go_first() {
        let one = batch(1000).get_array_memory_size();
        // Room for about three answers of one batch; one answer may take an eighth.
        let cache = Arc::new(Results::new(one * 8 + one / 2));
        drain(&cache, key("a"), vec![batch(1000)], false);
        let kept = cache.get(&key("a")).expect("kept");
        assert_eq!(kept.batches[0], batch(1000));
        // Another user, run or text is another answer.
        assert!(
            cache
                .get(&Key {
                    user: "kim".into(),
                    ..key("a")
                })
                .is_none()
        );
        assert!(
            cache
                .get(&Key {
                    run: "r2".into(),
                    ..key("a")
                })
                .is_none()
        );
        // An error, or more than an eighth of the cache: nothing kept.
        drain(&cache, key("failed"), vec![batch(10)], true);
        assert!(cache.get(&key("failed")).is_none());
        drain(&cache, key("big"), vec![batch(1000), batch(1000)], false);
        assert!(cache.get(&key("big")).is_none());
        // Filling the cache pushes out the oldest.
        for k in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            drain(&cache, key(k), vec![batch(1000)], false);
        }
        assert!(cache.get(&key("a")).is_none(), "the oldest went first");
        assert!(cache.get(&key("i")).is_some());
        // A stream dropped before its end keeps nothing.
        let s: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            batch(1).schema(),
            futures::stream::iter(vec![Ok(batch(1)), Ok(batch(1))]),
        ));
        let mut rec = cache.recording(key("early"), s);
        let _ = futures::executor::block_on(rec.next());
        drop(rec);
        assert!(cache.get(&key("early")).is_none());
        // Off: nothing kept.
        let off = Arc::new(Results::new(0));
        drain(&off, key("a"), vec![batch(1)], false);
        assert!(off.get(&key("a")).is_none());
    }

    #[test]
    fn only_immutable_queries_are_kept() {
        let ctx = SessionContext::new();
        let plan = |sql: &str| {
            futures::executor::block_on(ctx.state().create_logical_plan(sql)).expect("plan")
        };
        let cache = Results::new(1 << 20);
        assert!(cache.cacheable(&plan("SELECT 1 + 1")));
        assert!(!cache.cacheable(&plan("SELECT random()")));
        assert!(!cache.cacheable(&plan("SELECT now()")));
        assert!(!cache.cacheable(&plan("SELECT 1 WHERE current_date > DATE '2024-01-01'")));
        assert!(cache.cacheable(&plan("SELECT upper('a'), COUNT(*) FROM (VALUES (1)) t(x)")));
        assert!(!cache.cacheable(&plan("SELECT 1 WHERE random() > 0.5")));
        assert!(!cache.cacheable(&plan(
            "SELECT 1 WHERE 1 IN (SELECT CAST(random() * 2 AS INT))"
        )));
    }
}
