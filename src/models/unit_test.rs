//! `touchpoint test`: run a model's SQL over rows given in the YAML and
//! compare what it produces with the rows expected — in memory, without
//! the warehouse. Values are typed by the tables' declared schemas, so
//! `"100.5"` is a decimal where the column is one.

use super::{Model, Result, Schemas};
use crate::spec::{Diags, Ordered, did_you_mean};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::util::display::{FormatOptions, array_value_to_string};
use datafusion::datasource::MemTable;
use serde::Deserialize;
use std::sync::Arc;

/// A model unit test: rows given for the tables the model reads, and the
/// rows it must produce (only the columns named in `expect` are compared,
/// in any order). Run by `touchpoint test`, never against the warehouse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub model: String,
    pub description: Option<String>,
    /// Table → its rows (`{column: value}`); tables the model reads and
    /// not given here are empty. Columns left out are null.
    #[serde(default)]
    pub given: Ordered<Vec<serde_yaml::Mapping>>,
    pub expect: Vec<serde_yaml::Mapping>,
}

/// A model unit test: given rows in, expected rows out.
#[derive(Debug, Clone)]
pub struct UnitTest {
    pub name: String,
    pub model: String,
    pub description: Option<String>,
    pub given: Vec<(String, Vec<serde_yaml::Mapping>)>,
    pub expect: Vec<serde_yaml::Mapping>,
}

impl UnitTest {
    /// Compile `tests:`: the model exists, given tables are ones it reads,
    /// and every column named exists.
    pub fn compile(
        specs: &[(String, TestSpec)],
        models: &[Model],
        schemas: &Schemas,
        diags: &mut Diags,
    ) -> Vec<UnitTest> {
        let mut out = Vec::new();
        for (name, t) in specs {
            let at = format!("tests.{name}");
            let before = diags.count();
            let Some(model) = models.iter().find(|m| m.name == t.model) else {
                let near = did_you_mean(&t.model, models.iter().map(|m| m.name.as_str()));
                diags.err(
                    &format!("{at}.model"),
                    format!("unknown model `{}`", t.model),
                    near.map(|n| format!("did you mean `{n}`?")),
                );
                continue;
            };
            for (table, rows) in t.given.iter() {
                if !model.depends_on.contains(table) {
                    diags.err(
                        &format!("{at}.given.{table}"),
                        format!("model `{}` does not read `{table}`", model.name),
                        Some(format!("it reads {}", model.depends_on.join(", "))),
                    );
                    continue;
                }
                if let Some(schema) = schemas.get(table) {
                    test_columns(&format!("{at}.given.{table}"), rows, schema, diags);
                }
            }
            if let Some(schema) = schemas.get(&model.name) {
                test_columns(&format!("{at}.expect"), &t.expect, schema, diags);
            }
            if diags.count() == before {
                out.push(UnitTest {
                    name: name.clone(),
                    model: model.name.clone(),
                    description: t.description.clone(),
                    given: t
                        .given
                        .iter()
                        .map(|(n, r)| (n.clone(), r.clone()))
                        .collect(),
                    expect: t.expect.clone(),
                });
            }
        }
        out
    }
}

fn test_columns(at: &str, rows: &[serde_yaml::Mapping], schema: &SchemaRef, diags: &mut Diags) {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for (i, row) in rows.iter().enumerate() {
        for k in row.keys() {
            let k = k.as_str().unwrap_or_default();
            if !names.contains(&k) {
                let near = did_you_mean(k, names.iter().copied());
                diags.err(
                    &format!("{at}.{i}.{k}"),
                    format!("unknown column `{k}`"),
                    Some(
                        near.map(|n| format!("did you mean `{n}`?"))
                            .unwrap_or_else(|| format!("columns: {}", names.join(", "))),
                    ),
                );
            }
        }
    }
}

/// A test's result: `None` when it passed, else what differed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub name: String,
    pub model: String,
    pub rows: usize,
    pub failure: Option<String>,
}

/// Rows from the YAML as a batch of `schema` (only `columns` of it when
/// given); a value that does not fit its column's type is an error.
fn batch(
    rows: &[serde_yaml::Mapping],
    schema: &SchemaRef,
    what: &str,
) -> std::result::Result<RecordBatch, String> {
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut cols: Vec<ArrayRef> = Vec::new();
    for f in schema.fields() {
        let vals: Vec<Option<String>> = rows
            .iter()
            .map(|r| r.get(f.name().as_str()).and_then(crate::spec::scalar_text))
            .collect();
        let raw: ArrayRef = Arc::new(StringArray::from(vals));
        let typed = cast_with_options(&raw, f.data_type(), &strict).map_err(|e| {
            format!(
                "{what}: a value of `{}` is not a {}: {e}",
                f.name(),
                f.data_type()
            )
        })?;
        cols.push(typed);
    }
    // Nullability of the declared schema does not bind test rows.
    let loose = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(loose, cols).map_err(|e| format!("{what}: {e}"))
}

