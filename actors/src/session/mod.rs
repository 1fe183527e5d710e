//! One task per socket: decode and check client frames, forward them to the
//! space, and write the space's frames out, several per flush.
//!
//! A session is a task with one `select!` loop rather than an actix actor:
//! the socket, the outbound queue and the timers are all futures, and a
//! loop over them gives backpressure and ordering without another mailbox.
//! It reads and writes [`Frame`]s and reaches the rest of the server through
//! [`Services`], so the WebSocket listener and a test's channels drive the
//! same code.

mod chat;
mod dispatch;
mod frame;
mod join;
mod leave;
mod limits;
mod movement;
mod output;
mod outside;
mod recheck;
mod rtc;
mod run;
mod services;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use futures_util::{Sink, Stream};
use metaverse_protocol::Codec;
use tokio::sync::{broadcast, watch};

use crate::{CloseReason, SessionPort, UserId};
pub use frame::{Frame, Text};
pub use limits::{MAX_AUTH_FAILURES, MAX_BAD_FRAMES, REPLAYS_PER_MINUTE, SessionLimits};
pub use output::{MAX_BATCH, WRITE_TIMEOUT};
pub use recheck::RECHECK_AFTER;
pub use rtc::MAX_SIGNAL_BYTES;
pub use run::CLOSE_DRAIN;
pub use services::{
    AuthFailure, Claims, Draft, EnterFailure, Entered, JoinFail, JoinSpec, OutgoingChat, Refusal, Refused, Services,
    SpacePort,
};

/// What one session starts with.
pub struct SessionSetup<S> {
    /// Unique per socket (and across nodes in cluster mode).
    pub id: u64,
    /// Everything the session needs from the server, behind a trait so tests
    /// can fake it.
    pub services: S,
    /// Abuse limits, from the server's flags, so tests can tighten them.
    pub limits: SessionLimits,
    /// The codec the subprotocol named, if any: space events use it even
    /// when a frame arrives in the other encoding.
    pub negotiated: Option<Codec>,
    /// Flips to true on shutdown; the session closes with 4000.
    pub shutdown: watch::Receiver<bool>,
    /// Revoked sign-in sessions; the one this socket joined with closes it.
    pub revoked: broadcast::Receiver<String>,
}

/// Serves one connection until either side closes it. On return the
/// session has left its space (holding its presence for a resume unless
/// the client said `leave`).
pub async fn serve<I, E, S>(io: I, setup: SessionSetup<S>)
where
    I: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin,
    E: std::fmt::Display,
    S: Services,
{
    Session::new(setup).run(io).await;
}

struct Joined<S: Services> {
    space: S::Space,
    space_id: String,
    user: UserId,
    username: String,
    codec: Codec,
    port: SessionPort,
    /// Our own queue, for answers that arrive later (chat acks and errors).
    tx: crate::queue::FrameTx,
    /// Chatrooms this socket subscribed to in the space.
    rooms: HashMap<String, S::Room>,
}

struct Session<S: Services> {
    id: u64,
    services: S,
    limits: SessionLimits,
    /// The sign-in session and expiry of the token that joined, so a
    /// revocation or expiry closes the socket too.
    auth: Option<(String, tokio::time::Instant)>,
    /// When the sign-in session was last found active (at join, or by a
    /// re-check before a message that speaks for the user).
    checked_at: tokio::time::Instant,
    /// Until a `join` authenticates, the socket must do so by then.
    join_by: tokio::time::Instant,
    /// Taken by the loop, which waits on them across its turns.
    outside: Option<outside::Receivers>,
    negotiated: Option<Codec>,
    joined: Option<Joined<S>>,
    guard: limits::Guard,
    /// Set when a write failed or timed out: the peer is presumed gone and
    /// the loop ends before it reads or writes again, so a client that stops
    /// reading costs one write timeout, not one per reply.
    broken: std::cell::Cell<bool>,
}

enum Step {
    Continue,
    Close(CloseReason),
    /// The client sent a close frame; the transport queued the reply.
    PeerClosed,
}

impl<S: Services> Session<S> {
    fn new(setup: SessionSetup<S>) -> Self {
        Self {
            id: setup.id,
            services: setup.services,
            guard: limits::Guard::new(&setup.limits),
            join_by: tokio::time::Instant::now() + setup.limits.join_timeout,
            limits: setup.limits,
            auth: None,
            checked_at: tokio::time::Instant::now(),
            outside: Some(outside::Receivers { shutdown: setup.shutdown, revoked: setup.revoked }),
            negotiated: setup.negotiated,
            joined: None,
            broken: std::cell::Cell::new(false),
        }
    }
}
