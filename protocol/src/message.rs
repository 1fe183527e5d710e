//! Every message of CONTRACT.md's WebSocket tables. The serde attributes
//! produce the envelope: `type` names the variant (kebab-case), `payload`
//! holds its fields (camelCase).

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// A tile coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    pub x: i32,
    pub y: i32,
}

/// Another user and the tile they stand on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPosition {
    pub user_id: String,
    pub x: i32,
    pub y: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_id: Option<String>,
}

/// What a WebRTC signal carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RtcKind {
    Offer,
    Answer,
    Ice,
    Hangup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSize {
    pub width: i32,
    pub height: i32,
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum ClientMsg {
    #[serde(rename_all = "camelCase")]
    Join {
        space_id: String,
        token: String,
        /// From an earlier `space-joined`: resume that presence (same tile,
        /// missed events replayed) if its grace period has not run out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
        /// Ask for (true) or refuse (false) `batch` frames: one frame per
        /// tick holding every event since the last. Absent: MessagePack
        /// sessions are batched, JSON sessions are not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<bool>,
    },
    Move {
        x: i32,
        y: i32,
    },
    Leave {},
    #[serde(rename_all = "camelCase")]
    ChatJoin {
        chatroom_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passcode: Option<String>,
        /// Replay messages newer than this id before live ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    ChatLeave {
        chatroom_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        chatroom_id: String,
        content: String,
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A WebRTC signal for a nearby user; `data` (SDP, ICE candidate) is
    /// relayed as is.
    RtcSignal {
        to: String,
        kind: RtcKind,
        #[serde(default)]
        data: serde_json::Value,
    },
    Heartbeat {},
}

impl ClientMsg {
    /// The wire `type`, for metrics and logs.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Join { .. } => "join",
            ClientMsg::Move { .. } => "move",
            ClientMsg::Leave {} => "leave",
            ClientMsg::ChatJoin { .. } => "chat-join",
            ClientMsg::ChatLeave { .. } => "chat-leave",
            ClientMsg::ChatMessage { .. } => "chat-message",
            ClientMsg::RtcSignal { .. } => "rtc-signal",
            ClientMsg::Heartbeat {} => "heartbeat",
        }
    }
}

/// Every client `type` this server knows.
pub const CLIENT_TYPES: &[&str] =
    &["join", "move", "leave", "chat-join", "chat-leave", "chat-message", "rtc-signal", "heartbeat"];

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum ServerMsg {
    #[serde(rename_all = "camelCase")]
    SpaceJoined {
        user_id: String,
        spawn: Position,
        /// The others already there.
        users: Vec<UserPosition>,
        space: SpaceSize,
        /// Present this in a later `join` to resume after a dropped socket.
        resume_token: String,
        /// True when this join resumed an earlier presence.
        #[serde(default)]
        resumed: bool,
    },
    #[serde(rename_all = "camelCase")]
    UserJoin {
        user_id: String,
        x: i32,
        y: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Movement {
        user_id: String,
        x: i32,
        y: i32,
    },
    MovementRejected {
        x: i32,
        y: i32,
    },
    #[serde(rename_all = "camelCase")]
    UserLeft {
        user_id: String,
    },
    /// In a space larger than the view window: someone came into your
    /// window (they walked in, or you walked towards them). Draw them.
    #[serde(rename_all = "camelCase")]
    ViewEnter {
        user_id: String,
        x: i32,
        y: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_id: Option<String>,
    },
    /// Someone left your view window; they are still in the space.
    #[serde(rename_all = "camelCase")]
    ViewLeave {
        user_id: String,
    },
    /// Every world event of one tick for a batched session, in order. The
    /// server builds it from events it encoded once (`batch_frames`).
    Batch {
        events: Vec<ServerMsg>,
    },
    #[serde(rename_all = "camelCase")]
    ChatJoined {
        chatroom_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ChatLeft {
        chatroom_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        id: String,
        chatroom_id: String,
        user_id: String,
        username: String,
        content: String,
        #[serde(rename = "type")]
        kind: String,
        sent_at: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Who is near you now (sent when it changes): the users within the
    /// space's radius or in your private area, and your group (everyone
    /// connected to you through "near"; `null` when alone).
    Proximity {
        nearby: Vec<String>,
        group: Option<String>,
        radius: i32,
    },
    /// A relayed WebRTC signal; `hangup` also comes from the server when
    /// you walk apart.
    RtcSignal {
        from: String,
        kind: RtcKind,
        data: serde_json::Value,
    },
    Heartbeat {},
    /// The space moved to another node (drain, lease lost, node stopping):
    /// the socket closes next with code 4006. Dial `url` if given,
    /// else the address used before, after `retryAfterMs`, and `join` again.
    #[serde(rename_all = "camelCase")]
    Reconnect {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default)]
        retry_after_ms: u64,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl ServerMsg {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error { code, message: message.into() }
    }

    /// The wire `type`, for metrics and logs.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMsg::SpaceJoined { .. } => "space-joined",
            ServerMsg::UserJoin { .. } => "user-join",
            ServerMsg::Movement { .. } => "movement",
            ServerMsg::MovementRejected { .. } => "movement-rejected",
            ServerMsg::UserLeft { .. } => "user-left",
            ServerMsg::ViewEnter { .. } => "view-enter",
            ServerMsg::ViewLeave { .. } => "view-leave",
            ServerMsg::Batch { .. } => "batch",
            ServerMsg::ChatJoined { .. } => "chat-joined",
            ServerMsg::ChatLeft { .. } => "chat-left",
            ServerMsg::ChatMessage { .. } => "chat-message",
            ServerMsg::Proximity { .. } => "proximity",
            ServerMsg::RtcSignal { .. } => "rtc-signal",
            ServerMsg::Heartbeat {} => "heartbeat",
            ServerMsg::Reconnect { .. } => "reconnect",
            ServerMsg::Error { .. } => "error",
        }
    }
}
