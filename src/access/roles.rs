//! Server users and their reader roles (`access.users`, `access.roles`),
//! and a role's row-level scope: `row_filter` predicates applied below SQL,
//! like the masks, to every table that has the columns they name. A table
//! none of a role's filters applies to is hidden from that role unless the
//! role lists it as `unfiltered` (fail closed: a table the filter cannot
//! scope would show every region's rows).

use crate::spec::{Diags, Ordered, did_you_mean};
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// One reader role: its row scope. Its clear-text grants are `access.grants`
/// under the same name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Predicates over one table's own columns (`region = 'Kowloon'`); a
    /// table gets every one whose columns it has.
    #[serde(default)]
    pub row_filter: Filters,
    /// Tables the role reads whole although no filter applies to them
    /// (reference data, channel-level aggregates).
    #[serde(default)]
    pub unfiltered: Vec<String>,
}

/// `row_filter: "…"` or a list of them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "OneOrMany")]
pub struct Filters(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Filters {
    fn from(v: OneOrMany) -> Self {
        match v {
            OneOrMany::One(s) => Filters(vec![s]),
            OneOrMany::Many(v) => Filters(v),
        }
    }
}

/// A server user: the role whose masks, grants and row scope it reads
/// with. Its password is never in the YAML (see `serve::users`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub role: String,
}

/// One compiled row filter: its SQL and the columns it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFilter {
    pub sql: String,
    pub columns: Vec<String>,
}

/// A role's compiled row scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub filters: Vec<RowFilter>,
    pub unfiltered: Vec<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The filters that apply to a table with `columns`, or `None` when the
    /// table is hidden from the role.
    pub fn for_table<'a>(&'a self, table: &str, columns: &[&str]) -> Option<Vec<&'a RowFilter>> {
        if self.filters.is_empty() {
            return Some(Vec::new());
        }
        let applies: Vec<&RowFilter> = self
            .filters
            .iter()
            .filter(|f| f.columns.iter().all(|c| columns.contains(&c.as_str())))
            .collect();
        if !applies.is_empty() || self.unfiltered.iter().any(|u| u == table) {
            return Some(applies);
        }
        // Bookkeeping tables hold no customer rows, but `_quarantine` keeps
        // rejected records of every region: hidden unless listed.
        let bookkeeping = table.starts_with('_') && table != crate::warehouse::log::QUARANTINE;
        bookkeeping.then(Vec::new)
    }
}

