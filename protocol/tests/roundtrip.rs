//! Every message of the contract's WebSocket tables round-trips through both
//! codecs, and its JSON (and MessagePack) has exactly the contract's shape.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use metaverse_protocol::{
    ClientMsg, Codec, ErrorCode, MAX_FRAME_BYTES, Position, ServerMsg, SpaceSize, UserPosition, ViewSize,
};
use serde_json::{Value, json};

const CODECS: [Codec; 2] = [Codec::MsgPack, Codec::Json];

/// One value of every `ClientMsg` variant, with and without its optional
/// fields.
fn client_msgs() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Join {
            space_id: "space-1".into(),
            token: "tok".into(),
            resume_token: None,
            batch: None,
            view: None,
        },
        ClientMsg::Join {
            space_id: "space-1".into(),
            token: "tok".into(),
            resume_token: Some("resume-1".into()),
            batch: Some(true),
            view: Some(ViewSize { width: 40, height: 30 }),
        },
        ClientMsg::Move { x: 3, y: -4 },
        ClientMsg::Move { x: i32::MAX, y: i32::MIN },
        ClientMsg::Leave {},
        ClientMsg::ChatJoin { chatroom_id: "room-1".into(), passcode: None, since: None },
        ClientMsg::ChatJoin {
            chatroom_id: "room-1".into(),
            passcode: Some("secret".into()),
            since: Some("msg-9".into()),
        },
        ClientMsg::ChatLeave { chatroom_id: "room-1".into() },
        ClientMsg::ChatMessage {
            chatroom_id: "room-1".into(),
            content: "hello".into(),
            kind: None,
            client_id: None,
            media_id: None,
        },
        ClientMsg::ChatMessage {
            chatroom_id: "room-1".into(),
            content: "héllo \u{1F600} \"quoted\"\n".into(),
            kind: Some("text".into()),
            client_id: Some("c-1".into()),
            media_id: None,
        },
        ClientMsg::ChatMessage {
            chatroom_id: "room-1".into(),
            content: String::new(),
            kind: Some("image".into()),
            client_id: None,
            media_id: Some("01J-media".into()),
        },
        ClientMsg::RtcSignal {
            to: "u2".into(),
            kind: metaverse_protocol::RtcKind::Offer,
            data: serde_json::json!({"type": "offer", "sdp": "v=0\r\n", "nested": [1, -25, null, true]}),
        },
        ClientMsg::Heartbeat {},
    ]
}

