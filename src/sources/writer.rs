//! How a source's table is written as Parquet.

use super::{CheckContext, Source};
use crate::spec::types::ColumnType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::file::properties::WriterProperties;

/// Parquet settings for a source's table: Snappy, statistics per column
/// chunk (what Delta's file statistics are made of; no page index), and a
/// dictionary only for columns whose values repeat. Elsewhere a dictionary
/// costs a hash per value until its page fills (1 MiB), and then the writer
/// falls back to plain encoding anyway. A column gets no dictionary when:
/// - it is the one-column key, or a timestamp (values hardly repeat);
/// - it references a set too large for one dictionary page;
/// - most values of `sample` (the load's first batch) are distinct.
///
/// Text columns other than the key carry no min/max statistics: extracts
/// are not sorted by them, so every file would span nearly the whole range
/// and skip nothing, while the writer would compare every value twice.
pub fn writer_properties(
    src: &Source,
    checks: &CheckContext,
    sample: Option<&RecordBatch>,
) -> WriterProperties {
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::EnabledStatistics;
    use datafusion::parquet::schema::types::ColumnPath;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for c in &src.columns {
        let unique = src.key.len() == 1 && src.key[0] == c.name;
        let large_reference = checks
            .references
            .get(&c.name)
            .is_some_and(|set| set.len() > DICTIONARY_ENTRIES);
        let mostly_distinct = sample
            .and_then(|b| b.column_by_name(&c.name))
            .is_some_and(crate::warehouse::encoding::mostly_distinct);
        let path = || ColumnPath::from(c.name.as_str());
        if c.ty == ColumnType::String && !src.key.contains(&c.name) {
            b = b.set_column_statistics_enabled(path(), EnabledStatistics::None);
        }
        if unique || c.ty == ColumnType::Timestamp || large_reference || mostly_distinct {
            b = b.set_column_dictionary_enabled(path(), false);
        }
    }
    b.build()
}

/// Values that fit a 1 MiB dictionary page at ~16 bytes each (a 4-byte
/// length and a short identifier).
const DICTIONARY_ENTRIES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{Column, Format, RefSet, SchemaChange, formats::jsonl::Jsonl};
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::parquet::file::properties::EnabledStatistics;
    use datafusion::parquet::schema::types::ColumnPath;
    use std::sync::Arc;

    fn column(name: &str, ty: ColumnType, references: bool) -> Column {
        Column {
            references: references.then(|| ("customers".into(), "customer_id".into())),
            ..Column::new(name, ty)
        }
    }

    /// Dictionary where values repeat; none for the key, timestamps, a
    /// column of mostly distinct values or one referencing a large set;
    /// min/max statistics for everything but text outside the key.
    #[test]
    fn parquet_settings_follow_the_data() {
        let src = Source {
            name: "atm".into(),
            path: String::new(),
            pattern: String::new(),
            root: None,
            format: Format::Jsonl(Jsonl),
            compression: None,
            encoding: None,
            on_schema_change: SchemaChange::Fail,
            max_bad_rows: None,
            max_bad_fraction: None,
            period_column: None,
            key: vec!["txn_id".into()],
            columns: vec![
                column("txn_id", ColumnType::String, false),
                column("customer_id", ColumnType::String, true),
                column("status", ColumnType::String, false),
                column("amount", ColumnType::Int, false),
                column("at", ColumnType::Timestamp, false),
                column("card", ColumnType::String, false),
            ],
            description: None,
            control: None,
            database: None,
            cursor: None,
            deletes: Default::default(),
            history: None,
        };
        let n = 4000;
        let sample = RecordBatch::try_from_iter([
            (
                "status",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["approved", "declined"][i % 2]),
                )) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 50))),
            ),
            (
                "card",
                Arc::new(StringArray::from_iter_values(
                    // 3 in 4 distinct: more than half.
                    (0..n).map(|i| format!("4000{}", i - i % 4 + (i % 4).min(2))),
                )),
            ),
        ])
        .expect("sample");
        let mut refs = RefSet::default();
        let mut checks = CheckContext::default();
        for i in 0..DICTIONARY_ENTRIES + 1 {
            refs.insert(&format!("C{i:07}"));
        }
        checks
            .references
            .insert("customer_id".into(), Arc::new(refs));
        let p = writer_properties(&src, &checks, Some(&sample));
        let dict = |c: &str| p.dictionary_enabled(&ColumnPath::from(c));
        let stats = |c: &str| p.statistics_enabled(&ColumnPath::from(c)) != EnabledStatistics::None;
        assert_eq!(
            ["txn_id", "customer_id", "status", "amount", "at", "card"].map(dict),
            [false, false, true, true, false, false]
        );
        assert_eq!(
            ["txn_id", "customer_id", "status", "amount", "at", "card"].map(stats),
            [true, false, false, true, true, false]
        );
        // A small referenced set fits one dictionary page; without a
        // sample, only the declared reasons count.
        checks
            .references
            .insert("customer_id".into(), Arc::new(RefSet::default()));
        let p = writer_properties(&src, &checks, None);
        assert!(p.dictionary_enabled(&ColumnPath::from("customer_id")));
        assert!(p.dictionary_enabled(&ColumnPath::from("card")));
    }
}
