//! Arrow Flight SQL on a second port (`serve --flight`): the same users,
//! roles, masks, row filters, read-only planning, snapshots, limits and
//! audit as the PostgreSQL side, with results as Arrow record batches.
//! Clients log in with basic authentication (a handshake returns a bearer
//! token for the next hour) or send basic credentials on each call.
//! Strings go out as plain `Utf8` (never `Utf8View`), which every client reads.

mod batches;
mod cancel;
mod credentials;

use super::Server;
use super::audit::{Entry, Outcome};
use super::govern::{Watch, govern};
use super::prepared::{self, Prepared};
use super::statement::{self, Kind};
use crate::sql::Session;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, CommandGetCatalogs,
    CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use batches::{cast, plain, schema_bytes};
use credentials::Tokens;

type DoGet = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

pub struct Flight {
    server: Arc<Server>,
    tokens: Tokens,
    info: SqlInfoData,
    running: cancel::Running,
}

fn handle_of(sql: &str, params: Option<&RecordBatch>) -> Result<Vec<u8>, Status> {
    prepared::handle(sql, params).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn opened(handle: &[u8]) -> Result<Prepared, Status> {
    prepared::open(handle).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Serve Flight SQL on `listener` until the process ends.
pub async fn run(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    tls: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<(), super::Error> {
    let addr = listener.local_addr().map_err(|e| super::Error::Listen {
        addr: "Flight SQL".into(),
        reason: e.to_string(),
    })?;
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "touchpoint");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    builder.append(SqlInfo::FlightSqlServerReadOnly, true);
    let info = builder
        .build()
        .map_err(|e| super::Error::Tls(format!("Flight SQL info: {e}")))?;
    let service = Flight {
        server,
        tokens: Tokens::default(),
        info,
        running: cancel::Running::default(),
    };
    let mut b = tonic::transport::Server::builder();
    if let Some((cert, key)) = tls {
        let identity = tonic::transport::Identity::from_pem(cert, key);
        b = b
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| super::Error::Tls(e.to_string()))?;
    }
    b.add_service(FlightServiceServer::new(service))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await
        .map_err(|e| super::Error::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

fn denied(message: impl Into<String>) -> Status {
    Status::permission_denied(message.into())
}

/// A refusal of the shared planning as a gRPC status.
fn status(e: pgwire::error::PgWireError) -> Status {
    match e {
        pgwire::error::PgWireError::UserError(info) if info.code == "25006" => denied(info.message),
        pgwire::error::PgWireError::UserError(info) => Status::invalid_argument(info.message),
        other => Status::internal(other.to_string()),
    }
}

impl Flight {
    /// The caller's user and role: a handshake token, or basic credentials.
    fn who<T>(&self, req: &Request<T>) -> Result<(String, String, SocketAddr), Status> {
        let peer = req
            .remote_addr()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let user = self.tokens.user_of(header, &self.server.users);
        let Some(user) = user else {
            let entry = Entry {
                protocol: "flight-sql",
                ..Entry::new("", "", peer, "(login)")
            };
            self.server.audit.record(
                &entry,
                0,
                Outcome::LoginFailed,
                Some("no valid credentials"),
            );
            return Err(Status::unauthenticated(
                "log in with basic authentication (user and password)",
            ));
        };
        let role = self
            .server
            .pipeline
            .access
            .role_of(&user)
            .ok_or_else(|| Status::unauthenticated("unknown user"))?
            .to_string();
        Ok((user, role, peer))
    }

    fn entry(&self, user: &str, role: &str, peer: SocketAddr, sql: &str) -> Entry {
        Entry {
            protocol: "flight-sql",
            ..Entry::new(user, role, peer, sql)
        }
    }

    /// Plan `sql` read-only on the role's session at the current snapshot,
    /// with bound parameter values if there are any.
    async fn plan(
        &self,
        role: &str,
        sql: &str,
        params: Option<&[ScalarValue]>,
    ) -> Result<(Arc<Session>, LogicalPlan), Status> {
        if sql.len() > self.server.limits.max_statement_bytes {
            return Err(Status::invalid_argument("the statement is too long"));
        }
        let mut stmts = PostgresCompatibilityParser::new().parse(sql).map_err(|e| {
            Status::invalid_argument(crate::engine::without_quoted_values(&e.to_string()))
        })?;
        let (Some(stmt), true) = (stmts.pop(), stmts.is_empty()) else {
            return Err(Status::invalid_argument("send one statement"));
        };
        if !matches!(statement::classify(&stmt), Kind::Query) {
            return Err(denied(
                "the server is read-only: Flight SQL takes SELECT and EXPLAIN",
            ));
        }
        let (session, _) = self
            .server
            .snapshots
            .session(role, None)
            .await
            .map_err(|e| Status::internal(crate::engine::without_quoted_values(&e.to_string())))?;
        let plan = super::handler::plan_read_only(&session, sql, &stmt)
            .await
            .map_err(status)?;
        let plan = match params {
            Some(values) => prepared::bind(plan, values.to_vec())
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            None => plan,
        };
        Ok((session, plan))
    }

    /// Check a statement plans, and say where its rows are: `ticket`.
    async fn info(
        &self,
        p: &Prepared,
        ticket: Vec<u8>,
        req: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (user, role, peer) = self.who(&req)?;
        let sql = p.sql.as_str();
        let (_, plan) = match self.plan(&role, sql, p.params.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                self.server.audit.record(
                    &self.entry(&user, &role, peer, sql),
                    0,
                    Outcome::Refused,
                    Some(e.message()),
                );
                return Err(e);
            }
        };
        let schema = plain(plan.schema().as_arrow());
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket));
        // The descriptor it answers: clients such as pyarrow require it.
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint)
            .with_descriptor(req.into_inner());
        Ok(Response::new(info))
    }

    /// Stop the caller's running streams of `info` (both cancel actions).
    fn cancel<T>(
        &self,
        req: &Request<T>,
        info: &FlightInfo,
    ) -> Result<arrow_flight::CancelStatus, Status> {
        let (user, _, _) = self.who(req)?;
        self.running
            .cancel(&user, info)
            .ok_or_else(|| Status::not_found("no running query of yours has this FlightInfo"))
    }

    /// Run a statement and stream its batches, governed and audited; a
    /// `CancelFlightInfo` naming its ticket stops it.
    async fn rows(&self, p: &Prepared, req: Request<Ticket>) -> Result<Response<DoGet>, Status> {
        let (user, role, peer) = self.who(&req)?;
        let sql = p.sql.as_str();
        let limit = self.server.limits.statement_timeout;
        let mut watch = Watch::new(
            self.server.audit.clone(),
            self.entry(&user, &role, peer, sql),
            Instant::now() + limit,
            self.running.start(&user, &req.get_ref().ticket),
            self.server.running.clone(),
        );
        let (stream, schema) = watch
            .guard(async {
                let (session, plan) = self
                    .plan(&role, sql, p.params.as_deref())
                    .await
                    .map_err(|e| super::govern::error("42000", e.message(), None))?;
                // What get_flight_info announced: the logical plan's schema.
                let schema = plain(plan.schema().as_arrow());
                Ok((super::handler::start(&session, plan).await?, schema))
            })
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let to = schema.clone();
        let batches = stream.map(move |b| {
            b.and_then(|b| cast(b, &to))
                .map_err(|e| super::govern::error("XX000", crate::engine::describe_error(&e), None))
        });
        let governed = govern(Box::pin(batches), watch, self.server.limits, |b| {
            (b.num_rows() as u64, b.get_array_memory_size() as u64)
        })
        .map_err(|e| arrow_flight::error::FlightError::ExternalError(Box::new(e)));
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(governed)
            .map_err(|e| Status::resource_exhausted(e.to_string()));
        Ok(Response::new(Box::pin(data)))
    }

    /// A catalog answer: one batch.
    fn one(batch: Result<RecordBatch, impl std::fmt::Display>) -> Result<Response<DoGet>, Status> {
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let schema = batch.schema();
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { Ok(batch) }))
            .map_err(Status::from);
        Ok(Response::new(Box::pin(data)))
    }

    /// A catalog command's FlightInfo: its ticket is the command itself.
    fn catalog_info(
        cmd: impl ProstMessageExt,
        schema: &Schema,
    ) -> Result<Response<FlightInfo>, Status> {
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(cmd.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint);
        Ok(Response::new(info))
    }

    async fn session_of<T>(&self, req: &Request<T>) -> Result<Arc<Session>, Status> {
        let (_, role, _) = self.who(req)?;
        let (s, _) = self
            .server
            .snapshots
            .session(&role, None)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(s)
    }
}

