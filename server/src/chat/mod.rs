//! Chat, shared by the HTTP routes and the WebSocket session: who may read
//! and post in a room, what a message may hold, and the durable send path
//! (rate limit → ChatWriter → ack → fan-out to the live space).

use crate::auth::{attempts::Guards, hashing::HashPool};
use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metaverse_actors::{
    Registry,
    pipeline::{
        EventSink,
        record::{ChatFact, SCHEMA_VERSION},
    },
    writers::chat::{ChatStore, ChatWriteError},
};
use metaverse_protocol::ServerMsg;
use metaverse_schema::{
    ChatMessage,
    entity::chatroom,
    now_millis, rfc3339_millis,
    store::{DatabaseConnection, DbErr, chatrooms, members, messages},
};
use serde::Serialize;
use utoipa::ToSchema;

mod attach;
mod checks;
pub use checks::{check_client_id, check_content, check_kind, check_meta};

/// The pseudo-room of nearby chat: to whoever stands near the sender,
/// not stored.
pub const NEARBY: &str = "nearby";

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such chatroom")]
    UnknownRoom,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many messages in this room; slow down")]
    RateLimited,
    #[error("chat is unavailable right now; the message was not sent")]
    Unavailable,
    /// Too many wrong passcodes for this room; retry after the wait.
    #[error("too many wrong passcodes for this room; retry in {} ms", .0.as_millis())]
    TooManyAttempts(std::time::Duration),
    /// The argon2 pool is full (passcode checks).
    #[error("too many passcode checks at once; retry")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A message as the HTTP API shows it: a [`ChatMessage`] with `sentAt`
/// as an RFC 3339 string.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub chatroom_id: String,
    pub user_id: String,
    pub username: String,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sent_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The upload an `image` or `file` message carries: `mediaId`, `url`,
    /// `thumbnailUrl` (images), `contentType`, `size`, `width`, `height`, `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attachment: Option<metaverse_protocol::Attachment>,
}

impl From<ChatMessage> for MessageView {
    fn from(m: ChatMessage) -> Self {
        Self {
            sent_at: rfc3339_millis(m.sent_at),
            id: m.id,
            chatroom_id: m.chatroom_id,
            user_id: m.user_id,
            username: m.username,
            content: m.content,
            kind: m.kind,
            client_id: m.client_id,
            attachment: m.attachment,
        }
    }
}

pub struct ChatService {
    pub db: DatabaseConnection,
    pub store: ChatStore,
    /// Per-message facts for analytics.
    pub events: EventSink,
    pub registry: Arc<Registry>,
    limiter: DefaultKeyedRateLimiter<(String, String)>,
    pub max_len: usize,
    /// Passcode checks share the server's one argon2 pool.
    pub hashes: Arc<HashPool>,
    /// Wrong-guess counters (passcodes here; sign-ins over HTTP).
    pub guards: Arc<Guards>,
}

/// How fast and how long people may write.
pub struct ChatLimits {
    /// Messages per second per (room, user).
    pub rate: std::num::NonZeroU32,
    pub burst: std::num::NonZeroU32,
    /// Characters per message.
    pub max_len: usize,
}

/// What a sender gives.
pub struct Outgoing<'a> {
    pub room: &'a chatroom::Model,
    pub user_id: &'a str,
    pub username: &'a str,
    pub content: String,
    pub kind: &'static str,
    pub client_id: Option<String>,
    /// One of the sender's uploads, for `image` and `file` messages.
    pub media_id: Option<String>,
}

impl ChatService {
    pub fn new(
        db: DatabaseConnection,
        store: ChatStore,
        events: EventSink,
        registry: Arc<Registry>,
        limits: ChatLimits,
        hashes: Arc<HashPool>,
    ) -> Self {
        Self {
            db,
            store,
            events,
            registry,
            limiter: RateLimiter::keyed(Quota::per_second(limits.rate).allow_burst(limits.burst)),
            max_len: limits.max_len,
            hashes,
            guards: Arc::new(Guards::default()),
        }
    }

    pub async fn room(&self, id: &str) -> Result<chatroom::Model, ChatError> {
        if id.len() > 64 {
            return Err(ChatError::UnknownRoom);
        }
        chatrooms::find(&self.db, id).await?.ok_or(ChatError::UnknownRoom)
    }

    pub async fn is_member(&self, room_id: &str, user_id: &str) -> Result<bool, ChatError> {
        Ok(members::is_room_member(&self.db, room_id, user_id).await?)
    }

    /// Members of a space: its creator and everyone who entered it.
    pub async fn in_space(&self, space_id: &str, user_id: &str) -> Result<bool, ChatError> {
        Ok(members::in_space(&self.db, space_id, user_id).await?)
    }

