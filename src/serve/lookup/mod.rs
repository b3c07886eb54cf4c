//! Keyed lookups answered from memory: `SELECT … FROM t WHERE key = value`
//! (one customer's months) costs a scan of `t` in DataFusion — tens of
//! milliseconds at 100k customers — where a database answers from an index.
//!
//! The first lookup of a table by a key column, for a reader's session,
//! starts a background copy of the table *as that session reads it* (the
//! same plan as `SELECT * FROM t`: masked, row-scoped, at the session's
//! snapshot) with its rows ordered by the key; until the copy is ready,
//! lookups run in DataFusion as before. A copy belongs to one session (one
//! role at one run), so governance and consistency are the session's own,
//! and a new run is a new session. Copies share a memory budget
//! (`serve --lookup-cache-mb`); the oldest go first, a table larger than the
//! budget is never copied, and 0 turns lookups off.

mod constant;
mod keyed;
mod shape;
mod tokens;

use crate::sql::Session;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast;
use futures::StreamExt;
use keyed::Keyed;
pub use shape::Split;
use shape::{Template, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

/// Statement shapes remembered (a shape is planned once per session).
const SHAPES: usize = 1024;

pub struct Lookups {
    budget: usize,
    inner: Mutex<Inner>,
    constants: constant::Constants,
    recogniser: tokens::Recogniser,
    /// One copy is made at a time: each may take the whole budget while it
    /// is made, before older copies make room.
    making: tokio::sync::Semaphore,
}

#[derive(Default)]
struct Inner {
    /// Shape text → per session, its template (`None`: not a lookup).
    shapes: HashMap<String, Vec<Planned>>,
    /// Table copies, oldest first.
    tables: Vec<Copy>,
    bytes: usize,
    next: u64,
}

/// A session and what a shape is on it (`None`: not a lookup).
type Planned = (Weak<Session>, Option<Arc<Template>>);

struct Copy {
    id: u64,
    session: Weak<Session>,
    /// The template's `name`: the table as the session reads it.
    table: String,
    key: usize,
    state: State,
}

enum State {
    Building,
    Ready(Arc<Keyed>),
    /// Too large, empty, or failed: left to DataFusion.
    Refused,
}

fn same(w: &Weak<Session>, s: &Arc<Session>) -> bool {
    std::ptr::eq(w.as_ptr(), Arc::as_ptr(s)) && w.strong_count() > 0
}

impl Lookups {
    /// Lookups with `budget` bytes for table copies (0: none).
    pub fn new(budget: usize) -> Lookups {
        Lookups {
            budget,
            inner: Mutex::new(Inner::default()),
            constants: constant::Constants::default(),
            recogniser: tokens::Recogniser::default(),
            making: tokio::sync::Semaphore::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A simple-protocol statement's split and its text (comments left
    /// out), read from its tokens when its pattern is a known lookup's (see
    /// `tokens`); `None`: parse it.
    pub fn recognise(&self, sql: &str) -> Option<(Split, String)> {
        (self.budget > 0).then(|| self.recogniser.split(sql))?
    }

    /// The answer of `stmt` from a table copy, when it is a keyed lookup
    /// and the copy is ready; `None` leaves the statement to DataFusion.
    pub async fn answer(
        self: &Arc<Self>,
        session: &Arc<Session>,
        stmt: &ast::Statement,
        params: Option<&ParamValues>,
    ) -> Option<SendableRecordBatchStream> {
        if self.budget == 0 {
            return None;
        }
        self.answer_split(session, &shape::split(stmt)?, params)
            .await
    }

    /// The answer of a split statement (see `answer`).
    pub async fn answer_split(
        self: &Arc<Self>,
        session: &Arc<Session>,
        split: &Split,
        params: Option<&ParamValues>,
    ) -> Option<SendableRecordBatchStream> {
        if self.budget == 0 {
            return None;
        }
        let template = self.template(session, split).await?;
        let keyed = self.keyed(session, &template)?;
        let value = match &split.value {
            Value::Param(p) => params?.get_placeholders_with_values(p).ok()?.value,
            Value::Expr(e) => self.constants.value(&session.frozen().0, e)?,
        };
        let value = key_value(value, keyed.key_type())?;
        let batch = keyed.answer(&template, &value).ok()?;
        Some(Box::pin(RecordBatchStreamAdapter::new(
            template.schema.clone(),
            futures::stream::iter([Ok(batch)]),
        )))
    }

    /// The template of a statement shape on `session`, planned once.
    async fn template(&self, session: &Arc<Session>, split: &Split) -> Option<Arc<Template>> {
        if let Some(kept) = self.lock().shapes.get(split.text.as_ref())
            && let Some((_, t)) = kept.iter().find(|(w, _)| same(w, session))
        {
            return t.clone();
        }
        let (state, _) = session.frozen();
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(
                split.shape.as_ref().clone(),
            )))
            .await
            .ok();
        let template = plan
            .filter(|p| crate::sql::read_only().verify_plan(p).is_ok())
            .and_then(|p| shape::template(&p))
            .map(Arc::new);
        let mut inner = self.lock();
        // A template holds its session's table snapshots: none outlives it.
        inner.shapes.retain(|_, kept| {
            kept.retain(|(w, _)| w.strong_count() > 0);
            !kept.is_empty()
        });
        if inner.shapes.len() >= SHAPES {
            inner.shapes.clear();
        }
        let kept = inner.shapes.entry(split.text.to_string()).or_default();
        kept.push((Arc::downgrade(session), template.clone()));
        template
    }

    /// The copy `t` reads, when ready; otherwise start it (once).
    fn keyed(self: &Arc<Self>, session: &Arc<Session>, t: &Arc<Template>) -> Option<Arc<Keyed>> {
        let mut inner = self.lock();
        inner.forget_gone();
        if let Some(c) = inner
            .tables
            .iter()
            .find(|c| same(&c.session, session) && c.key == t.key && c.table == t.name)
        {
            return match &c.state {
                State::Ready(k) => Some(k.clone()),
                State::Building | State::Refused => None,
            };
        }
        let id = inner.next;
        inner.next += 1;
        inner.tables.push(Copy {
            id,
            session: Arc::downgrade(session),
            table: t.name.clone(),
            key: t.key,
            state: State::Building,
        });
        drop(inner);
        let (me, session, t) = (self.clone(), session.clone(), t.clone());
        tokio::spawn(async move {
            let Ok(_turn) = me.making.acquire().await else {
                return;
            };
            let started = Instant::now();
            let built = copy(&session, &t, me.budget).await;
            if let Some(k) = &built {
                eprintln!(
                    "touchpoint serve: {} held in memory for keyed lookups ({:.0} MB, {:.1} s)",
                    t.table,
                    k.bytes() as f64 / 1e6,
                    started.elapsed().as_secs_f64()
                );
            }
            me.finish(id, built);
        });
        None
    }

    fn finish(&self, id: u64, built: Option<Keyed>) {
        let mut inner = self.lock();
        inner.forget_gone();
        let state = match built {
            Some(k) if k.bytes() <= self.budget => {
                // Make room: the oldest copies go first.
                while inner.bytes + k.bytes() > self.budget {
                    let Some(i) = inner
                        .tables
                        .iter()
                        .position(|c| c.id != id && matches!(c.state, State::Ready(_)))
                    else {
                        break;
                    };
                    inner.drop_copy(i);
                }
                if inner.bytes + k.bytes() <= self.budget {
                    inner.bytes += k.bytes();
                    State::Ready(Arc::new(k))
                } else {
                    State::Refused
                }
            }
            _ => State::Refused,
        };
        if let Some(c) = inner.tables.iter_mut().find(|c| c.id == id) {
            c.state = state;
        }
    }
}

impl Inner {
    /// Copies of sessions no statement can reach any more.
    fn forget_gone(&mut self) {
        while let Some(i) = self
            .tables
            .iter()
            .position(|c| c.session.strong_count() == 0)
        {
            self.drop_copy(i);
        }
    }

    fn drop_copy(&mut self, i: usize) {
        let c = self.tables.remove(i);
        if let State::Ready(k) = c.state {
            self.bytes -= k.bytes();
        }
    }
}

/// The table of `t` as `session` reads it, indexed by `t`'s key; `None` when
/// it takes more than `budget` bytes, has no rows, or fails.
async fn copy(session: &Session, t: &Template, budget: usize) -> Option<Keyed> {
    // Ordered by key in DataFusion (spilling under the memory pool if it
    // must): a key's rows are then one range of the copy.
    let key = Expr::Column(Column::from(t.source.schema().qualified_field(t.key)));
    let plan = LogicalPlanBuilder::from(t.source.as_ref().clone())
        .sort(vec![key.sort(true, false)])
        .ok()?
        .build()
        .ok()?;
    let physical = session.ctx.state().create_physical_plan(&plan).await.ok()?;
    let (_, task) = session.frozen();
    let mut stream = datafusion::physical_plan::execute_stream(physical, task.clone()).ok()?;
    let schema = stream.schema();
    let (mut batches, mut bytes) = (Vec::new(), 0);
    let mut pending: Vec<RecordBatch> = Vec::new();
    loop {
        let next = stream.next().await.transpose().ok()?;
        let done = next.is_none();
        pending.extend(next);
        let rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
        if rows >= CHUNK_ROWS || (done && rows > 0) {
            let chunk = concat_batches(&schema, &pending).ok()?;
            pending.clear();
            let chunk = compact(chunk)?;
            bytes += chunk.get_array_memory_size();
            if bytes > budget {
                return None;
            }
            batches.push(chunk);
        }
        if done {
            break;
        }
    }
    Keyed::new(batches, t.key).ok()
}

/// Rows per held batch: few batches, and a scan's small ones joined.
const CHUNK_ROWS: usize = 1 << 16;

/// Held for long, so held tightly: string views would point into the
/// scan's pages, a filter's output keeps a whole batch's capacity, and
/// joined dictionaries repeat their values.
fn compact(b: RecordBatch) -> Option<RecordBatch> {
    let (schema, columns, _) = b.into_parts();
    let all = UInt32Array::from_iter_values(0..columns.first().map_or(0, |c| c.len() as u32));
    let columns = columns
        .into_iter()
        .map(|c| -> Option<Arc<dyn Array>> {
            // `take` writes the views anew, `gc` the strings they point to.
            let view = |c: &dyn Array| take(c, &all, None).ok();
            let mut c: Arc<dyn Array> = match c.data_type() {
                DataType::Utf8View => Arc::new(view(&c)?.as_string_view().gc()),
                DataType::BinaryView => Arc::new(view(&c)?.as_binary_view().gc()),
                // Joined batches' dictionaries are appended, not merged:
                // encode the values again, once each.
                DataType::Dictionary(_, v) => {
                    let values = cast(&c, v).ok()?;
                    cast(&values, c.data_type()).ok()?
                }
                _ => c,
            };
            c.shrink_to_fit();
            Some(c)
        })
        .collect::<Option<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).ok()
}

/// `value` as a key of type `key`, where `key = value` compares the two as
/// they are: text with text, integers with integers, dates with dates.
/// `None` for a NULL (no row matches; DataFusion says so) and for pairs
/// DataFusion would coerce.
fn key_value(value: ScalarValue, key: &DataType) -> Option<ScalarValue> {
    if value.is_null() {
        return None;
    }
    let text = |v: &ScalarValue| match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        _ => None,
    };
    match key {
        DataType::Utf8 => text(&value).map(|s| ScalarValue::Utf8(Some(s))),
        DataType::LargeUtf8 => text(&value).map(|s| ScalarValue::LargeUtf8(Some(s))),
        DataType::Utf8View => text(&value).map(|s| ScalarValue::Utf8View(Some(s))),
        k if k.is_integer() && value.data_type().is_integer() => {
            // Out of the key's range: no row can match; DataFusion says so.
            let v = value.cast_to(k).ok()?;
            (!v.is_null() && v.cast_to(&value.data_type()).ok()? == value).then_some(v)
        }
        DataType::Date32 if matches!(value, ScalarValue::Date32(_)) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
