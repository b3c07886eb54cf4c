//! A table's or query's columns from PostgreSQL: names and types from the
//! statement's description (so a query is described exactly as it will
//! run), `NOT NULL` and the primary key from the catalog for a table.

use super::types::{self, Wire};
use super::{Object, Postgres};
use crate::sources::database::{DbColumn, Error};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

/// How a described column arrives.
pub fn wire_of(c: &DbColumn) -> Wire {
    Type::from_oid(c.type_id)
        .map(|t| types::wire(&t))
        .unwrap_or(Wire::Other)
}

/// The columns of `pg`'s table or query, in their order.
pub async fn describe(client: &Client, pg: &Postgres) -> Result<Vec<DbColumn>, Error> {
    let object = super::Kind::object(pg);
    let fail = |e: tokio_postgres::Error| Error::Query {
        object: object.clone(),
        reason: super::profile::describe(e),
    };
    let stmt = client
        .prepare(&format!("SELECT * FROM {} AS q", pg.object.relation()))
        .await
        .map_err(fail)?;
    let mut cols: Vec<DbColumn> = stmt
        .columns()
        .iter()
        .map(|c| {
            let w = types::wire(c.type_());
            DbColumn {
                name: c.name().to_string(),
                type_name: types::type_name(c.type_(), c.type_modifier()),
                type_id: c.type_().oid(),
                natural: types::natural(w, c.type_modifier()),
                not_null: false,
                key: None,
            }
        })
        .collect();
    if let Object::Table(..) = pg.object {
        let rows = client
            .query(
                "SELECT a.attname::text, a.attnotnull, \
                   (SELECT array_position(i.indkey::int2[], a.attnum) \
                      FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary) \
                 FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&pg.object.relation()],
            )
            .await
            .map_err(fail)?;
        for r in rows {
            let name: String = r.get(0);
            if let Some(c) = cols.iter_mut().find(|c| c.name == name) {
                c.not_null = r.get(1);
                c.key = r.get::<_, Option<i32>>(2).map(|k| k as usize);
            }
        }
    }
    Ok(cols)
}
