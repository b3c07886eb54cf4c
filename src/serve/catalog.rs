//! What PostgreSQL clients ask at connect time: `pg_catalog` and its
//! functions (datafusion-pg-catalog's emulation, listing only the tables
//! the reader's session registered), and a `version()` in PostgreSQL's
//! shape, which drivers parse.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use std::sync::Arc;

/// The version clients see: PostgreSQL 15 compatible.
pub const SERVER_VERSION: &str = "15.0";

pub fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (touchpoint {}, Apache DataFusion {}) on x86_64-pc-linux-gnu",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    )
}

pub fn install(ctx: &SessionContext) -> crate::sql::Result<()> {
    setup_pg_catalog(ctx, super::snapshot::CATALOG, EmptyContextProvider)
        .map_err(|e| crate::sql::Error::Query(*e))?;
    let text = version_text();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))
        }),
    ));
    ctx.register_udf(to_regtype());
    ctx.register_udf(constant(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        ScalarValue::Utf8(None),
    ));
    ctx.register_udf(constant(
        "pg_collation_is_visible",
        vec![DataType::Int32],
        ScalarValue::Boolean(Some(true)),
    ));
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        super::json::JsonBuildObject::new(),
    ));
    Ok(())
}

/// A catalog function with one answer here: no table has a serial
/// sequence, every collation is visible.
fn constant(
    name: &str,
    args: Vec<DataType>,
    value: ScalarValue,
) -> datafusion::logical_expr::ScalarUDF {
    let ty = value.data_type();
    create_udf(
        name,
        args,
        ty,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = args.iter().find_map(|a| match a {
                ColumnarValue::Array(a) => Some(a.len()),
                ColumnarValue::Scalar(_) => None,
            });
            Ok(match rows {
                Some(n) => ColumnarValue::Array(value.to_array_of_size(n)?),
                None => ColumnarValue::Scalar(value.clone()),
            })
        }),
    )
}

/// The OIDs of PostgreSQL's built-in types, by name (`pg_type`).
const TYPES: &[(&str, i32)] = &[
    ("bool", 16),
    ("bytea", 17),
    ("char", 18),
    ("name", 19),
    ("int8", 20),
    ("int2", 21),
    ("int4", 23),
    ("text", 25),
    ("oid", 26),
    ("json", 114),
    ("float4", 700),
    ("float8", 701),
    ("varchar", 1043),
    ("date", 1082),
    ("time", 1083),
    ("timestamp", 1114),
    ("timestamptz", 1184),
    ("interval", 1186),
    ("numeric", 1700),
    ("uuid", 2950),
    ("jsonb", 3802),
];

/// `to_regtype(name)`: a type's OID, NULL for a type this server does not
/// have (drivers probe for extensions' types such as `hstore` this way).
fn to_regtype() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Array, Int32Array, StringArray};
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = arrays[0]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Plan("to_regtype takes text".into())
                })?;
            let oids: Int32Array = names
                .iter()
                .map(|n| {
                    let n = n?.trim().trim_start_matches("pg_catalog.").to_lowercase();
                    TYPES.iter().find(|(t, _)| *t == n).map(|(_, o)| *o)
                })
                .collect();
            let out: Arc<dyn Array> = Arc::new(oids);
            if matches!(args[0], ColumnarValue::Scalar(_)) {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            } else {
                Ok(ColumnarValue::Array(out))
            }
        }),
    )
}
