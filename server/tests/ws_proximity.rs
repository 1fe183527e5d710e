//! Proximity over the real server (issue 6): `proximity` on entering and
//! leaving someone's radius, group ids, hang-ups when people walk apart,
//! nearby chat, WebRTC signaling, private areas, names in presence and the
//! space's `proximityRadius`. Each case runs on both backends, with the
//! people of a scene speaking both codecs.
//!
//! People are put on exact tiles first: each one, alone in the space,
//! joins, walks to their tile and leaves; the space remembers the tile and
//! the next join spawns there. Then they enter in order, and a marker user
//! far from everyone enters last: its `user-join` tells each of them that
//! the arrivals are over.
//!
//! "Not sent" is asserted with a barrier: every recipient's queue is FIFO
//! from the one SpaceActor, so after someone else acts, the next message
//! must be that action.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    TestApp, assert_invalid,
    chat::{Chat, assert_sent_at, chat_message, history, rooms},
    ws::{Joined, PATIENCE, WsClient, at, create_space, movement, other, place_element, user_left},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, Position, RtcKind, ServerMsg};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The default nearby radius.
const RADIUS: i32 = 3;
/// The most `data` of a signal, as JSON.
const MAX_SIGNAL_BYTES: usize = 16 * 1024;

// ---------------------------------------------------------------- helpers

/// A signed-up user with a socket that sees the proximity layer.
struct Peer {
    ws: WsClient,
    id: String,
    token: String,
    name: String,
}

impl Peer {
    async fn new(app: &TestApp, name: &str, codec: Codec) -> Self {
        let (id, token) = app.user(name).await;
        Self::with(app, id, token, name, codec).await
    }

    async fn with(app: &TestApp, id: String, token: String, name: &str, codec: Codec) -> Self {
        let mut ws = WsClient::connect(&app.ws, codec).await;
        ws.social = true;
        // These tests count every step; batching (which coalesces steps
        // within a tick) has its own tests in ws_batch.rs.
        ws.batch = Some(false);
        Self { ws, id, token, name: name.to_owned() }
    }

    async fn send(&mut self, msg: ClientMsg) {
        self.ws.send(&msg).await;
    }

    async fn move_to(&mut self, p: Position) {
        self.ws.send(&ClientMsg::Move { x: p.x, y: p.y }).await;
    }

    async fn signal(&mut self, to: &str, kind: RtcKind, data: Value) {
        self.ws.send(&ClientMsg::RtcSignal { to: to.to_owned(), kind, data }).await;
    }

    /// The next message, failing with `why` when none comes in time.
    async fn next(&mut self, why: &str) -> ServerMsg {
        // Just short of the client's own bound, so this message wins.
        let bound = PATIENCE - Duration::from_millis(500);
        match tokio::time::timeout(bound, self.ws.recv()).await {
            Ok(m) => m,
            Err(_) => panic!("{}: nothing came within {bound:?} ({why})", self.name),
        }
    }

    /// The next message must be `expected`.
    async fn expect(&mut self, expected: ServerMsg, why: &str) {
        let got = self.next(why).await;
        assert_eq!(got, expected, "{}: {why}", self.name);
    }

    /// The next `expected.len()` messages must be `expected`, in any order.
    async fn expect_all(&mut self, expected: Vec<ServerMsg>, why: &str) {
        let mut got = Vec::with_capacity(expected.len());
        for _ in 0..expected.len() {
            let m = self.next(&format!("{why}; so far {got:?}, expected {expected:?}")).await;
            got.push(m);
        }
        let mut missing = expected.clone();
        let mut extra = Vec::new();
        for m in &got {
            match missing.iter().position(|e| e == m) {
                Some(i) => {
                    missing.remove(i);
                }
                None => extra.push(m.clone()),
            }
        }
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: {why}\n expected (any order): {expected:?}\n got: {got:?}",
            self.name
        );
    }
}

fn chebyshev(a: Position, b: Position) -> i32 {
    (a.x - b.x).abs().max((a.y - b.y).abs())
}

/// `proximity` with `nearby` sorted, as the server sends it.
fn prox(nearby: &[&str], group: Option<&str>, radius: i32) -> ServerMsg {
    let mut nearby: Vec<String> = nearby.iter().map(|s| s.to_string()).collect();
    nearby.sort();
    ServerMsg::Proximity { nearby, group: group.map(str::to_owned), radius }
}

/// Alone: nobody near, no group.
fn alone(radius: i32) -> ServerMsg {
    prox(&[], None, radius)
}

/// A group's id: its smallest user id.
fn gid<'a>(ids: &[&'a str]) -> Option<&'a str> {
    ids.iter().min().copied()
}

/// The server's hang-up when people walk apart.
fn hangup(from: &str) -> ServerMsg {
    ServerMsg::RtcSignal { from: from.to_owned(), kind: RtcKind::Hangup, data: Value::Null }
}

fn relayed(from: &str, kind: RtcKind, data: &Value) -> ServerMsg {
    ServerMsg::RtcSignal { from: from.to_owned(), kind, data: data.clone() }
}

fn nearby_chat(content: &str, client_id: Option<&str>) -> ClientMsg {
    chat_message("nearby", content, client_id)
}

/// Creates a space with the given `proximityRadius`; returns its id.
async fn space_with_radius(app: &TestApp, token: &str, dims: &str, radius: i32) -> String {
    let (status, body) = app
        .post("/api/v1/space", Some(token), json!({"name": "room", "dimensions": dims, "proximityRadius": radius}))
        .await;
    assert_eq!(status, StatusCode::OK, "create space {dims} radius {radius}: {body}");
    body["spaceId"].as_str().unwrap().to_owned()
}

