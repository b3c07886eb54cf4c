//! Object stores: `s3://`, `gs://`, `az://` (and `abfss://`), `http(s)://`
//! for extracts and the warehouse.
//!
//! Credentials, endpoints and regions come from the environment, read by
//! object_store's builders (`AWS_*`, `GOOGLE_*`, `AZURE_*`): a pipeline file
//! never holds a secret. A pipeline may name a profile for its extracts or
//! its warehouse (`profiles: {extracts: raw}`); that store then also reads
//! `TOUCHPOINT_PROFILE_RAW_*` variables (`…_AWS_SECRET_ACCESS_KEY`), which
//! win over the plain ones, so two buckets can have two sets of keys. The same stores are handed to delta-rs, whose stock
//! build only knows local files, so Delta tables work on every scheme here.

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use std::sync::{Arc, LazyLock, Once, RwLock};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("`{url}`: profile `{profile}`: {reason}")]
    Profile {
        url: String,
        profile: String,
        reason: String,
    },
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
    open_as(url, profile_of(url.as_str()).as_deref())
}

/// [`open`] with `profile`'s credentials (or the plain variables' for
/// `None`), whatever location it is bound to here: an executor learns a
/// table's profile from the plan, by name only.
pub fn open_as(url: &Url, profile: Option<&str>) -> Result<(Arc<dyn ObjectStore>, Path), Error> {
    let fail = |source: object_store::Error| Error::Store {
        url: url.to_string(),
        source: Box::new(source),
    };
    let (scheme, path) = ObjectStoreScheme::parse(url).map_err(|e| Error::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let s = url.as_str();
    let settings = profile_settings(url, profile)?;
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(s);
            for (profile, k, v) in settings {
                b = b.with_config(k.parse().map_err(|_| unknown(url, &profile, &k))?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(s);
            for (profile, k, v) in settings {
                b = b.with_config(k.parse().map_err(|_| unknown(url, &profile, &k))?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(s);
            for (profile, k, v) in settings {
                b = b.with_config(k.parse().map_err(|_| unknown(url, &profile, &k))?, v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
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

/// Locations (URL prefixes) and the profile their stores use.
/// Named credential profiles for the extracts' and the warehouse's stores
/// (their secrets live in `TOUCHPOINT_PROFILE_<NAME>_*` variables).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesSpec {
    pub extracts: Option<String>,
    pub warehouse: Option<String>,
}

static PROFILES: LazyLock<RwLock<Vec<(String, String)>>> = LazyLock::new(Default::default);

/// Use `profile` for every store under `location` (a no-op for local paths).
pub fn bind_profile(location: &str, profile: Option<&str>) {
    let (Some(p), true) = (profile, is_url(location)) else {
        return;
    };
    if let Ok(mut v) = PROFILES.write() {
        v.push((location.trim_end_matches('/').to_string(), p.to_string()));
    }
}

/// The variable prefix of a profile: `raw-reader` → `TOUCHPOINT_PROFILE_RAW_READER_`.
pub fn profile_prefix(profile: &str) -> String {
    let name: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("TOUCHPOINT_PROFILE_{name}_")
}

/// The profile bound to `location` here (the longest bound prefix of it).
pub fn profile_of(location: &str) -> Option<String> {
    let location = location.trim_end_matches('/');
    PROFILES.read().ok().and_then(|v| {
        v.iter()
            .filter(|(prefix, _)| location == prefix || location.starts_with(&format!("{prefix}/")))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, p)| p.clone())
    })
}

/// `profile` as the user of a store URL (`s3://DW_WRITER@bucket`): its
/// variables' name part, so it names the same variables on every process.
pub fn profile_user(profile: &str) -> String {
    let prefix = profile_prefix(profile);
    let name = prefix
        .strip_prefix("TOUCHPOINT_PROFILE_")
        .unwrap_or(&prefix);
    name.strip_suffix('_').unwrap_or(name).to_string()
}

/// The URL naming the store at `location`'s root as a plan carries it:
/// `scheme://bucket`, or `scheme://PROFILE@bucket` for a store opened with a
/// credential profile (its variables' name part, see [`profile_user`], so
/// an executor reads its own variables and no secret travels).
pub fn store_url(location: &Url, profile: Option<&str>) -> Result<Url, Error> {
    let fail = |reason: String| Error::Url {
        url: location.to_string(),
        reason,
    };
    let mut root =
        Url::parse(&location[..url::Position::BeforePath]).map_err(|e| fail(e.to_string()))?;
    if let Some(p) = profile {
        let user = profile_user(p);
        if user.is_empty() || root.set_username(&user).is_err() {
            return Err(Error::Profile {
                url: location.to_string(),
                profile: p.to_string(),
                reason: "its name cannot name a store".into(),
            });
        }
    }
    Ok(root)
}

/// The store a [`store_url`] names, opened with its profile's credentials
/// (the URL's user names the profile, not an account: the store sees the
/// bare bucket).
pub fn open_store_url(url: &Url) -> Result<Arc<dyn ObjectStore>, Error> {
    let mut root = url.clone();
    let profile = (!root.username().is_empty()).then(|| root.username().to_string());
    let _ = root.set_username("");
    open_as(&root, profile.as_deref()).map(|(store, _)| store)
}

/// `(profile, key, value)` for the store at `url`: `profile`'s variables,
/// keys lower-cased as object_store names them (`aws_access_key_id`).
fn profile_settings(
    url: &Url,
    profile: Option<&str>,
) -> Result<Vec<(String, String, String)>, Error> {
    let Some(profile) = profile.map(str::to_string) else {
        return Ok(Vec::new());
    };
    let prefix = profile_prefix(&profile);
    let settings: Vec<(String, String, String)> = std::env::vars()
        .filter_map(|(k, v)| {
            k.strip_prefix(&prefix)
                .map(|rest| (profile.clone(), rest.to_ascii_lowercase(), v))
        })
        .collect();
    if settings.is_empty() {
        return Err(Error::Profile {
            url: url.to_string(),
            profile,
            reason: format!(
                "no `{prefix}*` variables are set (e.g. {prefix}AWS_ACCESS_KEY_ID and {prefix}AWS_SECRET_ACCESS_KEY)"
            ),
        });
    }
    Ok(settings)
}

fn unknown(url: &Url, profile: &str, key: &str) -> Error {
    Error::Profile {
        url: url.to_string(),
        profile: profile.to_string(),
        reason: format!(
            "`{}{}` is not a setting of this store",
            profile_prefix(profile),
            key.to_ascii_uppercase()
        ),
    }
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
    fn a_profile_travels_as_the_store_urls_user() {
        let table = Url::parse("s3://bank/dw/churn_risk/").expect("url");
        let named = store_url(&table, Some("dw-writer")).expect("named");
        assert_eq!(named.as_str(), "s3://DW_WRITER@bank");
        assert_eq!(
            store_url(&table, None).expect("plain").as_str(),
            "s3://bank"
        );
        // The user names the variables to read, and none are set here.
        let err = open_store_url(&named)
            .expect_err("no variables")
            .to_string();
        assert!(err.contains("TOUCHPOINT_PROFILE_DW_WRITER_"), "{err}");
        assert!(open_store_url(&store_url(&table, None).expect("plain")).is_ok());
        assert!(matches!(
            store_url(&table, Some("")),
            Err(Error::Profile { .. })
        ));
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
