//! A stream as a table that can be scanned once: a write consumes a load's
//! stream as a DataFusion plan without collecting it.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::streaming::PartitionStream;
use std::sync::{Arc, Mutex};

/// Wraps a stream as a table that can be scanned exactly once, so a write
/// can consume it as a DataFusion plan without collecting it.
pub fn one_shot_table(stream: SendableRecordBatchStream) -> Arc<dyn TableProvider> {
    let schema = stream.schema();
    let part = Arc::new(OneShot {
        schema: schema.clone(),
        stream: Mutex::new(Some(stream)),
    });
    match StreamingTable::try_new(schema, vec![part]) {
        Ok(t) => Arc::new(t),
        // Only fails when partition schemas differ, which they cannot here.
        Err(_) => unreachable!("one partition with its own schema"),
    }
}

struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneShot")
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(s) => s,
            None => Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    self.schema.clone(),
                    futures::stream::once(async {
                        Err(datafusion::error::DataFusionError::Execution(
                            "input stream was already consumed".into(),
                        ))
                    }),
                ),
            ),
        }
    }
}
