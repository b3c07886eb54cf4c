//! Masks, applied below SQL: a reader's session registers each table as a
//! projection that masks or hashes its personal columns, so no query can
//! reach the raw values.

use super::hash::HashKey;
use super::{Error, Personal, Policy};
use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, col, create_udf, lit};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// How one reader sees the warehouse: the personal columns masked for
/// them (table, column, how), and the key of hashed ones.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    masked: Vec<(String, String, Personal)>,
    key: Option<HashKey>,
    /// The reader role's row scope (empty: every row).
    scope: super::roles::Scope,
}

impl Masks {
    /// The masks of `reader` under `policy`. A hashed column without a key
    /// fails closed: the reader cannot open the warehouse.
    pub fn for_reader(policy: &Policy, reader: &str) -> Result<Masks, Error> {
        let masked = policy.masked_for(reader);
        let hashed: Vec<String> = masked
            .iter()
            .filter(|(_, _, p)| *p == Personal::Hash)
            .map(|(t, c, _)| format!("{t}.{c}"))
            .collect();
        let key = HashKey::from_env().map_err(Error::HashKey)?;
        if key.is_none() && !hashed.is_empty() {
            return Err(Error::NoHashKey { columns: hashed });
        }
        Ok(Masks {
            masked,
            key,
            scope: policy.scope_of(reader),
        })
    }

    /// Masks with this list and key (tests, tools).
    pub fn new(masked: Vec<(String, String, Personal)>, key: Option<HashKey>) -> Masks {
        Masks {
            masked,
            key,
            scope: Default::default(),
        }
    }

    /// These masks with the row scope `scope` (tests, tools).
    pub fn with_scope(mut self, scope: super::roles::Scope) -> Masks {
        self.scope = scope;
        self
    }

    pub fn masked(&self) -> &[(String, String, Personal)] {
        &self.masked
    }

    /// `provider` as this reader may see table `name`: its rows scoped by
    /// the role's filters, its personal columns masked; `None` when the
    /// role may not see the table at all.
    pub fn provider(
        &self,
        name: &str,
        provider: Arc<dyn TableProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let schema = provider.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let Some(filters) = self.scope.for_table(name, &columns) else {
            return Ok(None);
        };
        let masked = self.masked.as_slice();
        let quarantine = name == crate::warehouse::log::QUARANTINE;
        let own: Vec<(&str, Personal)> = masked
            .iter()
            .filter(|(t, _, _)| t == name)
            .map(|(_, c, p)| (c.as_str(), *p))
            .collect();
        let withholds = quarantine && !masked.is_empty();
        if own.is_empty() && !withholds && filters.is_empty() {
            return Ok(Some(provider));
        }
        let ctx = SessionContext::new();
        let mut df = ctx.read_table(provider)?;
        // Rows are scoped on the raw values, before any column is masked.
        for f in filters {
            let predicate = ctx.parse_sql_expr(&f.sql, df.schema())?;
            df = df.filter(predicate)?;
        }
        let mut exprs: Vec<Expr> = Vec::new();
        for f in df.schema().fields() {
            let c = col(format!("\"{}\"", f.name()));
            exprs.push(if quarantine {
                self.quarantine_column(f.name(), c)?.alias(f.name())
            } else {
                match own.iter().find(|(n, _)| n == f.name()) {
                    Some((_, p)) => self.apply(*p, c)?.alias(f.name()),
                    None => c,
                }
            });
        }
        Ok(Some(Arc::new(super::view::AsTable(
            df.select(exprs)?.into_view(),
        ))))
    }

    fn apply(&self, p: Personal, c: Expr) -> datafusion::error::Result<Expr> {
        match p {
            Personal::Hash => match &self.key {
                Some(k) => Ok(k.udf().call(vec![c])),
                // `for_reader` refuses this; never fall back to clear text.
                None => Err(DataFusionError::Plan(
                    "a hashed column needs the hash key".into(),
                )),
            },
            _ => Ok(mask_expr(c)),
        }
    }

    /// `_quarantine` keeps what was rejected, personal values included: the
    /// rejected `value` of a personal column is masked like the column, and the
    /// raw `record` of a source with personal columns is withheld.
    fn quarantine_column(&self, name: &str, c: Expr) -> datafusion::error::Result<Expr> {
        let masked = self.masked.as_slice();
        use datafusion::logical_expr::when;
        let source = || datafusion::logical_expr::cast(col("source"), DataType::Utf8);
        match name {
            "value" => {
                let mut cases = Vec::new();
                for (t, k, p) in masked {
                    cases.push((
                        source()
                            .eq(lit(t.clone()))
                            .and(col("column_name").eq(lit(k.clone()))),
                        self.apply(*p, c.clone())?,
                    ));
                }
                let mut cases = cases.into_iter();
                let Some((w, t)) = cases.next() else {
                    return Ok(c);
                };
                let mut b = when(w, t);
                for (w, t) in cases {
                    b = b.when(w, t);
                }
                b.otherwise(c)
            }
            "record" => {
                let mut tables: Vec<Expr> = masked.iter().map(|(t, _, _)| lit(t.clone())).collect();
                tables.dedup();
                when(
                    source().in_list(tables, false),
                    lit("(withheld: the record holds personal data)"),
                )
                .otherwise(c)
            }
            _ => Ok(c),
        }
    }
}

fn mask_expr(e: Expr) -> Expr {
    mask_udf().call(vec![datafusion::logical_expr::cast(e, DataType::Utf8)])
}

/// `****5678` for digit-like values (phones, cards), `C***` for names.
pub fn mask_value(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits >= 6 && digits * 2 >= chars.len() {
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        format!("****{tail}")
    } else {
        match chars.first() {
            Some(c) => format!("{c}***"),
            None => String::new(),
        }
    }
}

pub fn mask_udf() -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "pii_mask",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let a = arrays[0]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Internal("pii_mask takes text".into()))?;
            let out: StringArray = a.iter().map(|v| v.map(mask_value)).collect();
            let out: ArrayRef = Arc::new(out);
            if matches!(args[0], ColumnarValue::Scalar(_)) {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            } else {
                Ok(ColumnarValue::Array(out))
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_and_names() {
        assert_eq!(mask_value("+852 9123 4567"), "****4567");
        assert_eq!(mask_value("4000123412341234"), "****1234");
        assert_eq!(mask_value("Chan Tai Man"), "C***");
        assert_eq!(mask_value(""), "");
    }
}
