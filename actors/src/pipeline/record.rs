//! The records on the three topics, as another team's consumer reads them:
//! JSON objects with a schema version `v`, keyed by space id. Field names
//! are camelCase like the WebSocket protocol's. Readers must ignore fields
//! they do not know; a new `v` means an incompatible change.

use metaverse_schema::ChatMessage;
use serde::{Deserialize, Serialize};

/// The version every record written here carries.
pub const SCHEMA_VERSION: u32 = 1;

/// A chat message on `chat-messages`: everything needed to store it. The
/// message's fields sit beside `v` and `spaceId` at the top level (the
/// record's shape predates `ChatMessage`, and other readers rely on it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRecord {
    /// Schema version (`SCHEMA_VERSION`); readers refuse any other.
    pub v: u32,
    /// The space the room belongs to; also the record's key, so a
    /// space's messages keep their order in one partition.
    pub space_id: String,
    /// The stored message, flattened into the record's top level.
    #[serde(flatten)]
    pub message: ChatMessage,
}

impl ChatRecord {
    /// Wraps a message for the log, stamped with this server's version.
    pub fn new(space_id: &str, message: ChatMessage) -> Self {
        Self { v: SCHEMA_VERSION, space_id: space_id.to_owned(), message }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// The `type` of a user event: `join` or `leave` on the wire.
pub enum UserEventKind {
    /// A visit began (not repeated by a resume or a takeover).
    Join,
    /// A visit ended; the record carries its join time and length.
    Leave,
}

/// Someone entered or left a space, on `user-events`. A visit
/// (`sessionId`) spans resumes and takeovers; `leave` repeats the join
/// time and carries the visit's length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    /// Schema version (`SCHEMA_VERSION`); readers refuse any other.
    pub v: u32,
    /// `type` on the wire: whether the visit began or ended.
    #[serde(rename = "type")]
    pub kind: UserEventKind,
    /// The space visited; also the record's key.
    pub space_id: String,
    /// Who visited.
    pub user_id: String,
    /// The visit, the same across resumes and takeovers: it pairs a
    /// `leave` with its `join` and keys the fold's repeat check.
    pub session_id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// `leave` only: the visit's join time, so a reader can count the
    /// visit's minutes without having seen its `join`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<i64>,
    /// `leave` only: `at - joinedAt`, never negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

/// Facts about one chat message, on `chat-analytics`: no content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatFact {
    /// Schema version (`SCHEMA_VERSION`); readers refuse any other.
    pub v: u32,
    /// The message counted; keys the fold's repeat check.
    pub message_id: String,
    /// The room's space; also the record's key.
    pub space_id: String,
    /// The room, for per-room message counts.
    pub chatroom_id: String,
    /// The sender.
    pub user_id: String,
    /// Characters of content.
    pub length: u32,
    /// The message's type (`text`, `emoji`, or `image`/`file` with an
    /// attachment; `system` notices are not counted).
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// Something the analytics fold counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnalyticsEvent {
    /// A join or leave, from `user-events`.
    User(UserEvent),
    /// A message's facts, from `chat-analytics`.
    Chat(ChatFact),
}

/// Why a record read from a topic was skipped (logged and counted; its
/// offset still advances).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of the record's shape.
    #[error("not a record: {0}")]
    Decode(#[from] serde_json::Error),
    /// Written by an incompatible producer (another `v`).
    #[error("schema version {0} is not supported (this server reads {SCHEMA_VERSION})")]
    Version(u32),
    /// Well-formed, but a value would not fit its column or makes no sense.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Ids and names must fit the columns they land in.
fn fits(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

fn version(v: u32) -> Result<(), RecordError> {
    if v == SCHEMA_VERSION { Ok(()) } else { Err(RecordError::Version(v)) }
}

/// Longest content a record may carry (the HTTP/WS limit is lower and
/// configurable; this only guards the database).
pub const MAX_CONTENT_CHARS: usize = 100_000;

impl ChatRecord {
    /// Reads a `chat-messages` record, refusing what the database could
    /// not store: the log may hold records from other producers.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let r: Self = serde_json::from_slice(bytes)?;
        version(r.v)?;
        let m = &r.message;
        if !(fits(&m.id, 36) && fits(&r.space_id, 36) && fits(&m.chatroom_id, 36) && fits(&m.user_id, 36)) {
            return Err(RecordError::Invalid("an id is empty or too long"));
        }
        if !fits(&m.username, 64) || !fits(&m.kind, 16) {
            return Err(RecordError::Invalid("username or type is empty or too long"));
        }
        if m.client_id.as_deref().is_some_and(|c| c.len() > 64) {
            return Err(RecordError::Invalid("clientId is too long"));
        }
        // An attachment's caption may be empty; a message is never blank.
        if (m.content.is_empty() && m.attachment.is_none()) || m.content.chars().count() > MAX_CONTENT_CHARS {
            return Err(RecordError::Invalid("content is empty or too long"));
        }
        if let Some(a) = &m.attachment {
            if !(fits(&a.content_type, 128) && fits(&a.name, 512)) {
                return Err(RecordError::Invalid("an attachment field is empty or too long"));
            }
            // Only this server's media URLs: clients render them as links.
            if !a.points_at_its_upload() {
                return Err(RecordError::Invalid("an attachment points elsewhere than its upload"));
            }
        }
        Ok(r)
    }
}

impl AnalyticsEvent {
    /// Reads a `user-events` record, refusing ids too long for their
    /// columns and times out of order.
    pub fn decode_user(bytes: &[u8]) -> Result<Self, RecordError> {
        let e: UserEvent = serde_json::from_slice(bytes)?;
        version(e.v)?;
        if !(fits(&e.space_id, 36) && fits(&e.user_id, 36) && fits(&e.session_id, 64)) {
            return Err(RecordError::Invalid("an id is empty or too long"));
        }
        if e.at < 0 || e.joined_at.is_some_and(|j| j < 0 || j > e.at) || e.duration_ms.is_some_and(|d| d < 0) {
            return Err(RecordError::Invalid("times are out of order"));
        }
        Ok(Self::User(e))
    }

    /// Reads a `chat-analytics` record, refusing ids too long for their
    /// columns and negative times.
    pub fn decode_chat(bytes: &[u8]) -> Result<Self, RecordError> {
        let f: ChatFact = serde_json::from_slice(bytes)?;
        version(f.v)?;
        if !(fits(&f.message_id, 36) && fits(&f.space_id, 36) && fits(&f.chatroom_id, 64) && fits(&f.user_id, 36)) {
            return Err(RecordError::Invalid("an id is empty or too long"));
        }
        if !fits(&f.kind, 16) || f.at < 0 {
            return Err(RecordError::Invalid("type or time is invalid"));
        }
        Ok(Self::Chat(f))
    }

    /// The space the event belongs to: its record key and fold bucket.
    pub fn space_id(&self) -> &str {
        match self {
            Self::User(e) => &e.space_id,
            Self::Chat(f) => &f.space_id,
        }
    }
}

/// A one-character text message in room `r` of space `s` at minute 5:
/// the fact the fold and analytics writer tests count.
#[cfg(test)]
pub(crate) fn test_chat_fact(id: &str) -> AnalyticsEvent {
    AnalyticsEvent::Chat(ChatFact {
        v: SCHEMA_VERSION,
        message_id: id.into(),
        space_id: "s".into(),
        chatroom_id: "r".into(),
        user_id: "u".into(),
        length: 1,
        kind: "text".into(),
        at: 5 * crate::pipeline::fold::MINUTE_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_camel_case_json_with_a_version() {
        let e = UserEvent {
            v: SCHEMA_VERSION,
            kind: UserEventKind::Leave,
            space_id: "s".into(),
            user_id: "u".into(),
            session_id: "x".into(),
            at: 10,
            joined_at: Some(4),
            duration_ms: Some(6),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "leave");
        assert_eq!(json["durationMs"], 6);
        assert_eq!(json["v"], 1);
        assert_eq!(AnalyticsEvent::decode_user(json.to_string().as_bytes()).unwrap(), AnalyticsEvent::User(e));
    }

    #[test]
    fn chat_records_keep_their_flat_json() {
        let old = br#"{"v":1,"id":"m","spaceId":"s","chatroomId":"r","userId":"u","username":"n","content":"c","type":"text","sentAt":7,"extra":0}"#;
        let r = ChatRecord::decode(old).unwrap();
        assert_eq!((r.space_id.as_str(), r.message.id.as_str(), r.message.sent_at), ("s", "m", 7));
        assert_eq!(r.message.client_id, None);
        let json = serde_json::to_value(&r).unwrap();
        let expected = serde_json::json!({"v":1,"id":"m","spaceId":"s","chatroomId":"r","userId":"u","username":"n",
            "content":"c","type":"text","sentAt":7});
        assert_eq!(json, expected, "same fields, no nesting, unknown ones dropped");
        let with_client = ChatRecord::new("s", ChatMessage { client_id: Some("c1".into()), ..r.message.clone() });
        let back = ChatRecord::decode(serde_json::to_string(&with_client).unwrap().as_bytes()).unwrap();
        assert_eq!(back, with_client);
        // An image without a caption: the attachment travels, nested.
        let attachment = metaverse_protocol::Attachment {
            media_id: "0190-m".into(),
            url: "/api/v1/media/0190-m".into(),
            thumbnail_url: Some("/api/v1/media/0190-m/thumbnail".into()),
            content_type: "image/png".into(),
            size: 10,
            width: Some(2),
            height: Some(1),
            name: "a.png".into(),
        };
        let image =
            ChatMessage { content: String::new(), kind: "image".into(), attachment: Some(attachment), ..r.message };
        let record = ChatRecord::new("s", image);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["attachment"]["mediaId"], "0190-m");
        assert_eq!(ChatRecord::decode(json.to_string().as_bytes()).unwrap(), record);
        let mut long = json.clone();
        long["attachment"]["name"] = "x".repeat(513).into();
        assert!(matches!(ChatRecord::decode(long.to_string().as_bytes()), Err(RecordError::Invalid(_))));
        // A record from elsewhere cannot make an attachment a link away.
        for (field, value) in [
            ("url", "javascript:alert(1)"),
            ("url", "https://evil.example/x.png"),
            ("thumbnailUrl", "/api/v1/media/other/thumbnail"),
            ("mediaId", "../../etc"),
        ] {
            let mut bad = json.clone();
            bad["attachment"][field] = value.into();
            let r = ChatRecord::decode(bad.to_string().as_bytes());
            assert!(matches!(r, Err(RecordError::Invalid(_))), "{field}={value}: {r:?}");
        }
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        assert!(matches!(ChatRecord::decode(b"[1,2]"), Err(RecordError::Decode(_))));
        let future = br#"{"v":2,"id":"a","spaceId":"s","chatroomId":"r","userId":"u","username":"n","content":"c","type":"text","sentAt":1}"#;
        assert!(matches!(ChatRecord::decode(future), Err(RecordError::Version(2))));
        let long_id = format!(
            r#"{{"v":1,"id":"{}","spaceId":"s","chatroomId":"r","userId":"u","username":"n","content":"c","type":"text","sentAt":1}}"#,
            "a".repeat(37)
        );
        assert!(matches!(ChatRecord::decode(long_id.as_bytes()), Err(RecordError::Invalid(_))));
        let backwards = br#"{"v":1,"type":"leave","spaceId":"s","userId":"u","sessionId":"x","at":5,"joinedAt":9}"#;
        assert!(AnalyticsEvent::decode_user(backwards).is_err());
        let unknown_kind = br#"{"v":1,"type":"dance","spaceId":"s","userId":"u","sessionId":"x","at":5}"#;
        assert!(AnalyticsEvent::decode_user(unknown_kind).is_err());
        let extra = br#"{"v":1,"type":"join","spaceId":"s","userId":"u","sessionId":"x","at":5,"newField":true}"#;
        assert!(AnalyticsEvent::decode_user(extra).is_ok(), "unknown fields are ignored");
    }
}