/// Parse one filter: a boolean expression over plain column names and
/// literals: no subqueries (they would read tables the role cannot see)
/// and no functions that are not deterministic.
pub fn parse_filter(sql: &str) -> Result<RowFilter, String> {
    let expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| format!("is not a SQL expression: {e}"))?;
    struct Cols {
        names: BTreeSet<String>,
        bad: Option<String>,
    }
    impl Visitor for Cols {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &SqlExpr) -> ControlFlow<()> {
            match e {
                SqlExpr::Identifier(i) => {
                    self.names.insert(i.value.clone());
                }
                SqlExpr::CompoundIdentifier(_) => {
                    self.bad = Some("names a column with a table prefix".into());
                }
                SqlExpr::Subquery(_) | SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. } => {
                    self.bad = Some("holds a subquery".into());
                }
                SqlExpr::Function(f) => {
                    let name = f.name.to_string().to_lowercase();
                    if ["random", "now", "current_user", "uuid"].contains(&name.as_str()) {
                        self.bad = Some(format!("calls `{name}`, which is not deterministic"));
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Cols {
        names: BTreeSet::new(),
        bad: None,
    };
    let _ = expr.visit(&mut v);
    if let Some(bad) = v.bad {
        return Err(bad);
    }
    if v.names.is_empty() {
        return Err("names no column, so it would scope no table".into());
    }
    Ok(RowFilter {
        sql: sql.to_string(),
        columns: v.names.into_iter().collect(),
    })
}

/// Roles' row scopes, and users with their roles.
pub type Compiled = (Vec<(String, Scope)>, Vec<(String, String)>);

/// Check `access.roles` and `access.users`: filters parse and scope at
/// least one table, `unfiltered` names tables, users name declared roles.
pub fn compile(
    roles: &Ordered<RoleSpec>,
    users: &Ordered<UserSpec>,
    grants: &Ordered<Vec<String>>,
    tables: &[(String, Vec<String>)],
    diags: &mut Diags,
) -> Compiled {
    let mut scopes = Vec::new();
    for (role, spec) in &roles.0 {
        let mut scope = Scope {
            filters: Vec::new(),
            unfiltered: spec.unfiltered.clone(),
        };
        for (i, sql) in spec.row_filter.0.iter().enumerate() {
            let at = format!("access.roles.{role}.row_filter.{i}");
            match parse_filter(sql) {
                Ok(f) => {
                    let scoped = tables
                        .iter()
                        .any(|(_, cols)| f.columns.iter().all(|c| cols.contains(c)));
                    if !scoped {
                        diags.err(
                            &at,
                            format!(
                                "`{sql}` applies to no table: none has column(s) {}",
                                f.columns.join(", ")
                            ),
                            Some("a filter names columns of the tables it scopes".into()),
                        );
                    }
                    scope.filters.push(f);
                }
                Err(why) => diags.err(
                    &at,
                    format!("`{sql}` {why}"),
                    Some(
                        "write a predicate over one table's columns, e.g. \"region = 'Kowloon'\""
                            .into(),
                    ),
                ),
            }
        }
        for (i, t) in spec.unfiltered.iter().enumerate() {
            if !tables.iter().any(|(n, _)| n == t) {
                diags.err(
                    &format!("access.roles.{role}.unfiltered.{i}"),
                    format!("`{t}` is not a table of this pipeline"),
                    did_you_mean(t, tables.iter().map(|(n, _)| n.as_str()))
                        .map(|n| format!("did you mean `{n}`?")),
                );
            }
        }
        scopes.push((role.clone(), scope));
    }
    let mut out_users = Vec::new();
    let declared = || {
        roles
            .0
            .iter()
            .map(|(r, _)| r.as_str())
            .chain(grants.0.iter().map(|(r, _)| r.as_str()))
    };
    for (user, spec) in &users.0 {
        if !declared().any(|r| r == spec.role) {
            let mut known: Vec<&str> = declared().collect();
            known.sort();
            known.dedup();
            diags.err(
                &format!("access.users.{user}.role"),
                format!("role `{}` is not declared", spec.role),
                Some(match did_you_mean(&spec.role, known.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? declare roles under access.roles"),
                    None => "declare it under access.roles (`name: {}` for masks only)".into(),
                }),
            );
        }
        if !valid_user_name(user) {
            diags.err(
                &format!("access.users.{user}"),
                format!("`{user}` is not a valid user name"),
                Some("use letters, digits, `_` and `-` (its password comes from TOUCHPOINT_PASSWORD_<USER>)".into()),
            );
        }
        out_users.push((user.clone(), spec.role.clone()));
    }
    (scopes, out_users)
}

/// User names become environment variable names: keep them plain.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_their_columns_and_refuse_subqueries() {
        let f = parse_filter("region = 'Kowloon' AND tier <> 'mass'").expect("parses");
        assert_eq!(f.columns, vec!["region", "tier"]);
        assert!(parse_filter("customer_id IN (SELECT customer_id FROM customers)").is_err());
        assert!(parse_filter("c.region = 'x'").is_err());
        assert!(parse_filter("1 = 1").is_err());
        assert!(parse_filter("region = 'a'; DROP TABLE x").is_err());
        assert!(parse_filter("random() < 0.5 AND region = 'a'").is_err());
    }

    #[test]
    fn a_table_no_filter_scopes_is_hidden_unless_listed() {
        let scope = Scope {
            filters: vec![parse_filter("region = 'Kowloon'").expect("parses")],
            unfiltered: vec!["channels".into()],
        };
        assert_eq!(
            scope
                .for_table("customers", &["id", "region"])
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(scope.for_table("churn_risk", &["customer_id"]), None);
        assert_eq!(
            scope.for_table("channels", &["code"]).map(|v| v.len()),
            Some(0)
        );
        assert_eq!(
            scope.for_table("_runs", &["run_id"]).map(|v| v.len()),
            Some(0)
        );
        assert_eq!(scope.for_table("_quarantine", &["source"]), None);
        assert_eq!(
            Scope::default().for_table("x", &[]).map(|v| v.len()),
            Some(0)
        );
    }
}
