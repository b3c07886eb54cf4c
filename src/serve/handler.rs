//! One client connection's statements: parsed with datafusion-pg-catalog's
//! PostgreSQL-compatible parser, classified (`statement`), planned on the
//! reader session of the user's role at the current snapshot, checked
//! read-only, run under the server's limits (`govern`), audited. Simple and
//! extended protocol share every step.

use super::Server;
use super::audit::{Entry, Outcome};
use super::govern::{Watch, error, govern};
use super::results;
use super::statement::{self, CopyFormat, Kind, Setting};
use crate::sql::Session;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::StreamExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A parsed statement, kept by the client as a prepared statement.
#[derive(Clone)]
pub struct Prepared {
    pub(super) sql: String,
    pub(super) kind: Kind,
    stmt: Option<Statement>,
    /// A keyed lookup recognised from its tokens (`stmt` is then parsed
    /// only if the lookup cannot be answered from a copy).
    pub(super) split: Option<crate::serve::lookup::Split>,
    /// The plan and the session it was planned on; re-planned at execute
    /// when the snapshot moved on (a new run, `SET touchpoint.as_of`).
    pub(super) plan: Option<(LogicalPlan, Arc<Session>)>,
}

#[derive(Default)]
struct Settings {
    as_of: Option<String>,
    timeout: Option<Duration>,
}

/// One connection's statement handling.
pub struct Queries {
    pub(super) server: Arc<Server>,
    peer: SocketAddr,
    parser: PostgresCompatibilityParser,
    settings: Mutex<Settings>,
    cancel: watch::Sender<u64>,
    cancel_key: OnceLock<(i32, Vec<u8>)>,
}

impl Drop for Queries {
    fn drop(&mut self) {
        if let Some(k) = self.cancel_key.get() {
            self.server.cancels.remove(k);
        }
    }
}

pub(super) fn who<C: ClientInfo + ?Sized>(
    server: &Server,
    client: &C,
) -> PgWireResult<(String, String)> {
    let user = client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default();
    // Authentication let only declared users in; fail closed regardless.
    let role = server
        .pipeline
        .access
        .role_of(&user)
        .ok_or_else(|| error("28000", "unknown user", None))?;
    Ok((user, role.to_string()))
}

impl Queries {
    pub fn new(server: Arc<Server>, peer: SocketAddr) -> Queries {
        Queries {
            server,
            peer,
            parser: PostgresCompatibilityParser::new(),
            settings: Mutex::new(Settings::default()),
            cancel: watch::channel(0).0,
            cancel_key: OnceLock::new(),
        }
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make this connection cancellable by its (pid, secret key).
    fn register_cancel<C: ClientInfo + ?Sized>(&self, client: &C) {
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes().to_vec());
        if self.cancel_key.set(key.clone()).is_ok() {
            self.server.cancels.register(key, self.cancel.clone());
        }
    }

    pub(super) fn watch(&self, user: &str, role: &str, sql: &str) -> Watch {
        let limit = self.server.limits.statement_timeout;
        let timeout = self.settings().timeout.map_or(limit, |t| t.min(limit));
        Watch::new(
            self.server.audit.clone(),
            Entry::new(user, role, self.peer, sql),
            Instant::now() + timeout,
            self.cancel.subscribe(),
            self.server.running.clone(),
        )
    }

    pub(super) fn parse(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        let max = self.server.limits.max_statement_bytes;
        if sql.len() > max {
            return Err(error(
                "54000",
                format!(
                    "the statement is {} bytes; this server takes at most {max}",
                    sql.len()
                ),
                Some("send a shorter statement (serve --max-statement-bytes)".into()),
            ));
        }
        let mut stmts = self.parser.parse(sql).map_err(|e| {
            error(
                "42601",
                crate::engine::without_quoted_values(&e.to_string()),
                None,
            )
        })?;
        stmts.iter_mut().for_each(super::rewrite::catalog_dialect);
        Ok(stmts)
    }

    async fn session(&self, role: &str) -> PgWireResult<Arc<Session>> {
        Ok(self.snapshot(role).await?.0)
    }

    /// The role's session at this connection's snapshot, the run it reads
    /// (`None` before any run finished) and whether `as_of` named it.
    async fn snapshot(&self, role: &str) -> PgWireResult<(Arc<Session>, Option<String>, bool)> {
        let as_of = self.settings().as_of.clone();
        let (session, run) = self
            .server
            .snapshots
            .session(role, as_of.as_deref())
            .await
            .map_err(|e| sql_error(&e))?;
        Ok((session, run, as_of.is_some()))
    }

    /// The plan of a SHOW: its value as a one-row query.
    fn show_sql(&self, name: &str) -> PgWireResult<String> {
        let settings = self.settings();
        let timeout = settings
            .timeout
            .unwrap_or(self.server.limits.statement_timeout);
        statement::show_sql(name, settings.as_of.as_deref(), timeout).ok_or_else(|| {
            error(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
                None,
            )
        })
    }

