//! What a space holds of a session: a bounded outbound queue of encoded
//! frames, and a way to close the socket.

use bytes::Bytes;
use metaverse_protocol::Codec;

use crate::queue::{self, CloseRx, CloseTx, FrameRx, FrameTx, TrySendError};

/// Why the server closes a socket. Codes 4000–4499 allow reconnecting;
/// 4500–4999 are terminal (docs/PROTOCOL.md, "Close codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseReason {
    /// The WebSocket close code; clients decide from it whether to reconnect.
    pub code: u16,
    /// Close frame text, for people reading logs and dev tools, not for
    /// clients to parse.
    pub reason: &'static str,
}

impl CloseReason {
    /// The node stops; the client may reconnect (to another node behind the
    /// balancer).
    pub const SHUTDOWN: Self = Self { code: 4000, reason: "server shutting down" };
    /// Nothing arrived, not even a pong, so the peer is presumed dead and its
    /// socket freed.
    pub const IDLE: Self = Self { code: 4001, reason: "idle timeout" };
    /// The outbound queue filled; closing bounds memory, and a resume replays
    /// what was missed.
    pub const SLOW_CONSUMER: Self = Self { code: 4002, reason: "slow consumer" };
    /// The client kept sending past its rate limit after being told; retrying
    /// later is allowed.
    pub const RATE_LIMITED: Self = Self { code: 4003, reason: "rate limit exceeded" };
    /// Part of the documented table, and handled by the web client, though no
    /// server path sends it today.
    pub const SPACE_CLOSED: Self = Self { code: 4004, reason: "space closed" };
    /// The access token ran out mid-session; a fresh token lets the client
    /// join again.
    pub const TOKEN_EXPIRED: Self = Self { code: 4005, reason: "token expired; join again with a fresh token" };
    /// Cluster mode: the space moved to another node (a `reconnect`
    /// message with its route comes first).
    pub const MOVED: Self = Self { code: 4006, reason: "space moved to another node; reconnect" };
    /// No valid `join` within `--ws-join-timeout` of connecting: a socket
    /// that never authenticates only holds memory and a file descriptor.
    pub const JOIN_TIMEOUT: Self = Self { code: 4007, reason: "no valid join in time" };
    /// Too many failed `join`s on one socket; retrying with the same token
    /// would only fail again.
    pub const AUTH_FAILED: Self = Self { code: 4501, reason: "authentication failed repeatedly" };
    /// Too many undecodable frames in a row: the client is broken, so
    /// reconnecting will not help.
    pub const PROTOCOL: Self = Self { code: 4502, reason: "protocol violation" };
    /// The sign-in session behind the token was revoked, so the client must
    /// sign in again.
    pub const REVOKED: Self = Self { code: 4503, reason: "sign-in session revoked" };
    /// The space no longer exists, so reconnecting to it cannot succeed.
    pub const SPACE_DELETED: Self = Self { code: 4504, reason: "space deleted" };
    /// A newer socket of the same user took the presence; terminal so the two
    /// do not fight over it.
    pub const REPLACED: Self = Self { code: 4509, reason: "session replaced by a newer connection" };

    /// Every reason, so a code that crossed a wire (another node, a log)
    /// maps back to the one table above.
    pub const ALL: &[CloseReason] = &[
        Self::SHUTDOWN,
        Self::IDLE,
        Self::SLOW_CONSUMER,
        Self::RATE_LIMITED,
        Self::SPACE_CLOSED,
        Self::TOKEN_EXPIRED,
        Self::MOVED,
        Self::JOIN_TIMEOUT,
        Self::AUTH_FAILED,
        Self::PROTOCOL,
        Self::REVOKED,
        Self::SPACE_DELETED,
        Self::REPLACED,
    ];

    /// Recovers the reason for a code relayed from another node, `None` for a
    /// code this build does not know.
    pub fn from_code(code: u16) -> Option<CloseReason> {
        Self::ALL.iter().copied().find(|r| r.code == code)
    }
}

/// The space's end of one session. Frames are already encoded in `codec`;
/// the same `Bytes` go to every recipient with that codec.
pub struct SessionLink {
    /// Unique per socket, so a stale message from an old socket of the same
    /// user is recognised and ignored.
    pub session_id: u64,
    /// The encoding this session reads, so the space picks the frame encoded
    /// for it.
    pub codec: Codec,
    /// The session takes one `batch` frame per tick instead of one frame
    /// per world event.
    pub batched: bool,
    /// The window the client asked for in `join`; `None`: the space
    /// decides (the whole space while it is not crowded).
    pub view: Option<crate::world::ViewWindow>,
    /// Bounded so a client that does not read cannot grow server memory; see
    /// [`SessionLink::offer`].
    pub tx: FrameTx,
    /// Beside the queue so a close reaches the session even when the queue
    /// is full.
    pub close: CloseTx,
}

/// The session's end.
pub struct SessionPort {
    /// Frames the session writes to its socket, already encoded in the link's
    /// codec.
    pub rx: FrameRx,
    /// Tells the session which close code to send when the space ends it.
    pub close: CloseRx,
}

/// A linked pair with an outbound queue of `capacity` frames.
pub fn link(session_id: u64, codec: Codec, capacity: usize) -> (SessionLink, SessionPort) {
    let (tx, close_tx, rx, close_rx) = queue::queue(capacity);
    (
        SessionLink { session_id, codec, batched: false, view: None, tx, close: close_tx },
        SessionPort { rx, close: close_rx },
    )
}

/// Outcome of offering a frame to a session; a refused frame comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued; the space has nothing more to do for this frame.
    Sent,
    /// The queue is full: the client does not keep up.
    Full(Bytes),
    /// The session is gone.
    Gone(Bytes),
}

impl SessionLink {
    /// Set at join from the client's request, after [`link`] made the pair.
    pub fn batched(mut self, on: bool) -> Self {
        self.batched = on;
        self
    }

    /// Set at join from the client's request, after [`link`] made the pair.
    pub fn view(mut self, asked: Option<crate::world::ViewWindow>) -> Self {
        self.view = asked;
        self
    }

    /// Never waits, so one slow client cannot stall the space's tick; the
    /// caller decides what a refusal means.
    pub fn offer(&self, frame: Bytes) -> Offer {
        match self.tx.try_send(frame) {
            Ok(()) => Offer::Sent,
            Err(TrySendError::Full(f)) => Offer::Full(f),
            Err(TrySendError::Closed(f)) => Offer::Gone(f),
        }
    }

    /// Ends the session with `reason`; the latest reason wins, and the session
    /// writes what is queued (up to one batch) before closing, so a notice sent
    /// just before still arrives.
    pub fn close(&self, reason: CloseReason) {
        self.close.close(reason);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_close_code_round_trips_and_is_unique() {
        let mut codes = HashSet::new();
        for r in CloseReason::ALL {
            assert!(codes.insert(r.code), "code {} is used twice", r.code);
            assert_eq!(CloseReason::from_code(r.code), Some(*r));
            assert!((4000..5000).contains(&r.code), "{} is outside the application range", r.code);
        }
        assert_eq!(CloseReason::from_code(1), None);
        assert_eq!(CloseReason::from_code(4999), None);
    }
}
