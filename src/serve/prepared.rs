//! Flight SQL prepared statements without server state: the handle a client
//! holds is the statement's text and, once it binds parameters (`DoPut`),
//! their values as an Arrow IPC stream. Any server process can run it, and
//! nothing leaks when a client never closes it. A client that forges a
//! handle gains nothing: the text is planned and governed as if sent as a
//! statement.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;

/// The first bytes of a handle (a version, so a handle format can change).
const MAGIC: &[u8; 4] = b"TPQ1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a prepared-statement handle of this server")]
    Handle,
    #[error("bind one row of parameters to a query (got {0})")]
    Rows(usize),
    #[error("the bound parameters take {0} bytes; at most {1} are accepted")]
    TooLarge(usize, usize),
    #[error("the query takes {want} parameters; {got} were bound")]
    Count { want: usize, got: usize },
    #[error("parameter ${index} cannot be read as {to}: {reason}")]
    Type {
        index: usize,
        to: DataType,
        reason: String,
    },
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Plan(String),
}

/// A statement as its handle carries it.
#[derive(Debug, PartialEq)]
pub struct Prepared {
    pub sql: String,
    /// The bound values, `$1` first; `None` until the client binds.
    pub params: Option<Vec<ScalarValue>>,
}

/// The handle of `sql` with `params` (one row) bound, or none yet.
pub fn handle(sql: &str, params: Option<&RecordBatch>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(8 + sql.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sql.len() as u32).to_le_bytes());
    out.extend_from_slice(sql.as_bytes());
    if let Some(batch) = params {
        if batch.num_rows() != 1 {
            return Err(Error::Rows(batch.num_rows()));
        }
        let mut w = StreamWriter::try_new(&mut out, &batch.schema())?;
        w.write(batch)?;
        w.finish()?;
    }
    Ok(out)
}

/// What a handle holds; anything this server did not write is refused.
pub fn open(handle: &[u8]) -> Result<Prepared, Error> {
    let rest = handle.strip_prefix(MAGIC).ok_or(Error::Handle)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(Error::Handle)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(Error::Handle);
    }
    let (sql, ipc) = rest.split_at(len);
    let sql = String::from_utf8(sql.to_vec()).map_err(|_| Error::Handle)?;
    if ipc.is_empty() {
        return Ok(Prepared { sql, params: None });
    }
    let mut values = None;
    for batch in StreamReader::try_new(ipc, None)? {
        let batch = batch?;
        if values.is_some() || batch.num_rows() != 1 {
            return Err(Error::Rows(batch.num_rows()));
        }
        values = Some(
            batch
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Plan(crate::engine::describe_error(&e)))?,
        );
    }
    Ok(Prepared {
        sql,
        params: Some(values.ok_or(Error::Rows(0))?),
    })
}

/// The parameters a client binds: `$1`, `$2`, … at the types the plan
/// infers (text where it cannot tell).
pub fn parameter_schema(plan: &LogicalPlan) -> Schema {
    let types = plan.get_parameter_types().unwrap_or_default();
    let mut ids: Vec<(usize, String)> = types
        .keys()
        .filter_map(|id| Some((id.strip_prefix('$')?.parse().ok()?, id.clone())))
        .collect();
    ids.sort();
    Schema::new(
        ids.into_iter()
            .map(|(_, id)| {
                let t = types.get(&id).cloned().flatten().unwrap_or(DataType::Utf8);
                Field::new(id, t, true)
            })
            .collect::<Vec<_>>(),
    )
}

/// `plan` with its placeholders replaced by `values`, each cast to the type
/// the plan expects there (a client binds Python's `int` as Int64 where the
/// column is Int32, a string as Utf8 where it is Utf8View).
pub fn bind(plan: LogicalPlan, values: Vec<ScalarValue>) -> Result<LogicalPlan, Error> {
    let types = plan.get_parameter_types().unwrap_or_default();
    if types.len() != values.len() {
        return Err(Error::Count {
            want: types.len(),
            got: values.len(),
        });
    }
    let values = values
        .into_iter()
        .enumerate()
        .map(
            |(i, v)| match types.get(&format!("${}", i + 1)).cloned().flatten() {
                // A placeholder whose type the plan does not fix keeps the client's.
                None => Ok(v),
                Some(to) => v.cast_to(&to).map_err(|e| Error::Type {
                    index: i + 1,
                    to,
                    reason: crate::engine::without_quoted_values(&e.to_string()),
                }),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    plan.replace_params_with_values(&ParamValues::List(
        values.into_iter().map(Into::into).collect(),
    ))
    .map_err(|e| Error::Plan(crate::engine::describe_error(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn a_handle_round_trips_its_text_and_one_row_of_values() {
        let plain = handle("SELECT 1", None).expect("handle");
        assert_eq!(
            open(&plain).expect("open"),
            Prepared {
                sql: "SELECT 1".into(),
                params: None
            }
        );
        let a: ArrayRef = Arc::new(StringArray::from(vec!["Kowloon"]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1970]));
        let batch = RecordBatch::try_from_iter([("0", a), ("1", b)]).expect("batch");
        let bound = handle("SELECT $1, $2", Some(&batch)).expect("handle");
        assert_eq!(
            open(&bound).expect("open").params,
            Some(vec![
                ScalarValue::Utf8(Some("Kowloon".into())),
                ScalarValue::Int64(Some(1970))
            ])
        );
        assert!(matches!(
            handle("SELECT $1", Some(&batch.slice(0, 0))),
            Err(Error::Rows(0))
        ));
    }

    #[test]
    fn forged_and_truncated_handles_are_refused() {
        assert!(matches!(open(b"SELECT 1"), Err(Error::Handle)));
        assert!(matches!(
            open(b"TPQ1\xff\xff\xff\xffab"),
            Err(Error::Handle)
        ));
        let mut h = handle("SELECT 1", None).expect("handle");
        h.extend_from_slice(b"not arrow");
        assert!(open(&h).is_err());
    }
}