/// One value of every `ServerMsg` variant.
fn server_msgs() -> Vec<ServerMsg> {
    let mut msgs = vec![
        ServerMsg::SpaceJoined {
            user_id: "u1".into(),
            spawn: Position { x: 1, y: 2 },
            users: vec![],
            space: SpaceSize { width: 10, height: 20 },
            resume_token: "r1".into(),
            resumed: false,
        },
        ServerMsg::SpaceJoined {
            user_id: "u1".into(),
            spawn: Position { x: 1, y: 2 },
            users: vec![
                UserPosition { user_id: "u2".into(), x: 3, y: 4, username: Some("bo".into()), avatar_id: None },
                UserPosition { user_id: "u3".into(), x: 5, y: 6, username: None, avatar_id: Some("a1".into()) },
            ],
            space: SpaceSize { width: 10, height: 20 },
            resume_token: "r1".into(),
            resumed: true,
        },
        ServerMsg::UserJoin { user_id: "u2".into(), x: 3, y: 4, username: Some("bo".into()), avatar_id: None },
        ServerMsg::Movement { user_id: "u2".into(), x: 4, y: 4 },
        ServerMsg::Proximity { nearby: vec!["u2".into(), "u3".into()], group: Some("u1".into()), radius: 3 },
        ServerMsg::Proximity { nearby: vec![], group: None, radius: 0 },
        ServerMsg::RtcSignal {
            from: "u2".into(),
            kind: metaverse_protocol::RtcKind::Ice,
            data: serde_json::json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMLineIndex": 0}),
        },
        ServerMsg::RtcSignal {
            from: "u2".into(),
            kind: metaverse_protocol::RtcKind::Hangup,
            data: serde_json::Value::Null,
        },
        ServerMsg::MovementRejected { x: 3, y: 4 },
        ServerMsg::UserLeft { user_id: "u2".into() },
        ServerMsg::ViewEnter { user_id: "u3".into(), x: 4, y: 5, username: Some("ada".into()), avatar_id: None },
        ServerMsg::ViewLeave { user_id: "u3".into() },
        ServerMsg::Batch {
            events: vec![
                ServerMsg::Movement { user_id: "u1".into(), x: 1, y: 2 },
                ServerMsg::ViewLeave { user_id: "u3".into() },
            ],
        },
        ServerMsg::ChatJoined { chatroom_id: "room-1".into() },
        ServerMsg::ChatLeft { chatroom_id: "room-1".into() },
        ServerMsg::ChatMessage {
            id: "m1".into(),
            chatroom_id: "room-1".into(),
            user_id: "u1".into(),
            username: "alice".into(),
            content: "hi".into(),
            kind: "text".into(),
            sent_at: "2024-01-02T03:04:05Z".into(),
            client_id: None,
            attachment: None,
        },
        ServerMsg::ChatMessage {
            id: "m2".into(),
            chatroom_id: "room-1".into(),
            user_id: "u1".into(),
            username: "alice".into(),
            content: "hi again".into(),
            kind: "text".into(),
            sent_at: "2024-01-02T03:04:06Z".into(),
            client_id: Some("c-7".into()),
            attachment: Some(Box::new(metaverse_protocol::Attachment {
                media_id: "01J-media".into(),
                url: "/api/v1/media/01J-media".into(),
                thumbnail_url: Some("/api/v1/media/01J-media/thumbnail".into()),
                content_type: "image/png".into(),
                size: 1234,
                width: Some(640),
                height: Some(480),
                name: "cat.png".into(),
            })),
        },
        ServerMsg::Heartbeat {},
        ServerMsg::Reconnect { reason: "draining".into(), url: Some("ws://b:3001".into()), retry_after_ms: 0 },
        ServerMsg::Reconnect { reason: "lease lost".into(), url: None, retry_after_ms: 10_000 },
    ];
    for code in all_error_codes() {
        msgs.push(ServerMsg::error(code, format!("{code:?}")));
    }
    msgs
}

fn all_error_codes() -> Vec<ErrorCode> {
    use ErrorCode::*;
    // Exhaustive on purpose: a new code fails to compile here until added.
    let all = [
        Malformed,
        TooLarge,
        UnknownType,
        NotJoined,
        Unauthorized,
        UnknownSpace,
        RateLimited,
        ChatUnavailable,
        SessionReplaced,
        Forbidden,
        SpaceClosed,
        Busy,
        Unsupported,
        Invalid,
        UnknownChatroom,
        NotNearby,
        SpaceMoving,
        Internal,
    ];
    for c in all {
        match c {
            Malformed | TooLarge | UnknownType | NotJoined | Unauthorized | UnknownSpace | RateLimited
            | ChatUnavailable | SessionReplaced | Forbidden | SpaceClosed | Busy | Unsupported | Invalid
            | UnknownChatroom | NotNearby | SpaceMoving | Internal => {}
        }
    }
    all.to_vec()
}

/// Makes sure the sample lists above cover every variant: adding a variant
/// makes these matches non-exhaustive and the test fails to compile.
#[test]
fn samples_cover_every_variant() {
    let mut client_seen = std::collections::BTreeSet::new();
    for m in client_msgs() {
        let name = match &m {
            ClientMsg::Join { .. } => "join",
            ClientMsg::Move { .. } => "move",
            ClientMsg::Leave {} => "leave",
            ClientMsg::ChatJoin { .. } => "chat-join",
            ClientMsg::ChatLeave { .. } => "chat-leave",
            ClientMsg::ChatMessage { .. } => "chat-message",
            ClientMsg::RtcSignal { .. } => "rtc-signal",
            ClientMsg::Heartbeat {} => "heartbeat",
        };
        assert_eq!(name, m.type_name());
        client_seen.insert(name);
    }
    assert_eq!(client_seen.len(), 8);
    let known: std::collections::BTreeSet<&str> = metaverse_protocol::CLIENT_TYPES.iter().copied().collect();
    assert_eq!(client_seen, known, "CLIENT_TYPES lists every client type");

    let mut server_seen = std::collections::BTreeSet::new();
    for m in server_msgs() {
        let name = match &m {
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
        };
        assert_eq!(name, m.type_name());
        server_seen.insert(name);
    }
    assert_eq!(server_seen.len(), 16);
}

