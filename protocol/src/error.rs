//! The codes of the WebSocket `error` message, shared by every server node
//! and client so both sides agree on their spelling.

use serde::{Deserialize, Serialize};

/// Machine-readable codes carried by the WebSocket `error` message (and
/// mirrored by the HTTP error shape), so clients branch on a code, not on
/// prose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The frame could not be decoded as a message.
    Malformed,
    /// The frame is larger than the limit.
    TooLarge,
    /// The `type` is not one this server knows.
    UnknownType,
    /// A message other than `join` arrived before `join`.
    NotJoined,
    /// The token is missing, malformed, expired or revoked.
    Unauthorized,
    /// The space does not exist.
    UnknownSpace,
    /// Too many messages; slow down.
    RateLimited,
    /// Chat is temporarily unavailable (the durable store is not answering).
    ChatUnavailable,
    /// Another socket of the same user took over this session.
    SessionReplaced,
    /// A field's value is not acceptable (e.g. empty chat content).
    Invalid,
    /// The chatroom does not exist (or is not in your space).
    UnknownChatroom,
    /// The user is not a member of the chatroom (or gave a wrong passcode).
    Forbidden,
    /// The space is being shut down or was deleted.
    SpaceClosed,
    /// The server is overloaded for this space; try again.
    Busy,
    /// The feature is not served by this server yet.
    Unsupported,
    /// A call signal to someone who is not nearby (or in your group).
    NotNearby,
    /// Cluster mode: the space is moving between nodes; join again soon.
    SpaceMoving,
    /// Anything else the server could not do.
    Internal,
}
