//! Hostile and broken frames, in both codecs: every one is refused with the
//! right error, quickly, without panicking, without overflowing the stack and
//! without allocating memory a frame's declared lengths ask for.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use metaverse_protocol::{ClientMsg, Codec, DecodeError, ErrorCode, MAX_FRAME_BYTES, ServerMsg};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// An allocator that remembers the largest single request, so the tests can
// tell a decoder that trusts a declared length from one that does not.

struct Watermark;

static LARGEST_ALLOC: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Watermark {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Watermark = Watermark;

/// No test in this binary has a reason to ask for more than this at once.
const ALLOC_CEILING: usize = 16 * 1024 * 1024;

fn assert_no_huge_allocation() {
    let largest = LARGEST_ALLOC.load(Ordering::Relaxed);
    assert!(largest < ALLOC_CEILING, "some decode asked for {largest} bytes at once");
}

// ---------------------------------------------------------------------------
// Helpers.

const CODECS: [Codec; 2] = [Codec::MsgPack, Codec::Json];

/// The frame a client would send for this JSON value in this codec.
fn frame(codec: Codec, v: &Value) -> Vec<u8> {
    match codec {
        Codec::Json => serde_json::to_vec(v).unwrap(),
        Codec::MsgPack => rmp_serde::to_vec_named(v).unwrap(),
    }
}

fn join() -> ClientMsg {
    ClientMsg::Join {
        space_id: "space-0123456789".into(),
        token: "v4.public.eyJzdWIiOiJ1c2VyLTEifQ".into(),
        resume_token: Some("resume-abc".into()),
        batch: Some(false),
        view: None,
    }
}

/// Decodes `bytes` every way a peer's frame gets decoded, and hands back
/// the `decode_client` result. Panics (with the frame in the message) when
/// any of them panics.
fn decode_all_ways(codec: Codec, bytes: &[u8]) -> Result<ClientMsg, DecodeError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _ = codec.decode::<ServerMsg>(bytes, MAX_FRAME_BYTES);
        let _ = codec.decode::<Value>(bytes, MAX_FRAME_BYTES);
        let _ = codec.decode::<ClientMsg>(bytes, MAX_FRAME_BYTES);
        codec.decode_client(bytes, MAX_FRAME_BYTES)
    }));
    match result {
        Ok(r) => r,
        Err(_) => panic!("{codec:?} decoder panicked on frame {}", show(bytes)),
    }
}

/// A frame for a failure message: short ones whole, long ones cut.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 96;
    if bytes.len() <= MAX {
        format!("{bytes:02x?}")
    } else {
        format!("{:02x?}... ({} bytes)", &bytes[..MAX], bytes.len())
    }
}

#[track_caller]
fn assert_malformed(codec: Codec, bytes: &[u8]) {
    match decode_all_ways(codec, bytes) {
        Err(e @ DecodeError::Malformed(_)) => assert_eq!(e.code(), ErrorCode::Malformed),
        other => panic!("{codec:?}: expected Malformed for {}, got {other:?}", show(bytes)),
    }
}

#[track_caller]
fn assert_malformed_value(codec: Codec, v: Value) {
    let bytes = frame(codec, &v);
    match decode_all_ways(codec, &bytes) {
        Err(DecodeError::Malformed(_)) => {}
        other => panic!("{codec:?}: expected Malformed for {:.200}, got {other:?}", v.to_string()),
    }
}

/// Runs `f` on a thread with a 2 MiB stack (what tokio and actix give their
/// workers), so unbounded recursion shows up as a crash here too.
fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(f).unwrap().join().expect("decoder thread panicked");
}

/// xorshift64*: deterministic, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

// ---------------------------------------------------------------------------
// Truncation.

#[test]
fn every_truncated_join_is_refused() {
    for codec in CODECS {
        let whole = codec.encode(&join()).unwrap();
        assert_eq!(codec.decode_client(&whole, MAX_FRAME_BYTES).unwrap(), join());
        for len in 0..whole.len() {
            let prefix = &whole[..len];
            assert!(
                decode_all_ways(codec, prefix).is_err(),
                "{codec:?}: a {len}-byte prefix of a {}-byte join decoded",
                whole.len()
            );
        }
    }
}

