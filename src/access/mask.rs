//! Masks, applied below SQL: a reader's session registers each table as a
//! projection that masks or hashes its personal columns, so no query can
//! reach the raw values.

use super::Personal;
use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, col, create_udf, lit};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// `provider` as a reader of table `name` may see it (see [`register_warehouse`]).
pub fn masked_provider(
    name: &str,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    masked: &[(String, String, Personal)],
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let quarantine = name == crate::warehouse::log::QUARANTINE;
    let own: Vec<(&str, Personal)> = masked
        .iter()
        .filter(|(t, _, _)| t == name)
        .map(|(_, c, p)| (c.as_str(), *p))
        .collect();
    let withholds = quarantine && !masked.is_empty();
    if own.is_empty() && !withholds {
        return Ok(provider);
    }
    let ctx = SessionContext::new();
    let df = ctx.read_table(provider)?;
    let exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let c = col(format!("\"{}\"", f.name()));
            if quarantine {
                return quarantine_column(f.name(), c, masked).alias(f.name());
            }
            match own.iter().find(|(n, _)| n == f.name()) {
                Some((_, p)) => apply(*p, c).alias(f.name()),
                None => c,
            }
        })
        .collect();
    Ok(df.select(exprs)?.into_view())
}

fn apply(p: Personal, c: Expr) -> Expr {
    match p {
        Personal::Hash => datafusion::functions::expr_fn::encode(
            datafusion::functions::crypto::expr_fn::sha256(c),
            lit("hex"),
        ),
        _ => mask_expr(c),
    }
}

/// `_quarantine` keeps what was rejected, personal values included: the
/// rejected `value` of a personal column is masked like the column, and the
/// raw `record` of a source with personal columns is withheld.
fn quarantine_column(name: &str, c: Expr, masked: &[(String, String, Personal)]) -> Expr {
    use datafusion::logical_expr::when;
    let source = || datafusion::logical_expr::cast(col("source"), DataType::Utf8);
    match name {
        "value" => {
            let mut cases = masked.iter().map(|(t, k, p)| {
                (
                    source()
                        .eq(lit(t.clone()))
                        .and(col("column_name").eq(lit(k.clone()))),
                    apply(*p, c.clone()),
                )
            });
            let Some((w, t)) = cases.next() else {
                return c;
            };
            let mut b = when(w, t);
            for (w, t) in cases {
                b = b.when(w, t);
            }
            b.otherwise(c.clone()).unwrap_or(c)
        }
        "record" => {
            let mut tables: Vec<Expr> = masked.iter().map(|(t, _, _)| lit(t.clone())).collect();
            tables.dedup();
            when(
                source().in_list(tables, false),
                lit("(withheld: the record holds personal data)"),
            )
            .otherwise(c.clone())
            .unwrap_or(c)
        }
        _ => c,
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
