//! An executor's object stores: `file://` as DataFusion has it, and each
//! bucket (`s3://`, `gs://`, `az://`) opened at first use with the
//! executor's own credentials (`AWS_*`, … from its environment, as the
//! client's). Nothing about a store travels in a plan but its URL, and for
//! a store with a credential profile the profile's name as the URL's user
//! (`s3://DW_WRITER@bucket`): the executor then reads its own
//! `TOUCHPOINT_PROFILE_DW_WRITER_*` variables, never a secret of the plan.

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

#[derive(Debug, Default)]
pub struct Stores {
    known: DefaultObjectStoreRegistry,
    /// Buckets by `scheme://[profile@]bucket`: DataFusion's registry keys by
    /// host alone, which would give one profile's store to another.
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
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
        // Local files and what delta-rs registers under its own scheme.
        if !crate::store::SCHEMES.contains(&url.scheme()) {
            return self.known.get_store(url);
        }
        let key = url[..url::Position::BeforePath].to_string();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| DataFusionError::Internal("object store registry poisoned".into()))?;
        if let Some(s) = buckets.get(&key) {
            return Ok(s.clone());
        }
        let root = Url::parse(&key).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store = crate::store::open_store_url(&root)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        buckets.insert(key, store.clone());
        Ok(store)
    }
}

/// A runtime whose object stores are [`Stores`] (spill files in `temp`,
/// else the system's temporary folder), bounded by `pool` when given.
pub fn runtime(
    temp: Option<&str>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    let mut b = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(Stores::default()));
    if let Some(pool) = pool {
        b = b.with_memory_pool(pool);
    }
    if let Some(dir) = temp {
        b = b.with_temp_file_path(dir);
    }
    Ok(Arc::new(b.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_in_the_url_picks_its_own_store() {
        let stores = Stores::default();
        let plain = Url::parse("s3://bank/dw/t/").expect("url");
        // No TOUCHPOINT_PROFILE_NOSUCH_* variables: the user names a profile,
        // so the plain keys are not used and the error names the variables.
        let none = Url::parse("s3://NOSUCH@bank/").expect("url");
        let a = stores.get_store(&plain).expect("plain");
        let err = stores
            .get_store(&none)
            .expect_err("no variables")
            .to_string();
        assert!(err.contains("TOUCHPOINT_PROFILE_NOSUCH_"), "{err}");
        assert!(Arc::ptr_eq(&a, &stores.get_store(&plain).expect("again")));
    }

    #[test]
    fn delta_rs_stores_are_found_where_delta_rs_put_them() {
        let stores = Stores::default();
        let url = Url::parse("delta-rs://s3-bank-dw-t").expect("url");
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        stores.register_store(&url, store.clone());
        let found = stores.get_store(&url).expect("registered");
        assert!(Arc::ptr_eq(&store, &found));
    }
}