fn json_of<T: serde::Serialize>(msg: &T) -> Value {
    let bytes = Codec::Json.encode(msg).expect("encode json");
    serde_json::from_slice(&bytes).expect("json codec output is JSON")
}

#[test]
fn every_client_msg_round_trips_in_both_codecs() {
    for codec in CODECS {
        for msg in client_msgs() {
            let bytes = codec.encode(&msg).expect("encode");
            let back: ClientMsg = codec.decode(&bytes, MAX_FRAME_BYTES).unwrap_or_else(|e| {
                panic!("{codec:?} failed to decode {msg:?}: {e}");
            });
            assert_eq!(back, msg, "{codec:?}");
            let back = codec
                .decode_client(&bytes, MAX_FRAME_BYTES)
                .unwrap_or_else(|e| panic!("{codec:?} decode_client {msg:?}: {e}"));
            assert_eq!(back, msg, "{codec:?} decode_client");
        }
    }
}

#[test]
fn every_server_msg_round_trips_in_both_codecs() {
    for codec in CODECS {
        for msg in server_msgs() {
            let bytes = codec.encode(&msg).expect("encode");
            let back: ServerMsg = codec.decode(&bytes, MAX_FRAME_BYTES).unwrap_or_else(|e| {
                panic!("{codec:?} failed to decode {msg:?}: {e}");
            });
            assert_eq!(back, msg, "{codec:?}");
        }
    }
}

#[test]
fn every_message_is_a_type_and_payload_envelope() {
    let envelopes = client_msgs()
        .iter()
        .map(|m| (m.type_name(), json_of(m)))
        .chain(server_msgs().iter().map(|m| (m.type_name(), json_of(m))))
        .collect::<Vec<_>>();
    for (name, v) in envelopes {
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["payload", "type"], "{v}");
        assert_eq!(obj["type"], name, "{v}");
        assert!(obj["payload"].is_object(), "payload is an object: {v}");
    }
}

