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
    /// Already authenticated and checked for membership by the caller; the
    /// space trusts it.
    pub user: UserId,
    /// Handed over so the space can queue frames to the session without
    /// awaiting it.
    pub link: SessionLink,
    /// The tile to spawn on if it is free (the user's last position).
    pub preferred: Option<Position>,
    /// The token from an earlier `space-joined`; when it matches, the missed
    /// frames are replayed instead of a fresh snapshot.
    pub resume_token: Option<String>,
    /// Shown to the others with the user's presence.
    pub username: Option<String>,
    /// Shown to the others with the user's presence, so clients draw the
    /// right sprite.
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
    /// Who steps; the space looks their current tile up itself rather than
    /// trusting the client.
    pub user: UserId,
    /// The sending socket, so an input from a replaced or dropped socket of the
    /// same user is ignored.
    pub session_id: u64,
    /// The tile asked for, which must be one orthogonal step away.
    pub to: Position,
}

/// The session leaves (`dropped: false`, an explicit `leave`) or its socket
/// went away (`dropped: true`: the presence is held for the grace period).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The member leaving.
    pub user: UserId,
    /// The leaving socket, so a late leave from a socket already replaced does
    /// not end the newer one.
    pub session_id: u64,
    /// Whether to hold the presence for a resume instead of removing it at
    /// once.
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
    /// From `Registry::statics_tick`: reads can arrive out of order, and only
    /// a newer one replaces.
    pub tick: u64,
    /// Every blocking element, whole, since removing one tile cannot tell
    /// what else covers it.
    pub rects: Vec<Rect>,
    /// Every private area, whole, which changes nearby sets and groups.
    pub areas: Vec<Rect>,
}

/// A WebRTC signal to relay to a nearby member.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Signal {
    /// The caller, named to the callee as the signal's origin.
    pub from: UserId,
    /// The sending socket, so an input from a replaced or dropped socket of the
    /// same user is ignored.
    pub session_id: u64,
    /// The callee's user id as the client sent it; unknown or distant ones
    /// answer `not-nearby`.
    pub to: String,
    /// Relayed as is, so the callee knows how to read `data`.
    pub kind: RtcKind,
    /// The SDP or ICE payload, opaque to the server, which only checks who
    /// may call whom.
    pub data: serde_json::Value,
}

/// A nearby chat message (`chatroomId: "nearby"`): to the sender and
/// whoever is near them now. Not stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NearbyChat {
    /// The sender, whose nearby set at this moment receives the message.
    pub from: UserId,
    /// The sending socket, so an input from a replaced or dropped socket of the
    /// same user is ignored.
    pub session_id: u64,
    /// Built and checked by the chat service, so the space only fans it out.
    pub msg: ServerMsg,
}

/// Close every session with this reason and stop. Each member first gets
/// `notice`, or an `error` naming the reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSpace {
    /// The close code every member's socket gets, telling clients whether to
    /// reconnect.
    pub reason: CloseReason,
    /// A last message instead of the default `error`, e.g. `reconnect` with
    /// where the space moved.
    pub notice: Option<ServerMsg>,
}

impl CloseSpace {
    /// A close with the reason's own `error` notice.
    pub fn new(reason: CloseReason) -> Self {
        Self { reason, notice: None }
    }
}

/// Who is here now (presence), as a viewer may see it: in a space larger
/// than the view window, only the members in the viewer's window, and
/// nobody while the viewer is not in the space, as a `join` would show.
#[derive(Message)]
#[rtype(result = "Vec<Present>")]
pub struct Members {
    /// `None`: everyone (operators, tests).
    pub viewer: Option<String>,
}

/// One member as presence reports it (also sent between cluster nodes).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Present {
    /// Which user is present, as a plain string since presence crosses
    /// nodes and HTTP as JSON.
    pub user_id: String,
    /// Shown in presence lists; `None` when the join carried none.
    pub username: Option<String>,
    /// Column of the member's tile, for maps of who is where.
    pub x: i32,
    /// Row of the member's tile, for maps of who is where.
    pub y: i32,
    /// The socket is gone and the resume grace runs.
    pub suspended: bool,
}

/// Subscribe a member to a chatroom's live messages. False when the
/// session is not (or no longer) the member's current one.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ChatSubscribe {
    /// The member to subscribe; a member, not a socket, so a resume keeps the
    /// subscription.
    pub user: UserId,
    /// The subscribing socket, so a replaced socket cannot subscribe its
    /// successor.
    pub session_id: u64,
    /// The chatroom, whose access the chat service already checked.
    pub room: Arc<str>,
}

/// Stop a member's live messages from a chatroom.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatUnsubscribe {
    /// The member to unsubscribe.
    pub user: UserId,
    /// The chatroom the member no longer wants live messages from.
    pub room: Arc<str>,
}

/// A durable chat message (or a nearby one) to fan out to a room's
/// subscribers in this space.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatDeliver {
    /// Selects the subscribers; members not subscribed to it never get the
    /// message.
    pub room: Arc<str>,
    /// Built once by the chat service, so the space only encodes it once per
    /// codec.
    pub msg: ServerMsg,
}
