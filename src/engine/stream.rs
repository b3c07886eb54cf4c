//! Arrow record-batch streams: one batch as a stream, and counting rows as
//! they pass.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One batch as a stream.
pub fn batch_stream(batch: RecordBatch) -> SendableRecordBatchStream {
    let schema = batch.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(vec![Ok(batch)]),
    ))
}

/// Count rows as they pass, without holding them.
pub fn counting(stream: SendableRecordBatchStream) -> (SendableRecordBatchStream, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    let schema = stream.schema();
    let s = stream.inspect(move |b| {
        if let Ok(b) = b {
            n2.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
    });
    (Box::pin(RecordBatchStreamAdapter::new(schema, s)), n)
}