    /// Classify one statement and, with `plan_now`, plan it where it has a
    /// plan (a Parse must: its parameter and result types are asked for
    /// before it runs). A simple query is planned when it runs, after the
    /// kept answers are looked at.
    pub(super) async fn prepare<C>(
        &self,
        client: &C,
        sql: &str,
        stmt: Statement,
        plan_now: bool,
    ) -> PgWireResult<Prepared>
    where
        C: ClientInfo + ?Sized,
    {
        let (_, role) = who(&self.server, client)?;
        let kind = statement::classify(&stmt);
        let plan = match &kind {
            _ if !plan_now => None,
            Kind::Query => {
                let session = self.session(&role).await?;
                Some((plan_read_only(&session, sql, &stmt).await?, session))
            }
            Kind::Show(name) => {
                let text = self.show_sql(name)?;
                let session = self.session(&role).await?;
                let plan = session
                    .ctx
                    .state()
                    .create_logical_plan(&text)
                    .await
                    .map_err(|e| error("XX000", e.to_string(), None))?;
                Some((plan, session))
            }
            _ => None,
        };
        Ok(Prepared {
            sql: sql.to_string(),
            kind,
            stmt: Some(stmt),
            split: None,
            plan,
        })
    }

    /// A simple-protocol statement recognised as a keyed lookup without
    /// parsing it (see `lookup::tokens`).
    pub(super) fn recognised(&self, sql: &str) -> Option<Prepared> {
        if sql.len() > self.server.limits.max_statement_bytes {
            return None;
        }
        let (split, sql) = self.server.lookups.recognise(sql)?;
        Some(Prepared {
            sql,
            kind: Kind::Query,
            stmt: None,
            split: Some(split),
            plan: None,
        })
    }

