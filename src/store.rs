//! Object stores: `s3://`, `gs://`, `az://` (and `abfss://`), `http(s)://`
//! for extracts and the warehouse.
//!
//! Credentials, endpoints and regions come from the environment, read by
//! object_store's builders (`AWS_*`, `GOOGLE_*`, `AZURE_*`): a pipeline file
//! never holds a secret. The same stores are handed to delta-rs, whose stock
//! build only knows local files, so Delta tables work on every scheme here.

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use std::sync::{Arc, Once};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("`{url}`: {source}")]
    Store {
        url: String,
        source: Box<object_store::Error>,
    },
}

/// URL schemes accepted for extracts and the warehouse.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss", "http", "https"];

/// Whether a YAML path or flag names an object-store location.
pub fn is_url(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty() && scheme != "file")
}

/// The store holding `url`, and the path of `url` inside it.
pub fn open(url: &Url) -> Result<(Arc<dyn ObjectStore>, Path), Error> {
    let fail = |source: object_store::Error| Error::Store {
        url: url.to_string(),
        source: Box::new(source),
    };
    let (scheme, path) = ObjectStoreScheme::parse(url).map_err(|e| Error::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let s = url.as_str();
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(s)
                .build()
                .map_err(fail)?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(s)
                .build()
                .map_err(fail)?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(s)
                .build()
                .map_err(fail)?,
        ),
        ObjectStoreScheme::Http => Arc::new(
            object_store::http::HttpBuilder::new()
                // The server root (scheme, host, port); the path is separate.
                .with_url(&url[..url::Position::BeforePath])
                .build()
                .map_err(fail)?,
        ),
        _ => {
            return Err(Error::Url {
                url: url.to_string(),
                reason: format!(
                    "unsupported scheme `{}`; use a local path or one of {}",
                    url.scheme(),
                    SCHEMES.join(", ")
                ),
            });
        }
    };
    Ok((store, Path::from(path.as_ref())))
}

/// Teach delta-rs every scheme in [`SCHEMES`] (once per process).
pub fn register_with_delta() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let stores = object_store_factories();
        let logs = logstore_factories();
        for scheme in SCHEMES {
            if let Ok(u) = Url::parse(&format!("{scheme}://")) {
                stores.insert(u.clone(), Arc::new(Factory));
                logs.insert(u, Arc::new(Factory));
            }
        }
    });
}

struct Factory;

impl ObjectStoreFactory for Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        // delta-rs wants the store at the bucket root plus the path in it.
        let (store, path) = open(url).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        Ok((store, path))
    }
}

impl LogStoreFactory for Factory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        // Commits are `PutMode::Create` (If-None-Match) writes: atomic on S3,
        // GCS and Azure without an external lock table.
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(is_url("s3://bank/raw"));
        assert!(is_url("https://host/x.csv"));
        assert!(!is_url("../data/x.csv"));
        assert!(!is_url("file:///tmp/x"));
        assert!(!is_url("://x"));
    }

    #[test]
    fn paths_inside_the_bucket() {
        let u = Url::parse("s3://bank/raw/atm/").expect("url");
        let (_, p) = open(&u).expect("s3 store builds without network");
        assert_eq!(p.as_ref(), "raw/atm");
        let bad = Url::parse("ftp://host/x").expect("url");
        assert!(matches!(open(&bad), Err(Error::Url { .. })));
    }
}
