//! What a client's statement is, before it is planned: a query, `COPY
//! (query) TO STDOUT`, a transaction statement (answered, not run: every
//! statement reads one snapshot anyway), a session setting the server
//! allows, a `SHOW`, or something a read-only session refuses.

use datafusion::sql::sqlparser::ast::{
    CopyOption, CopySource, CopyTarget, Expr, ObjectName, Set, Statement, Value,
};
use std::time::Duration;

/// The settings a client may change. Everything else — DataFusion's own
/// options included (`SET datafusion.runtime.memory_limit` would leave the
/// shared memory pool) — is refused.
pub const SETTABLE: &[&str] = &[
    "touchpoint.as_of",
    "statement_timeout",
    "application_name",
    "extra_float_digits",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "search_path",
    "timezone",
    "bytea_output",
    "client_min_messages",
    "standard_conforming_strings",
    "lc_messages",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// `SET touchpoint.as_of = 'RUN'`; `None`: back to the latest run.
    AsOf(Option<String>),
    /// `None`: the server's limit.
    StatementTimeout(Option<Duration>),
    /// Client-side formatting and naming a driver sets at connect time:
    /// accepted and shown back, no effect on what is read.
    Cosmetic(String, String),
}

/// The encodings of `COPY … TO STDOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    /// PostgreSQL's binary format (`PGCOPY`), what the ADBC driver reads.
    Binary,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Query,
    /// `COPY (query) TO STDOUT [WITH (FORMAT text | csv | binary, HEADER)]`.
    Copy {
        query: String,
        format: CopyFormat,
        header: bool,
    },
    Begin,
    Commit,
    Rollback,
    /// `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`: nothing to undo in a
    /// read-only session; answered with the tag drivers expect.
    Savepoint(&'static str),
    Set(Setting),
    Show(String),
    /// `DEALLOCATE name`: drops a prepared statement (drivers free theirs
    /// this way); `ALL` leaves them to the connection's end.
    Deallocate(String),
    Discard,
    Refused {
        message: String,
        code: &'static str,
    },
}

fn refused(message: impl Into<String>) -> Kind {
    Kind::Refused {
        message: message.into(),
        code: "25006", // read_only_sql_transaction
    }
}

