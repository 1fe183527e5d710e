use serde::{Deserialize, Serialize};

/// A tile coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Messages a client sends. The serde attributes produce the envelope:
/// `type` names the variant, `payload` holds its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum ClientMsg {
    #[serde(rename_all = "camelCase")]
    Join {
        space_id: String,
        token: String,
    },
    Move {
        x: i32,
        y: i32,
    },
    Leave {},
    Heartbeat {},
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum ServerMsg {
    #[serde(rename_all = "camelCase")]
    SpaceJoined {
        user_id: String,
        spawn: Position,
        users: Vec<UserPosition>,
        space: SpaceSize,
    },
    #[serde(rename_all = "camelCase")]
    UserJoin {
        user_id: String,
        x: i32,
        y: i32,
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
    Heartbeat {},
    Error {
        code: crate::ErrorCode,
        message: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSize {
    pub width: i32,
    pub height: i32,
}
