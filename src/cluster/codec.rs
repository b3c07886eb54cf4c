//! How a client's plan reaches the scheduler: Ballista's logical codec,
//! plus the one table provider it cannot encode — a warehouse table as its
//! pinned list of files ([`PinnedTable`]). Functions travel by name and are
//! resolved from the receiving process's own registry, so the hash key never
//! leaves the process that holds it.

use super::functions::CODEC_VERSION;
use crate::warehouse::pinned::{PinnedFile, PinnedTable};
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The first bytes of an encoded pinned table (then JSON).
const MAGIC: &[u8] = b"TPPINNED";

/// What a pinned table travels as (its schema travels beside it in the plan).
#[derive(Serialize, Deserialize)]
struct Wire {
    codec: u32,
    name: String,
    version: i64,
    root: String,
    partition_columns: Vec<String>,
    files: Vec<PinnedFile>,
    /// The store's credential profile, by name.
    profile: Option<String>,
}

#[derive(Debug, Default)]
pub struct Codec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some(json) = buf.strip_prefix(MAGIC) else {
            return self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        decode(json, schema).map(|t| Arc::new(t) as Arc<dyn TableProvider>)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<PinnedTable>() {
            Some(t) => encode(t, buf),
            // Anything else (a Delta scan, an in-memory table) cannot run on
            // an executor; Ballista's codec says so, naming the table.
            None => self
                .ballista
                .try_encode_table_provider(table_ref, node, buf)
                .map_err(|e| {
                    DataFusionError::Plan(format!(
                        "table {table_ref} cannot be sent to the cluster: {e}"
                    ))
                }),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

fn encode(t: &PinnedTable, buf: &mut Vec<u8>) -> Result<()> {
    let wire = Wire {
        codec: CODEC_VERSION,
        name: t.name.clone(),
        version: t.version,
        root: t.root.to_string(),
        partition_columns: t.partition_columns.clone(),
        files: t.files.clone(),
        profile: t.profile.clone(),
    };
    buf.extend_from_slice(MAGIC);
    serde_json::to_writer(buf, &wire).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn decode(json: &[u8], schema: SchemaRef) -> Result<PinnedTable> {
    let wire: Wire = serde_json::from_slice(json)
        .map_err(|e| DataFusionError::Plan(format!("a pinned table does not decode: {e}")))?;
    if wire.codec != CODEC_VERSION {
        return Err(DataFusionError::Plan(format!(
            "table {} was encoded by a client with plan codec {}, this process has {CODEC_VERSION}: \
             run the same touchpoint version on the client and the cluster",
            wire.name, wire.codec
        )));
    }
    let root = url::Url::parse(&wire.root)
        .map_err(|e| DataFusionError::Plan(format!("table {}: {e}", wire.name)))?;
    let width = wire.partition_columns.len();
    if let Some(f) = wire.files.iter().find(|f| {
        f.partition.len() != width
            || f.path.starts_with('/')
            || f.path.split('/').any(|p| p == "..")
    }) {
        return Err(DataFusionError::Plan(format!(
            "table {}: file `{}` is not a file of the table",
            wire.name, f.path
        )));
    }
    Ok(PinnedTable {
        name: wire.name,
        version: wire.version,
        root,
        schema,
        partition_columns: wire.partition_columns,
        files: wire.files,
        profile: wire.profile,
    })
}
