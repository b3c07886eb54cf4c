//! An executor's object stores: `file://` as DataFusion has it, and each
//! bucket (`s3://`, `gs://`, `az://`) opened at first use with the
//! executor's own credentials (`AWS_*`, … from its environment, as the
//! client's). Nothing about a store travels in a plan but its URL.

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use std::sync::Arc;
use url::Url;

#[derive(Debug, Default)]
pub struct Stores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(s) = self.known.get_store(url) {
            return Ok(s);
        }
        let root = Url::parse(&url[..url::Position::BeforePath])
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let (store, _) =
            crate::store::open(&root).map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.known.register_store(&root, store.clone());
        Ok(store)
    }
}

/// A runtime whose object stores are [`Stores`] (spill files in `temp`,
/// else the system's temporary folder).
pub fn runtime(temp: Option<&str>) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    let mut b = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(Stores::default()));
    if let Some(dir) = temp {
        b = b.with_temp_file_path(dir);
    }
    Ok(Arc::new(b.build()?))
}
