//! What a load looks up in the warehouse before it reads: the keys already
//! in a partition (an appending load checks new rows against them) and the
//! values a source's `references` point at.

use super::Runner;
use crate::period;
use crate::pipeline::Result;
use crate::sources::{self, Source};
use datafusion::arrow::array::{Array, StringArray};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{col, lit};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;

impl Runner<'_> {
    /// The key columns of the rows already in a source's partition, as a
    /// stream (an incremental load checks new rows against them).
    pub(super) async fn loaded_keys(
        &self,
        src: &Source,
        period_key: &str,
    ) -> Result<Option<SendableRecordBatchStream>> {
        if src.key.is_empty() {
            return Ok(None);
        }
        let ctx = crate::engine::session();
        let mut df = ctx.read_table(self.wh.provider(&src.name).await?)?;
        if src.is_periodic() {
            df = df.filter(col(period::COLUMN).eq(lit(period_key)))?;
        }
        let keys: Vec<&str> = src.key.iter().map(String::as_str).collect();
        Ok(Some(df.select_columns(&keys)?.execute_stream().await?))
    }

    /// The values of every column this source references, read from the
    /// warehouse (loaded earlier in this run).
    /// Sets are cached for the run and dropped when their table changes.
    pub(super) async fn reference_sets(
        &mut self,
        src: &Source,
    ) -> Result<HashMap<String, Arc<sources::RefSet>>> {
        let mut out = HashMap::new();
        for c in &src.columns {
            let Some((rs, rc)) = &c.references else {
                continue;
            };
            let cache_key = (rs.clone(), rc.clone());
            if let Some(set) = self.reference_cache.get(&cache_key) {
                out.insert(c.name.clone(), set.clone());
                continue;
            }
            let ctx = crate::engine::session();
            ctx.register_table(rs.as_str(), self.wh.provider(rs).await?)?;
            let sql = format!(
                "SELECT DISTINCT CAST(\"{rc}\" AS VARCHAR) AS v FROM \"{rs}\" WHERE \"{rc}\" IS NOT NULL"
            );
            let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
            let mut set = sources::RefSet::default();
            while let Some(b) = stream.next().await {
                let b = b?;
                let col = datafusion::arrow::compute::cast(
                    b.column(0),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .map_err(datafusion::error::DataFusionError::from)?;
                if let Some(s) = col.as_any().downcast_ref::<StringArray>() {
                    for v in s.iter().flatten() {
                        set.insert(v);
                    }
                }
            }
            let set = Arc::new(set);
            self.reference_cache.insert(cache_key, set.clone());
            out.insert(c.name.clone(), set);
        }
        Ok(out)
    }
}
