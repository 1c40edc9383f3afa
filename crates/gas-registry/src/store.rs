//! Object storage for model ZIPs, over the `object_store` crate.
//!
//! Layout: staged (unverified) uploads under `staging/<model_id>`, verified ones
//! content-addressed under `models/<sha256>.zip`.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

/// Where ZIPs live: a local directory (default) or any S3-compatible store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Set for the local backend: used to fsync objects so a confirmed upload survives a crash.
    local_root: Option<PathBuf>,
}

/// Size and SHA-256 of an object as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub size: u64,
    pub sha256: String,
}

pub fn staging_key(model_id: &str) -> String {
    format!("staging/{model_id}")
}

pub fn model_key(sha256: &str) -> String {
    format!("models/{sha256}.zip")
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.to_string())
            .finish()
    }
}

impl Store {
    /// A store in a local directory (created if missing).
    pub fn local(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        std::fs::create_dir_all(&root).map_err(|source| RegistryError::Io {
            path: root.display().to_string(),
            source,
        })?;
        let fs = LocalFileSystem::new_with_prefix(&root)?.with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(fs),
            local_root: Some(root),
        })
    }

    /// A store from a URL: `file:///abs/dir` or `s3://bucket/prefix` (S3 settings such as
    /// `AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP` are read from the environment, as `object_store` documents).
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|e| RegistryError::Config(format!("--store-url {url:?}: {e}")))?;
        if parsed.scheme() == "file" {
            let path = parsed.to_file_path().map_err(|_| {
                RegistryError::Config(format!("--store-url {url:?}: not an absolute file path"))
            })?;
            return Self::local(path);
        }
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        gas_chain::upload::install_tls_provider();
        let (store, prefix) = object_store::parse_url_opts(&parsed, env)?;
        let inner: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Self {
            inner,
            local_root: None,
        })
    }

    /// Stream `body` into `key`, computing size and SHA-256 on the way. Stops with
    /// [`RegistryError::Mismatch`] as soon as more than `max_size` bytes arrive (the partial
    /// object is aborted, never left behind).
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S, max_size: u64) -> Result<Digested>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = Path::from(key);
        let upload = self.inner.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(RegistryError::BadRequest(format!(
                        "upload body broke off: {e}"
                    )));
                }
            };
            size += chunk.len() as u64;
            if size > max_size {
                let _ = writer.abort().await;
                return Err(RegistryError::Mismatch {
                    model_id: key.to_string(),
                    detail: format!("body is larger than the announced {max_size} bytes"),
                });
            }
            hasher.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(8).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.put(chunk);
        }
        writer.finish().await?;
        self.sync(key)?;
        Ok(Digested {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Put a small object in one go (tests, fixtures).
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<()> {
        self.inner
            .put(&Path::from(key), PutPayload::from(data))
            .await?;
        self.sync(key)
    }

    /// Read an object back completely, hashing as it streams.
    pub async fn digest(&self, key: &str) -> Result<Digested> {
        let got = self.inner.get(&Path::from(key)).await?;
        let mut stream = got.into_stream();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Digested {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Move a verified staged object to its content address. If the target already exists
    /// (same content, by construction of the key), the staged copy is simply dropped.
    pub async fn promote(&self, staging: &str, target: &str) -> Result<()> {
        if self.exists(target).await? {
            return self.delete(staging).await;
        }
        self.inner
            .rename(&Path::from(staging), &Path::from(target))
            .await?;
        self.sync(target)
    }

    /// Keys under `prefix/`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let p = Path::from(prefix);
        let mut out = Vec::new();
        let mut s = self.inner.list(Some(&p));
        while let Some(meta) = s.next().await {
            out.push(meta?.location.to_string());
        }
        Ok(out)
    }

    /// The local file behind a key, if this is the local backend.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.local_root.as_ref().map(|r| r.join(key))
    }

    /// fsync the object and its directory on the local backend (S3 stores are durable on 200).
    fn sync(&self, key: &str) -> Result<()> {
        let Some(path) = self.local_path(key) else {
            return Ok(());
        };
        let io = |source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}
