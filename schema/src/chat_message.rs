//! One chat message, the shape every layer agrees on. The database row,
//! the Kafka record, the WebSocket push and the HTTP view are conversions
//! of it at their edges, so a new field is added in one place and each
//! edge decides whether it shows it.

use chrono::{DateTime, SecondsFormat, Utc};
use metaverse_protocol::{Attachment, ServerMsg};
use serde::{Deserialize, Serialize};

use crate::entity::message;

/// Field names are the camelCase of the WebSocket protocol; `sentAt` is
/// Unix milliseconds here (the Kafka record's form). Views that show a
/// timestamp string convert with [`rfc3339_millis`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// Made by the server (UUIDv7), before the message is durable: inserts
    /// skip ids already stored, so a message written twice lands once.
    pub id: String,
    /// The room it was sent to.
    pub chatroom_id: String,
    /// The sender.
    pub user_id: String,
    /// The sender's name when sent, so history needs no join.
    pub username: String,
    /// The text as sent (or the emoji, or the system notice).
    pub content: String,
    /// `text`, `emoji` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The sender's own id for the message, echoed back so a client can
    /// match the push to what it sent; absent when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Unix milliseconds.
    pub sent_at: i64,
    /// The upload an `image` or `file` message carries, as it was when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

/// Unix milliseconds as clients read them (RFC 3339, millisecond
/// precision, `Z`); out-of-range times show as the epoch rather than fail.
pub fn rfc3339_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<message::Model> for ChatMessage {
    fn from(m: message::Model) -> Self {
        Self {
            id: m.id,
            chatroom_id: m.chatroom_id,
            user_id: m.user_id,
            username: m.username,
            content: m.content,
            kind: m.kind,
            client_id: m.client_id,
            sent_at: m.sent_at,
            // Written by this server from the same type; a row that does
            // not parse (edited by hand) shows as a message without it.
            attachment: m.attachment.and_then(|a| serde_json::from_str(&a).ok()),
        }
    }
}

impl From<ChatMessage> for message::Model {
    fn from(m: ChatMessage) -> Self {
        Self {
            id: m.id,
            chatroom_id: m.chatroom_id,
            user_id: m.user_id,
            username: m.username,
            content: m.content,
            kind: m.kind,
            client_id: m.client_id,
            sent_at: m.sent_at,
            attachment: m.attachment.and_then(|a| serde_json::to_string(&a).ok()),
        }
    }
}

impl From<ChatMessage> for ServerMsg {
    fn from(m: ChatMessage) -> Self {
        ServerMsg::ChatMessage {
            sent_at: rfc3339_millis(m.sent_at),
            id: m.id,
            chatroom_id: m.chatroom_id,
            user_id: m.user_id,
            username: m.username,
            content: m.content,
            kind: m.kind,
            client_id: m.client_id,
            attachment: m.attachment.map(Box::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(client_id: Option<&str>) -> ChatMessage {
        ChatMessage {
            id: "m1".into(),
            chatroom_id: "r".into(),
            user_id: "u".into(),
            username: "ann".into(),
            content: "hi".into(),
            kind: "text".into(),
            client_id: client_id.map(Into::into),
            sent_at: 1_700_000_000_123,
            attachment: None,
        }
    }

    #[test]
    fn json_uses_protocol_names_and_millis() {
        let json = serde_json::to_value(sample(None)).unwrap();
        assert_eq!(json["chatroomId"], "r");
        assert_eq!(json["type"], "text");
        assert_eq!(json["sentAt"], 1_700_000_000_123i64);
        assert!(json.get("clientId").is_none(), "absent client ids are left out: {json}");
        let with = serde_json::to_value(sample(Some("c1"))).unwrap();
        assert_eq!(serde_json::from_value::<ChatMessage>(with).unwrap(), sample(Some("c1")));
    }

    #[test]
    fn row_round_trip_and_protocol_time() {
        let row = message::Model::from(sample(Some("c")));
        assert_eq!(ChatMessage::from(row), sample(Some("c")));
        match ServerMsg::from(sample(None)) {
            ServerMsg::ChatMessage { sent_at, kind, .. } => {
                assert_eq!(sent_at, "2023-11-14T22:13:20.123Z");
                assert_eq!(kind, "text");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(rfc3339_millis(i64::MAX), "1970-01-01T00:00:00.000Z");
    }
}
