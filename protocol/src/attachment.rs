//! The file a chat message may carry.

use serde::{Deserialize, Serialize};

/// A file a chat message carries (an upload of its sender, `POST /api/v1/media`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The upload's id.
    pub media_id: String,
    /// Where to fetch the bytes (same origin, no token needed).
    pub url: String,
    /// A small PNG of an image (at most 256 px a side), for inline display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// The type the server found in the bytes (never the one declared).
    pub content_type: String,
    /// Bytes as stored.
    pub size: u64,
    /// Pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The uploader's file name, cleaned (display only; never a path).
    pub name: String,
}