#[tonic::async_trait]
impl FlightSqlService for Flight {
    type FlightService = Flight;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let (user, _, _) = self.who(&request)?;
        let token = self.tokens.issue(user);
        let out = futures::stream::iter(vec![Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        })]);
        let mut resp: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(out));
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("token"))?;
        resp.metadata_mut().insert("authorization", value);
        Ok(resp)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let p = Prepared {
            sql: query.query,
            params: None,
        };
        let ticket = TicketStatementQuery {
            statement_handle: handle_of(&p.sql, None)?.into(),
        };
        self.info(&p, ticket.as_any().encode_to_vec(), request)
            .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.rows(&opened(&ticket.statement_handle)?, request).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (user, role, peer) = self.who(&request)?;
        let (_, plan) = match self.plan(&role, &query.query, None).await {
            Ok(p) => p,
            Err(e) => {
                let entry = self.entry(&user, &role, peer, &query.query);
                self.server
                    .audit
                    .record(&entry, 0, Outcome::Refused, Some(e.message()));
                return Err(e);
            }
        };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle_of(&query.query, None)?.into(),
            dataset_schema: schema_bytes(&plain(plan.schema().as_arrow()))?,
            parameter_schema: schema_bytes(&prepared::parameter_schema(&plan))?,
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let p = opened(&cmd.prepared_statement_handle)?;
        self.info(&p, cmd.as_any().encode_to_vec(), request).await
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.rows(&opened(&cmd.prepared_statement_handle)?, request)
            .await
    }

    /// Bind parameter values (one row) to a prepared query: the new handle
    /// carries them, so the server keeps nothing between calls.
    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.who(&request)?;
        let p = opened(&cmd.prepared_statement_handle)?;
        let cap = self.server.limits.max_statement_bytes;
        let mut seen = 0usize;
        let data = request.into_inner().map(move |d| {
            let d = d?;
            seen += d.data_body.len() + d.data_header.len();
            if seen > cap {
                return Err(Status::invalid_argument(
                    prepared::Error::TooLarge(seen, cap).to_string(),
                ));
            }
            Ok(d)
        });
        let batches: Vec<RecordBatch> =
            FlightRecordBatchStream::new_from_flight_data(data.map_err(FlightError::from))
                .try_collect()
                .await
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let batch = match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) if rows == 1 => b,
            _ => {
                return Err(Status::invalid_argument(
                    prepared::Error::Rows(rows).to_string(),
                ));
            }
        };
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle_of(&p.sql, Some(batch))?.into()),
        })
    }

    /// `CancelFlightInfo`, the action that replaced `CancelQuery`.
    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<
        Response<<Self as arrow_flight::flight_service_server::FlightService>::DoActionStream>,
        Status,
    > {
        if request.get_ref().r#type != cancel::CANCEL_FLIGHT_INFO {
            return Err(Status::invalid_argument(format!(
                "unknown action {:?}",
                request.get_ref().r#type
            )));
        }
        let info = cancel::request(&request.get_ref().body)?;
        let body = cancel::result(self.cancel(&request, &info)?);
        let out = futures::stream::iter([Ok(arrow_flight::Result { body })]);
        Ok(Response::new(Box::pin(out)))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<arrow_flight::ActionType, Status>>> {
        Some(vec![Ok(arrow_flight::ActionType {
            r#type: cancel::CANCEL_FLIGHT_INFO.into(),
            description: "Stop the running DoGet streams of a FlightInfo".into(),
        })])
    }

    /// The deprecated `CancelQuery`: its body is the FlightInfo's bytes.
    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let info = FlightInfo::decode(query.info)
            .map_err(|_| Status::invalid_argument("CancelQuery needs a FlightInfo"))?;
        Ok(ActionCancelQueryResult {
            result: self.cancel(&request, &info)? as i32,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.who(&request)?;
        Ok(())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        let schema = query.clone().into_builder(&self.info).schema();
        Self::catalog_info(query, &schema)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request)?;
        Self::one(query.into_builder(&self.info).build())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        let schema = query.into_builder().schema();
        Self::catalog_info(query, &schema)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request)?;
        let mut b = query.into_builder();
        b.append(super::snapshot::CATALOG);
        Self::one(b.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::catalog_info(query, &schema)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request)?;
        let mut b = query.into_builder();
        b.append(super::snapshot::CATALOG, "public");
        Self::one(b.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::catalog_info(query, &schema)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        let session = self.session_of(&request).await?;
        let mut b = query.into_builder();
        for name in &session.tables {
            let Ok(t) = session.ctx.table_provider(name.as_str()).await else {
                continue;
            };
            b.append(
                super::snapshot::CATALOG,
                "public",
                name,
                "TABLE",
                &plain(&t.schema()),
            )
            .map_err(|e| Status::internal(e.to_string()))?;
        }
        Self::one(b.build())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        let schema = query.into_builder().schema();
        Self::catalog_info(query, &schema)
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request)?;
        let mut b = query.into_builder();
        b.append("TABLE");
        Self::one(b.build())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
