//! Every message of the WebSocket protocol, both ways (the tables in
//! `docs/PROTOCOL.md`). The serde attributes produce the envelope: `type`
//! names the variant (kebab-case), `payload` holds its fields (camelCase).

use serde::{Deserialize, Serialize};

use crate::{Attachment, ErrorCode};

/// A tile coordinate: the unit of movement, collision and proximity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Column, from 0 at the left edge to the space's width minus one.
    pub x: i32,
    /// Row, from 0 at the top edge to the space's height minus one.
    pub y: i32,
}

/// Another user and the tile they stand on, as a joiner's snapshot lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPosition {
    /// The key later `movement`, `user-left` and `proximity` messages use for them.
    pub user_id: String,
    /// Their column, so the client can draw them before they move.
    pub x: i32,
    /// Their row, so the client can draw them before they move.
    pub y: i32,
    /// The name to draw under their avatar (from their sign-in); omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The avatar they chose (see `GET /avatars`); absent until they choose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_id: Option<String>,
}

/// What a WebRTC signal carries; the server relays all four alike and sends only `hangup` itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RtcKind {
    /// The caller's SDP offer that opens (or renegotiates) a call.
    Offer,
    /// The callee's SDP answer to an offer.
    Answer,
    /// A trickled ICE candidate, so peers find a path while negotiating.
    Ice,
    /// Ends the call; the server sends it itself to both people when they stop sharing a group.
    Hangup,
}

/// A space's grid size in tiles, so the client can draw the map and keep its predicted moves inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSize {
    /// Columns: valid `x` run from 0 to `width - 1`.
    pub width: i32,
    /// Rows: valid `y` run from 0 to `height - 1`.
    pub height: i32,
}

/// The part of the map a client shows, in tiles, asked for in `join`: the
/// server then sends events from about that far around the user and no
/// farther, whatever the crowd. Without it a client sees the whole space
/// while the space is not crowded (see the protocol documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSize {
    /// Columns shown (1 to 10,000); the server rounds it to its view cells
    /// and caps it at twice its own window.
    pub width: i32,
    /// Rows shown (1 to 10,000); rounded and capped like `width`.
    pub height: i32,
}

impl ViewSize {
    /// Largest side accepted; larger asks are refused as malformed.
    pub const MAX: i32 = 10_000;