#[test]
fn client_json_has_the_contract_shape() {
    let cases = [
        (
            ClientMsg::Join { space_id: "s1".into(), token: "t".into(), resume_token: None, batch: None, view: None },
            json!({"type": "join", "payload": {"spaceId": "s1", "token": "t"}}),
        ),
        (
            ClientMsg::Join {
                space_id: "s1".into(),
                token: "t".into(),
                resume_token: Some("r".into()),
                batch: None,
                view: None,
            },
            json!({"type": "join", "payload": {"spaceId": "s1", "token": "t", "resumeToken": "r"}}),
        ),
        (ClientMsg::Move { x: 1, y: 2 }, json!({"type": "move", "payload": {"x": 1, "y": 2}})),
        (ClientMsg::Leave {}, json!({"type": "leave", "payload": {}})),
        (
            ClientMsg::ChatJoin { chatroom_id: "c1".into(), passcode: None, since: None },
            json!({"type": "chat-join", "payload": {"chatroomId": "c1"}}),
        ),
        (
            ClientMsg::ChatJoin { chatroom_id: "c1".into(), passcode: Some("pw".into()), since: Some("m5".into()) },
            json!({"type": "chat-join", "payload": {"chatroomId": "c1", "passcode": "pw", "since": "m5"}}),
        ),
        (
            ClientMsg::ChatLeave { chatroom_id: "c1".into() },
            json!({"type": "chat-leave", "payload": {"chatroomId": "c1"}}),
        ),
        (
            ClientMsg::ChatMessage {
                chatroom_id: "c1".into(),
                content: "hi".into(),
                kind: None,
                client_id: None,
                media_id: None,
            },
            json!({"type": "chat-message", "payload": {"chatroomId": "c1", "content": "hi"}}),
        ),
        (
            ClientMsg::ChatMessage {
                chatroom_id: "c1".into(),
                content: "hi".into(),
                kind: Some("text".into()),
                client_id: Some("k1".into()),
                media_id: None,
            },
            json!({"type": "chat-message", "payload": {
                "chatroomId": "c1", "content": "hi", "type": "text", "clientId": "k1"
            }}),
        ),
        (ClientMsg::Heartbeat {}, json!({"type": "heartbeat", "payload": {}})),
    ];
    for (msg, expected) in cases {
        assert_eq!(json_of(&msg), expected, "{msg:?}");
        // And the contract's JSON decodes to the message, in both codecs.
        let from_json: ClientMsg =
            Codec::Json.decode(&serde_json::to_vec(&expected).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(from_json, msg);
        let from_msgpack: ClientMsg =
            Codec::MsgPack.decode(&rmp_serde::to_vec_named(&expected).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(from_msgpack, msg);
    }
}

#[test]
fn server_json_has_the_contract_shape() {
    let cases = [
        (
            ServerMsg::SpaceJoined {
                user_id: "u1".into(),
                spawn: Position { x: 1, y: 2 },
                users: vec![UserPosition { user_id: "u2".into(), x: 3, y: 4, username: None, avatar_id: None }],
                space: SpaceSize { width: 10, height: 20 },
                resume_token: "r1".into(),
                resumed: false,
            },
            json!({"type": "space-joined", "payload": {
                "userId": "u1",
                "spawn": {"x": 1, "y": 2},
                "users": [{"userId": "u2", "x": 3, "y": 4}],
                "space": {"width": 10, "height": 20},
                "resumeToken": "r1",
                "resumed": false
            }}),
        ),
        (
            ServerMsg::UserJoin { user_id: "u2".into(), x: 3, y: 4, username: None, avatar_id: None },
            json!({"type": "user-join", "payload": {"userId": "u2", "x": 3, "y": 4}}),
        ),
        (
            ServerMsg::Movement { user_id: "u2".into(), x: 4, y: 4 },
            json!({"type": "movement", "payload": {"userId": "u2", "x": 4, "y": 4}}),
        ),
        (ServerMsg::MovementRejected { x: 3, y: 4 }, json!({"type": "movement-rejected", "payload": {"x": 3, "y": 4}})),
        (ServerMsg::UserLeft { user_id: "u2".into() }, json!({"type": "user-left", "payload": {"userId": "u2"}})),
        (
            ServerMsg::ViewEnter { user_id: "u3".into(), x: 4, y: 5, username: None, avatar_id: Some("a1".into()) },
            json!({"type": "view-enter", "payload": {"userId": "u3", "x": 4, "y": 5, "avatarId": "a1"}}),
        ),
        (ServerMsg::ViewLeave { user_id: "u3".into() }, json!({"type": "view-leave", "payload": {"userId": "u3"}})),
        (
            ServerMsg::Batch { events: vec![ServerMsg::ViewLeave { user_id: "u3".into() }] },
            json!({"type": "batch", "payload": {"events": [{"type": "view-leave", "payload": {"userId": "u3"}}]}}),
        ),
        (
            ServerMsg::ChatJoined { chatroom_id: "c1".into() },
            json!({"type": "chat-joined", "payload": {"chatroomId": "c1"}}),
        ),
        (
            ServerMsg::ChatLeft { chatroom_id: "c1".into() },
            json!({"type": "chat-left", "payload": {"chatroomId": "c1"}}),
        ),
        (
            ServerMsg::ChatMessage {
                id: "m1".into(),
                chatroom_id: "c1".into(),
                user_id: "u1".into(),
                username: "alice".into(),
                content: "hi".into(),
                kind: "text".into(),
                sent_at: "2024-01-02T03:04:05Z".into(),
                client_id: None,
                attachment: None,
            },
            json!({"type": "chat-message", "payload": {
                "id": "m1", "chatroomId": "c1", "userId": "u1", "username": "alice",
                "content": "hi", "type": "text", "sentAt": "2024-01-02T03:04:05Z"
            }}),
        ),
        (
            ServerMsg::ChatMessage {
                id: "m1".into(),
                chatroom_id: "c1".into(),
                user_id: "u1".into(),
                username: "alice".into(),
                content: "hi".into(),
                kind: "text".into(),
                sent_at: "2024-01-02T03:04:05Z".into(),
                client_id: Some("k1".into()),
                attachment: None,
            },
            json!({"type": "chat-message", "payload": {
                "id": "m1", "chatroomId": "c1", "userId": "u1", "username": "alice",
                "content": "hi", "type": "text", "sentAt": "2024-01-02T03:04:05Z",
                "clientId": "k1"
            }}),
        ),
        (ServerMsg::Heartbeat {}, json!({"type": "heartbeat", "payload": {}})),
        (
            ServerMsg::Reconnect { reason: "draining".into(), url: Some("ws://b:3001".into()), retry_after_ms: 0 },
            json!({"type": "reconnect", "payload": {"reason": "draining", "url": "ws://b:3001", "retryAfterMs": 0}}),
        ),
        (
            ServerMsg::error(ErrorCode::NotJoined, "join first"),
            json!({"type": "error", "payload": {"code": "not-joined", "message": "join first"}}),
        ),
        (
            ServerMsg::error(ErrorCode::RateLimited, "slow down"),
            json!({"type": "error", "payload": {"code": "rate-limited", "message": "slow down"}}),
        ),
    ];
    for (msg, expected) in cases {
        assert_eq!(json_of(&msg), expected, "{msg:?}");
        let back: ServerMsg = Codec::Json.decode(&serde_json::to_vec(&expected).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn error_codes_are_kebab_case() {
    let expected = [
        "malformed",
        "too-large",
        "unknown-type",
        "not-joined",
        "unauthorized",
        "unknown-space",
        "rate-limited",
        "chat-unavailable",
        "session-replaced",
        "forbidden",
        "space-closed",
        "busy",
        "unsupported",
        "invalid",
        "unknown-chatroom",
        "not-nearby",
        "space-moving",
        "internal",
    ];
    let codes = all_error_codes();
    assert_eq!(codes.len(), expected.len());
    for (code, name) in codes.into_iter().zip(expected) {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
    }
}

#[test]
fn resumed_defaults_to_false_when_absent() {
    let frame = json!({"type": "space-joined", "payload": {
        "userId": "u1",
        "spawn": {"x": 0, "y": 0},
        "users": [],
        "space": {"width": 1, "height": 1},
        "resumeToken": "r"
    }});
    let msg: ServerMsg = Codec::Json.decode(&serde_json::to_vec(&frame).unwrap(), MAX_FRAME_BYTES).unwrap();
    assert!(matches!(msg, ServerMsg::SpaceJoined { resumed: false, .. }));
}

/// Converts a raw MessagePack value to JSON, insisting that every map key
/// is a string (rmp-serde's `to_vec`, unlike `to_vec_named`, would have
/// made structs into arrays; integer keys would not be JSON either).
fn raw_to_json(v: &rmpv_like::Value) -> Value {
    use rmpv_like::Value as Raw;
    match v {
        Raw::Nil => Value::Null,
        Raw::Bool(b) => Value::Bool(*b),
        Raw::Int(i) => json!(i),
        Raw::Str(s) => Value::String(s.clone()),
        Raw::Array(items) => Value::Array(items.iter().map(raw_to_json).collect()),
        Raw::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, val)| match k {
                    Raw::Str(k) => (k.clone(), raw_to_json(val)),
                    other => panic!("map key {other:?} is not a string"),
                })
                .collect(),
        ),
    }
}

/// A tiny MessagePack reader, just enough to see the raw structure (map vs
/// array, key types) of our own frames without another dependency.
mod rmpv_like {
    #[derive(Debug)]
    pub enum Value {
        Nil,
        Bool(bool),
        Int(i64),
        Str(String),
        Array(Vec<Value>),
        Map(Vec<(Value, Value)>),
    }

    pub fn parse(bytes: &[u8]) -> Value {
        let mut pos = 0;
        let v = read(bytes, &mut pos);
        assert_eq!(pos, bytes.len(), "trailing bytes");
        v
    }

    fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> &'a [u8] {
        let s = &b[*pos..*pos + n];
        *pos += n;
        s
    }

    fn be(b: &[u8]) -> u64 {
        b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
    }

    fn read(b: &[u8], pos: &mut usize) -> Value {
        let tag = take(b, pos, 1)[0];
        match tag {
            0x00..=0x7f => Value::Int(i64::from(tag)),
            0xe0..=0xff => Value::Int(i64::from(tag.cast_signed())),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcc => Value::Int(i64::try_from(be(take(b, pos, 1))).unwrap()),
            0xcd => Value::Int(i64::try_from(be(take(b, pos, 2))).unwrap()),
            0xce => Value::Int(i64::try_from(be(take(b, pos, 4))).unwrap()),
            // Above i64::MAX wraps, as a reinterpreting cast would; we never send one.
            0xcf => Value::Int(be(take(b, pos, 8)).cast_signed()),
            0xd0 => Value::Int(i64::from(take(b, pos, 1)[0].cast_signed())),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(take(b, pos, 2).try_into().unwrap()))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(take(b, pos, 4).try_into().unwrap()))),
            0xd3 => Value::Int(i64::from_be_bytes(take(b, pos, 8).try_into().unwrap())),
            0xa0..=0xbf => str(b, pos, usize::from(tag & 0x1f)),
            0xd9 => {
                let n = usize::try_from(be(take(b, pos, 1))).unwrap();
                str(b, pos, n)
            }
            0xda => {
                let n = usize::try_from(be(take(b, pos, 2))).unwrap();
                str(b, pos, n)
            }
            0xdb => {
                let n = usize::try_from(be(take(b, pos, 4))).unwrap();
                str(b, pos, n)
            }
            0x90..=0x9f => array(b, pos, usize::from(tag & 0x0f)),
            0xdc => {
                let n = usize::try_from(be(take(b, pos, 2))).unwrap();
                array(b, pos, n)
            }
            0xdd => {
                let n = usize::try_from(be(take(b, pos, 4))).unwrap();
                array(b, pos, n)
            }
            0x80..=0x8f => map(b, pos, usize::from(tag & 0x0f)),
            0xde => {
                let n = usize::try_from(be(take(b, pos, 2))).unwrap();
                map(b, pos, n)
            }
            0xdf => {
                let n = usize::try_from(be(take(b, pos, 4))).unwrap();
                map(b, pos, n)
            }
            other => panic!("unexpected MessagePack tag {other:#x} in our own frame"),
        }
    }

    fn str(b: &[u8], pos: &mut usize, n: usize) -> Value {
        Value::Str(String::from_utf8(take(b, pos, n).to_vec()).expect("utf-8"))
    }

    fn array(b: &[u8], pos: &mut usize, n: usize) -> Value {
        Value::Array((0..n).map(|_| read(b, pos)).collect())
    }

    fn map(b: &[u8], pos: &mut usize, n: usize) -> Value {
        Value::Map((0..n).map(|_| (read(b, pos), read(b, pos))).collect())
    }
}

