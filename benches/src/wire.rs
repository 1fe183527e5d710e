//! The server's WebSocket messages (docs/PROTOCOL.md), as the harness
//! speaks them: its own small types rather than the server's, so it drives
//! any server that speaks this protocol and keeps building while the
//! server's types move.
//!
//! Receiving is the hot path (a 500-user space delivers over a million
//! events per second), so server frames decode into borrowed views of only
//! the fields the harness reads. A `batch` frame (`{"type": "batch",
//! "payload": {"events": [...]}}`) is unpacked into its events. Frames the
//! typed decode refuses (a type this harness does not know, say) fall back
//! to a generic value and are reported by type instead of failing.

use std::borrow::Cow;

use serde::{Deserialize, Serialize, de::IgnoredAny};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::CodecArg;

pub const SUBPROTOCOL_MSGPACK: &str = "metaverse.v1.msgpack";
pub const SUBPROTOCOL_JSON: &str = "metaverse.v1.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    MsgPack,
    Json,
}

impl From<CodecArg> for Codec {
    fn from(c: CodecArg) -> Self {
        match c {
            CodecArg::Msgpack => Codec::MsgPack,
            CodecArg::Json => Codec::Json,
        }
    }
}

impl Codec {
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::MsgPack => SUBPROTOCOL_MSGPACK,
            Codec::Json => SUBPROTOCOL_JSON,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::MsgPack => "msgpack",
            Codec::Json => "json",
        }
    }

    /// One frame: MessagePack with named fields in a binary frame, or JSON
    /// in a text frame.
    pub fn encode(self, msg: &Out<'_>) -> Message {
        match self {
            // Our own types with string keys: encoding cannot fail.
            Codec::MsgPack => Message::Binary(rmp_serde::to_vec_named(msg).expect("encodable").into()),
            Codec::Json => Message::Text(serde_json::to_string(msg).expect("encodable").into()),
        }
    }
}

/// The window a `join` asks for, in tiles.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct View {
    pub width: u32,
    pub height: u32,
}

/// Client → server messages the harness sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum Out<'a> {
    #[serde(rename_all = "camelCase")]
    Join {
        space_id: &'a str,
        token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        batch: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        view: Option<View>,
    },
    Move {
        x: i32,
        y: i32,
    },
    Leave {},
    #[serde(rename_all = "camelCase")]
    ChatJoin {
        chatroom_id: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        chatroom_id: &'a str,
        content: &'a str,
        client_id: &'a str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Pos {
    pub x: i32,
    pub y: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Size {
    pub width: i32,
    pub height: i32,
}

/// Server → client messages, borrowing from the frame. Payload fields the
/// harness does not read are skipped; types it only counts keep their
/// payload unread (`IgnoredAny`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "kebab-case")]
pub enum In<'a> {
    #[serde(rename_all = "camelCase")]
    SpaceJoined {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
        spawn: Pos,
        space: Size,
    },
    Movement {
        #[serde(borrow, rename = "userId")]
        user_id: Cow<'a, str>,
        x: i32,
        y: i32,
    },
    MovementRejected {
        x: i32,
        y: i32,
    },
    #[serde(rename_all = "camelCase")]
    ChatMessage {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        content: Cow<'a, str>,
        #[serde(borrow, default)]
        client_id: Option<Cow<'a, str>>,
    },
    Error {
        #[serde(borrow)]
        code: Cow<'a, str>,
        #[serde(borrow, default)]
        message: Cow<'a, str>,
    },
    Batch {
        #[serde(borrow)]
        events: Vec<In<'a>>,
    },
    UserJoin(IgnoredAny),
    UserLeft(IgnoredAny),
    /// Someone came into view (a server with an area of interest): where
    /// they stand now, without their path.
    ViewEnter {
        #[serde(borrow, rename = "userId")]
        user_id: Cow<'a, str>,
        x: i32,
        y: i32,
    },
    ViewLeave(IgnoredAny),
    ChatJoined(IgnoredAny),
    ChatLeft(IgnoredAny),
    Proximity(IgnoredAny),
    RtcSignal(IgnoredAny),
    Heartbeat(IgnoredAny),
}

/// What a frame held, one event at a time (a batch gives each of its
/// events); `Unknown` names a type (or says why) the typed decode refused.
pub enum Event<'a> {
    Msg(In<'a>),
    /// A `movement` read by the fast path (`wire_scan`), the mover's id as
    /// the bytes on the wire: never checked as UTF-8, only compared with
    /// the ids the harness knows.
    Moved {
        user_id: &'a [u8],
        x: i32,
        y: i32,
    },
    Unknown(String),
}

/// Decodes one data frame (binary: MessagePack, text: JSON) and hands each
/// event to `f`. Returns how many events it held.
pub fn for_each_event(frame: &[u8], binary: bool, mut f: impl FnMut(Event<'_>)) -> usize {
    if binary && let Some(n) = crate::wire_scan::scan(frame, &mut f) {
        return n;
    }
    let typed: Result<In<'_>, ()> = if binary {
        rmp_serde::from_slice(frame).map_err(|_| ())
    } else {
        serde_json::from_slice(frame).map_err(|_| ())
    };
    match typed {
        Ok(msg) => deliver(msg, &mut f),
        Err(()) => {
            let value: Result<serde_json::Value, ()> = if binary {
                rmp_serde::from_slice(frame).map_err(|_| ())
            } else {
                serde_json::from_slice(frame).map_err(|_| ())
            };
            match value {
                Ok(v) => generic(&v, &mut f),
                Err(()) => {
                    f(Event::Unknown("undecodable frame".into()));
                    1
                }
            }
        }
    }
}

