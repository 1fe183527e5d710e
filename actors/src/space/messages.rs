//! The messages a SpaceActor answers: what sessions, HTTP handlers and
//! the cluster relay may ask of a space. Their handlers live with the
//! concern they serve (membership, movement, relay).

use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use metaverse_protocol::{Position, RtcKind, ServerMsg};

use crate::{
    link::{CloseReason, SessionLink},
    world::{Rect, UserId},
};

/// Enter the space. On success the space has already queued `space-joined`
/// (and, on resume, the missed events) to the link.
#[derive(Message)]
#[rtype(result = "Result<(), JoinRefused>")]
pub struct Join {
    pub user: UserId,
    pub link: SessionLink,
    /// The tile to spawn on if it is free (the user's last position).
    pub preferred: Option<Position>,
    pub resume_token: Option<String>,
    /// Shown to the others with the user's presence.
    pub username: Option<String>,
    pub avatar_id: Option<String>,
}

/// Why a join was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefused {
    /// No free tile.
    Full,
}

/// A step to `to`, checked against the grid and occupancy.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Move {
    pub user: UserId,
    pub session_id: u64,
    pub to: Position,
}

/// The session leaves (`dropped: false`, an explicit `leave`) or its socket
/// went away (`dropped: true`: the presence is held for the grace period).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub user: UserId,
    pub session_id: u64,
    pub dropped: bool,
    /// Frames the session had queued but not written (oldest first); they
    /// head the replay of a resume.
    pub unsent: Vec<Bytes>,
}

/// The space's static elements (and private areas) changed over HTTP,
/// as read at `tick`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStatic {
    pub tick: u64,
    pub rects: Vec<Rect>,
    pub areas: Vec<Rect>,
}

/// A WebRTC signal to relay to a nearby member.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Signal {
    pub from: UserId,
    pub session_id: u64,
    pub to: String,
    pub kind: RtcKind,
    pub data: serde_json::Value,
}

/// A nearby chat message (`chatroomId: "nearby"`): to the sender and
/// whoever is near them now. Not stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NearbyChat {
    pub from: UserId,
    pub session_id: u64,
    pub msg: ServerMsg,
}

/// Close every session with this reason and stop. Each member first gets
/// `notice`, or an `error` naming the reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSpace {
    pub reason: CloseReason,
    pub notice: Option<ServerMsg>,
}

impl CloseSpace {
    /// A close with the reason's own `error` notice.
    pub fn new(reason: CloseReason) -> Self {
        Self { reason, notice: None }
    }
}

/// Who is here now (presence), as `(user id, username, position)`.
#[derive(Message)]
#[rtype(result = "Vec<Present>")]
pub struct Members;

/// One member as presence reports it (also sent between cluster nodes).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Present {
    pub user_id: String,
    pub username: Option<String>,
    pub x: i32,
    pub y: i32,
    /// The socket is gone and the resume grace runs.
    pub suspended: bool,
}

/// Subscribe a member to a chatroom's live messages. False when the
/// session is not (or no longer) the member's current one.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ChatSubscribe {
    pub user: UserId,
    pub session_id: u64,
    pub room: Arc<str>,
}

/// Stop a member's live messages from a chatroom.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatUnsubscribe {
    pub user: UserId,
    pub room: Arc<str>,
}

/// A durable chat message (or a nearby one) to fan out to a room's
/// subscribers in this space.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatDeliver {
    pub room: Arc<str>,
    pub msg: ServerMsg,
}