#[test]
fn every_truncated_server_message_is_refused() {
    let msg = ServerMsg::ChatMessage {
        id: "m1".into(),
        chatroom_id: "c1".into(),
        user_id: "u1".into(),
        username: "alice".into(),
        content: "hello there".into(),
        kind: "text".into(),
        sent_at: "2024-01-02T03:04:05Z".into(),
        client_id: Some("k".into()),
        attachment: None,
    };
    for codec in CODECS {
        let whole = codec.encode(&msg).unwrap();
        for len in 0..whole.len() {
            let r = catch_unwind(|| codec.decode::<ServerMsg>(&whole[..len], MAX_FRAME_BYTES));
            assert!(matches!(r, Ok(Err(DecodeError::Malformed(_)))), "{codec:?}: prefix of {len} bytes: {r:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Wrong types and missing fields.

#[test]
fn wrong_field_types_are_malformed() {
    let cases = [
        // x as a string (numeric or not): the WebSocket payload is typed.
        json!({"type": "move", "payload": {"x": "abc", "y": 1}}),
        json!({"type": "move", "payload": {"x": "5", "y": 1}}),
        json!({"type": "move", "payload": {"x": 1.5, "y": 1}}),
        json!({"type": "move", "payload": {"x": null, "y": 1}}),
        json!({"type": "move", "payload": {"x": 1, "y": true}}),
        json!({"type": "move", "payload": {"x": 1, "y": {"v": 1}}}),
        json!({"type": "move", "payload": {"x": 4_294_967_296_i64, "y": 1}}),
        json!({"type": "join", "payload": {"spaceId": 7, "token": "t"}}),
        json!({"type": "join", "payload": {"spaceId": "s", "token": ["t"]}}),
        json!({"type": "join", "payload": {"spaceId": "s", "token": "t", "resumeToken": 1}}),
        json!({"type": "chat-message", "payload": {"chatroomId": "c", "content": 5}}),
        json!({"type": "chat-message", "payload": {"chatroomId": "c", "content": "hi", "type": 1}}),
        // payload as an array, a string, a number, null.
        json!({"type": "move", "payload": [1, 2]}),
        json!({"type": "join", "payload": ["s", "t"]}),
        json!({"type": "leave", "payload": []}),
        json!({"type": "heartbeat", "payload": []}),
        json!({"type": "move", "payload": "x=1,y=2"}),
        json!({"type": "move", "payload": 12}),
        json!({"type": "leave", "payload": null}),
        // type as a number, a bool, null, an object, an array.
        json!({"type": 5, "payload": {}}),
        json!({"type": 1.5, "payload": {"x": 1, "y": 2}}),
        json!({"type": true, "payload": {}}),
        json!({"type": null, "payload": {}}),
        json!({"type": {"name": "move"}, "payload": {"x": 1, "y": 2}}),
        json!({"type": ["move"], "payload": {"x": 1, "y": 2}}),
        // not an envelope at all.
        json!(null),
        json!(42),
        json!("move"),
        json!({}),
        json!({"payload": {"x": 1, "y": 2}}),
        json!({"kind": "move", "payload": {"x": 1, "y": 2}}),
    ];
    for codec in CODECS {
        for v in &cases {
            assert_malformed_value(codec, v.clone());
        }
    }
}

/// The contract says `type` is a string. The MessagePack codec currently
/// takes an integer `type` as a variant index (`1` is `move`), and both
/// codecs take a two-element array `[type, payload]` as an envelope.
#[test]
fn type_must_be_a_string_and_the_envelope_a_map() {
    for codec in CODECS {
        assert_malformed_value(codec, json!({"type": 1, "payload": {"x": 1, "y": 2}}));
        assert_malformed_value(codec, json!(["move", {"x": 1, "y": 2}]));
    }
}

#[test]
fn missing_payload_fields_are_malformed() {
    let cases = [
        json!({"type": "move", "payload": {"x": 1}}),
        json!({"type": "move", "payload": {"y": 1}}),
        json!({"type": "move", "payload": {}}),
        json!({"type": "move"}),
        json!({"type": "join", "payload": {"spaceId": "s"}}),
        json!({"type": "join", "payload": {"token": "t"}}),
        // snake_case is not the contract's spelling.
        json!({"type": "join", "payload": {"space_id": "s", "token": "t"}}),
        json!({"type": "chat-join", "payload": {}}),
        json!({"type": "chat-join", "payload": {"passcode": "p"}}),
        json!({"type": "chat-leave", "payload": {}}),
        json!({"type": "chat-message", "payload": {"chatroomId": "c"}}),
        json!({"type": "chat-message", "payload": {"content": "hi"}}),
    ];
    for codec in CODECS {
        for v in &cases {
            assert_malformed_value(codec, v.clone());
        }
    }
}

#[test]
fn server_messages_with_missing_or_wrong_fields_are_malformed() {
    let cases = [
        json!({"type": "movement", "payload": {"userId": "u", "x": 1}}),
        json!({"type": "movement", "payload": {"userId": 3, "x": 1, "y": 2}}),
        json!({"type": "space-joined", "payload": {"userId": "u", "spawn": {"x": 0, "y": 0},
            "users": [], "space": {"width": 1, "height": 1}}}),
        json!({"type": "space-joined", "payload": {"userId": "u", "spawn": [0, 0, 0],
            "users": [], "space": {"width": 1, "height": 1}, "resumeToken": "r"}}),
        json!({"type": "space-joined", "payload": {"userId": "u", "spawn": {"x": 0, "y": 0},
            "users": [{"userId": "v", "x": 1}], "space": {"width": 1, "height": 1},
            "resumeToken": "r"}}),
        json!({"type": "error", "payload": {"code": "no-such-code", "message": "m"}}),
        json!({"type": "error", "payload": {"code": "Malformed", "message": "m"}}),
        json!({"type": "chat-message", "payload": {"id": "m", "chatroomId": "c", "userId": "u",
            "username": "a", "content": "hi", "sentAt": "t"}}),
        json!({"type": "user-left", "payload": {}}),
        json!({"type": "no-such-server-type", "payload": {}}),
    ];
    for codec in CODECS {
        for v in &cases {
            let bytes = frame(codec, v);
            let r = codec.decode::<ServerMsg>(&bytes, MAX_FRAME_BYTES);
            assert!(matches!(r, Err(DecodeError::Malformed(_))), "{codec:?}: {v} -> {r:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Unknown types versus bad payloads.

#[test]
fn unknown_types_are_reported_as_such() {
    let cases = [
        (json!({"type": "teleport", "payload": {"x": 1, "y": 2}}), "teleport"),
        (json!({"type": "teleport"}), "teleport"),
        (json!({"type": "teleport", "payload": [1, 2, 3]}), "teleport"),
        (json!({"payload": {}, "type": "webrtc-offer"}), "webrtc-offer"),
        // Server-only types and near misses are unknown from a client.
        (json!({"type": "movement", "payload": {"userId": "u", "x": 1, "y": 2}}), "movement"),
        (json!({"type": "Move", "payload": {"x": 1, "y": 2}}), "Move"),
        (json!({"type": "chat_message", "payload": {}}), "chat_message"),
        (json!({"type": "", "payload": {}}), ""),
    ];
    for codec in CODECS {
        for (v, name) in &cases {
            let bytes = frame(codec, v);
            match codec.decode_client(&bytes, MAX_FRAME_BYTES) {
                Err(e @ DecodeError::UnknownType(_)) => {
                    assert_eq!(e.code(), ErrorCode::UnknownType);
                    let DecodeError::UnknownType(got) = e else { unreachable!() };
                    assert_eq!(&got, name, "{codec:?}");
                }
                other => panic!("{codec:?}: {v} -> {other:?}"),
            }
        }
    }
}

#[test]
fn a_long_unknown_type_is_cut_to_64_bytes() {
    let long = "x".repeat(10_000);
    for codec in CODECS {
        let bytes = frame(codec, &json!({"type": long, "payload": {}}));
        match codec.decode_client(&bytes, MAX_FRAME_BYTES) {
            Err(DecodeError::UnknownType(got)) => {
                assert!(got.len() <= 64, "{} bytes echoed back", got.len());
                assert!(long.starts_with(&got));
            }
            other => panic!("{codec:?}: {other:?}"),
        }
    }
}

/// `decode_client` cuts an unknown type with `String::truncate(64)`, which
/// panics when byte 64 falls inside a multi-byte character: any client can
/// make the decoder panic with one short frame.
#[test]
fn a_long_non_ascii_unknown_type_does_not_panic() {
    // 1 ASCII byte then two-byte characters: byte 64 is mid-character.
    let kind = format!("a{}", "é".repeat(40));
    for codec in CODECS {
        let bytes = frame(codec, &json!({"type": kind, "payload": {}}));
        match decode_all_ways(codec, &bytes) {
            Err(DecodeError::UnknownType(got)) => {
                assert!(got.len() <= 64);
                assert!(kind.starts_with(&got));
            }
            other => panic!("{codec:?}: {other:?}"),
        }
    }
}

#[test]
fn a_known_type_with_a_bad_payload_is_malformed_not_unknown() {
    for name in metaverse_protocol::CLIENT_TYPES {
        for bad in
            [json!({"type": name, "payload": "nope"}), json!({"type": name, "payload": 17}), json!({"type": name})]
        {
            for codec in CODECS {
                assert_malformed_value(codec, bad.clone());
            }
        }
    }
    for codec in CODECS {
        assert_malformed_value(codec, json!({"type": "move", "payload": {"x": "a", "y": 1}}));
        assert_malformed_value(codec, json!({"type": "join", "payload": {"spaceId": "s"}}));
    }
}

// ---------------------------------------------------------------------------
// Size limit.

#[test]
fn frames_over_the_limit_are_too_large() {
    for codec in CODECS {
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        for r in [
            codec.decode_client(&big, MAX_FRAME_BYTES).map(|_| ()),
            codec.decode::<ServerMsg>(&big, MAX_FRAME_BYTES).map(|_| ()),
            codec.decode::<Value>(&big, MAX_FRAME_BYTES).map(|_| ()),
        ] {
            match r {
                Err(e @ DecodeError::TooLarge { size, limit }) => {
                    assert_eq!((size, limit), (MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES));
                    assert_eq!(e.code(), ErrorCode::TooLarge);
                }
                other => panic!("{codec:?}: {other:?}"),
            }
        }

        // A valid message is refused unread when over a smaller limit, and
        // accepted at exactly its own size.
        let msg = ClientMsg::ChatMessage {
            chatroom_id: "c".into(),
            content: "z".repeat(1000),
            kind: None,
            client_id: None,
            media_id: None,
        };
        let bytes = codec.encode(&msg).unwrap();
        assert!(matches!(codec.decode_client(&bytes, bytes.len() - 1), Err(DecodeError::TooLarge { .. })));
        assert_eq!(codec.decode_client(&bytes, bytes.len()).unwrap(), msg);

        // A valid message just over MAX_FRAME_BYTES.
        let msg = ClientMsg::ChatMessage {
            chatroom_id: "c".into(),
            content: "z".repeat(MAX_FRAME_BYTES),
            kind: None,
            client_id: None,
            media_id: None,
        };
        let bytes = codec.encode(&msg).unwrap();
        assert!(matches!(codec.decode_client(&bytes, MAX_FRAME_BYTES), Err(DecodeError::TooLarge { .. })));
    }
}

// ---------------------------------------------------------------------------
// Declared lengths far beyond the frame.

#[test]
fn huge_declared_msgpack_lengths_fail_fast_without_allocating() {
    let four_gib = [0xff, 0xff, 0xff, 0xff];
    let mut frames: Vec<Vec<u8>> = Vec::new();
    // A bare header of every 32-bit length kind, then a few bytes.
    for tag in [0xdb, 0xc6, 0xdd, 0xdf, 0xc9] {
        let mut f = vec![tag];
        f.extend_from_slice(&four_gib);
        if tag == 0xc9 {
            f.push(0x01); // ext type
        }
        f.extend_from_slice(b"abc");
        frames.push(f);
    }
    // 16-bit lengths too.
    for tag in [0xda, 0xc5, 0xdc, 0xde] {
        frames.push(vec![tag, 0xff, 0xff, 0x01, 0x02]);
    }
    // Inside a valid-looking envelope: {"type": "join", "payload": {"spaceId": <huge>}}.
    let prefix = |huge: &[u8]| {
        let mut f = vec![0x82, 0xa4];
        f.extend_from_slice(b"type");
        f.push(0xa4);
        f.extend_from_slice(b"join");
        f.push(0xa7);
        f.extend_from_slice(b"payload");
        f.push(0x82);
        f.push(0xa7);
        f.extend_from_slice(b"spaceId");
        f.extend_from_slice(huge);
        f.extend_from_slice(b"xyz");
        f
    };
    for tag in [0xdb, 0xc6, 0xdd, 0xdf] {
        let mut h = vec![tag];
        h.extend_from_slice(&four_gib);
        frames.push(prefix(&h));
    }
    // A payload declared as a map of 4 Gi entries, and a type string of 4 GiB.
    let mut f = vec![0x82, 0xa4];
    f.extend_from_slice(b"type");
    f.push(0xa4);
    f.extend_from_slice(b"move");
    f.push(0xa7);
    f.extend_from_slice(b"payload");
    f.push(0xdf);
    f.extend_from_slice(&four_gib);
    f.extend_from_slice(&[0xa1, b'x', 0x01]);
    frames.push(f);
    let mut f = vec![0x82, 0xa4];
    f.extend_from_slice(b"type");
    f.push(0xdb);
    f.extend_from_slice(&four_gib);
    f.extend_from_slice(b"move");
    frames.push(f);
    // The envelope itself as an array / map of 4 Gi entries.
    for tag in [0xdd, 0xdf] {
        let mut f = vec![tag];
        f.extend_from_slice(&four_gib);
        f.extend_from_slice(&[0xa4, b't', b'y', b'p', b'e']);
        frames.push(f);
    }

    let started = Instant::now();
    for f in &frames {
        assert_malformed(Codec::MsgPack, f);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_no_huge_allocation();
}

// ---------------------------------------------------------------------------
// Deep nesting.

const DEPTH: usize = 10_000;

fn deep_msgpack_array() -> Vec<u8> {
    let mut f = vec![0x91; DEPTH];
    f.push(0xc0);
    f
}

fn deep_msgpack_map() -> Vec<u8> {
    let mut f = Vec::with_capacity(DEPTH * 3 + 1);
    for _ in 0..DEPTH {
        f.extend_from_slice(&[0x81, 0xa1, b'a']);
    }
    f.push(0xc0);
    f
}

/// `{"type": "move", "payload": {"x": 1, "y": 2, "junk": <inner>}}` with
/// `inner` spliced in raw, so the unknown field is skipped, not parsed.
fn msgpack_move_with_junk(inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82, 0xa4];
    f.extend_from_slice(b"type");
    f.push(0xa4);
    f.extend_from_slice(b"move");
    f.push(0xa7);
    f.extend_from_slice(b"payload");
    f.extend_from_slice(&[0x83, 0xa1, b'x', 0x01, 0xa1, b'y', 0x02, 0xa4]);
    f.extend_from_slice(b"junk");
    f.extend_from_slice(inner);
    f
}

/// `{"payload": <inner>, "type": "move"}`: the payload comes first, so the
/// decoder has to buffer it before it knows the type.
fn msgpack_payload_first(inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82, 0xa7];
    f.extend_from_slice(b"payload");
    f.extend_from_slice(inner);
    f.push(0xa4);
    f.extend_from_slice(b"type");
    f.push(0xa4);
    f.extend_from_slice(b"move");
    f
}

fn deep_json_array() -> Vec<u8> {
    let mut f = vec![b'['; DEPTH];
    f.extend(std::iter::repeat_n(b']', DEPTH));
    f
}

fn deep_json_object() -> Vec<u8> {
    let mut f = b"{\"a\":".repeat(DEPTH);
    f.extend_from_slice(b"null");
    f.extend(std::iter::repeat_n(b'}', DEPTH));
    f
}

#[test]
fn deep_msgpack_nesting_fails_without_overflowing_the_stack() {
    on_small_stack(|| {
        let deep = [deep_msgpack_array(), deep_msgpack_map()];
        for inner in &deep {
            // A truncated form too: nesting without the closing value.
            let cut = &inner[..inner.len() - 1];
            for f in [inner.clone(), cut.to_vec(), msgpack_move_with_junk(inner), msgpack_payload_first(inner)] {
                assert!(f.len() <= MAX_FRAME_BYTES);
                assert_malformed(Codec::MsgPack, &f);
            }
        }
    });
}

#[test]
fn deep_json_nesting_fails_without_overflowing_the_stack() {
    on_small_stack(|| {
        let deep = [deep_json_array(), deep_json_object()];
        for inner in &deep {
            let inner_s = std::str::from_utf8(inner).unwrap();
            let frames = [
                inner.clone(),
                inner[..inner.len() / 2].to_vec(),
                format!(r#"{{"payload":{inner_s},"type":"move"}}"#).into_bytes(),
            ];
            for f in frames {
                assert!(f.len() <= MAX_FRAME_BYTES);
                assert_malformed(Codec::Json, &f);
            }
            // serde_json skips an unknown field without recursing, so deep
            // junk there may be accepted; it only must not crash.
            let f = format!(r#"{{"type":"move","payload":{{"x":1,"y":2,"junk":{inner_s}}}}}"#);
            assert!(matches!(
                decode_all_ways(Codec::Json, f.as_bytes()),
                Ok(ClientMsg::Move { x: 1, y: 2 }) | Err(DecodeError::Malformed(_))
            ));
            // An unknown type with a deep payload: either answer is fine, as
            // long as it is an answer.
            let f = format!(r#"{{"type":"teleport","payload":{inner_s}}}"#).into_bytes();
            assert!(matches!(
                decode_all_ways(Codec::Json, &f),
                Err(DecodeError::Malformed(_) | DecodeError::UnknownType(_))
            ));
        }
    });
}

#[test]
fn reasonable_nesting_still_decodes() {
    // The limits must not refuse real messages: a space-joined with users is
    // the deepest thing we send (envelope > payload > users > user).
    let msg = ServerMsg::SpaceJoined {
        user_id: "u".into(),
        spawn: metaverse_protocol::Position { x: 0, y: 0 },
        users: vec![metaverse_protocol::UserPosition {
            user_id: "v".into(),
            x: 1,
            y: 1,
            username: None,
            avatar_id: None,
        }],
        space: metaverse_protocol::SpaceSize { width: 2, height: 2 },
        resume_token: "r".into(),
        resumed: false,
    };
    for codec in CODECS {
        let back: ServerMsg = codec.decode(&codec.encode(&msg).unwrap(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(back, msg);
        // Unknown fields a few levels deep are skipped.
        let v = json!({"type": "move", "payload": {"x": 1, "y": 2, "meta": {"a": [[{"b": 1}]]}}});
        assert_eq!(codec.decode_client(&frame(codec, &v), MAX_FRAME_BYTES).unwrap(), ClientMsg::Move { x: 1, y: 2 });
    }
}

// ---------------------------------------------------------------------------
// Garbage.

#[test]
fn random_garbage_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    on_small_stack(move || {
        for i in 0..2000 {
            let len = match i % 4 {
                0 => rng.below(8),
                1 => rng.below(64),
                2 => rng.below(512),
                _ => rng.below(4096),
            };
            let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            for codec in CODECS {
                // Garbage may by chance be valid; all that matters is that
                // it comes back as a value or an error.
                let _ = decode_all_ways(codec, &bytes);
            }
        }
    });
    assert_no_huge_allocation();
}

#[test]
fn mutated_valid_frames_never_panic() {
    let msgs = [
        join(),
        ClientMsg::Move { x: 3, y: 4 },
        ClientMsg::Leave {},
        ClientMsg::ChatMessage {
            chatroom_id: "c".into(),
            content: "hello".into(),
            kind: Some("text".into()),
            client_id: Some("k".into()),
            media_id: None,
        },
    ];
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    on_small_stack(move || {
        for codec in CODECS {
            let valid: Vec<Vec<u8>> = msgs.iter().map(|m| codec.encode(m).unwrap()).collect();
            for _ in 0..2000 {
                let mut f = valid[rng.below(valid.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(f.len() + 1);
                    match rng.below(4) {
                        0 if at < f.len() => f[at] = rng.byte(),
                        1 if at < f.len() => f[at] ^= 1 << rng.below(8),
                        2 => f.insert(at, rng.byte()),
                        _ => f.truncate(at),
                    }
                }
                let _ = decode_all_ways(codec, &f);
            }
        }
    });
    assert_no_huge_allocation();
}

#[test]
fn invalid_utf8_is_malformed() {
    // JSON with a raw invalid byte inside a string.
    assert_malformed(Codec::Json, b"{\"type\":\"join\",\"payload\":{\"spaceId\":\"\xff\xfe\",\"token\":\"t\"}}");
    // MessagePack str with invalid UTF-8.
    let mut f = vec![0x82, 0xa4];
    f.extend_from_slice(b"type");
    f.push(0xa4);
    f.extend_from_slice(b"join");
    f.push(0xa7);
    f.extend_from_slice(b"payload");
    f.push(0x82);
    f.push(0xa7);
    f.extend_from_slice(b"spaceId");
    f.extend_from_slice(&[0xa2, 0xff, 0xfe]);
    f.push(0xa5);
    f.extend_from_slice(b"token");
    f.extend_from_slice(&[0xa1, b't']);
    assert_malformed(Codec::MsgPack, &f);
}

#[test]
fn a_frame_in_the_other_codec_is_malformed() {
    for (codec, other) in [(Codec::Json, Codec::MsgPack), (Codec::MsgPack, Codec::Json)] {
        let bytes = other.encode(&join()).unwrap();
        assert!(codec.decode_client(&bytes, MAX_FRAME_BYTES).is_err(), "{codec:?} decoded a {other:?} frame");
    }
}