/// A private-area element (not static: people stand on it); returns its id.
async fn rug(app: &TestApp, admin: &str, w: i32, h: i32) -> String {
    let (status, body) = app
        .post(
            "/api/v1/admin/element",
            Some(admin),
            json!({"imageUrl": "https://cdn.example/rug.png", "width": w, "height": h, "static": false,
                   "privateArea": true}),
        )
        .await;
    assert!(status.is_success(), "create rug: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Alone in the space: join, walk to `tile`, leave. The space remembers the
/// tile for the next join.
async fn seat(p: &mut Peer, space_id: &str, size: (i32, i32), tile: Position) {
    let j = p.ws.join_ok(space_id, &p.token, None).await;
    assert_eq!(j.user_id, p.id);
    assert!(j.users.is_empty(), "{} seats alone: {:?}", p.name, j.users);
    p.ws.walk(j.spawn, tile, size, &[]).await;
    p.send(ClientMsg::Leave {}).await;
    // The session forwarded the leave before it answers this, so the space
    // sees the leave before anyone's next join.
    p.ws.heartbeat().await;
}

/// Puts `people` on `tiles` and brings them in, in order, then a marker on
/// `marker_at` (farther than `radius` from everyone, outside any private
/// area). Checks what each got while the others arrived (the `user-join`
/// of each later arrival, with its name) and returns the last `proximity`
/// each got (`None`: none at all), with the marker.
async fn scene(
    app: &TestApp,
    space_id: &str,
    size: (i32, i32),
    radius: i32,
    people: &mut [Peer],
    tiles: &[Position],
    marker_at: Position,
) -> (Peer, Vec<Option<ServerMsg>>) {
    assert_eq!(people.len(), tiles.len());
    for t in tiles {
        assert!(chebyshev(*t, marker_at) > radius, "the marker at {marker_at:?} must be far from {t:?}");
    }
    let mut marker = Peer::new(app, "marker", Codec::Json).await;
    for (p, t) in people.iter_mut().zip(tiles) {
        seat(p, space_id, size, *t).await;
    }
    seat(&mut marker, space_id, size, marker_at).await;

    for (i, p) in people.iter_mut().enumerate() {
        let j = p.ws.join_ok(space_id, &p.token, None).await;
        assert_eq!(j.spawn, tiles[i], "{} spawns where they left", p.name);
        assert_eq!(j.users.len(), i, "{} sees the ones before: {:?}", p.name, j.users);
    }
    let j = marker.ws.join_ok(space_id, &marker.token, None).await;
    assert_eq!(j.spawn, marker_at);

    let arrivals: Vec<ServerMsg> = people
        .iter()
        .zip(tiles)
        .map(|(p, t)| ServerMsg::UserJoin {
            user_id: p.id.clone(),
            x: t.x,
            y: t.y,
            username: Some(p.name.clone()),
            avatar_id: None,
        })
        .collect();
    let marker_join = ServerMsg::UserJoin {
        user_id: marker.id.clone(),
        x: marker_at.x,
        y: marker_at.y,
        username: Some("marker".into()),
        avatar_id: None,
    };
    let mut last = Vec::new();
    for (i, p) in people.iter_mut().enumerate() {
        let ((), skipped) = p.ws.recv_until(|m| (*m == marker_join).then_some(())).await;
        let joins: Vec<ServerMsg> =
            skipped.iter().filter(|m| matches!(m, ServerMsg::UserJoin { .. })).cloned().collect();
        assert_eq!(joins, arrivals[i + 1..].to_vec(), "{} sees each later arrival, with its name", p.name);
        assert!(
            skipped.iter().all(|m| matches!(m, ServerMsg::UserJoin { .. } | ServerMsg::Proximity { .. })),
            "{} got only arrivals and proximity while the others came in: {skipped:?}",
            p.name
        );
        last.push(skipped.iter().rev().find(|m| matches!(m, ServerMsg::Proximity { .. })).cloned());
    }
    (marker, last)
}

/// The messages before `user-left` of `who`, which is consumed.
async fn until_left(p: &mut Peer, who: &str) -> Vec<ServerMsg> {
    let gone = user_left(who);
    let ((), skipped) = p.ws.recv_until(|m| (*m == gone).then_some(())).await;
    skipped
}

// ---------------------------------------------------------------- 1. enter and leave

/// Far apart: no `proximity`. Walking within the radius (Chebyshev) tells
/// both, with one group; moves that change nothing tell nobody; walking out
/// tells both and hangs their call up.
async fn proximity_on_entering_and_leaving_the_radius(app: TestApp, codec: Codec) {
    let (_, owner) = app.user("owner").await;
    let space_id = create_space(&app, &owner, "20x4").await;
    let size = (20, 4);
    let mut people = vec![Peer::new(&app, "ada", codec).await, Peer::new(&app, "bob", other(codec)).await];
    let (_marker, last) = scene(&app, &space_id, size, RADIUS, &mut people, &[at(0, 1), at(8, 1)], at(19, 3)).await;
    assert_eq!(last, vec![None, None], "far apart: no proximity at all");
    let [ada, bob] = &mut people[..] else { unreachable!() };
    let (a, b) = (ada.id.clone(), bob.id.clone());
    let group = gid(&[&a, &b]);

    // Moves far apart tell nobody anything but the move.
    ada.move_to(at(0, 0)).await;
    bob.expect(movement(&a, at(0, 0)), "far: the move, no proximity").await;
    for x in [7, 6, 5, 4] {
        bob.move_to(at(x, 1)).await;
        ada.expect(movement(&b, at(x, 1)), &format!("bob at distance {x}: no proximity")).await;
    }

    // Distance 3 (Chebyshev: dx 3, dy 1): near.
    bob.move_to(at(3, 1)).await;
    ada.expect_all(vec![movement(&b, at(3, 1)), prox(&[&b], group, RADIUS)], "bob comes within 3").await;
    bob.expect(prox(&[&a], group, RADIUS), "bob walked up to ada").await;

    // Moving while near changes nobody's set: no proximity.
    bob.move_to(at(3, 0)).await;
    ada.expect(movement(&b, at(3, 0)), "still near: just the move").await;
    ada.move_to(at(1, 0)).await;
    bob.expect(movement(&a, at(1, 0)), "still near: just the move").await;
    bob.move_to(at(4, 0)).await;
    ada.expect(movement(&b, at(4, 0)), "distance 3 again: just the move").await;

    // Distance 4: apart, and the call is hung up on both sides.
    bob.move_to(at(5, 0)).await;
    ada.expect_all(vec![movement(&b, at(5, 0)), alone(RADIUS), hangup(&b)], "bob walks out to 4").await;
    bob.expect_all(vec![alone(RADIUS), hangup(&a)], "bob walked away from ada").await;

    // Farther still: nothing but moves.
    bob.move_to(at(6, 0)).await;
    ada.expect(movement(&b, at(6, 0)), "apart: the next message is the move, not a proximity").await;
    ada.move_to(at(0, 0)).await;
    bob.expect(movement(&a, at(0, 0)), "apart: the next message is the move, not a proximity").await;

    // Ada walks up to him this time: both told again, same group.
    for x in [1, 2] {
        ada.move_to(at(x, 0)).await;
        bob.expect(movement(&a, at(x, 0)), "distance 5, 4: nothing").await;
    }
    ada.move_to(at(3, 0)).await;
    bob.expect_all(vec![movement(&a, at(3, 0)), prox(&[&a], group, RADIUS)], "ada comes within 3").await;
    ada.expect(prox(&[&b], group, RADIUS), "ada walked up to bob").await;
}

// ---------------------------------------------------------------- 2. groups

/// A chain A–B–C (A near B, B near C, A not near C) is one group, whose id
/// is the smallest of the three. Signals go along the group; when B
/// leaves, A and C are alone and their call is hung up.
async fn a_chain_is_one_group_until_its_middle_leaves(app: TestApp, codec: Codec) {
    let (_, owner) = app.user("owner").await;
    let space_id = create_space(&app, &owner, "20x4").await;
    let size = (20, 4);
    let mut people = vec![
        Peer::new(&app, "ada", codec).await,
        Peer::new(&app, "bob", other(codec)).await,
        Peer::new(&app, "cyd", codec).await,
    ];
    let tiles = [at(0, 1), at(3, 1), at(6, 1)];
    let (_marker, last) = scene(&app, &space_id, size, RADIUS, &mut people, &tiles, at(19, 3)).await;
    let [ada, bob, cyd] = &mut people[..] else { unreachable!() };
    let (a, b, c) = (ada.id.clone(), bob.id.clone(), cyd.id.clone());
    let group = gid(&[&a, &b, &c]);
    assert!(group.is_some());
    assert_eq!(last[0], Some(prox(&[&b], group, RADIUS)), "ada: bob only; the chain's group");
    assert_eq!(last[1], Some(prox(&[&a, &c], group, RADIUS)), "bob: both");
    assert_eq!(last[2], Some(prox(&[&b], group, RADIUS)), "cyd: bob only; the chain's group");

    // A move inside the chain that keeps every set: nothing.
    cyd.move_to(at(6, 2)).await;
    ada.expect(movement(&c, at(6, 2)), "the chain holds").await;
    bob.expect(movement(&c, at(6, 2)), "the chain holds").await;

    // Not near but in one group: signals are relayed.
    let offer = json!({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"});
    ada.signal(&c, RtcKind::Offer, offer.clone()).await;
    cyd.expect(relayed(&a, RtcKind::Offer, &offer), "same group, not near: relayed").await;
    let answer = json!({"type": "answer", "sdp": "v=0\r\n"});
    cyd.signal(&a, RtcKind::Answer, answer.clone()).await;
    ada.expect(relayed(&c, RtcKind::Answer, &answer), "and back").await;

    // The middle leaves: A and C are alone, and hung up on each other.
    bob.send(ClientMsg::Leave {}).await;
    for (p, other_end) in [(&mut *ada, &c), (&mut *cyd, &a)] {
        let got = until_left(p, &b).await;
        let proximities: Vec<&ServerMsg> = got.iter().filter(|m| matches!(m, ServerMsg::Proximity { .. })).collect();
        assert_eq!(proximities, vec![&alone(RADIUS)], "{}: alone once bob left: {got:?}", p.name);
        let count = |x: &ServerMsg| got.iter().filter(|m| *m == x).count();
        assert_eq!(count(&hangup(other_end)), 1, "{}: hung up by the other end, once: {got:?}", p.name);
        assert!(count(&hangup(&b)) <= 1, "{}: at most one hang-up from bob: {got:?}", p.name);
        assert_eq!(
            got.len(),
            1 + count(&hangup(other_end)) + count(&hangup(&b)),
            "{}: only that before bob's user-left: {got:?}",
            p.name
        );
    }

    // Now A and C are neither near nor grouped: refused.
    ada.signal(&c, RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::NotNearby).await;
    ada.move_to(at(0, 2)).await;
    cyd.expect(movement(&a, at(0, 2)), "the refused offer never reached cyd").await;
}

// ---------------------------------------------------------------- 3. nearby chat

/// A `chat-message` to "nearby" reaches the sender and exactly its nearby
/// set, with the sender's name and the clientId; it is stored nowhere.
async fn nearby_chat_reaches_exactly_the_nearby_set(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let space_id = create_space(&app, &ada_token, "20x4").await;
    let mut people = vec![
        Peer::with(&app, ada_id, ada_token, "ada", codec).await,
        Peer::new(&app, "bob", other(codec)).await,
        Peer::new(&app, "cyd", codec).await,
    ];
    let tiles = [at(0, 1), at(2, 1), at(10, 1)];
    let (_marker, last) = scene(&app, &space_id, (20, 4), RADIUS, &mut people, &tiles, at(19, 3)).await;
    let [ada, bob, cyd] = &mut people[..] else { unreachable!() };
    let (a, b, c) = (ada.id.clone(), bob.id.clone(), cyd.id.clone());
    assert_eq!(last[0], Some(prox(&[&b], gid(&[&a, &b]), RADIUS)));
    assert_eq!(last[2], None, "cyd is far from both");

    ada.send(nearby_chat("hello, neighbours", Some("n-1"))).await;
    let echo = ada.ws.recv().await;
    let chat = Chat::from_msg(&echo);
    assert_eq!(chat.chatroom_id, "nearby");
    assert_eq!(chat.user_id, a);
    assert_eq!(chat.username, "ada");
    assert_eq!(chat.content, "hello, neighbours");
    assert_eq!(chat.kind, "text");
    assert_eq!(chat.client_id.as_deref(), Some("n-1"), "the clientId is echoed");
    assert!(!chat.id.is_empty(), "a nearby message has an id");
    assert_sent_at(&chat.sent_at);
    bob.expect(echo.clone(), "bob is near ada: the same message").await;

    // Cyd is far: after ada's next move, cyd's next message is that move.
    ada.move_to(at(0, 0)).await;
    cyd.expect(movement(&a, at(0, 0)), "the nearby message did not reach cyd").await;
    bob.expect(movement(&a, at(0, 0)), "ada moved").await;

    // Not stored: no room of the space has it in its history.
    let all_rooms = rooms(&app, &ada.token, &space_id).await;
    assert!(!all_rooms.is_empty(), "the space has its general room");
    for room in &all_rooms {
        let room_id = room["id"].as_str().unwrap();
        for m in history(&app, &ada.token, room_id).await {
            assert_ne!(m["id"].as_str(), Some(chat.id.as_str()), "stored in {room_id}: {m}");
            assert_ne!(m["content"], json!("hello, neighbours"), "stored in {room_id}: {m}");
        }
    }
    let (status, body) = app.get("/api/v1/chatroom/nearby/messages", Some(&ada.token)).await;
    assert!(status.is_client_error(), "\"nearby\" is not a room with a history: {status} {body}");

    // Checked like any chat message; nothing reaches the others.
    ada.send(nearby_chat("", None)).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;
    ada.send(nearby_chat("   ", None)).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;
    ada.send(ClientMsg::ChatMessage {
        chatroom_id: "nearby".into(),
        content: "a gif".into(),
        kind: Some("gif".into()),
        client_id: None,
        media_id: None,
    })
    .await;
    ada.ws.expect_error(ErrorCode::Invalid).await;
    ada.send(nearby_chat("long id", Some(&"c".repeat(65)))).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;
    ada.send(ClientMsg::ChatMessage {
        chatroom_id: "nearby".into(),
        content: "🙂".into(),
        kind: Some("emoji".into()),
        client_id: None,
        media_id: None,
    })
    .await;
    let emoji = ada.ws.recv().await;
    assert!(matches!(&emoji, ServerMsg::ChatMessage { kind, client_id: None, .. } if kind == "emoji"), "{emoji:?}");
    bob.expect(emoji, "the refused ones never came; the emoji did").await;

    // Cyd, near nobody, talks to herself only.
    cyd.send(nearby_chat("anyone?", Some("c-1"))).await;
    let lonely = Chat::from_msg(&cyd.ws.recv().await);
    assert_eq!((lonely.user_id.as_str(), lonely.username.as_str()), (c.as_str(), "cyd"));
    assert_eq!(lonely.client_id.as_deref(), Some("c-1"));
    cyd.move_to(at(10, 0)).await;
    ada.expect(movement(&c, at(10, 0)), "cyd's nearby message reached nobody else").await;
    bob.expect(movement(&c, at(10, 0)), "cyd's nearby message reached nobody else").await;

    // Walking up to someone changes who hears you: bob walks off to
    // distance 4, cyd comes within reach of bob only.
    bob.move_to(at(3, 1)).await;
    bob.move_to(at(4, 1)).await;
    ada.expect(movement(&b, at(3, 1)), "distance 3").await;
    ada.expect_all(vec![movement(&b, at(4, 1)), alone(RADIUS), hangup(&b)], "bob walks out of ada's reach").await;
    bob.expect_all(vec![alone(RADIUS), hangup(&a)], "bob walked away from ada").await;
    cyd.move_to(at(9, 0)).await;
    cyd.move_to(at(8, 0)).await;
    cyd.move_to(at(7, 0)).await;
    let pair = gid(&[&b, &c]);
    bob.expect_all(
        vec![movement(&c, at(9, 0)), movement(&c, at(8, 0)), movement(&c, at(7, 0)), prox(&[&c], pair, RADIUS)],
        "cyd comes within 3 of bob",
    )
    .await;
    cyd.expect(movement(&b, at(3, 1)), "bob's walk").await;
    cyd.expect(movement(&b, at(4, 1)), "bob's walk").await;
    cyd.expect(prox(&[&b], pair, RADIUS), "cyd walked up to bob").await;
    for x in [9, 8, 7] {
        ada.expect(movement(&c, at(x, 0)), "cyd is far from ada").await;
    }
    bob.send(nearby_chat("hi cyd", None)).await;
    let hi = bob.ws.recv().await;
    assert!(matches!(&hi, ServerMsg::ChatMessage { user_id, .. } if *user_id == b), "bob's echo: {hi:?}");
    cyd.expect(hi, "cyd is bob's nearby set now").await;
    bob.move_to(at(4, 2)).await;
    ada.expect(movement(&b, at(4, 2)), "ada is not in bob's nearby set any more").await;
}

/// Nearby chat needs a space, and is rate limited like a room's chat (a
/// burst of 2, then 1/s).
async fn nearby_chat_is_rate_limited(app: TestApp, codec: Codec) {
    let mut ada = Peer::new(&app, "ada", codec).await;
    let space_id = create_space(&app, &ada.token, "10x10").await;
    ada.send(nearby_chat("before joining", None)).await;
    ada.ws.expect_error(ErrorCode::NotJoined).await;
    ada.ws.join_ok(&space_id, &ada.token, None).await;
    for i in 0..3 {
        ada.send(nearby_chat(&format!("quick {i}"), Some(&format!("q-{i}")))).await;
    }
    let (mut echoed, mut limited) = (0, 0);
    for _ in 0..3 {
        match ada.ws.recv().await {
            ServerMsg::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            ServerMsg::ChatMessage { chatroom_id, .. } if chatroom_id == "nearby" => echoed += 1,
            other => panic!("expected an echo or rate-limited, got {other:?}"),
        }
    }
    assert_eq!((echoed, limited), (2, 1), "two sent, one refused");
}

// ---------------------------------------------------------------- 4. signaling

/// Signals are relayed as is to a near user, refused with `not-nearby` for
/// a far, unknown or absent one, and bounded in size.
async fn signals_are_relayed_to_near_users_only(app: TestApp, codec: Codec) {
    let (_, owner) = app.user("owner").await;
    let space_id = create_space(&app, &owner, "20x4").await;
    let mut people = vec![
        Peer::new(&app, "ada", codec).await,
        Peer::new(&app, "bob", other(codec)).await,
        Peer::new(&app, "cyd", codec).await,
    ];
    let tiles = [at(0, 1), at(2, 1), at(10, 1)];
    scene(&app, &space_id, (20, 4), RADIUS, &mut people, &tiles, at(19, 3)).await;
    let [ada, bob, cyd] = &mut people[..] else { unreachable!() };
    let (a, b, c) = (ada.id.clone(), bob.id.clone(), cyd.id.clone());

    // Near: offer, answer, ice, hangup, relayed unchanged.
    let offer = json!({
        "type": "offer",
        "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
                m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n",
        "extra": {"n": [1, -2, 2.5, true, null], "s": "é ✓"}
    });
    ada.signal(&b, RtcKind::Offer, offer.clone()).await;
    bob.expect(relayed(&a, RtcKind::Offer, &offer), "the offer, as sent").await;
    let answer = json!({"type": "answer", "sdp": "v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\n"});
    bob.signal(&a, RtcKind::Answer, answer.clone()).await;
    ada.expect(relayed(&b, RtcKind::Answer, &answer), "the answer, as sent").await;
    let ice = json!({"candidate": "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", "sdpMid": "0",
                     "sdpMLineIndex": 0});
    ada.signal(&b, RtcKind::Ice, ice.clone()).await;
    bob.expect(relayed(&a, RtcKind::Ice, &ice), "the candidate, as sent").await;
    bob.signal(&a, RtcKind::Hangup, Value::Null).await;
    ada.expect(relayed(&b, RtcKind::Hangup, &Value::Null), "a client's own hangup").await;

    // Far: refused to the sender, nothing to the target.
    ada.signal(&c, RtcKind::Offer, offer.clone()).await;
    let why = ada.ws.expect_error(ErrorCode::NotNearby).await;
    assert!(why.contains(&c), "the error names the target: {why:?}");
    // Unknown user, oneself, and a user of another space: not near either.
    ada.signal("no-such-user", RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::NotNearby).await;
    ada.signal(&a, RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::NotNearby).await;
    let elsewhere = create_space(&app, &owner, "5x5").await;
    let mut dan = Peer::new(&app, "dan", other(codec)).await;
    dan.ws.join_ok(&elsewhere, &dan.token, None).await;
    ada.signal(&dan.id, RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::NotNearby).await;

    // A bad `to` is invalid.
    ada.signal("", RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;
    ada.signal(&"u".repeat(65), RtcKind::Offer, offer.clone()).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;

    // `data` up to 16 KiB as JSON (a string: two quotes around it).
    let biggest = Value::String("x".repeat(MAX_SIGNAL_BYTES - 2));
    assert_eq!(serde_json::to_vec(&biggest).unwrap().len(), MAX_SIGNAL_BYTES);
    ada.signal(&b, RtcKind::Offer, biggest.clone()).await;
    bob.expect(relayed(&a, RtcKind::Offer, &biggest), "16 KiB exactly is relayed").await;
    let too_big = Value::String("x".repeat(MAX_SIGNAL_BYTES - 1));
    ada.signal(&b, RtcKind::Offer, too_big).await;
    let why = ada.ws.expect_error(ErrorCode::Invalid).await;
    assert!(why.contains("data"), "the error names data: {why:?}");
    let nested = json!({"sdp": "y".repeat(MAX_SIGNAL_BYTES)});
    ada.signal(&b, RtcKind::Offer, nested).await;
    ada.ws.expect_error(ErrorCode::Invalid).await;

    // None of the refused signals arrived: after ada's move, the next
    // message of bob and cyd is that move.
    ada.move_to(at(0, 0)).await;
    bob.expect(movement(&a, at(0, 0)), "no refused signal reached bob").await;
    cyd.expect(movement(&a, at(0, 0)), "no refused signal reached cyd").await;

    // Not in a space: not-joined.
    let mut lost = Peer::new(&app, "eve", codec).await;
    lost.signal(&a, RtcKind::Offer, offer).await;
    lost.ws.expect_error(ErrorCode::NotJoined).await;
}

// ---------------------------------------------------------------- 5. private areas

/// People on the same private area are near wherever they stand on it;
/// one step outside its edge is not near them. Editing the space's
/// elements while people stand there regroups them.
async fn private_areas_make_their_own_nearby_sets(app: TestApp, codec: Codec) {
    let (_, boss) = app.admin("boss").await;
    let space_id = create_space(&app, &boss, "20x20").await;
    let rug_id = rug(&app, &boss, 6, 6).await;
    let placed = place_element(&app, &boss, &space_id, &rug_id, at(10, 10)).await;
    let (status, body) = app.get(&format!("/api/v1/space/{space_id}"), Some(&boss)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["elements"][0]["element"]["privateArea"], json!(true), "{body}");

    let mut people = vec![
        Peer::new(&app, "ina", codec).await,
        Peer::new(&app, "inb", other(codec)).await,
        Peer::new(&app, "outa", codec).await,
        Peer::new(&app, "outb", other(codec)).await,
    ];
    // Two opposite corners of the 6×6 rug (5 apart), one right outside its
    // edge (1 from ina), one 2 farther out.
    let tiles = [at(10, 10), at(15, 15), at(9, 10), at(7, 10)];
    let (_marker, last) = scene(&app, &space_id, (20, 20), RADIUS, &mut people, &tiles, at(0, 19)).await;
    let [ina, inb, outa, outb] = &mut people[..] else { unreachable!() };
    let (i1, i2, o1, o2) = (ina.id.clone(), inb.id.clone(), outa.id.clone(), outb.id.clone());
    let inside = gid(&[&i1, &i2]);
    let outside = gid(&[&o1, &o2]);
    assert_eq!(last[0], Some(prox(&[&i2], inside, RADIUS)), "ina: inb, 5 apart on the rug; not outa, 1 away");
    assert_eq!(last[1], Some(prox(&[&i1], inside, RADIUS)), "inb: ina");
    assert_eq!(last[2], Some(prox(&[&o2], outside, RADIUS)), "outa: outb (2 away); not ina across the edge");
    assert_eq!(last[3], Some(prox(&[&o1], outside, RADIUS)), "outb: outa");

    // outa steps onto the rug: now near both inside, and apart from outb.
    outa.move_to(at(9, 11)).await;
    outa.move_to(at(10, 11)).await;
    let three = gid(&[&i1, &i2, &o1]);
    let moves = || vec![movement(&o1, at(9, 11)), movement(&o1, at(10, 11))];
    ina.expect_all([moves(), vec![prox(&[&i2, &o1], three, RADIUS)]].concat(), "outa steps in").await;
    inb.expect_all([moves(), vec![prox(&[&i1, &o1], three, RADIUS)]].concat(), "outa steps in").await;
    outa.expect_all(vec![prox(&[&i1, &i2], three, RADIUS), hangup(&o2)], "outa stepped in").await;
    outb.expect_all([moves(), vec![alone(RADIUS), hangup(&o1)]].concat(), "outa left outb for the rug").await;

    // The rug is taken away: plain distance again. ina (10,10), outa
    // (10,11) and outb (7,10) are within 3; inb (15,15) is 5 from everyone.
    let (status, body) = app.delete(&format!("/api/v1/space/element/{placed}"), Some(&boss), None).await;
    assert!(status.is_success(), "remove the rug: {body}");
    let trio = gid(&[&i1, &o1, &o2]);
    ina.expect_all(vec![prox(&[&o1, &o2], trio, RADIUS), hangup(&i2)], "the rug is gone").await;
    inb.expect_all(vec![alone(RADIUS), hangup(&i1), hangup(&o1)], "the rug is gone").await;
    outa.expect_all(vec![prox(&[&i1, &o2], trio, RADIUS), hangup(&i2)], "the rug is gone").await;
    outb.expect(prox(&[&i1, &o1], trio, RADIUS), "the rug is gone").await;

    // Signals follow distance again: outb (3 away) is reachable, inb (5
    // away) is not.
    ina.signal(&o2, RtcKind::Offer, json!({"sdp": "v=0"})).await;
    outb.expect(relayed(&i1, RtcKind::Offer, &json!({"sdp": "v=0"})), "near again without the rug").await;
    ina.signal(&i2, RtcKind::Offer, json!({"sdp": "v=0"})).await;
    ina.ws.expect_error(ErrorCode::NotNearby).await;
}

/// A private area placed while people stand on it takes effect at once,
/// as removing one does (and as a static element does).
async fn a_private_area_placed_in_a_live_space_regroups(app: TestApp, codec: Codec) {
    let (_, boss) = app.admin("boss").await;
    let space_id = create_space(&app, &boss, "20x20").await;
    let rug_id = rug(&app, &boss, 6, 6).await;
    let mut people = vec![
        Peer::new(&app, "ina", codec).await,
        Peer::new(&app, "inb", other(codec)).await,
        Peer::new(&app, "outa", codec).await,
    ];
    let tiles = [at(10, 10), at(15, 15), at(9, 10)];
    let (_marker, last) = scene(&app, &space_id, (20, 20), RADIUS, &mut people, &tiles, at(0, 19)).await;
    let [ina, inb, outa] = &mut people[..] else { unreachable!() };
    let (i1, i2, o1) = (ina.id.clone(), inb.id.clone(), outa.id.clone());
    let pair = gid(&[&i1, &o1]);
    assert_eq!(last[0], Some(prox(&[&o1], pair, RADIUS)), "no rug yet: ina and outa are 1 apart");
    assert_eq!(last[1], None, "inb is 5 from everyone");
    assert_eq!(last[2], Some(prox(&[&i1], pair, RADIUS)));

    // The rug goes down under ina and inb: they are together, outa is out.
    place_element(&app, &boss, &space_id, &rug_id, at(10, 10)).await;
    let inside = gid(&[&i1, &i2]);
    ina.expect_all(
        vec![prox(&[&i2], inside, RADIUS), hangup(&o1)],
        "a private area placed in the live space (POST /api/v1/space/element) must regroup ina with inb",
    )
    .await;
    inb.expect(prox(&[&i1], inside, RADIUS), "the rug is down").await;
    outa.expect_all(vec![alone(RADIUS), hangup(&i1)], "the rug is down").await;
}

// ---------------------------------------------------------------- 6. names

/// `space-joined.users[]` and `user-join` carry the username, and the
/// avatar chosen with POST /api/v1/user/metadata.
async fn presence_carries_names_and_avatars(app: TestApp, codec: Codec) {
    let (_, boss) = app.admin("boss").await;
    let (status, body) = app
        .post("/api/v1/admin/avatar", Some(&boss), json!({"imageUrl": "https://cdn.example/fox.png", "name": "Fox"}))
        .await;
    assert!(status.is_success(), "{body}");
    let fox = body["avatarId"].as_str().unwrap().to_owned();

    let mut ada = Peer::new(&app, "ada", codec).await;
    let mut bob = Peer::new(&app, "bob", other(codec)).await;
    let (status, body) = app.post("/api/v1/user/metadata", Some(&ada.token), json!({"avatarId": fox})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space_id = create_space(&app, &ada.token, "30x30").await;

    let a = ada.ws.join_ok(&space_id, &ada.token, None).await;
    let b = bob.ws.join_ok(&space_id, &bob.token, None).await;
    assert_eq!(b.users.len(), 1);
    let seen = &b.users[0];
    assert_eq!((seen.user_id.as_str(), seen.x, seen.y), (ada.id.as_str(), a.spawn.x, a.spawn.y));
    assert_eq!(seen.username.as_deref(), Some("ada"), "space-joined names the others");
    assert_eq!(seen.avatar_id.as_deref(), Some(fox.as_str()), "and their avatar");
    ada.expect(
        ServerMsg::UserJoin {
            user_id: bob.id.clone(),
            x: b.spawn.x,
            y: b.spawn.y,
            username: Some("bob".into()),
            avatar_id: None,
        },
        "user-join names bob; he has no avatar",
    )
    .await;

    // Bob picks the avatar too, and comes back: the join shows it.
    let (status, body) = app.post("/api/v1/user/metadata", Some(&bob.token), json!({"avatarId": fox})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bob.send(ClientMsg::Leave {}).await;
    until_left(&mut ada, &bob.id).await;
    // Spawns are random: if they stood near each other, bob's socket still
    // holds the proximity of his first visit; skip to the new space-joined.
    bob.send(ClientMsg::Join {
        space_id: space_id.clone(),
        token: bob.token.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    let (again, _) =
        bob.ws.recv_until(|m| matches!(m, ServerMsg::SpaceJoined { .. }).then(|| Joined::from(m.clone()))).await;
    assert_eq!(again.users[0].username.as_deref(), Some("ada"));
    assert_eq!(again.users[0].avatar_id.as_deref(), Some(fox.as_str()));
    ada.expect(
        ServerMsg::UserJoin {
            user_id: bob.id.clone(),
            x: again.spawn.x,
            y: again.spawn.y,
            username: Some("bob".into()),
            avatar_id: Some(fox.clone()),
        },
        "bob's join shows his new avatar",
    )
    .await;

    // A third member sees both in space-joined.
    let mut cyd = Peer::new(&app, "cyd", codec).await;
    let c = cyd.ws.join_ok(&space_id, &cyd.token, None).await;
    let mut names: Vec<(String, Option<String>, Option<String>)> =
        c.users.iter().map(|u| (u.user_id.clone(), u.username.clone(), u.avatar_id.clone())).collect();
    names.sort();
    let mut expected = vec![
        (ada.id.clone(), Some("ada".to_owned()), Some(fox.clone())),
        (bob.id.clone(), Some("bob".to_owned()), Some(fox.clone())),
    ];
    expected.sort();
    assert_eq!(names, expected);
}

// ---------------------------------------------------------------- 7. radius

/// `proximityRadius` is 0 to 16 (default 3), and shown with the space.
async fn proximity_radius_is_validated(app: TestApp) {
    let (_, token) = app.user("ada").await;
    for bad in [json!(17), json!(-1), json!(1000), json!("3"), json!(2.5)] {
        let (status, body) = app
            .post("/api/v1/space", Some(&token), json!({"name": "room", "dimensions": "10x10", "proximityRadius": bad}))
            .await;
        if bad.is_number() && bad.as_i64().is_some() {
            assert_invalid(status, &body, "proximityRadius");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "proximityRadius {bad}: {body}");
        }
    }
    let (status, body) = app.get("/api/v1/space/all", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["spaces"], json!([]), "nothing was created: {body}");

    for (radius, shown) in [(Some(0), 0), (Some(16), 16), (None, 3)] {
        let mut req = json!({"name": "room", "dimensions": "10x10"});
        if let Some(r) = radius {
            req["proximityRadius"] = json!(r);
        }
        let (status, body) = app.post("/api/v1/space", Some(&token), req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = body["spaceId"].as_str().unwrap();
        let (status, body) = app.get(&format!("/api/v1/space/{id}"), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["proximityRadius"], json!(shown), "{body}");
    }
}

/// With radius 0 nobody is near, not even on the next tile, except on a
/// private area.
async fn radius_zero_leaves_only_private_areas(app: TestApp, codec: Codec) {
    let (_, boss) = app.admin("boss").await;
    let space_id = space_with_radius(&app, &boss, "20x20", 0).await;
    let rug_id = rug(&app, &boss, 4, 4).await;
    place_element(&app, &boss, &space_id, &rug_id, at(10, 10)).await;
    let mut people = vec![
        Peer::new(&app, "ada", codec).await,
        Peer::new(&app, "bob", other(codec)).await,
        Peer::new(&app, "cyd", codec).await,
        Peer::new(&app, "dan", other(codec)).await,
    ];
    let tiles = [at(0, 0), at(1, 0), at(10, 10), at(13, 13)];
    let (_marker, last) = scene(&app, &space_id, (20, 20), 0, &mut people, &tiles, at(19, 0)).await;
    let [ada, bob, cyd, dan] = &mut people[..] else { unreachable!() };
    let (a, b, c, d) = (ada.id.clone(), bob.id.clone(), cyd.id.clone(), dan.id.clone());
    assert_eq!(last[0], None, "ada: bob on the next tile is not near");
    assert_eq!(last[1], None, "bob: nor ada");
    let pair = gid(&[&c, &d]);
    assert_eq!(last[2], Some(prox(&[&d], pair, 0)), "cyd: dan, on the same rug");
    assert_eq!(last[3], Some(prox(&[&c], pair, 0)), "dan: cyd");

    // Moving around each other tells nobody anything but the move.
    ada.move_to(at(0, 1)).await;
    bob.expect(movement(&a, at(0, 1)), "radius 0: diagonal is not near").await;
    bob.move_to(at(1, 1)).await;
    ada.expect(movement(&b, at(1, 1)), "radius 0: side by side is not near").await;
    ada.send(nearby_chat("anyone?", None)).await;
    assert!(matches!(ada.ws.recv().await, ServerMsg::ChatMessage { .. }), "ada's own echo");
    ada.move_to(at(0, 0)).await;
    bob.expect(movement(&a, at(0, 0)), "ada's nearby message reached nobody").await;
    ada.signal(&b, RtcKind::Offer, json!({"sdp": "v=0"})).await;
    ada.ws.expect_error(ErrorCode::NotNearby).await;

    for p in [&mut *cyd, &mut *dan] {
        for m in [movement(&a, at(0, 1)), movement(&b, at(1, 1)), movement(&a, at(0, 0))] {
            p.expect(m, "the moves off the rug").await;
        }
    }

    // Off the rug, dan is alone; a step back on, with cyd again.
    dan.move_to(at(14, 13)).await;
    for p in [&mut *ada, &mut *bob] {
        p.expect(movement(&d, at(14, 13)), "dan steps off the rug").await;
    }
    cyd.expect_all(vec![movement(&d, at(14, 13)), alone(0), hangup(&d)], "dan stepped off").await;
    dan.expect_all(vec![alone(0), hangup(&c)], "dan stepped off").await;
    dan.move_to(at(13, 13)).await;
    for p in [&mut *ada, &mut *bob] {
        p.expect(movement(&d, at(13, 13)), "dan steps back").await;
    }
    cyd.expect_all(vec![movement(&d, at(13, 13)), prox(&[&d], pair, 0)], "dan is back").await;
    dan.expect(prox(&[&c], pair, 0), "dan is back").await;
}

ws_cases!(
    proximity_on_entering_and_leaving_the_radius,
    a_chain_is_one_group_until_its_middle_leaves,
    nearby_chat_reaches_exactly_the_nearby_set,
    signals_are_relayed_to_near_users_only,
    private_areas_make_their_own_nearby_sets,
    a_private_area_placed_in_a_live_space_regroups,
    presence_carries_names_and_avatars,
    radius_zero_leaves_only_private_areas,
);

ws_cases!(@config |cfg: &mut metaverse_server::config::ServeConfig| {
    cfg.chat_rate = 1;
    cfg.chat_burst = 2;
}; nearby_chat_is_rate_limited);

on_both_backends!(proximity_radius_is_validated);
