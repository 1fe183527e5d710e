//! What a session needs from the server, as traits: signing in, entering a
//! space (wherever it runs), and the chat service. The server implements
//! them over its database, cluster and chat; tests implement them in memory.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use metaverse_protocol::{Codec, ErrorCode, Position, ServerMsg};
use tokio::sync::mpsc;

use crate::{
    SessionPort, UserId,
    space::{ChatSubscribe, ChatUnsubscribe, Leave, Move, NearbyChat, Signal},
};

/// Who a valid, unrevoked access token speaks for.
#[derive(Clone, Debug)]
pub struct Claims {
    pub user_id: String,
    pub username: String,
    /// The sign-in session, so its revocation closes the socket.
    pub session_id: String,
    /// Time left before the token expires (the socket then closes).
    pub expires_in: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Malformed, forged or expired: counts towards closing the socket.
    Invalid,
    /// Its sign-in session was revoked: counts too.
    Revoked,
    /// The check itself failed (database down): the client may retry.
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnterFailure {
    UnknownSpace,
    Internal,
}

/// What a join needs, wherever the space runs.
#[derive(Clone, Debug)]
pub struct JoinSpec {
    pub session_id: u64,
    pub space_id: String,
    pub user: UserId,
    /// The tile to spawn on if free (the user's last position).
    pub preferred: Option<Position>,
    pub resume_token: Option<String>,
    pub username: String,
    pub avatar_id: Option<String>,
    /// The codec space events are encoded in.
    pub events: Codec,
    pub batched: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinFail {
    Full,
    Unknown,
    /// The space is changing nodes; the client should retry after this.
    Moving(Duration),
    Internal(&'static str),
}

/// A session's way into a space it joined.
pub struct Entered<P> {
    pub space: P,
    pub port: SessionPort,
    /// The space's queue to this session, for answers that arrive later
    /// (chat acks and errors) in order with the space's own frames.
    pub tx: mpsc::Sender<Bytes>,
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
    pub code: ErrorCode,
    pub message: String,
}

/// A chatroom message on its way to being stored and fanned out.
#[derive(Clone, Debug)]
pub struct OutgoingChat {
    pub user: UserId,
    pub username: String,
    pub content: String,
    pub kind: &'static str,
    pub client_id: Option<String>,
}

/// The session's handle on its space: a local actor or a relay to the
/// node that runs it.
pub trait SpacePort: 'static {
    fn move_to(&self, m: Move) -> Result<(), Refused>;
    fn leave(&self, l: Leave);
    fn signal(&self, s: Signal) -> Result<(), Refused>;
    fn nearby(&self, n: NearbyChat) -> Result<(), Refused>;
    /// False when the session is no longer the member's current one.
    fn subscribe(&self, s: ChatSubscribe) -> impl Future<Output = bool>;
    fn unsubscribe(&self, session: u64, u: ChatUnsubscribe);
}

/// Everything outside the socket and the space that a session calls.
pub trait Services: 'static {
    type Space: SpacePort;
    /// A chatroom as the chat service knows it.
    type Room: Clone + 'static;
    /// The chatroom id that means "whoever stands near me".
    const NEARBY: &'static str;

    fn authenticate(&self, token: &str) -> impl Future<Output = Result<Claims, AuthFailure>>;
    /// Records the membership; returns the user's last position there.
    fn enter(&self, space_id: &str, user_id: &str) -> impl Future<Output = Result<Option<Position>, EnterFailure>>;
    /// Shown with the presence; `None` also when the read failed.
    fn avatar_of(&self, user_id: &str) -> impl Future<Output = Option<String>>;
    fn join(&self, spec: &JoinSpec) -> impl Future<Output = Result<Entered<Self::Space>, JoinFail>>;

    fn room(&self, id: &str) -> impl Future<Output = Result<Self::Room, Refusal>>;
    fn room_id(room: &Self::Room) -> &str;
    fn room_space(room: &Self::Room) -> &str;
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
    /// Checks a message's `type` and `clientId`; returns the stored kind.
    fn check_meta(&self, kind: Option<&str>, client_id: Option<&str>) -> Result<&'static str, Refusal>;
    /// Stores and fans out a message. The future owns what it needs: the
    /// session runs it on its own task and keeps serving meanwhile.
    fn send(&self, room: Self::Room, out: OutgoingChat) -> LocalBoxFuture<'static, Result<(), Refusal>>;
    /// Checks and rate-limits a nearby message and makes it.
    fn nearby(&self, space_id: &str, out: OutgoingChat) -> Result<ServerMsg, Refusal>;
}
