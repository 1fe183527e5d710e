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

impl Attachment {
    /// Where the server serves upload `media_id`: the one URL an
    /// attachment may carry, so a record from elsewhere (the Kafka log)
    /// cannot turn an attachment into a link to another site.
    pub fn url_of(media_id: &str) -> String {
        format!("/api/v1/media/{media_id}")
    }

    /// Where the server serves the thumbnail of image upload `media_id`.
    pub fn thumbnail_url_of(media_id: &str) -> String {
        format!("/api/v1/media/{media_id}/thumbnail")
    }

    /// Whether the URLs are the server's own for `media_id`, and the id is
    /// one the server makes (letters, digits and `-`).
    pub fn points_at_its_upload(&self) -> bool {
        let id_ok = !self.media_id.is_empty()
            && self.media_id.len() <= 64
            && self.media_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        id_ok
            && self.url == Self::url_of(&self.media_id)
            && self.thumbnail_url.as_ref().is_none_or(|t| *t == Self::thumbnail_url_of(&self.media_id))
    }
}
