//! Arrow as Flight SQL clients read it: the schema a FlightInfo announces
//! and the batches DoGet sends agree, with string views and dictionaries
//! as plain strings (clients that predate `Utf8View` read them).

use arrow_flight::{IpcMessage, SchemaAsIpc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use std::sync::Arc;
use tonic::Status;

/// A schema as clients read it: views and dictionaries of strings as plain
/// strings, every column nullable, no metadata — the same for the plan a
/// FlightInfo announces and for the batches DoGet sends.
pub fn plain(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                DataType::BinaryView => DataType::Binary,
                DataType::Dictionary(_, v) if v.is_string() => DataType::Utf8,
                t => t.clone(),
            };
            Field::new(f.name(), t, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

pub fn cast(batch: RecordBatch, to: &SchemaRef) -> datafusion::error::Result<RecordBatch> {
    if batch.schema().fields() == to.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(to.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(to.clone(), columns)?)
}

pub fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(b) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(b)
}