    /// Run one prepared statement with its parameters.
    pub(super) async fn execute<C>(
        &self,
        client: &mut C,
        p: &Prepared,
        params: Option<ParamValues>,
        format: &Format,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    {
        self.register_cancel(client);
        let (user, role) = who(&self.server, client)?;
        let mut watch = self.watch(&user, &role, &p.sql);
        match &p.kind {
            Kind::Refused { message, code } => {
                watch.finish(Outcome::Refused, Some(message));
                Err(error(
                    code,
                    message.clone(),
                    Some(
                        "the server is read-only: SELECT, EXPLAIN, SHOW and COPY … TO STDOUT"
                            .into(),
                    ),
                ))
            }
            Kind::Begin => {
                watch.finish(Outcome::Ok, None);
                Ok(Response::TransactionStart(Tag::new("BEGIN")))
            }
            Kind::Commit | Kind::Rollback => {
                watch.finish(Outcome::Ok, None);
                let tag = if matches!(p.kind, Kind::Commit) {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                Ok(Response::TransactionEnd(Tag::new(tag)))
            }
            Kind::Savepoint(tag) => {
                watch.finish(Outcome::Ok, None);
                Ok(Response::Execution(Tag::new(tag)))
            }
            Kind::Deallocate(_) => {
                watch.finish(Outcome::Ok, None);
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            Kind::Discard => {
                *self.settings() = Settings::default();
                watch.finish(Outcome::Ok, None);
                Ok(Response::Execution(Tag::new("DISCARD ALL")))
            }
            Kind::Set(s) => {
                let r = self.apply(&role, s).await;
                match &r {
                    Ok(_) => watch.finish(Outcome::Ok, None),
                    Err(e) => watch.finish(Outcome::Refused, Some(&e.to_string())),
                }
                r.map(|_| Response::Execution(Tag::new("SET")))
            }
            Kind::Copy {
                query,
                format: copy_format,
                header,
            } => {
                let stmts = self.parse(query)?;
                let Some(stmt) = stmts.into_iter().next() else {
                    return Err(error("42601", "COPY needs a query", None));
                };
                let stream = watch
                    .guard(async {
                        let session = self.session(&role).await?;
                        let plan = plan_read_only(&session, query, &stmt).await?;
                        start(&session, plan).await
                    })
                    .await?;
                let columns = stream.schema().fields().len();
                let (code, data) = match copy_format {
                    CopyFormat::Binary => {
                        let fields = Arc::new(arrow_schema_to_pg_fields(
                            &stream.schema(),
                            &Format::UnifiedBinary,
                            None,
                        )?);
                        let rows = super::copy::binary_tuples(stream, fields);
                        (1, super::copy::binary_out(rows).boxed())
                    }
                    text_or_csv => (
                        0,
                        super::copy::copy_out(stream, *text_or_csv == CopyFormat::Csv, *header)
                            .boxed(),
                    ),
                };
                let governed = govern(data, watch, self.server.limits, |d| {
                    (1, d.data.len() as u64)
                });
                Ok(Response::CopyOut(CopyResponse::new(
                    code, columns, governed,
                )))
            }
            Kind::Query | Kind::Show(_) => {
                let plan = watch
                    .guard(async {
                        let (session, run, named) = self.snapshot(&role).await?;
                        // A query's answer within one finished run (SHOW
                        // depends on the connection's settings instead).
                        let key = match (&p.kind, run) {
                            (Kind::Query, Some(run)) => Some(results::Key {
                                user: user.clone(),
                                run,
                                named,
                                sql: p.sql.clone(),
                                params: params
                                    .as_ref()
                                    .map(|v| format!("{v:?}"))
                                    .unwrap_or_default(),
                            }),
                            _ => None,
                        };
                        let cache = &self.server.results;
                        if let Some(answer) = key.as_ref().and_then(|k| cache.get(k)) {
                            return Ok(results::Results::replay(&answer));
                        }
                        let lookups = &self.server.lookups;
                        let answer = match (&p.split, &p.stmt) {
                            (Some(split), _) => {
                                lookups.answer_split(&session, split, params.as_ref()).await
                            }
                            (None, Some(stmt)) => {
                                lookups.answer(&session, stmt, params.as_ref()).await
                            }
                            (None, None) => None,
                        };
                        if let Some(answer) = answer {
                            return Ok(answer);
                        }
                        let mut plan = match &p.plan {
                            Some((plan, s)) if Arc::ptr_eq(s, &session) => plan.clone(),
                            _ => {
                                // A recognised lookup is parsed only now.
                                let stmt =
                                    match &p.stmt {
                                        Some(stmt) => stmt.clone(),
                                        None => self.parse(&p.sql)?.into_iter().next().ok_or_else(
                                            || error("26000", "statement lost", None),
                                        )?,
                                    };
                                self.prepare(client, &p.sql, stmt, true)
                                    .await?
                                    .plan
                                    .map(|(plan, _)| plan)
                                    .ok_or_else(|| error("XX000", "no plan", None))?
                            }
                        };
                        if let Some(params) = params {
                            plan = plan.replace_params_with_values(&params).map_err(|e| {
                                error("22023", crate::engine::describe_error(&e), None)
                            })?;
                        }
                        let keep = key.filter(|_| cache.cacheable(&plan));
                        let stream = start(&session, plan).await?;
                        Ok(match keep {
                            Some(k) => cache.recording(k, stream),
                            None => stream,
                        })
                    })
                    .await?;
                let schema = plan.schema();
                super::protocol::check_formats(
                    format,
                    schema.fields().len(),
                    super::protocol::Codes::Results,
                )?;
                let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                let fields = Arc::new(arrow_schema_to_pg_fields(
                    &schema,
                    format,
                    Some(options.clone()),
                )?);
                let rows = super::rows::data_rows(plan, fields.clone(), options);
                let governed = govern(Box::pin(rows), watch, self.server.limits, |r| {
                    (1, r.data.len() as u64)
                });
                Ok(Response::Query(QueryResponse::new(fields, governed)))
            }
        }
    }

    async fn apply(&self, role: &str, s: &Setting) -> PgWireResult<()> {
        match s {
            Setting::AsOf(run) => {
                // Check the run exists (and is inside the retention horizon)
                // now, not at the next query.
                if let Some(r) = run {
                    self.server
                        .snapshots
                        .session(role, Some(r))
                        .await
                        .map_err(|e| sql_error(&e))?;
                }
                self.settings().as_of = run.clone();
            }
            Setting::StatementTimeout(t) => self.settings().timeout = *t,
            Setting::Cosmetic(..) => {}
        }
        Ok(())
    }
}

/// Plan `stmt` on `session`, refusing anything but reads (both protocols).
pub(super) async fn plan_read_only(
    session: &Session,
    sql: &str,
    stmt: &Statement,
) -> PgWireResult<LogicalPlan> {
    let (state, _) = session.frozen();
    let plan = match state
        .statement_to_plan(DfStatement::Statement(Box::new(stmt.clone())))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            let e = crate::sql::explain::reader_error(&session.ctx, sql, e, &session.tables).await;
            return Err(sql_error(&e));
        }
    };
    crate::sql::read_only().verify_plan(&plan).map_err(|e| {
        error(
            "25006",
            crate::engine::describe_error(&e),
            Some("the server is read-only: SELECT, EXPLAIN, SHOW and COPY … TO STDOUT".into()),
        )
    })?;
    Ok(plan)
}

/// Start `plan` on `session`: optimise, plan physically, stream.
pub(super) async fn start(
    session: &Session,
    plan: LogicalPlan,
) -> PgWireResult<datafusion::execution::SendableRecordBatchStream> {
    // A fresh state marks this statement's start (what `now()` reads); the
    // task context is shared.
    let state = session.ctx.state();
    let (_, task) = session.frozen();
    let physical = state
        .create_physical_plan(&plan)
        .await
        .map_err(|e| error("XX000", crate::engine::describe_error(&e), None))?;
    datafusion::physical_plan::execute_stream(physical, task.clone())
        .map_err(|e| error("XX000", crate::engine::describe_error(&e), None))
}

/// A reader error as the client sees it: the message (no quoted values)
/// and the shell's help line as the hint.
fn sql_error(e: &crate::sql::Error) -> PgWireError {
    let code = if e.is_usage() { "42P01" } else { "XX000" };
    error(
        code,
        crate::engine::without_quoted_values(&e.to_string()),
        e.help(),
    )
}
