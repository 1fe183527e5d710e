//! Uploads: checked from their bytes ([`inspect`]), stored by content
//! ([`storage`]), recorded per owner in the database, and counted against
//! per-user quotas. The HTTP routes are in `http::media`.

mod in_flight;
pub mod inspect;
pub mod storage;
mod sweep;

use std::{sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use metaverse_actors::metric_names;
use metaverse_protocol::Attachment;
use metaverse_schema::{
    entity::media,
    now_millis,
    store::{DatabaseConnection, DbErr, media as rows},
};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Semaphore};

use crate::config::MediaConfig;
use in_flight::{InFlight, Slot};
use inspect::Refused;
use storage::{Objects, StoreError};

/// What an upload is for; only `chat` uploads may be documents.
pub const PURPOSES: [&str; 4] = ["avatar", "element", "map", "chat"];

/// Where an upload's bytes are served.
pub fn url(id: &str) -> String {
    Attachment::url_of(id)
}

/// Where an image upload's thumbnail is served.
pub fn thumbnail_url(id: &str) -> String {
    Attachment::thumbnail_url_of(id)
}

/// How a chat message shows an upload.
pub fn attachment(m: &media::Model) -> Attachment {
    Attachment {
        media_id: m.id.clone(),
        url: url(&m.id),
        thumbnail_url: m.thumbnail.then(|| thumbnail_url(&m.id)),
        content_type: m.content_type.clone(),
        size: u64::try_from(m.size).unwrap_or(0),
        width: m.width.and_then(|w| u32::try_from(w).ok()),
        height: m.height.and_then(|h| u32::try_from(h).ok()),
        name: m.name.clone(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Refused(#[from] Refused),
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    OverQuota(String),
    #[error("too many uploads; try again later")]
    RateLimited(Duration),
    #[error("too many uploads are being processed; try again shortly")]
    Busy,
    #[error("no such upload")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the upload is shown as an avatar, element or map; change that first")]
    InUse,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The checks of one upload that need no bytes.
pub struct NewUpload {
    pub owner: String,
    pub purpose: String,
    /// The client's file name, already cleaned ([`clean_name`]).
    pub name: String,
    pub raw: Vec<u8>,
}

pub struct MediaService {
    pub db: DatabaseConnection,
    pub objects: Objects,
    pub max_bytes: u64,
    max_pixels: u64,
    quota_files: u64,
    quota_bytes: u64,
    pub upload_timeout: Duration,
    uploads: DefaultKeyedRateLimiter<String>,
    /// Uploads in flight on this node and per user: bounds the memory
    /// their bodies hold, and what one account's slow connections can take.
    in_flight: InFlight,
    /// Decoding runs on blocking threads, this many at once (one per core):
    /// more would only queue inside the pool while holding their bytes.
    decoders: std::sync::Arc<Semaphore>,
    /// Serialises the quota check with the insert it allows.
    quota: Mutex<()>,
    /// Writes and deletes of the same bytes take the same stripe, so a
    /// delete never removes an object a concurrent upload just recorded.
    stripes: Vec<Mutex<()>>,
}

impl MediaService {
    pub fn new(db: DatabaseConnection, objects: Objects, cfg: &MediaConfig) -> Self {
        let per_minute = std::num::NonZeroU32::new(cfg.media_uploads_per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            db,
            objects,
            max_bytes: cfg.media_max_bytes,
            max_pixels: cfg.media_max_pixels,
            quota_files: cfg.media_quota_files,
            quota_bytes: cfg.media_quota_bytes,
            upload_timeout: cfg.media_upload_timeout,
            uploads: RateLimiter::keyed(Quota::per_minute(per_minute)),
            in_flight: InFlight::new(cfg.media_uploads_in_flight as usize),
            // One core stays for the real-time path.
            decoders: std::sync::Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
            quota: Mutex::new(()),
            stripes: (0..16).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(&self, sha256: &str) -> &Mutex<()> {
        let i = usize::from_str_radix(&sha256[..1], 16).unwrap_or(0) % self.stripes.len();
        &self.stripes[i]
    }

    /// Before reading a body: a slot among the uploads in flight (held
    /// until the upload is answered), the caller's rate, and room in the
    /// quota.
    pub async fn admit(&self, owner: &str) -> Result<Slot<'_>, MediaError> {
        let slot = self.in_flight.enter(owner).ok_or(MediaError::Busy)?;
        if let Err(not_until) = self.uploads.check_key(&owner.to_owned()) {
            return Err(MediaError::RateLimited(not_until.wait_time_from(self.uploads.clock().now())));
        }
        let (files, bytes) = rows::usage(&self.db, owner).await?;
        self.within_quota(files, bytes, 0)?;
        Ok(slot)
    }

    fn within_quota(&self, files: u64, bytes: u64, adding: u64) -> Result<(), MediaError> {
        if files >= self.quota_files {
            return Err(MediaError::OverQuota(format!(
                "upload quota reached: {} files; delete some first",
                self.quota_files
            )));
        }
        if bytes.saturating_add(adding) > self.quota_bytes {
            return Err(MediaError::OverQuota(format!(
                "upload quota reached: {bytes} of {} bytes used; delete some first",
                self.quota_bytes
            )));
        }
        Ok(())
    }

    /// Checks, stores and records an upload.
    pub async fn upload(&self, up: NewUpload) -> Result<media::Model, MediaError> {
        let permit = tokio::time::timeout(Duration::from_secs(10), self.decoders.clone().acquire_owned())
            .await
            .map_err(|_| MediaError::Busy)?
            .map_err(|_| MediaError::Busy)?;
        let max_pixels = self.max_pixels;
        let raw = up.raw;
        // The permit goes with the work: a request dropped mid-decode (a
        // reset connection) must not free a decoder that is still busy.
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inspect::inspect(&raw, max_pixels)
        })
        .await
        .map_err(|_| MediaError::Busy)?
        .inspect_err(|r| {
            let reason = if matches!(r, Refused::Unsupported(_)) { "unsupported" } else { "invalid" };
            metrics::counter!(metric_names::MEDIA_REFUSED_TOTAL, "reason" => reason).increment(1);
        })?;
        if up.purpose != "chat" && !checked.is_image() {
            return Err(Refused::Unsupported(format!("a {} upload must be an image", up.purpose)).into());
        }
        let sha256 = hex(&Sha256::digest(&checked.bytes));
        let size = checked.bytes.len() as u64;
        let row = media::Model {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: up.owner,
            sha256,
            content_type: checked.content_type.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            width: checked.dimensions.and_then(|d| i32::try_from(d.0).ok()),
            height: checked.dimensions.and_then(|d| i32::try_from(d.1).ok()),
            thumbnail: checked.thumbnail.is_some(),
            purpose: up.purpose,
            name: up.name,
            created_at: now_millis(),
        };
        // The bytes first, then the row: a row always has its object. A
        // delete of the same bytes waits for the stripe, then sees the row.
        let _stripe = self.stripe(&row.sha256).lock().await;
        self.objects.put(&row.sha256, checked.bytes, checked.thumbnail).await?;
        let recorded = async {
            let _quota = self.quota.lock().await;
            let (files, bytes) = rows::usage(&self.db, &row.owner_id).await?;
            self.within_quota(files, bytes, size)?;
            rows::insert(&self.db, row.clone()).await?;
            Ok::<_, MediaError>(())
        }
        .await;
        if let Err(e) = recorded {
            if matches!(rows::sha_in_use(&self.db, &row.sha256).await, Ok(false)) {
                let _ = self.objects.delete(&row.sha256).await;
            }
            return Err(e);
        }
        metrics::counter!(metric_names::MEDIA_UPLOADS_TOTAL).increment(1);
        metrics::counter!(metric_names::MEDIA_UPLOAD_BYTES_TOTAL).increment(size);
        Ok(row)
    }

    /// Deletes `id` for `caller` (its owner, or an admin); the object goes
    /// too once no upload has its bytes.
    pub async fn delete(&self, caller: &str, admin: bool, id: &str) -> Result<(), MediaError> {
        let row = rows::find(&self.db, id).await?.ok_or(MediaError::NotFound)?;
        if row.owner_id != caller && !admin {
            return Err(MediaError::Forbidden("only its owner or an admin may delete an upload"));
        }
        let used = rows::used_by_catalog(&self.db, &url(id)).await?
            || rows::used_by_catalog(&self.db, &thumbnail_url(id)).await?
            || rows::used_as_avatar(&self.db, id).await?;
        if used {
            return Err(MediaError::InUse);
        }
        let _stripe = self.stripe(&row.sha256).lock().await;
        rows::delete(&self.db, id).await?;
        // The upload is gone once its row is; an object the store would not
        // delete now is left to the sweep rather than failing the request.
        if !rows::sha_in_use(&self.db, &row.sha256).await?
            && let Err(e) = self.objects.delete(&row.sha256).await
        {
            tracing::warn!(error = %e, sha256 = %row.sha256, "media object left for the sweep");
        }
        Ok(())
    }

    /// Forgets rate-limit state of idle users (call now and then).
    pub fn forget_idle(&self) {
        self.uploads.retain_recent();
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A client's file name as shown: its last path component, without
/// control or direction-changing characters, at most 128 characters.
pub fn clean_name(raw: Option<&str>) -> String {
    let last = raw.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String =
        last.chars().filter(|c| !crate::http::input::forbidden_in_text(*c)).take(128).collect::<String>();
    let name = name.trim().trim_start_matches('.').to_owned();
    if name.is_empty() { "upload".to_owned() } else { name }
}

pub use sweep::sweep_every;

/// The service as the app holds it.
pub type Media = Arc<MediaService>;