    /// Both sides within 1 and [`ViewSize::MAX`].
    pub fn is_valid(&self) -> bool {
        (1..=Self::MAX).contains(&self.width) && (1..=Self::MAX).contains(&self.height)
    }
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum ClientMsg {
    /// Authenticates the socket and enters a space (leaving any it was in); only `heartbeat` works before it.
    #[serde(rename_all = "camelCase")]
    Join {
        /// The space to enter: an id from the HTTP API (`POST /space` answers it; `GET /space/all` lists them).
        space_id: String,
        /// The access token from sign-in: the only thing that tells the server whose socket this is.
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
        /// The window the client shows: events come from about that far
        /// around it. Absent: the whole space while it holds at most the
        /// server's `--view-all-up-to` people, the server's window above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view: Option<ViewSize>,
    },
    /// Asks to step onto an adjacent tile; the server decides, answering a refusal with `movement-rejected`.
    Move {
        /// The column to step to (at most one tile from the current one).
        x: i32,
        /// The row to step to (a diagonal step counts as two, so is refused).
        y: i32,
    },
    /// Leaves the space at once (no resume grace), so the socket may join another one.
    Leave {},
    /// Subscribes to a room of the current space (joining it as a member if needed) to get its messages live.
    #[serde(rename_all = "camelCase")]
    ChatJoin {
        /// The room to receive, one of `GET /chatroom/space/:spaceId`.
        chatroom_id: String,
        /// Needed only the first time, to become a member of a locked room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passcode: Option<String>,
        /// Replay messages newer than this id before live ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
    },
    /// Stops live delivery of a room; membership stays, so a later `chat-join` needs no passcode.
    #[serde(rename_all = "camelCase")]
    ChatLeave {
        /// The room to stop receiving.
        chatroom_id: String,
    },
    /// Posts to a joined room, or with `chatroomId: "nearby"` to whoever is near the sender at that moment.
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        /// The target room, or `"nearby"` for the people near the sender.
        chatroom_id: String,
        /// The text, kept verbatim; clients must render it as text, never HTML.
        content: String,
        /// `text` (the default), `emoji`, or `image`/`file` with `mediaId`; `system` is reserved for the server.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        /// The sender's own id (at most 64 characters), echoed in the delivered message to replace its draft.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// With `type` `image` or `file`: the sender's upload to attach (rooms only; `content` is then an optional caption).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
    },
    /// A WebRTC signal for a nearby user; `data` (SDP, ICE candidate) is
    /// relayed as is.
    RtcSignal {
        /// The peer's user id; refused with `not-nearby` unless they are near the sender or in its group.
        to: String,
        /// Which step of the WebRTC negotiation this is.
        kind: RtcKind,
        /// The browser's payload (at most 16 KiB as JSON); the server never looks inside it.
        #[serde(default)]
        data: serde_json::Value,
    },
    /// Lets a browser, which cannot send WebSocket pings, check the server still answers; works before `join`.
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
    /// The reply to `join`: a snapshot of the space to draw from; later events are changes to it.
    #[serde(rename_all = "camelCase")]
    SpaceJoined {
        /// Who the token says you are, so you can tell your own events apart.
        user_id: String,
        /// The tile you were placed on (your last tile here, when it was free).
        spawn: Position,
        /// The others already there.
        users: Vec<UserPosition>,
        /// The grid size, to draw the map and keep moves inside it.
        space: SpaceSize,
        /// Present this in a later `join` to resume after a dropped socket.
        resume_token: String,
        /// True when this join resumed an earlier presence.
        #[serde(default)]
        resumed: bool,
    },
    /// Someone entered the space where you can see them: draw them.
    #[serde(rename_all = "camelCase")]
    UserJoin {
        /// The newcomer, the key of their later events.
        user_id: String,
        /// The column they spawned on.
        x: i32,
        /// The row they spawned on.
        y: i32,
        /// The name to draw under their avatar (from their sign-in); omitted when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// Their chosen avatar; absent until they choose one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_id: Option<String>,
    },
    /// An accepted step by someone you see; in a batch also your own last step, to confirm where you are.
    #[serde(rename_all = "camelCase")]
    Movement {
        /// Who moved.
        user_id: String,
        /// The column they now stand on.
        x: i32,
        /// The row they now stand on.
        y: i32,
    },
    /// Your `move` was refused (too far, off the grid, blocked or occupied): snap your prediction back.
    MovementRejected {
        /// The column you still stand on.
        x: i32,
        /// The row you still stand on.
        y: i32,
    },
    /// Someone left the space (once: on `leave`, or when a dropped socket's grace ends): remove them.
    #[serde(rename_all = "camelCase")]
    UserLeft {
        /// Who left.
        user_id: String,
    },
    /// In a space larger than the view window: someone came into your
    /// window (they walked in, or you walked towards them). Draw them.
    #[serde(rename_all = "camelCase")]
    ViewEnter {
        /// Who came into view.
        user_id: String,
        /// The column they stand on.
        x: i32,
        /// The row they stand on.
        y: i32,
        /// The name to draw under their avatar (from their sign-in); omitted when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// Their chosen avatar; absent until they choose one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_id: Option<String>,
    },
    /// Someone left your view window; they are still in the space.
    #[serde(rename_all = "camelCase")]
    ViewLeave {
        /// Who went out of view (stop drawing them, but they may come back).
        user_id: String,
    },
    /// Every world event of one tick for a batched session, in order. The
    /// server builds it from events it encoded once (`batch_frames`).
    Batch {
        /// The tick's messages for you, to apply in this order.
        events: Vec<ServerMsg>,
    },
    /// Confirms a `chat-join`: the replay asked for with `since`, then live messages, follow.
    #[serde(rename_all = "camelCase")]
    ChatJoined {
        /// The room now subscribed.
        chatroom_id: String,
    },
    /// Confirms a `chat-leave`: no more live messages from the room.
    #[serde(rename_all = "camelCase")]
    ChatLeft {
        /// The room no longer subscribed.
        chatroom_id: String,
    },
    /// A chat message, sent once durable (nearby ones are not stored) to every subscriber, sender included.
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        /// A time-ordered UUIDv7: dedupe by it, and pass the last one seen as `since` when rejoining.
        id: String,
        /// The room it was posted to, or `"nearby"`.
        chatroom_id: String,
        /// The author.
        user_id: String,
        /// The author's display name, carried so no lookup is needed to show it.
        username: String,
        /// The text, verbatim; render it as text, never as HTML.
        content: String,
        /// `text`, `emoji`, `image` or `file` (with `attachment`), or `system` for the server's own notices ("NAME joined the room").
        #[serde(rename = "type")]
        kind: String,
        /// When the server accepted it, as RFC 3339 with milliseconds.
        sent_at: String,
        /// The sender's `clientId`, when it gave one, so the sender can replace the draft it showed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The attached upload of an `image` or `file` message (boxed: most messages have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<Box<Attachment>>,
    },
    /// Who is near you now (sent when it changes): the users within the
    /// space's radius or in your private area, and your group (everyone
    /// connected to you through "near"; `null` when alone).
    Proximity {
        /// The user ids near you, sorted: whom you may call and nearby-chat.
        nearby: Vec<String>,
        /// The group's id (its smallest user id), so its members can build one call; `None` when alone.
        group: Option<String>,
        /// The space's proximity radius in tiles (Chebyshev), so a client can show how close "near" is.
        radius: i32,
    },
    /// A relayed WebRTC signal; `hangup` also comes from the server when
    /// you walk apart.
    RtcSignal {
        /// The peer that sent it (to answer with `to`).
        from: String,
        /// Which step of the WebRTC negotiation this is.
        kind: RtcKind,
        /// The peer's payload, untouched; `null` in a server `hangup`.
        data: serde_json::Value,
    },
    /// The answer to a client `heartbeat`, so the client knows the server still hears it.
    Heartbeat {},
    /// The space moved to another node (drain, lease lost, node stopping):
    /// the socket closes next with code 4006. Dial `url` if given,
    /// else the address used before, after `retryAfterMs`, and `join` again.
    #[serde(rename_all = "camelCase")]
    Reconnect {
        /// Why, in words, for logs and the status line; not for branching.
        reason: String,
        /// The WebSocket address of the node taking the space, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// How long to wait before dialling (e.g. until a lost lease expires and another node can take the space).
        #[serde(default)]
        retry_after_ms: u64,
    },
    /// Something the client asked for failed; the socket stays usable unless a close follows.
    Error {
        /// What went wrong, for the client to branch on.
        code: ErrorCode,
        /// The same in words, for people (logs, a status line).
        message: String,
    },
}

impl ServerMsg {
    /// Builds an `error` from any string, so callers need not spell out the struct variant.
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
