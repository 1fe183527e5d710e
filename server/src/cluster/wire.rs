//! What nodes say to each other over Redis pub/sub. Each node listens on
//! its own channel; one published message is a packet of envelopes, so a
//! tick's frames for many relayed sessions cost one publish, and a frame
//! shared by several of them travels once.

use metaverse_actors::space::Present;
use metaverse_protocol::{Position, RtcKind, ServerMsg};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Largest packet accepted from the channel; anything bigger is refused.
pub const MAX_PACKET: usize = 8 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Envelope {
    // From a session's node to the space's owner.
    Join {
        req: u64,
        from: String,
        session: u64,
        space: String,
        user: String,
        msgpack: bool,
        batched: bool,
        /// The window the client asked for (width, height); absent from
        /// nodes older than the field.
        #[serde(default)]
        view: Option<(i32, i32)>,
        preferred: Option<Position>,
        resume_token: Option<String>,
        username: Option<String>,
        avatar_id: Option<String>,
        queue: u32,
    },
    Move {
        session: u64,
        x: i32,
        y: i32,
    },
    Leave {
        session: u64,
        dropped: bool,
        unsent: Vec<ByteBuf>,
    },
    Signal {
        session: u64,
        to: String,
        kind: RtcKind,
        /// JSON text: MessagePack has no lossless home for every JSON value.
        data: String,
    },
    Nearby {
        session: u64,
        msg: ServerMsg,
    },
    Subscribe {
        req: u64,
        from: String,
        session: u64,
        room: String,
    },
    Unsubscribe {
        session: u64,
        room: String,
    },
    // From any node to the owner.
    Chat {
        space: String,
        room: String,
        msg: ServerMsg,
    },
    Statics {
        space: String,
    },
    Close {
        space: String,
        code: u16,
    },
    Presence {
        req: u64,
        from: String,
        space: String,
        /// Whose view window applies (absent from older nodes: everyone).
        #[serde(default)]
        viewer: Option<String>,
    },
    /// Start this space (a draining node hands it over).
    Adopt {
        space: String,
    },
    /// From `metaverse cluster drain`.
    Drain {},
    /// A sign-in session was revoked: close its sockets here too.
    Revoked {
        session: String,
    },
    // From the owner back to a session's node.
    Reply {
        req: u64,
        answer: Answer,
    },
    /// Frames for relayed sessions: `to` pairs a session with an index
    /// into `frames`.
    Frames {
        frames: Vec<ByteBuf>,
        to: Vec<(u64, u32)>,
    },
    Closed {
        session: u64,
        code: u16,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "a", rename_all = "kebab-case")]
pub enum Answer {
    Joined,
    /// No free tile.
    Full,
    /// This node does not own the space (any more): ask again.
    NotOwner,
    Failed {
        message: String,
    },
    Subscribed {
        ok: bool,
    },
    Presence {
        users: Vec<Present>,
    },
}

pub fn encode(packet: &[Envelope]) -> Option<Vec<u8>> {
    rmp_serde::to_vec_named(packet).ok()
}

pub fn decode(bytes: &[u8]) -> Option<Vec<Envelope>> {
    if bytes.len() > MAX_PACKET {
        return None;
    }
    rmp_serde::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_roundtrip_and_junk_is_refused() {
        let packet = vec![
            Envelope::Move { session: 7, x: 1, y: 2 },
            Envelope::Frames { frames: vec![ByteBuf::from(vec![1, 2, 3])], to: vec![(7, 0), (8, 0)] },
            Envelope::Chat {
                space: "s".into(),
                room: "r".into(),
                msg: ServerMsg::Reconnect { reason: "x".into(), url: None, retry_after_ms: 5 },
            },
            Envelope::Reply { req: 1, answer: Answer::Subscribed { ok: true } },
        ];
        let bytes = encode(&packet).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 4);
        assert!(matches!(back[1], Envelope::Frames { ref to, .. } if to.len() == 2));
        assert!(decode(b"\x93junk").is_none());
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
