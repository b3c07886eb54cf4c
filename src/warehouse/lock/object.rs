//! The run lock as an object in a bucket. Every write is conditional:
//! created only if absent (`If-None-Match: *`), replaced only if it is still
//! the version this process last saw (`If-Match` its ETag). So of many runs
//! that take a stale lock over, one wins; and a holder whose lock was taken
//! over finds out at its next journal line instead of writing on.

use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion, path::Path as StorePath,
};
use std::sync::Arc;
use std::time::Duration;

/// The lock object as this process last wrote or read it.
pub struct Held {
    pub store: Arc<dyn ObjectStore>,
    pub path: StorePath,
    version: UpdateVersion,
}

/// An existing lock object, as found.
pub struct Found {
    pub text: String,
    pub age: Duration,
    version: UpdateVersion,
}

/// A conditional write lost: another process wrote the lock first.
pub struct Lost;

fn put_options(mode: PutMode) -> PutOptions {
    PutOptions {
        mode,
        ..Default::default()
    }
}

/// Create the lock with `text`; `None` when one exists.
pub async fn create(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
    text: &str,
) -> object_store::Result<Option<Held>> {
    let opts = put_options(PutMode::Create);
    match store.put_opts(path, text.to_string().into(), opts).await {
        Ok(r) => Ok(Some(Held {
            store: store.clone(),
            path: path.clone(),
            version: r.into(),
        })),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The lock object and the version read; `None` when there is none.
pub async fn find(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
) -> object_store::Result<Option<Found>> {
    match store.get(path).await {
        Ok(g) => {
            let meta = g.meta.clone();
            let bytes = g.bytes().await?;
            let age = (chrono::Utc::now() - meta.last_modified)
                .to_std()
                .unwrap_or_default();
            Ok(Some(Found {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                age,
                version: UpdateVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                },
            }))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replace the version of the lock in `version` with `text`.
async fn put_if(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
    version: UpdateVersion,
    text: &str,
) -> object_store::Result<Result<UpdateVersion, Lost>> {
    let opts = put_options(PutMode::Update(version));
    match store.put_opts(path, text.to_string().into(), opts).await {
        Ok(r) => Ok(Ok(r.into())),
        Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
            Ok(Err(Lost))
        }
        Err(e) => Err(e),
    }
}

impl Found {
    /// Take the lock over with `text`, if nobody wrote it since it was read.
    pub async fn take(
        self,
        store: &Arc<dyn ObjectStore>,
        path: &StorePath,
        text: &str,
    ) -> object_store::Result<Result<Held, Lost>> {
        Ok(put_if(store, path, self.version, text)
            .await?
            .map(|version| Held {
                store: store.clone(),
                path: path.clone(),
                version,
            }))
    }
}

impl Held {
    /// Write the lock's whole text, if it is still as this process left it.
    pub async fn rewrite(&mut self, text: &str) -> object_store::Result<Result<(), Lost>> {
        let version = self.version.clone();
        Ok(put_if(&self.store, &self.path, version, text)
            .await?
            .map(|v| self.version = v))
    }

    /// Delete the lock if it is still as this process left it (a delete
    /// cannot be conditional on every store: the check and the delete are
    /// two requests); `false` when it is not ours any more.
    pub async fn remove(self) -> object_store::Result<bool> {
        let same = match self.store.head(&self.path).await {
            Ok(meta) => meta.e_tag.is_some() && meta.e_tag == self.version.e_tag,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        if same {
            self.store.delete(&self.path).await?;
        }
        Ok(same)
    }
}

/// The lock's text, if there is one (readers).
pub async fn read(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
) -> object_store::Result<Option<String>> {
    Ok(find(store, path).await?.map(|f| f.text))
}
