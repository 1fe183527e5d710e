//! What a session needs from the server, as traits: signing in, entering a
//! space (wherever it runs), and the chat service. The server implements
//! them over its database, cluster and chat; tests implement them in memory.

use std::{future::Future, time::Duration};

use futures_util::future::LocalBoxFuture;
use metaverse_protocol::{Codec, ErrorCode, Position, ServerMsg};

use crate::{
    SessionPort, UserId,
    space::{ChatSubscribe, ChatUnsubscribe, Leave, Move, NearbyChat, Signal},
};

/// Who a valid, unrevoked access token speaks for.
#[derive(Clone, Debug)]
pub struct Claims {
    /// Taken from the token, never from the client, so a socket cannot act as
    /// someone else.
    pub user_id: String,
    /// Carried into presence and chat without another database read.
    pub username: String,
    /// The sign-in session, so its revocation closes the socket.
    pub session_id: String,
    /// Time left before the token expires (the socket then closes).
    pub expires_in: Duration,
}

/// Why a `join`'s token was not accepted; decides whether the failure counts
/// towards closing the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Malformed, forged or expired: counts towards closing the socket.
    Invalid,
    /// Its sign-in session was revoked: counts too.
    Revoked,
    /// The check itself failed (database down): the client may retry.
    Unavailable,
}

/// Why the membership could not be recorded, so the client gets `unknown-space`
/// or a retryable `internal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnterFailure {
    /// No such space: retrying will not help.
    UnknownSpace,
    /// The database failed: the client may try again.
    Internal,
}

/// What a join needs, wherever the space runs.
#[derive(Clone, Debug)]
pub struct JoinSpec {
    /// The joining socket, so the space can tell it from older sockets of the
    /// same user.
    pub session_id: u64,
    /// Which space to join; the services find the node that runs it.
    pub space_id: String,
    /// From the verified token, so the space never trusts a client-supplied id.
    pub user: UserId,
    /// The tile to spawn on if free (the user's last position).
    pub preferred: Option<Position>,
    /// Passed on so a dropped socket's presence and missed frames can be
    /// resumed.
    pub resume_token: Option<String>,
    /// Shown to the others with the user's presence.
    pub username: String,
    /// Read once at join, so the space never awaits the database for it.
    pub avatar_id: Option<String>,
    /// The codec space events are encoded in.
    pub events: Codec,
    /// The client's choice (default: MessagePack clients batch), fixed for
    /// the link's life.
    pub batched: bool,
    /// The window the client asked for; `None`: the whole space while it
    /// is not crowded, the server's window above.
    pub view: Option<crate::world::ViewWindow>,
}

/// Why entering the space failed after the membership was recorded, each with
/// its own `error` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinFail {
    /// No free tile to spawn on; answered `busy`, so the client may try
    /// again later.
    Full,
    /// The space vanished between the membership check and the join.
    Unknown,
    /// The space is changing nodes; the client should retry after this.
    Moving(Duration),
    /// The space is not live and the user woke too many spaces lately
    /// (each stays in memory a while); retry after this.
    RateLimited(Duration),
    /// Anything else; the text goes to the client, so it must not leak
    /// internals.
    Internal(&'static str),
}

/// A session's way into a space it joined.
pub struct Entered<P> {
    /// Where the session sends its inputs, local or relayed, without knowing
    /// which.
    pub space: P,
    /// The session's end of the space's queue and close signal.
    pub port: SessionPort,
    /// The space's queue to this session, for answers that arrive later
    /// (chat acks and errors) in order with the space's own frames.
    pub tx: crate::queue::FrameTx,
}

/// An input the space could not take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The space (or the relay to it) is overloaded.
    Busy,
    /// The space is gone.
    Closed,
}

/// A refusal the client sees as `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What clients act on, so the server's own error types stay out of this
    /// crate.
    pub code: ErrorCode,
    /// For the person reading it; clients must not parse it.
    pub message: String,
}

/// A chatroom message on its way to being stored and fanned out.
#[derive(Clone, Debug)]
pub struct OutgoingChat {
    /// The sender from the session's token, never from the message.
    pub user: UserId,
    /// Stored with the message, so history needs no join to users.
    pub username: String,
    /// Checked by the chat service (length, content rules), not by the session.
    pub content: String,
    /// The `type` after `Services::check_meta` accepted it.
    pub kind: &'static str,
    /// Echoed back, so the sender can match the stored message to what it sent.
    pub client_id: Option<String>,
    /// The sender's upload to attach (`image` and `file` messages).
    pub media_id: Option<String>,
}

