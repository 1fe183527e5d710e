//! Where uploads are stored and how much one user may upload.

use std::time::Duration;

use clap::Args;

use super::parse_duration;

#[derive(Debug, Clone, Args)]
pub struct MediaConfig {
    /// Where uploaded files are kept: a directory (default
    /// `<data-dir>/media`) or `s3://bucket/prefix` on S3-compatible storage
    /// (with the `--media-s3-*` settings, or the usual `AWS_*` variables).
    #[arg(long, env = "METAVERSE_MEDIA_STORE")]
    pub media_store: Option<String>,
    /// S3 endpoint for stores other than AWS (MinIO, moto, R2…), e.g.
    /// `http://127.0.0.1:9000`; paths are then bucket-first.
    #[arg(long, env = "METAVERSE_MEDIA_S3_ENDPOINT")]
    pub media_s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "METAVERSE_MEDIA_S3_REGION", default_value = "us-east-1")]
    pub media_s3_region: String,
    /// S3 access key id (else `AWS_ACCESS_KEY_ID`).
    #[arg(long, env = "METAVERSE_MEDIA_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub media_s3_access_key_id: Option<String>,
    /// S3 secret (else `AWS_SECRET_ACCESS_KEY`).
    #[arg(long, env = "METAVERSE_MEDIA_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub media_s3_secret_access_key: Option<String>,
    /// Declares a directory store shared by every node (NFS and the like).
    /// Cluster mode refuses a directory store without it: each node would
    /// serve only its own uploads.
    #[arg(long, env = "METAVERSE_MEDIA_STORE_SHARED")]
    pub media_store_shared: bool,
    /// Largest upload, in bytes (413 above).
    #[arg(long, env = "METAVERSE_MEDIA_MAX_BYTES", default_value_t = 5 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub media_max_bytes: u64,
    /// Largest image, in pixels (width × height, every frame of a GIF
    /// together): a small file may declare a huge picture, and decoding
    /// costs memory by pixels, not bytes.
    #[arg(long, env = "METAVERSE_MEDIA_MAX_PIXELS", default_value_t = 40_000_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub media_max_pixels: u64,
    /// Uploads one user may keep (429 `quota-exceeded` above; admins too).
    #[arg(long, env = "METAVERSE_MEDIA_QUOTA_FILES", default_value_t = 1000)]
    pub media_quota_files: u64,
    /// Bytes one user may keep.
    #[arg(long, env = "METAVERSE_MEDIA_QUOTA_BYTES", default_value_t = 200 * 1024 * 1024)]
    pub media_quota_bytes: u64,
    /// Uploads one user may make per minute (decoding costs CPU).
    #[arg(long, env = "METAVERSE_MEDIA_UPLOADS_PER_MINUTE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub media_uploads_per_minute: u32,
    /// Uploads being received or processed at once on this node (each holds
    /// its body, up to `--media-max-bytes`, in memory); more get 503 `busy`.
    #[arg(long, env = "METAVERSE_MEDIA_UPLOADS_IN_FLIGHT", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub media_uploads_in_flight: u32,
    /// How long an upload's body may take to arrive (408 after).
    #[arg(long, env = "METAVERSE_MEDIA_UPLOAD_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub media_upload_timeout: Duration,
    /// How often stored objects that no upload refers to (left by a crash
    /// between storing and recording) are removed; only objects older than
    /// this are touched, so uploads in progress are safe.
    #[arg(long, env = "METAVERSE_MEDIA_SWEEP_EVERY", default_value = "1h", value_parser = parse_duration)]
    pub media_sweep_every: Duration,
}
