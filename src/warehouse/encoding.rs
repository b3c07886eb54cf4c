//! How the warehouse encodes what it writes: which columns get a Parquet
//! dictionary, and a batch handed to its partition's writer as it is when
//! every row belongs to that partition.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// Parquet settings for a model's table, from `sample` (its first batch):
/// Snappy, as delta-rs writes by default, and no dictionary for a column
/// whose sampled values are mostly distinct (a customer id, a timestamp, a
/// balance). Such a column's dictionary costs a hash per value until its page
/// fills (1 MiB), and then the writer falls back to plain encoding anyway,
/// in every row group again.
pub fn model_properties(schema: &Schema, sample: Option<&RecordBatch>) -> WriterProperties {
    let mut b = WriterProperties::builder().set_compression(Compression::SNAPPY);
    for f in schema.fields() {
        let distinct = sample
            .and_then(|s| s.column_by_name(f.name()))
            .is_some_and(mostly_distinct);
        if distinct {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    b.build()
}

/// Whether more than half of a sample's values are distinct (judged only
/// on a sample of at least 1,000 rows). Rows are told apart by hash, which
/// can only undercount, so a wrong answer keeps the dictionary.
pub fn mostly_distinct(a: &ArrayRef) -> bool {
    if a.len() < 1000 {
        return false;
    }
    let mut hashes = vec![0u64; a.len()];
    let state = datafusion::common::hash_utils::RandomState::default();
    if datafusion::common::hash_utils::create_hashes(std::slice::from_ref(a), &state, &mut hashes)
        .is_err()
    {
        return false;
    }
    let distinct: datafusion::common::HashSet<u64> = hashes.into_iter().collect();
    distinct.len() * 2 > a.len()
}

/// The one value of text column `column` in `batch` when every row holds
/// it (no nulls), else `None`. A batch of one partition is then written as
/// it is: delta-rs's general write copies every batch to split it by
/// partition values, even when there is one.
pub fn single_text_value(batch: &RecordBatch, column: &str) -> Option<String> {
    let a = batch.column_by_name(column)?;
    if a.is_empty() || a.null_count() > 0 {
        return None;
    }
    fn one<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<String> {
        let first = values.next()?;
        values.all(|v| v == first).then(|| first.to_string())
    }
    match a.data_type() {
        DataType::Utf8 => one(a.as_string::<i32>().iter().flatten()),
        DataType::LargeUtf8 => one(a.as_string::<i64>().iter().flatten()),
        DataType::Utf8View => one(a.as_string_view().iter().flatten()),
        _ => None,
    }
}

/// `stream` again whole (less any empty batches before its first rows), and
/// the Parquet settings its first batch with rows calls for
/// ([`model_properties`]); an error there comes out of the stream.
pub async fn with_model_properties(
    mut stream: SendableRecordBatchStream,
) -> (SendableRecordBatchStream, WriterProperties) {
    let schema = stream.schema();
    let mut first = stream.next().await;
    while matches!(&first, Some(Ok(b)) if b.num_rows() == 0) {
        first = stream.next().await;
    }
    let props = model_properties(&schema, first.as_ref().and_then(|b| b.as_ref().ok()));
    let whole = futures::stream::iter(first).chain(stream);
    (
        Box::pin(RecordBatchStreamAdapter::new(schema, whole)),
        props,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    #[test]
    fn only_mostly_distinct_columns_lose_the_dictionary() {
        let ids: Vec<String> = (0..2000).map(|i| format!("C{i:06}")).collect();
        let channels: Vec<&str> = (0..2000).map(|i| ["atm", "branch"][i % 2]).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(channels)),
                Arc::new(Int64Array::from(
                    (0..2000).map(|i| i % 7).collect::<Vec<i64>>(),
                )),
            ],
        )
        .expect("batch");
        let p = model_properties(&schema, Some(&batch));
        assert!(!p.dictionary_enabled(&ColumnPath::from("customer_id")));
        assert!(p.dictionary_enabled(&ColumnPath::from("channel")));
        assert!(p.dictionary_enabled(&ColumnPath::from("n")));
        assert_eq!(p.compression(&ColumnPath::from("n")), Compression::SNAPPY);
        // No sample (an empty model): delta-rs's settings.
        let p = model_properties(&schema, None);
        assert!(p.dictionary_enabled(&ColumnPath::from("customer_id")));
    }

    #[test]
    fn a_batch_is_one_partition_only_when_every_row_says_so() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "period",
            DataType::Utf8,
            true,
        )]));
        let batch = |v: Vec<Option<&str>>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(v))])
                .expect("batch")
        };
        let one = batch(vec![Some("2024-01"), Some("2024-01")]);
        assert_eq!(
            single_text_value(&one, "period").as_deref(),
            Some("2024-01")
        );
        assert_eq!(
            single_text_value(&batch(vec![Some("2024-01"), Some("2024-02")]), "period"),
            None
        );
        assert_eq!(
            single_text_value(&batch(vec![Some("2024-01"), None]), "period"),
            None
        );
        assert_eq!(single_text_value(&batch(vec![]), "period"), None);
        assert_eq!(single_text_value(&one, "other"), None);
        let views = Arc::new(Schema::new(vec![Field::new(
            "period",
            DataType::Utf8View,
            false,
        )]));
        let v = RecordBatch::try_new(
            views,
            vec![Arc::new(StringViewArray::from(vec!["2024-03", "2024-03"]))],
        )
        .expect("batch");
        assert_eq!(single_text_value(&v, "period").as_deref(), Some("2024-03"));
    }

    /// The batch looked at is not lost: every batch with rows, and an error
    /// after them, comes out of the stream in order; the settings come from
    /// the first with rows, not from an empty one before it.
    #[tokio::test]
    async fn the_sampled_stream_is_the_whole_stream() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = |from: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(
                    (from..from + 1500).collect::<Vec<_>>(),
                ))],
            )
            .expect("batch")
        };
        let items = vec![
            Ok(RecordBatch::new_empty(schema.clone())),
            Ok(batch(0)),
            Ok(batch(1500)),
            Err(datafusion::error::DataFusionError::Execution(
                "broke".into(),
            )),
        ];
        let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            schema.clone(),
            futures::stream::iter(items),
        ));
        let (mut stream, props) = with_model_properties(stream).await;
        assert!(!props.dictionary_enabled(&ColumnPath::from("n")));
        let mut firsts = Vec::new();
        let mut error = None;
        while let Some(b) = stream.next().await {
            match b {
                Ok(b) => firsts.push(
                    b.column(0)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(0),
                ),
                Err(e) => error = Some(e.to_string()),
            }
        }
        assert_eq!(firsts, vec![0, 1500]);
        assert!(error.is_some_and(|e| e.contains("broke")));
    }
}
