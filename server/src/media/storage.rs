//! The object store behind uploads: a directory or S3-compatible storage,
//! through `object_store`. Objects are named by their sha256, so the same
//! bytes are stored once however often they are uploaded, and no name a
//! client chose ever reaches a path.

use std::{ops::Range, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{StreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path, prefix::PrefixStore,
};

use crate::config::{MediaConfig, ServeConfig};

/// Where the bytes of uploads live.
#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// How the store was described, for logs and `/ready`.
    pub describe: String,
}

/// Why a read or write failed: a missing object, or the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such object")]
    NotFound,
    #[error("object store: {0}")]
    Failed(#[from] object_store::Error),
}

fn classify(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Failed(other),
    }
}

/// A stored file, or the part of it a `Range` asked for.
pub struct Opened {
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
    /// The bytes sent (a part of `0..size`).
    pub range: Range<u64>,
    pub size: u64,
}

impl Objects {
    /// The store `cfg` describes; refuses a private directory in cluster
    /// mode, where each node would serve only the files it received.
    pub fn configured(cfg: &ServeConfig) -> anyhow::Result<Self> {
        let m = &cfg.media;
        match m.media_store.as_deref() {
            Some(url) if url.starts_with("s3://") => Self::s3(m, url),
            Some(other) if other.contains("://") && !other.starts_with("file://") => {
                bail!("--media-store: {other:?} is neither a directory nor an s3:// URL")
            }
            dir => {
                let dir = match dir {
                    Some(d) => std::path::PathBuf::from(d.trim_start_matches("file://")),
                    None => cfg.db.data_dir.join("media"),
                };
                if cfg.cluster.redis.redis_url.is_some() && !m.media_store_shared {
                    bail!(
                        "cluster mode: --media-store is the directory {} on this node only; use s3://bucket/prefix, or \
                         pass --media-store-shared if every node mounts the same directory",
                        dir.display()
                    );
                }
                Self::directory(&dir)
            }
        }
    }

    pub fn directory(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the media directory {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir).context("media directory")?;
        Ok(Self { store: Arc::new(store), describe: format!("directory {}", dir.display()) })
    }

    fn s3(m: &MediaConfig, url: &str) -> anyhow::Result<Self> {
        let rest = url.trim_start_matches("s3://");
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("--media-store: {url:?} names no bucket (s3://bucket/prefix)");
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket).with_region(&m.media_s3_region);
        if let Some(e) = &m.media_s3_endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if let Some(k) = &m.media_s3_access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &m.media_s3_secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let s3 = b.build().context("--media-store: S3 settings")?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) };
        Ok(Self { store, describe: format!("S3 bucket {bucket}, prefix {prefix:?}") })
    }

    fn object(sha256: &str) -> Path {
        Path::from(format!("o/{}/{sha256}", &sha256[..2]))
    }

    fn thumb(sha256: &str) -> Path {
        Path::from(format!("t/{}/{sha256}.png", &sha256[..2]))
    }

    /// Stores the bytes of `sha256` and its thumbnail. Writing again what is
    /// there already is harmless (same name, same bytes).
    pub async fn put(&self, sha256: &str, bytes: Vec<u8>, thumbnail: Option<Vec<u8>>) -> Result<(), StoreError> {
        self.store.put(&Self::object(sha256), PutPayload::from(bytes)).await.map_err(classify)?;
        if let Some(t) = thumbnail {
            self.store.put(&Self::thumb(sha256), PutPayload::from(t)).await.map_err(classify)?;
        }
        Ok(())
    }

    /// Removes the bytes of `sha256` and its thumbnail (either may be gone).
    pub async fn delete(&self, sha256: &str) -> Result<(), StoreError> {
        for p in [Self::object(sha256), Self::thumb(sha256)] {
            match self.store.delete(&p).await.map_err(classify) {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Opens the file (or its thumbnail), all of it or `range`.
    pub async fn open(&self, sha256: &str, thumbnail: bool, range: Option<Range<u64>>) -> Result<Opened, StoreError> {
        let path = if thumbnail { Self::thumb(sha256) } else { Self::object(sha256) };
        let opts = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let got = self.store.get_opts(&path, opts).await.map_err(classify)?;
        let (range, size) = (got.range.clone(), got.meta.size);
        Ok(Opened { body: got.into_stream().map(|r| r.map_err(classify)).boxed(), range, size })
    }

    /// The size of a stored file, without reading it.
    pub async fn size(&self, sha256: &str, thumbnail: bool) -> Result<u64, StoreError> {
        let path = if thumbnail { Self::thumb(sha256) } else { Self::object(sha256) };
        Ok(self.store.head(&path).await.map_err(classify)?.size)
    }

    /// Every stored object older than `age`, as (sha256, is it a thumbnail).
    pub async fn older_than(&self, age: Duration) -> Result<Vec<String>, StoreError> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        let mut found = Vec::new();
        for prefix in ["o", "t"] {
            let mut list = self.store.list(Some(&Path::from(prefix)));
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(classify)?;
                if meta.last_modified >= cutoff {
                    continue;
                }
                let name = meta.location.filename().unwrap_or_default();
                let sha = name.trim_end_matches(".png");
                if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    found.push(sha.to_owned());
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_refuses_a_private_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ServeConfig::defaults();
        // The defaults read the environment, where CI names a Redis.
        cfg.cluster.redis.redis_url = None;
        cfg.media.media_store = None;
        cfg.db.data_dir = dir.path().to_path_buf();
        assert!(Objects::configured(&cfg).is_ok(), "one node: the data directory");
        cfg.cluster.redis.redis_url = Some("redis://127.0.0.1:6379".into());
        let err = Objects::configured(&cfg).unwrap_err().to_string();
        assert!(err.contains("--media-store-shared"), "{err}");
        cfg.media.media_store_shared = true;
        assert!(Objects::configured(&cfg).is_ok());
        for bad in ["s3://", "gs://bucket/x", "http://example/x"] {
            cfg.media.media_store = Some(bad.into());
            assert!(Objects::configured(&cfg).is_err(), "{bad}");
        }
        cfg.media.media_store = Some("s3://bucket/prefix".into());
        assert!(Objects::configured(&cfg).unwrap().describe.contains("bucket"));
    }
}
