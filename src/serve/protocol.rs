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
                Some(stmt) => Ok(Some(self.prepare(client, sql, stmt, true).await?)),
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
                let format = column_format.unwrap_or(&Format::UnifiedText);
                check_formats(format, plan.schema().fields().len(), Codes::Results)?;
                arrow_schema_to_pg_fields(plan.schema().as_arrow(), format, None)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// What a Bind's format codes are for.
#[derive(Debug, Clone, Copy)]
pub enum Codes {
    Parameters,
    Results,
}

/// PostgreSQL's rule for a Bind's format codes: none (all text), one (for
/// all) or one per value. pgwire and arrow-pg index them unchecked (a
/// panic, found by `fuzz/pg_messages`), so a Bind breaking it is refused
/// as PostgreSQL refuses it.
pub fn check_formats(format: &Format, values: usize, codes: Codes) -> PgWireResult<()> {
    match format {
        Format::Individual(c) if c.len() != values => Err(error(
            "08P01",
            match codes {
                Codes::Parameters => format!(
                    "bind message has {} parameter formats but {values} parameters",
                    c.len()
                ),
                Codes::Results => format!(
                    "bind message has {} result formats but query has {values} columns",
                    c.len()
                ),
            },
            None,
        )),
        _ => Ok(()),
    }
}

/// The bytes a binary value of `t` takes, where that is fixed.
fn fixed_width(t: &Type) -> Option<usize> {
    Some(match *t {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => return None,
    })
}

/// Every binary parameter of a fixed-width type has exactly its width.
/// Some decoders read past a short value (pg_interval's, a panic found by
/// `fuzz/pg_messages`); PostgreSQL refuses such a Bind with 22P03. The
/// type is the one the value will be decoded as: the client's, else the
/// server's. Call after [`check_formats`].
pub fn check_parameter_widths<S>(portal: &Portal<S>, server: &[Option<&Type>]) -> PgWireResult<()> {
    for (i, value) in portal.parameters.iter().enumerate() {
        let Some(value) = value else { continue };
        if !portal.parameter_format.is_binary(i) {
            continue;
        }
        let declared = portal.statement.parameter_types.get(i).cloned().flatten();
        let t = declared.or_else(|| {
            server
                .get(i)
                .copied()
                .flatten()
                .filter(|t| **t != Type::UNKNOWN)
                .cloned()
        });
        if let Some(w) = t.as_ref().and_then(fixed_width)
            && value.len() != w
        {
            return Err(error(
                "22P03",
                format!("incorrect binary data format in bind parameter {}", i + 1),
                None,
            ));
        }
    }
    Ok(())
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
        if let Some(p) = q.recognised(query) {
            return match q.execute(client, &p, None, &Format::UnifiedText).await {
                Ok(resp) => Ok(vec![resp]),
                Err(PgWireError::UserError(info)) => Ok(vec![Response::Error(info)]),
                Err(e) => Err(e),
            };
        }
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
            let r = match q.prepare(client, &sql, stmt, false).await {
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
        check_formats(
            &portal.parameter_format,
            portal.parameters.len(),
            Codes::Parameters,
        )?;
        let params = match &p.plan {
            Some((plan, _)) if !portal.parameters.is_empty() => {
                let inferred: Vec<Option<DataType>> =
                    parameter_types(plan)?.into_iter().map(|(_, t)| t).collect();
                let inferred: Vec<Option<&DataType>> =
                    inferred.iter().map(|t| t.as_ref()).collect();
                let wire = wire_types(plan)?;
                let wire: Vec<Option<&Type>> = wire.iter().map(Some).collect();
                check_parameter_widths(portal, &wire)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_codes_are_none_one_or_one_per_value() {
        let p = Codes::Parameters;
        assert!(check_formats(&Format::UnifiedText, 3, p).is_ok());
        assert!(check_formats(&Format::UnifiedBinary, 3, p).is_ok());
        assert!(check_formats(&Format::Individual(vec![0, 1, 1]), 3, p).is_ok());
        let e = check_formats(&Format::Individual(vec![0, 1]), 3, p).expect_err("refused");
        assert!(
            e.to_string()
                .contains("2 parameter formats but 3 parameters"),
            "{e}"
        );
        let e = check_formats(&Format::Individual(vec![1, 1, 1]), 2, Codes::Results)
            .expect_err("refused");
        assert!(
            e.to_string()
                .contains("3 result formats but query has 2 columns"),
            "{e}"
        );
    }

    #[test]
    fn binary_parameters_of_fixed_width_types_have_their_width() {
        use pgwire::api::stmt::StoredStatement;
        use pgwire::messages::extendedquery::Bind;
        let portal = |declared: Vec<Option<Type>>, value: &[u8]| {
            let bind = Bind::new(
                None,
                None,
                vec![1],
                vec![Some(bytes::Bytes::copy_from_slice(value))],
                vec![],
            );
            let stmt = Arc::new(StoredStatement::new(String::new(), (), declared));
            Portal::try_new(&bind, stmt).expect("portal")
        };
        // A 7-byte interval (16 bytes in PostgreSQL) panicked pg_interval.
        let short = portal(vec![Some(Type::INTERVAL)], &[0; 7]);
        let e = check_parameter_widths(&short, &[None]).expect_err("refused");
        assert!(e.to_string().contains("bind parameter 1"), "{e}");
        assert!(
            check_parameter_widths(&portal(vec![Some(Type::INTERVAL)], &[0; 16]), &[None]).is_ok()
        );
        // Undeclared: the server's type decides; the client's wins when given.
        assert!(check_parameter_widths(&portal(vec![], &[0; 4]), &[Some(&Type::INT8)]).is_err());
        assert!(check_parameter_widths(&portal(vec![], &[0; 8]), &[Some(&Type::INT8)]).is_ok());
        assert!(
            check_parameter_widths(
                &portal(vec![Some(Type::INT4)], &[0; 4]),
                &[Some(&Type::INT8)]
            )
            .is_ok()
        );
        // Variable-width types are the decoder's business.
        assert!(check_parameter_widths(&portal(vec![Some(Type::TEXT)], b"abc"), &[None]).is_ok());
    }
}