pub fn classify(stmt: &Statement) -> Kind {
    match stmt {
        Statement::Query(_) | Statement::Explain { .. } => Kind::Query,
        Statement::StartTransaction { .. } => Kind::Begin,
        Statement::Commit { .. } => Kind::Commit,
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Kind::Savepoint("ROLLBACK"),
        Statement::Rollback { .. } => Kind::Rollback,
        Statement::Savepoint { .. } => Kind::Savepoint("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Kind::Savepoint("RELEASE"),
        Statement::Discard { .. } => Kind::Discard,
        Statement::Deallocate { name, .. } => Kind::Deallocate(name.value.clone()),
        Statement::ShowVariable { variable } => {
            let words: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
            // `SHOW touchpoint.as_of` arrives as two words.
            Kind::Show(match words.as_slice() {
                [a, b] if a == "touchpoint" => format!("{a}.{b}"),
                _ => words.join(" "),
            })
        }
        Statement::Set(set) => classify_set(set),
        Statement::Copy {
            source,
            to,
            target,
            options,
            ..
        } => {
            let query = match source {
                CopySource::Query(q) => q.to_string(),
                // `COPY table TO STDOUT` is `COPY (SELECT * FROM table)`.
                CopySource::Table {
                    table_name,
                    columns,
                } => {
                    let cols = if columns.is_empty() {
                        "*".to_string()
                    } else {
                        columns
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    format!("SELECT {cols} FROM {table_name}")
                }
            };
            if !*to || !matches!(target, CopyTarget::Stdout) {
                return refused(
                    "only `COPY (SELECT …) TO STDOUT` is allowed: the server writes no files and takes no data",
                );
            }
            let mut format = CopyFormat::Text;
            let mut header = false;
            for o in options {
                match o {
                    CopyOption::Format(f) if f.value.eq_ignore_ascii_case("csv") => {
                        format = CopyFormat::Csv
                    }
                    CopyOption::Format(f) if f.value.eq_ignore_ascii_case("text") => {
                        format = CopyFormat::Text
                    }
                    CopyOption::Format(f) if f.value.eq_ignore_ascii_case("binary") => {
                        format = CopyFormat::Binary
                    }
                    CopyOption::Header(h) => header = *h,
                    other => {
                        return Kind::Refused {
                            message: format!("COPY option `{other}` is not supported"),
                            code: "0A000",
                        };
                    }
                }
            }
            if header && format == CopyFormat::Binary {
                return Kind::Refused {
                    message: "cannot specify HEADER in BINARY mode".into(),
                    code: "0A000",
                };
            }
            Kind::Copy {
                query,
                format,
                header,
            }
        }
        _ => Kind::Query,
    }
}

fn classify_set(set: &Set) -> Kind {
    match set {
        Set::SingleAssignment {
            scope: None,
            hivevar: false,
            variable,
            values,
        } => setting(&name(variable), values),
        Set::SetTimeZone {
            local: false,
            value,
        } => setting("timezone", std::slice::from_ref(value)),
        _ => refused(format!(
            "`{set}` is not allowed in a read-only session; settable: {}",
            SETTABLE.join(", ")
        )),
    }
}

fn name(n: &ObjectName) -> String {
    n.0.iter()
        .map(|p| p.to_string().trim_matches('"').to_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

/// A SET's value as text: `'x'`, `x`, `DEFAULT` (→ `None`), numbers.
fn value_text(values: &[Expr]) -> Option<String> {
    match values {
        [Expr::Value(v)] => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => Some(v.to_string()),
        },
        [Expr::Identifier(i)] if i.value.eq_ignore_ascii_case("default") => None,
        [Expr::Identifier(i)] => Some(i.value.clone()),
        [] => None,
        many => Some(
            many.iter()
                .map(|e| e.to_string().trim_matches('\'').to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

fn setting(var: &str, values: &[Expr]) -> Kind {
    let value = value_text(values);
    match var {
        "touchpoint.as_of" => Kind::Set(Setting::AsOf(
            value.filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("latest")),
        )),
        "statement_timeout" => match value.as_deref().map(parse_duration) {
            None | Some(Some(Duration::ZERO)) => Kind::Set(Setting::StatementTimeout(None)),
            Some(Some(d)) => Kind::Set(Setting::StatementTimeout(Some(d))),
            Some(None) => Kind::Refused {
                message: format!("invalid value for statement_timeout: {value:?}"),
                code: "22023",
            },
        },
        v if SETTABLE.contains(&v) => {
            Kind::Set(Setting::Cosmetic(v.to_string(), value.unwrap_or_default()))
        }
        v => refused(format!(
            "`SET {v}` is not allowed in a read-only session; settable: {}",
            SETTABLE.join(", ")
        )),
    }
}

/// `SHOW name` as a one-row query; `None` for a setting this server does
/// not have.
pub fn show_sql(name: &str, as_of: Option<&str>, timeout: Duration) -> Option<String> {
    let v = match name {
        "touchpoint.as_of" => as_of.unwrap_or("latest").to_string(),
        "statement_timeout" => format!("{}ms", timeout.as_millis()),
        "server_version" => super::catalog::SERVER_VERSION.into(),
        "server_encoding" | "client_encoding" => "UTF8".into(),
        "standard_conforming_strings" | "integer_datetimes" => "on".into(),
        "transaction_read_only" | "default_transaction_read_only" => "on".into(),
        "is_superuser" => "off".into(),
        "transaction isolation level" | "transaction_isolation" => "read committed".into(),
        "timezone" | "time zone" => "UTC".into(),
        "datestyle" => "ISO, MDY".into(),
        "intervalstyle" => "postgres".into(),
        "search_path" => "public".into(),
        "max_identifier_length" => "63".into(),
        "lc_collate" | "lc_ctype" => "C".into(),
        "application_name" | "extra_float_digits" | "bytea_output" | "client_min_messages" => {
            String::new()
        }
        _ => return None,
    };
    Some(format!(
        "SELECT {} AS {}",
        crate::engine::literal(&v),
        crate::engine::ident(&name.replace(' ', "_"))
    ))
}

/// `5000`, `5000ms`, `5s`, `2min` → a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "" | "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn kind(sql: &str) -> Kind {
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        classify(&stmts[0])
    }

    #[test]
    fn settings_are_allowed_or_refused_by_name() {
        assert!(matches!(
            kind("SET touchpoint.as_of = 'r1'"),
            Kind::Set(Setting::AsOf(Some(r))) if r == "r1"
        ));
        assert!(matches!(
            kind("SET touchpoint.as_of = DEFAULT"),
            Kind::Set(Setting::AsOf(None))
        ));
        assert!(matches!(
            kind("SET statement_timeout = '5s'"),
            Kind::Set(Setting::StatementTimeout(Some(d))) if d == Duration::from_secs(5)
        ));
        assert!(matches!(
            kind("SET extra_float_digits = 3"),
            Kind::Set(Setting::Cosmetic(..))
        ));
        assert!(matches!(
            kind("SET datafusion.runtime.memory_limit = '100G'"),
            Kind::Refused { .. }
        ));
        assert!(matches!(kind("SET ROLE admin"), Kind::Refused { .. }));
        assert!(matches!(
            kind("SET statement_timeout = 'soon'"),
            Kind::Refused { .. }
        ));
    }

    #[test]
    fn shows_and_deallocates() {
        assert!(matches!(kind("SHOW touchpoint.as_of"), Kind::Show(n) if n == "touchpoint.as_of"));
        assert!(matches!(
            kind("SHOW TRANSACTION ISOLATION LEVEL"),
            Kind::Show(n) if n == "transaction isolation level"
        ));
        assert!(matches!(kind("DEALLOCATE _pg3_0"), Kind::Deallocate(n) if n == "_pg3_0"));
    }

    #[test]
    fn copy_to_stdout_only() {
        assert!(matches!(
            kind("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)"),
            Kind::Copy {
                format: CopyFormat::Csv,
                header: true,
                ..
            }
        ));
        assert!(matches!(
            kind("COPY t TO STDOUT"),
            Kind::Copy {
                format: CopyFormat::Text,
                ..
            }
        ));
        assert!(matches!(
            kind("COPY (SELECT 1) TO STDOUT (FORMAT binary)"),
            Kind::Copy {
                format: CopyFormat::Binary,
                ..
            }
        ));
        assert!(matches!(
            kind("COPY t TO STDOUT (FORMAT binary, HEADER)"),
            Kind::Refused { .. }
        ));
        assert!(matches!(kind("COPY t TO '/tmp/x'"), Kind::Refused { .. }));
        assert!(matches!(kind("COPY t FROM STDIN"), Kind::Refused { .. }));
    }
}