/// Each row as one comparable line: floats to 10 significant digits, so
/// `0.1 + 0.2` equals `0.3`.
fn lines(b: &RecordBatch) -> Vec<String> {
    let opts = FormatOptions::default().with_null("null");
    (0..b.num_rows())
        .map(|r| {
            b.columns()
                .iter()
                .zip(b.schema().fields())
                .map(|(a, f)| {
                    let v = if a.is_null(r) {
                        "null".to_string()
                    } else if matches!(f.data_type(), DataType::Float64 | DataType::Float32) {
                        let x = cast_with_options(a, &DataType::Float64, &CastOptions::default())
                            .ok()
                            .and_then(|c| {
                                c.as_any()
                                    .downcast_ref::<datafusion::arrow::array::Float64Array>()
                                    .map(|x| x.value(r))
                            })
                            .unwrap_or(f64::NAN);
                        // -0.0 and 0.0 are the same number to a reader.
                        let x = if x == 0.0 { 0.0 } else { x };
                        format!("{x:.9e}")
                    } else {
                        datafusion::arrow::util::display::ArrayFormatter::try_new(a, &opts)
                            .map(|fm| fm.value(r).to_string())
                            .unwrap_or_else(|_| array_value_to_string(a, r).unwrap_or_default())
                    };
                    format!("{}={v}", f.name())
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

/// Run a test over its model (among `models`, with every table's `schemas`).
pub async fn run(
    models: &[Model],
    schemas: &Schemas,
    tz: chrono_tz::Tz,
    t: &UnitTest,
) -> Result<Outcome> {
    let fail = |msg: String| Outcome {
        name: t.name.clone(),
        model: t.model.clone(),
        rows: 0,
        failure: Some(msg),
    };
    let Some(model) = models.iter().find(|m| m.name == t.model) else {
        return Ok(fail(format!("unknown model `{}`", t.model)));
    };
    let ctx = crate::engine::session();
    for dep in &model.depends_on {
        let Some(schema) = schemas.get(dep) else {
            return Ok(fail(format!("no schema for `{dep}`")));
        };
        let rows = t
            .given
            .iter()
            .find(|(n, _)| n == dep)
            .map(|(_, r)| r.as_slice())
            .unwrap_or(&[]);
        let b = match batch(rows, schema, &format!("given `{dep}`")) {
            Ok(b) => b,
            Err(e) => return Ok(fail(e)),
        };
        let table = MemTable::try_new(b.schema(), vec![vec![b]])?;
        ctx.register_table(dep.as_str(), Arc::new(table))?;
    }
    let got = match super::build(&ctx, model, "test", tz, None).await {
        Ok(built) => datafusion::physical_plan::common::collect(built.stream)
            .await
            .map_err(super::Error::from),
        Err(e) => Err(e),
    };
    let got = match got {
        Ok(g) => g,
        Err(e) => return Ok(fail(format!("the model failed: {e}"))),
    };
    // Compare only the columns the test names, in the model's types.
    let mut wanted: Vec<String> = Vec::new();
    for row in &t.expect {
        for k in row.keys().filter_map(|k| k.as_str()) {
            if !wanted.iter().any(|w| w == k) {
                wanted.push(k.to_string());
            }
        }
    }
    let Some(out_schema) = got
        .first()
        .map(|b| b.schema())
        .or_else(|| schemas.get(&t.model).cloned())
    else {
        return Ok(fail("the model has no schema".into()));
    };
    let idx: Vec<usize> = wanted
        .iter()
        .filter_map(|w| out_schema.index_of(w).ok())
        .collect();
    let projected = Arc::new(
        out_schema
            .project(&idx)
            .map_err(datafusion::error::DataFusionError::from)?,
    );
    let mut actual: Vec<String> = Vec::new();
    for b in &got {
        actual.extend(lines(
            &b.project(&idx)
                .map_err(datafusion::error::DataFusionError::from)?,
        ));
    }
    let expected = match batch(&t.expect, &projected, "expect") {
        Ok(b) => lines(&b),
        Err(e) => return Ok(fail(e)),
    };
    let rows = actual.len();
    let (mut missing, mut extra) = (expected.clone(), Vec::new());
    for a in actual {
        match missing.iter().position(|e| *e == a) {
            Some(i) => {
                missing.swap_remove(i);
            }
            None => extra.push(a),
        }
    }
    if missing.is_empty() && extra.is_empty() {
        return Ok(Outcome {
            name: t.name.clone(),
            model: t.model.clone(),
            rows,
            failure: None,
        });
    }
    missing.sort();
    extra.sort();
    let show = |v: &[String]| {
        v.iter()
            .take(5)
            .map(|l| format!("\n      {l}"))
            .collect::<String>()
            + &if v.len() > 5 {
                format!("\n      … and {} more", v.len() - 5)
            } else {
                String::new()
            }
    };
    let mut msg = format!("{rows} row(s) produced, {} expected", expected.len());
    if !missing.is_empty() {
        msg.push_str(&format!(
            "\n    expected but not produced:{}",
            show(&missing)
        ));
    }
    if !extra.is_empty() {
        msg.push_str(&format!("\n    produced but not expected:{}", show(&extra)));
    }
    Ok(Outcome {
        name: t.name.clone(),
        model: t.model.clone(),
        rows,
        failure: Some(msg),
    })
}
