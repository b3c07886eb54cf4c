//! Time travel for analysts: `table_at('churn_risk', 12)` reads a table at a
//! Delta version, `table_at('churn_risk', '20241231T…-ab12cd')` as a run left
//! it. The name is a table name, not a path: it must be one of the tables
//! the reader's session declares, and masking applies exactly as to the
//! current table.

use super::{Error, Result};
use crate::access::Masks;
use crate::warehouse::Warehouse;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;
use std::sync::Arc;

#[derive(Debug)]
pub struct TableAt {
    /// The warehouse without a reader's pins: versions are absolute.
    pub wh: Warehouse,
    pub masks: Masks,
    /// The tables the pipeline declares: the only names `table_at` takes.
    pub declared: Vec<String>,
}

enum At {
    Version(i64),
    Run(String),
}

impl TableFunctionImpl for TableAt {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let (name, at) = match args.exprs() {
            [
                Expr::Literal(ScalarValue::Utf8(Some(t)), _),
                Expr::Literal(v, _),
            ] => {
                let at = match v {
                    ScalarValue::Int64(Some(n)) => At::Version(*n),
                    ScalarValue::Utf8(Some(r)) => At::Run(r.clone()),
                    _ => return usage(),
                };
                (t.clone(), at)
            }
            _ => return usage(),
        };
        // Table functions are planned synchronously; loading a Delta log is
        // async. The CLI runs on a multi-threaded runtime, so block this
        // worker only.
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| DataFusionError::Plan(format!("table_at needs a runtime: {e}")))?;
        tokio::task::block_in_place(|| handle.block_on(self.load(&name, at)))
            .map_err(|e| DataFusionError::Plan(e.to_string()))
    }
}

fn usage() -> datafusion::error::Result<Arc<dyn TableProvider>> {
    plan_err!(
        "table_at takes a table name and a Delta version or a run id: table_at('churn_risk', 12) or table_at('churn_risk', '20241231T020000Z-ab12cd')"
    )
}

impl TableAt {
    async fn load(&self, name: &str, at: At) -> Result<Arc<dyn TableProvider>> {
        // Exactly a declared name: `./t`, `t/.`, `a/../t` or a path to
        // another warehouse would reach files the session never registered.
        if !self.declared.iter().any(|d| d == name) {
            let mut known = self.declared.clone();
            known.sort();
            let near = crate::spec::did_you_mean(name, known.iter().map(String::as_str));
            return Err(Error::reader(
                format!("`{name}` is not a table of this pipeline"),
                match near {
                    Some(n) => format!("table_at takes a table name; did you mean `{n}`?"),
                    None => format!("table_at takes a table name: {}", known.join(", ")),
                },
            ));
        }
        let version = match at {
            At::Version(v) => v,
            At::Run(run) => {
                let manifest = self.wh.clone().as_of(&run).await?;
                match manifest.version(name).await? {
                    Some(v) => v as i64,
                    None => {
                        return Err(Error::reader(
                            format!("table `{name}` did not exist after run `{run}`"),
                            "`SELECT table_name, version FROM _versions WHERE run_id = '…'` lists what it had",
                        ));
                    }
                }
            }
        };
        let latest = self.wh.version(name).await?.ok_or_else(|| {
            Error::reader(
                format!("unknown table `{name}`"),
                "`\\dt` or `SELECT DISTINCT table_name FROM _versions` lists the tables",
            )
        })?;
        if version < 0 || version as u64 > latest {
            return Err(Error::reader(
                format!("table `{name}` has versions 0 to {latest}, not {version}"),
                "pick a version in range, or a run id",
            ));
        }
        let t = self.wh.table_at(name, version).await?;
        let provider = self.wh.provider_of(name, &t).await?;
        self.masks.provider(name, provider)?.ok_or_else(|| {
            Error::reader(
                format!("`{name}` is not visible to your role"),
                "your role's row filter does not scope this table; ask for it under `unfiltered`",
            )
        })
    }
}