fn deliver<'a>(msg: In<'a>, f: &mut impl FnMut(Event<'_>)) -> usize {
    match msg {
        In::Batch { events } => events.into_iter().map(|e| deliver(e, f)).sum(),
        other => {
            f(Event::Msg(other));
            1
        }
    }
}

/// The slow path: a frame whose typed decode failed, walked as a value so
/// the events we know in it still count.
fn generic(v: &serde_json::Value, f: &mut impl FnMut(Event<'_>)) -> usize {
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if kind == "batch" {
        let Some(events) = v.get("payload").and_then(|p| p.get("events")).and_then(|e| e.as_array()) else {
            f(Event::Unknown("batch without events".into()));
            return 1;
        };
        return events.iter().map(|e| generic(e, f)).sum();
    }
    match In::deserialize(v) {
        Ok(msg) => deliver(msg, f),
        Err(_) => {
            f(Event::Unknown(if kind.is_empty() { "no type".into() } else { kind.to_owned() }));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collect(frame: &[u8], binary: bool) -> Vec<String> {
        let mut out = Vec::new();
        for_each_event(frame, binary, |e| {
            out.push(match e {
                Event::Msg(In::Movement { user_id, x, y }) => format!("move {user_id} {x} {y}"),
                Event::Moved { user_id, x, y } => format!("move {} {x} {y}", String::from_utf8_lossy(user_id)),
                Event::Msg(In::MovementRejected { x, y }) => format!("rejected {x} {y}"),
                Event::Msg(In::ChatMessage { id, client_id, .. }) => format!("chat {id} {client_id:?}"),
                Event::Msg(In::Error { code, .. }) => format!("error {code}"),
                Event::Msg(In::SpaceJoined { user_id, spawn, space }) => {
                    format!("joined {user_id} {},{} {}x{}", spawn.x, spawn.y, space.width, space.height)
                }
                Event::Msg(other) => format!("other {other:?}"),
                Event::Unknown(t) => format!("unknown {t}"),
            });
        });
        out
    }

    fn both(v: &serde_json::Value) -> [Vec<String>; 2] {
        let mp = rmp_serde::to_vec_named(v).unwrap();
        [collect(&mp, true), collect(serde_json::to_string(v).unwrap().as_bytes(), false)]
    }

    #[test]
    fn single_and_batched_events_in_both_codecs() {
        let mv = json!({"type": "movement", "payload": {"userId": "u1", "x": 3, "y": 4}});
        for got in both(&mv) {
            assert_eq!(got, ["move u1 3 4"]);
        }
        let batch = json!({"type": "batch", "payload": {"events": [
            mv,
            {"type": "movement-rejected", "payload": {"x": 1, "y": 2}},
            {"type": "user-join", "payload": {"userId": "u2", "x": 1, "y": 1, "username": "b"}},
            {"type": "chat-message", "payload": {"id": "m1", "chatroomId": "r", "userId": "u1", "username": "a",
                "content": "hi", "type": "text", "sentAt": "1", "clientId": "c1"}},
        ]}});
        for got in both(&batch) {
            assert_eq!(got[..2], ["move u1 3 4", "rejected 1 2"]);
            assert!(got[2].starts_with("other UserJoin"));
            assert_eq!(got[3], "chat m1 Some(\"c1\")");
        }
        let joined = json!({"type": "space-joined", "payload": {"userId": "me", "spawn": {"x": 5, "y": 6},
            "users": [{"userId": "u1", "x": 1, "y": 1}], "space": {"width": 40, "height": 30},
            "resumeToken": "r", "resumed": false}});
        for got in both(&joined) {
            assert_eq!(got, ["joined me 5,6 40x30"]);
        }
    }

    #[test]
    fn unknown_types_are_named_and_do_not_hide_their_neighbours() {
        let batch = json!({"type": "batch", "payload": {"events": [
            {"type": "weather", "payload": {"rain": true}},
            {"type": "movement", "payload": {"userId": "u1", "x": 3, "y": 4}},
        ]}});
        for got in both(&batch) {
            assert_eq!(got, ["unknown weather", "move u1 3 4"]);
        }
        assert_eq!(collect(b"not json", false), ["unknown undecodable frame"]);
        let err = json!({"type": "error", "payload": {"code": "rate-limited", "message": "slow down"}});
        for got in both(&err) {
            assert_eq!(got, ["error rate-limited"]);
        }
    }

    #[test]
    fn client_frames_have_the_contract_shape() {
        let join = Out::Join { space_id: "s", token: "t", batch: None, view: None };
        let Message::Text(text) = Codec::Json.encode(&join) else { panic!("json is text") };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({"type": "join", "payload": {"spaceId": "s", "token": "t"}})
        );
        let chat = Out::ChatMessage { chatroom_id: "r", content: "hi", client_id: "c" };
        let Message::Binary(bin) = Codec::MsgPack.encode(&chat) else { panic!("msgpack is binary") };
        assert_eq!(
            rmp_serde::from_slice::<serde_json::Value>(&bin).unwrap(),
            json!({"type": "chat-message", "payload": {"chatroomId": "r", "content": "hi", "clientId": "c"}})
        );
        let Message::Text(leave) = Codec::Json.encode(&Out::Leave {}) else { panic!("text") };
        assert_eq!(leave.as_str(), r#"{"type":"leave","payload":{}}"#);
        let Message::Binary(mv) = Codec::MsgPack.encode(&Out::Move { x: 1, y: 2 }) else { panic!("binary") };
        assert_eq!(
            rmp_serde::from_slice::<serde_json::Value>(&mv).unwrap(),
            json!({"type": "move", "payload": {"x": 1, "y": 2}})
        );
    }
}
