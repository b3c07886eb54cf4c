//! Seeds: small tables declared in the pipeline file (`seeds:`), such as
//! tier rules and channel costs, written whole when their rows change.

use super::{Error, Result};
use crate::spec::types::{ColumnType, TYPE_NAMES};
use crate::spec::{Diags, Ordered};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    pub description: Option<String>,
    /// Column name → type, in order.
    pub columns: Ordered<String>,
    pub rows: Vec<Vec<serde_yaml::Value>>,
}

#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub columns: Vec<(String, ColumnType)>,
    pub spec: SeedSpec,
}

impl Seed {
    /// Check a seed's column types and that every row has one value per column.
    pub fn compile(name: &str, s: &SeedSpec, diags: &mut Diags) -> Option<Seed> {
        let mut cols = Vec::new();
        for (c, t) in s.columns.iter() {
            match t.parse::<ColumnType>() {
                Ok(ty) => cols.push((c.clone(), ty)),
                Err(e) => diags.err(
                    &format!("seeds.{name}.columns.{c}"),
                    e,
                    Some(format!("types: {TYPE_NAMES}")),
                ),
            }
        }
        for (i, row) in s.rows.iter().enumerate() {
            if row.len() != s.columns.0.len() {
                diags.err(
                    &format!("seeds.{name}.rows.{i}"),
                    format!(
                        "row has {} values, the seed declares {} columns",
                        row.len(),
                        s.columns.0.len()
                    ),
                    None,
                );
            }
        }
        (cols.len() == s.columns.0.len()).then(|| Seed {
            name: name.into(),
            columns: cols,
            spec: s.clone(),
        })
    }

    /// The seed's table schema: its declared columns, all nullable.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(n, t)| Field::new(n, t.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// The seed's rows, typed; the first value that does not fit its
    /// column is an error.
    pub fn batch(&self) -> Result<RecordBatch> {
        let bad = |col: &str, v: &serde_yaml::Value, t: &ColumnType| Error::Seed {
            seed: self.name.clone(),
            message: format!("value {v:?} in column `{col}` is not a {t}"),
            help: "fix the seed's rows in the pipeline file".into(),
        };
        let mut cols: Vec<ArrayRef> = Vec::new();
        for (i, (name, ty)) in self.columns.iter().enumerate() {
            let vals: Vec<Option<String>> = self
                .spec
                .rows
                .iter()
                .map(|r| r.get(i).and_then(crate::spec::scalar_text))
                .collect();
            let raw = &self.spec.rows;
            let fail = |r: usize| bad(name, &raw[r][i], ty);
            let arr: ArrayRef = match ty {
                ColumnType::String => Arc::new(StringArray::from(vals)),
                ColumnType::Int => Arc::new(Int64Array::from(parse_cells(
                    &vals,
                    |s| s.parse().ok(),
                    fail,
                )?)),
                ColumnType::Double => Arc::new(Float64Array::from(parse_cells(
                    &vals,
                    |s| s.parse().ok(),
                    fail,
                )?)),
                ColumnType::Bool => Arc::new(BooleanArray::from(parse_cells(
                    &vals,
                    |s| s.parse().ok(),
                    fail,
                )?)),
                ColumnType::Decimal { precision, scale } => {
                    let cells = parse_cells(
                        &vals,
                        |s| crate::sources::conform::parse_decimal(s, *precision, *scale).ok(),
                        fail,
                    )?;
                    Arc::new(
                        Decimal128Array::from(cells)
                            .with_precision_and_scale(*precision, *scale)
                            .map_err(datafusion::error::DataFusionError::from)?,
                    )
                }
                ColumnType::Date => {
                    let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
                    let cells = parse_cells(
                        &vals,
                        |s| {
                            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                                .ok()
                                .map(|d| (d - epoch).num_days() as i32)
                        },
                        fail,
                    )?;
                    Arc::new(Date32Array::from(cells))
                }
                ColumnType::Timestamp => {
                    return Err(Error::Seed {
                        seed: self.name.clone(),
                        message: "timestamp columns are not supported in seeds".into(),
                        help: "use a date or string column".into(),
                    });
                }
            };
            cols.push(arr);
        }
        Ok(RecordBatch::try_new(self.schema(), cols)
            .map_err(datafusion::error::DataFusionError::from)?)
    }
}

/// Parse a seed column's cells; the first that does not parse is an error.
fn parse_cells<T>(
    vals: &[Option<String>],
    parse: impl Fn(&str) -> Option<T>,
    fail: impl Fn(usize) -> Error,
) -> Result<Vec<Option<T>>> {
    vals.iter()
        .enumerate()
        .map(|(r, v)| match v {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| fail(r)),
        })
        .collect()
}