/// A `chat-message` as the client sent it, before any check.
#[derive(Clone, Debug)]
pub struct Draft {
    /// The text (or the caption of an attachment).
    pub content: String,
    /// `type` as sent; absent means `text`.
    pub kind: Option<String>,
    /// The sender's own id for the message.
    pub client_id: Option<String>,
    /// The upload to attach.
    pub media_id: Option<String>,
}

/// The session's handle on its space: a local actor or a relay to the
/// node that runs it.
pub trait SpacePort: 'static {
    /// Never waits: a full mailbox refuses, so the session answers `busy` at
    /// once.
    fn move_to(&self, m: Move) -> Result<(), Refused>;
    /// Has no refusal: a leave must get through even to a busy space, or the
    /// presence would linger.
    fn leave(&self, l: Leave);
    /// Never waits, like `move_to`; a refusal becomes `busy` for the caller.
    fn signal(&self, s: Signal) -> Result<(), Refused>;
    /// Never waits, like `move_to`; a refusal becomes `busy` for the sender.
    fn nearby(&self, n: NearbyChat) -> Result<(), Refused>;
    /// False when the session is no longer the member's current one.
    fn subscribe(&self, s: ChatSubscribe) -> impl Future<Output = bool>;
    /// Fire and forget; `session` names the socket when the request is
    /// relayed to another node.
    fn unsubscribe(&self, session: u64, u: ChatUnsubscribe);
}

/// Everything outside the socket and the space that a session calls.
pub trait Services: 'static {
    /// The handle `join` returns, so the server picks local or relayed
    /// without the session knowing.
    type Space: SpacePort;
    /// A chatroom as the chat service knows it.
    type Room: Clone + 'static;
    /// The chatroom id that means "whoever stands near me".
    const NEARBY: &'static str;

    /// Checked at every `join`, so a revoked or expired token cannot enter a
    /// space.
    fn authenticate(&self, token: &str) -> impl Future<Output = Result<Claims, AuthFailure>>;
    /// Whether a sign-in session is still active, for a socket that may
    /// have missed its revocation (the broadcast lagged). True when the
    /// answer is unknown (database down), so a hiccup closes nobody.
    fn still_active(&self, session_id: &str) -> impl Future<Output = bool>;
    /// Records the membership; returns the user's last position there.
    fn enter(&self, space_id: &str, user_id: &str) -> impl Future<Output = Result<Option<Position>, EnterFailure>>;
    /// Shown with the presence; `None` also when the read failed.
    fn avatar_of(&self, user_id: &str) -> impl Future<Output = Option<String>>;
    /// Enters the space wherever it runs, so the session treats local and
    /// remote spaces alike.
    fn join(&self, spec: &JoinSpec) -> impl Future<Output = Result<Entered<Self::Space>, JoinFail>>;

    /// Looks a chatroom up, so `chat-join` can check that it belongs to the
    /// joined space.
    fn room(&self, id: &str) -> impl Future<Output = Result<Self::Room, Refusal>>;
    /// The id the space keys subscriptions on, since `Room` is opaque to the
    /// session.
    fn room_id(room: &Self::Room) -> &str;
    /// The room's space, so a socket cannot subscribe to a room of another
    /// space.
    fn room_space(room: &Self::Room) -> &str;
    /// Applies the room's access rules (membership, passcode) before the
    /// session subscribes.
    fn join_room(
        &self,
        room: &Self::Room,
        user: &str,
        username: &str,
        passcode: Option<String>,
    ) -> impl Future<Output = Result<(), Refusal>>;
    /// The room's messages after `since`, oldest first, as `chat-message`s.
    fn since(
        &self,
        room: &Self::Room,
        since: &str,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<ServerMsg>, Refusal>>;
    /// Checks a message's `type`, `clientId` and `mediaId` together (an
    /// attachment needs its type); returns the stored kind.
    fn check_meta(
        &self,
        kind: Option<&str>,
        client_id: Option<&str>,
        media_id: Option<&str>,
    ) -> Result<&'static str, Refusal>;
    /// Stores and fans out a message. The future owns what it needs: the
    /// session runs it on its own task and keeps serving meanwhile.
    fn send(&self, room: Self::Room, out: OutgoingChat) -> LocalBoxFuture<'static, Result<(), Refusal>>;
    /// Checks and rate-limits a nearby message and makes it.
    fn nearby(&self, space_id: &str, out: OutgoingChat) -> Result<ServerMsg, Refusal>;
}