fn assert_msgpack_matches_json<T: serde::Serialize + std::fmt::Debug>(msg: &T) {
    let bytes = Codec::MsgPack.encode(msg).expect("encode msgpack");
    let raw = rmpv_like::parse(&bytes);
    assert!(matches!(raw, rmpv_like::Value::Map(_)), "top level is a map: {raw:?}");
    assert_eq!(raw_to_json(&raw), json_of(msg), "{msg:?}");
    let from_msgpack: Value = rmp_serde::from_slice(&bytes).expect("msgpack to a JSON value");
    assert!(from_msgpack.is_object(), "{from_msgpack}");
    assert_eq!(from_msgpack, json_of(msg), "{msg:?}");
}

#[test]
fn msgpack_is_the_json_shape_as_a_string_keyed_map() {
    for msg in client_msgs() {
        assert_msgpack_matches_json(&msg);
    }
    for msg in server_msgs() {
        assert_msgpack_matches_json(&msg);
    }
}

#[test]
fn codecs_agree_with_each_other() {
    // A frame encoded by one codec, transcoded through a JSON value, decodes
    // in the other codec to the same message.
    for msg in client_msgs() {
        let value: Value = rmp_serde::from_slice(&Codec::MsgPack.encode(&msg).unwrap()).unwrap();
        let back: ClientMsg = Codec::Json.decode(&serde_json::to_vec(&value).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(back, msg);
        let back: ClientMsg =
            Codec::MsgPack.decode(&rmp_serde::to_vec_named(&json_of(&msg)).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn unknown_payload_fields_are_ignored() {
    // Forward compatibility: a newer client may add fields.
    let frame = json!({"type": "move", "payload": {"x": 1, "y": 2, "extra": true}});
    for codec in CODECS {
        let bytes = match codec {
            Codec::Json => serde_json::to_vec(&frame).unwrap(),
            Codec::MsgPack => rmp_serde::to_vec_named(&frame).unwrap(),
        };
        assert_eq!(codec.decode_client(&bytes, MAX_FRAME_BYTES).unwrap(), ClientMsg::Move { x: 1, y: 2 });
    }
}