    /// Makes the user a member (checking space membership and passcode).
    /// Returns whether they were new to the room.
    pub async fn join(
        &self,
        room: &chatroom::Model,
        user_id: &str,
        username: &str,
        passcode: Option<String>,
    ) -> Result<bool, ChatError> {
        if !self.in_space(&room.space_id, user_id).await? {
            return Err(ChatError::Forbidden("not a member of this room's space"));
        }
        if self.is_member(&room.id, user_id).await? {
            return Ok(false);
        }
        if let Some(hash) = room.passcode_hash.clone() {
            self.guards.rooms.check(&room.id).map_err(|t| ChatError::TooManyAttempts(t.0))?;
            let ok = self.hashes.verify(passcode.unwrap_or_default(), hash).await.map_err(|_| ChatError::Busy)?;
            if !ok {
                self.guards.rooms.failed(&room.id);
                return Err(ChatError::Forbidden("wrong passcode"));
            }
        }
        let new = members::join_room(&self.db, &room.id, user_id, now_millis()).await?;
        if new {
            // Best effort: the join stands even if the notice cannot be written.
            let notice = Outgoing {
                room,
                user_id,
                username,
                content: format!("{username} joined the room"),
                kind: "system",
                client_id: None,
                media_id: None,
            };
            if let Err(e) = self.deliver(notice).await {
                tracing::debug!(error = %e, "join notice not sent");
            }
        }
        Ok(new)
    }

    /// Checks, rate-limits and sends a message: durable first, then fanned
    /// out to the room's subscribers in the live space.
    pub async fn send(&self, out: Outgoing<'_>) -> Result<MessageView, ChatError> {
        check_content(&out.content, self.max_len, out.media_id.is_some())?;
        if self.limiter.check_key(&(out.user_id.to_owned(), out.room.id.clone())).is_err() {
            return Err(ChatError::RateLimited);
        }
        self.deliver(out).await
    }

    async fn deliver(&self, out: Outgoing<'_>) -> Result<MessageView, ChatError> {
        let attachment = match &out.media_id {
            Some(id) => Some(self.attachment(out.user_id, out.kind, id).await?),
            None => None,
        };
        let msg = ChatMessage {
            id: uuid::Uuid::now_v7().to_string(),
            chatroom_id: out.room.id.clone(),
            user_id: out.user_id.to_owned(),
            username: out.username.to_owned(),
            content: out.content,
            kind: out.kind.to_owned(),
            client_id: out.client_id,
            sent_at: now_millis(),
            attachment,
        };
        self.store.persist(&out.room.space_id, msg.clone()).await.map_err(|e| match e {
            ChatWriteError::Unavailable => ChatError::Unavailable,
            ChatWriteError::Rejected => ChatError::UnknownRoom,
        })?;
        if msg.kind != "system" {
            self.record_fact(
                &msg.id,
                &out.room.space_id,
                &msg.chatroom_id,
                &msg.user_id,
                &msg.content,
                &msg.kind,
                msg.sent_at,
            );
        }
        self.registry.deliver_chat(&out.room.space_id, &out.room.id, ServerMsg::from(msg.clone()));
        Ok(MessageView::from(msg))
    }

    /// Checks and rate-limits a nearby message and makes it (not stored:
    /// it goes to whoever is near the sender when the space fans it out).
    pub fn nearby(
        &self,
        space_id: &str,
        user_id: &str,
        username: &str,
        content: String,
        kind: &'static str,
        client_id: Option<String>,
    ) -> Result<ServerMsg, ChatError> {
        check_content(&content, self.max_len, false)?;
        if self.limiter.check_key(&(user_id.to_owned(), format!("{NEARBY}:{space_id}"))).is_err() {
            return Err(ChatError::RateLimited);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let at = now_millis();
        self.record_fact(&id, space_id, NEARBY, user_id, &content, kind, at);
        Ok(ServerMsg::from(ChatMessage {
            id,
            chatroom_id: NEARBY.to_owned(),
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            content,
            kind: kind.to_owned(),
            client_id,
            sent_at: at,
            attachment: None,
        }))
    }

    /// Tells analytics a message was sent (its facts, not its content).
    #[allow(clippy::too_many_arguments)]
    fn record_fact(&self, id: &str, space_id: &str, room: &str, user_id: &str, content: &str, kind: &str, at: i64) {
        self.events.chat(ChatFact {
            v: SCHEMA_VERSION,
            message_id: id.to_owned(),
            space_id: space_id.to_owned(),
            chatroom_id: room.to_owned(),
            user_id: user_id.to_owned(),
            length: u32::try_from(content.chars().count()).unwrap_or(u32::MAX),
            kind: kind.to_owned(),
            at,
        });
    }

    /// Drops rate-limit state of idle keys (call now and then).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.guards.forget_idle();
    }

    /// A page of history, newest first, and the cursor of the next page.
    pub async fn history(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<MessageView>, Option<String>), ChatError> {
        let before = before.map(decode_cursor).transpose()?;
        let (rows, more) = messages::history_page(&self.db, room_id, before.as_deref(), limit).await?;
        let next = if more { rows.last().map(|m| encode_cursor(&m.id)) } else { None };
        Ok((rows.into_iter().map(MessageView::from).collect(), next))
    }

    /// Messages newer than `since` (oldest first), for a reconnecting
    /// client; at most `limit`.
    pub async fn since(&self, room_id: &str, since: &str, limit: u64) -> Result<Vec<ChatMessage>, ChatError> {
        if since.len() > 64 {
            return Err(ChatError::Invalid("since: not a message id".into()));
        }
        Ok(messages::since(&self.db, room_id, since, limit).await?)
    }
}

/// Cursors are opaque to clients: the last id of a page, base64url.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<String, ChatError> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.len() <= 64)
        .ok_or_else(|| ChatError::Invalid("before: not a cursor from this server".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        let c = encode_cursor("01abc");
        assert_eq!(decode_cursor(&c).unwrap(), "01abc");
        assert!(decode_cursor("***").is_err());
    }
}
