//! Attachments: a chat message may carry one of its sender's uploads.
//! What the message shows of it (type, size, name, URLs) is fixed when it
//! is sent, so history, Kafka records and live pushes agree.

use metaverse_protocol::Attachment;
use metaverse_schema::store::media as uploads;

use super::{ChatError, ChatService};

impl ChatService {
    /// The attachment of a `kind` message from `sender`: one of the
    /// sender's own uploads (ids are not secrets to pass around), and an
    /// image for `image`.
    pub(super) async fn attachment(&self, sender: &str, kind: &str, media_id: &str) -> Result<Attachment, ChatError> {
        let row = uploads::find(&self.db, media_id)
            .await?
            .ok_or_else(|| ChatError::Invalid("mediaId: no such upload".into()))?;
        if row.owner_id != sender {
            return Err(ChatError::Forbidden("mediaId: only your own uploads can be attached"));
        }
        if kind == "image" && row.width.is_none() {
            return Err(ChatError::Invalid("mediaId: not an image; send it with type file".into()));
        }
        Ok(crate::media::attachment(&row))
    }
}
