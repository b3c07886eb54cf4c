//! The pgwire side of a connection: the simple and extended protocol
//! handlers and the prepared-statement parser, each a thin shell over
//! [`Queries`] (parameters typed from the plan, decoded by arrow-pg).

use super::audit::Outcome;
use super::govern::error;
use super::handler::{Prepared, Queries, who};
use super::statement::Kind;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, into_pg_type};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{MemPortalStore, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use std::sync::Arc;

fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<(usize, Option<DataType>)>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| error("42P18", crate::engine::describe_error(&e), None))?;
    let mut out: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(k, t)| {
            k.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|n| (n, t))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

fn wire_types(plan: &LogicalPlan) -> PgWireResult<Vec<Type>> {
    parameter_types(plan)?
        .into_iter()
        .map(|(_, t)| match t {
            Some(t) => into_pg_type(&t),
            None => Ok(Type::UNKNOWN),
        })
        .collect()
}

#[async_trait::async_trait]
impl QueryParser for Queries {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let r = async {
            let mut stmts = self.parse(sql)?;
            if stmts.len() > 1 {
                return Err(error(
                    "42601",
                    "cannot insert multiple commands into a prepared statement",
                    None,
                ));
            }
            match stmts.pop() {
                Some(stmt) => Ok(Some(self.prepare(client, sql, stmt).await?)),
                None => Ok(None),
            }
        }
        .await;
        // A statement refused while it is parsed or planned is audited too.
        if let Err(e) = &r
            && let Ok((user, role)) = who(&self.server, client)
        {
            self.watch(&user, &role, sql)
                .finish(Outcome::Refused, Some(&e.to_string()));
        }
        r
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        match &stmt.plan {
            Some((plan, _)) => wire_types(plan),
            None => Ok(Vec::new()),
        }
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.plan {
            Some((plan, _)) if matches!(stmt.kind, Kind::Query | Kind::Show(_)) => {
                arrow_schema_to_pg_fields(
                    plan.schema().as_arrow(),
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                )
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// `DEALLOCATE name` drops the client's prepared statement of that name.
fn deallocate<C>(client: &C, p: &Prepared)
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore,
{
    if let Kind::Deallocate(name) = &p.kind
        && !name.eq_ignore_ascii_case("all")
        && let Some(store) = client
            .portal_store()
            .as_any()
            .downcast_ref::<MemPortalStore<Prepared>>()
    {
        store.rm_statement(name);
    }
}

/// The handlers pgwire calls; one per connection.
pub struct Handler(pub Arc<Queries>);

#[async_trait::async_trait]
impl SimpleQueryHandler for Handler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let q = &self.0;
        let stmts = match q.parse(query) {
            Ok(s) => s,
            Err(e) => {
                if let Ok((user, role)) = who(&q.server, client) {
                    q.watch(&user, &role, query)
                        .finish(Outcome::Refused, Some(&e.to_string()));
                }
                return Err(e);
            }
        };
        let mut out = Vec::new();
        for stmt in stmts {
            let sql = stmt.to_string();
            let r = match q.prepare(client, &sql, stmt).await {
                Ok(p) => {
                    deallocate(client, &p);
                    q.execute(client, &p, None, &Format::UnifiedText).await
                }
                Err(e) => {
                    if let Ok((user, role)) = who(&q.server, client) {
                        q.watch(&user, &role, &sql)
                            .finish(Outcome::Refused, Some(&e.to_string()));
                    }
                    Err(e)
                }
            };
            match r {
                Ok(resp) => out.push(resp),
                // PostgreSQL stops a multi-statement string at its first error.
                Err(PgWireError::UserError(info)) => {
                    out.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            out.push(Response::EmptyQuery);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Prepared;
    type QueryParser = Queries;

    fn query_parser(&self) -> Arc<Queries> {
        self.0.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &portal.statement.statement;
        deallocate(client, p);
        let params = match &p.plan {
            Some((plan, _)) if !portal.parameters.is_empty() => {
                let inferred: Vec<Option<DataType>> =
                    parameter_types(plan)?.into_iter().map(|(_, t)| t).collect();
                let inferred: Vec<Option<&DataType>> =
                    inferred.iter().map(|t| t.as_ref()).collect();
                let wire = wire_types(plan)?;
                let wire: Vec<Option<&Type>> = wire.iter().map(Some).collect();
                Some(deserialize_parameters_with_server_types(
                    portal, &inferred, &wire,
                )?)
            }
            _ => None,
        };
        self.0
            .execute(client, p, params, &portal.result_column_format)
            .await
    }
}
