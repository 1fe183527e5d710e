//! The space's membership rules, driven through its messages with
//! in-memory session links: no sockets, no server.

use std::{sync::Arc, time::Duration};

use actix::prelude::*;
use metaverse_protocol::{Codec, Position};
use serde_json::Value;
use tokio::sync::mpsc;

use super::*;
use crate::{
    link::{SessionPort, link},
    pipeline::EventSink,
};

struct Harness {
    space: Addr<SpaceActor>,
    positions: mpsc::Receiver<PositionUpdate>,
}

fn settings() -> SpaceSettings {
    SpaceSettings {
        resume_grace: Duration::from_millis(200),
        tick: Duration::from_millis(5),
        ..SpaceSettings::default()
    }
}

fn init(space_id: &str, width: i32, height: i32) -> SpaceInit {
    SpaceInit {
        space_id: space_id.into(),
        width,
        height,
        statics: Vec::new(),
        statics_tick: 0,
        areas: Vec::new(),
        proximity_radius: 0,
    }
}

fn start(width: i32, height: i32, settings: SpaceSettings) -> Harness {
    let (tx, positions) = mpsc::channel(16);
    let registry = Registry::new(settings.clone(), tx.clone(), EventSink::Off);
    let init = init("s1", width, height);
    let space = SpaceActor::new(init, 1, Arc::new(settings), registry, tx).start();
    Harness { space, positions }
}

fn join_msg(user: &str, session_id: u64, capacity: usize, resume_token: Option<String>) -> (Join, SessionPort) {
    let (l, port) = link(session_id, Codec::Json, capacity);
    let msg = Join {
        user: UserId::from(user),
        link: l,
        preferred: None,
        resume_token,
        username: Some(user.to_uppercase()),
        avatar_id: None,
    };
    (msg, port)
}

/// The next frame on the port as JSON, or `None` when nothing arrives in time.
async fn next(port: &mut SessionPort) -> Option<Value> {
    let frame = tokio::time::timeout(Duration::from_secs(2), port.rx.recv()).await.ok()??;
    Some(serde_json::from_slice(&frame).expect("frames are JSON"))
}

/// Frames until one of type `kind` arrives (skipping proximity and the like).
async fn expect(port: &mut SessionPort, kind: &str) -> Value {
    while let Some(v) = next(port).await {
        if v["type"] == kind {
            return v;
        }
    }
    panic!("no `{kind}` frame arrived");
}

async fn join(h: &Harness, user: &str, session_id: u64) -> (SessionPort, Value) {
    let (msg, mut port) = join_msg(user, session_id, 64, None);
    h.space.send(msg).await.expect("space alive").expect("joined");
    let joined = expect(&mut port, "space-joined").await;
    (port, joined)
}

#[actix::test]
async fn a_join_snapshots_the_others_and_announces_the_newcomer() {
    let h = start(10, 10, settings());
    let (mut a, joined_a) = join(&h, "a", 1).await;
    assert_eq!(joined_a["payload"]["users"].as_array().map(Vec::len), Some(0));
    assert_eq!(joined_a["payload"]["resumed"], false);
    let (_b, joined_b) = join(&h, "b", 2).await;
    let users = joined_b["payload"]["users"].as_array().cloned().unwrap_or_default();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["userId"], "a");
    assert_eq!(users[0]["username"], "A");
    let seen = expect(&mut a, "user-join").await;
    assert_eq!(seen["payload"]["userId"], "b");
}

#[actix::test]
async fn a_full_space_refuses_the_join() {
    let h = start(1, 1, settings());
    let _a = join(&h, "a", 1).await;
    let (msg, _port) = join_msg("b", 2, 8, None);
    assert_eq!(h.space.send(msg).await.expect("space alive"), Err(JoinRefused::Full));
}

#[actix::test]
async fn a_resume_with_the_token_replays_what_was_missed_and_hides_the_drop() {
    let h = start(10, 2, settings());
    let (a, joined) = join(&h, "a", 1).await;
    let token = joined["payload"]["resumeToken"].as_str().map(str::to_owned);
    let (mut b, joined_b) = join(&h, "b", 2).await;
    drop(a);
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: true, unsent: Vec::new() });
    // While `a` is away, `b` steps to a free neighbour: `a` must get it on resume.
    let at = |v: &Value| {
        (i32::try_from(v["x"].as_i64().unwrap_or(-1)).unwrap(), i32::try_from(v["y"].as_i64().unwrap_or(-1)).unwrap())
    };
    let (a_at, (bx, by)) = (at(&joined["payload"]["spawn"]), at(&joined_b["payload"]["spawn"]));
    let to = [(bx + 1, by), (bx - 1, by), (bx, 1 - by)]
        .into_iter()
        .find(|&(x, y)| (0..10).contains(&x) && (x, y) != a_at)
        .map(|(x, y)| Position { x, y })
        .expect("b has a free neighbour");
    h.space.do_send(Move { user: "b".into(), session_id: 2, to });
    let present = h.space.send(Members { viewer: None }).await.expect("space alive");
    assert!(present.iter().any(|p| p.user_id == "b" && (p.x, p.y) == (to.x, to.y)), "{present:?}");
    // Let the tick that carries the move pass while `a` is away.
    tokio::time::sleep(settings().tick * 4).await;
    let (msg, mut a2) = join_msg("a", 3, 64, token);
    h.space.send(msg).await.expect("space alive").expect("resumed");
    let joined = expect(&mut a2, "space-joined").await;
    assert_eq!(joined["payload"]["resumed"], true);
    let replayed = expect(&mut a2, "movement").await;
    assert_eq!(
        (replayed["payload"]["x"].as_i64(), replayed["payload"]["userId"].as_str()),
        (Some(i64::from(to.x)), Some("b"))
    );
    let present = h.space.send(Members { viewer: None }).await.expect("space alive");
    assert!(present.iter().all(|p| !p.suspended), "{present:?}");
    // `b` never saw `a` leave.
    let mut frames = Vec::new();
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(50), b.rx.recv()).await {
        frames.push(serde_json::from_slice::<Value>(&f).expect("json"));
    }
    assert!(frames.iter().all(|f| f["type"] != "user-left"), "{frames:?}");
}

#[actix::test]
async fn a_newer_socket_takes_over_and_the_old_one_is_closed_as_replaced() {
    let h = start(10, 10, settings());
    let (mut old, _) = join(&h, "a", 1).await;
    let (_new, joined) = join(&h, "a", 2).await;
    assert_eq!(joined["payload"]["resumed"], false, "no token, no resume");
    let bye = expect(&mut old, "error").await;
    assert_eq!(bye["payload"]["code"], "session-replaced");
    assert_eq!(*old.close.borrow(), Some(CloseReason::REPLACED));
    assert_eq!(h.space.send(Members { viewer: None }).await.expect("space alive").len(), 1);
}

#[actix::test]
async fn leave_tells_the_others_at_once_and_stores_the_position() {
    let mut h = start(10, 10, settings());
    let (_a, joined) = join(&h, "a", 1).await;
    let (mut b, _) = join(&h, "b", 2).await;
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: false, unsent: Vec::new() });
    let left = expect(&mut b, "user-left").await;
    assert_eq!(left["payload"]["userId"], "a");
    let stored = h.positions.recv().await.expect("a position update");
    assert_eq!(&*stored.user_id, "a");
    assert_eq!(
        stored.position.x,
        joined["payload"]["spawn"]["x"].as_i64().map(|x| i32::try_from(x).unwrap()).unwrap_or(-1)
    );
}

#[actix::test]
async fn a_dropped_member_is_suspended_then_leaves_when_the_grace_runs_out() {
    let h = start(10, 10, settings());
    let (a, _) = join(&h, "a", 1).await;
    let (mut b, _) = join(&h, "b", 2).await;
    drop(a);
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: true, unsent: Vec::new() });
    let present = h.space.send(Members { viewer: None }).await.expect("space alive");
    assert!(present.iter().any(|p| p.user_id == "a" && p.suspended), "{present:?}");
    let left = expect(&mut b, "user-left").await;
    assert_eq!(left["payload"]["userId"], "a");
    assert_eq!(h.space.send(Members { viewer: None }).await.expect("space alive").len(), 1);
}

#[actix::test]
async fn messages_from_a_replaced_session_are_ignored() {
    let h = start(2, 1, settings());
    let (_old, _) = join(&h, "a", 1).await;
    let (_new, joined) = join(&h, "a", 2).await;
    let spawn = &joined["payload"]["spawn"];
    let elsewhere = if spawn["x"] == 0 { 1 } else { 0 };
    // The old session's leave and move must not touch the new one.
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: false, unsent: Vec::new() });
    h.space.do_send(Move { user: "a".into(), session_id: 1, to: Position { x: elsewhere, y: 0 } });
    let present = h.space.send(Members { viewer: None }).await.expect("space alive");
    assert_eq!(present.len(), 1);
    assert!(!present[0].suspended);
    assert_eq!(
        (i64::from(present[0].x), i64::from(present[0].y)),
        (spawn["x"].as_i64().unwrap_or(-1), spawn["y"].as_i64().unwrap_or(-1))
    );
}

#[actix::test]
async fn a_step_onto_someone_is_rejected_with_the_true_position() {
    let h = start(2, 1, settings());
    let (mut a, joined_a) = join(&h, "a", 1).await;
    let (_b, joined_b) = join(&h, "b", 2).await;
    let b_at = &joined_b["payload"]["spawn"];
    let to = Position { x: i32::try_from(b_at["x"].as_i64().unwrap_or(0)).unwrap(), y: 0 };
    h.space.do_send(Move { user: "a".into(), session_id: 1, to });
    let rejected = expect(&mut a, "movement-rejected").await;
    assert_eq!(rejected["payload"]["x"], joined_a["payload"]["spawn"]["x"]);
}

#[actix::test]
async fn a_member_that_does_not_read_is_closed_as_a_slow_consumer() {
    let h = start(10, 10, settings());
    let (msg, slow) = join_msg("slow", 1, 2, None);
    h.space.send(msg).await.expect("space alive").expect("joined");
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(join(&h, &format!("u{i}"), 10 + i).await);
    }
    let mut close = slow.close.clone();
    let reason = tokio::time::timeout(Duration::from_secs(2), close.wait_for(Option::is_some))
        .await
        .expect("closed in time")
        .expect("link alive")
        .expect("a reason");
    assert_eq!(reason, CloseReason::SLOW_CONSUMER);
    let present = h.space.send(Members { viewer: None }).await.expect("space alive");
    assert!(present.iter().any(|p| p.user_id == "slow" && p.suspended), "held for resume: {present:?}");
}

#[actix::test]
async fn steps_faster_than_the_walking_speed_are_rejected() {
    let h = start(100, 1, settings());
    let (mut a, joined) = join(&h, "a", 1).await;
    let x0 = i32::try_from(joined["payload"]["spawn"]["x"].as_i64().unwrap_or(0)).unwrap();
    let side = if x0 < 99 { 1 } else { -1 };
    // 40 steps back and forth sent at once: the burst passes, the rest not.
    for i in 0..40 {
        let to = Position { x: x0 + side * ((i + 1) % 2), y: 0 };
        h.space.do_send(Move { user: "a".into(), session_id: 1, to });
    }
    // Answered after every move above (one mailbox, in order).
    h.space.send(Members { viewer: None }).await.expect("space alive");
    let mut rejected = 0;
    while let Ok(frame) = a.rx.try_recv() {
        let v: Value = serde_json::from_slice(&frame).expect("frames are JSON");
        rejected += usize::from(v["type"] == "movement-rejected");
    }
    let burst = 10; // the default walk burst
    assert!((settings().walk.burst - 10.0).abs() < f64::EPSILON);
    assert!((40 - burst - 2..=40 - burst).contains(&rejected), "{rejected} rejected");
}

fn join_at(user: &str, session_id: u64, x: i32, y: i32) -> (Join, SessionPort) {
    let (mut msg, port) = join_msg(user, session_id, 64, None);
    msg.preferred = Some(Position { x, y });
    (msg, port)
}

#[actix::test]
async fn presence_shows_a_viewer_its_view_window_only() {
    // Three is a crowd here, so everyone gets the window.
    let h = start(200, 200, SpaceSettings { view_all_up_to: 2, ..settings() });
    let mut ports = Vec::new();
    for (session, (user, x, y)) in (1..).zip([("a", 0, 0), ("near", 2, 2), ("far", 199, 199)]) {
        let (msg, port) = join_at(user, session, x, y);
        h.space.send(msg).await.expect("space alive").expect("joined");
        ports.push(port);
    }
    let seen = |viewer: Option<&str>| {
        let viewer = viewer.map(str::to_owned);
        let space = h.space.clone();
        async move {
            let mut ids: Vec<String> =
                space.send(Members { viewer }).await.expect("space alive").into_iter().map(|p| p.user_id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(seen(Some("a")).await, ["a", "near"]);
    assert_eq!(seen(Some("far")).await, ["far"]);
    assert!(seen(Some("stranger")).await.is_empty(), "someone not in the space sees nobody");
    assert_eq!(seen(None).await.len(), 3);
}

fn ids(users: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        users.as_array().expect("a list").iter().map(|u| u["userId"].as_str().expect("an id").to_owned()).collect();
    ids.sort();
    ids
}

#[actix::test]
async fn everyone_is_seen_until_the_space_is_crowded_unless_a_window_was_asked_for() {
    let h = start(200, 200, SpaceSettings { view_all_up_to: 3, ..settings() });
    let (msg, mut a) = join_at("a", 1, 0, 0);
    h.space.send(msg).await.expect("space alive").expect("joined");
    let (msg, _far) = join_at("far", 2, 199, 199);
    h.space.send(msg).await.expect("space alive").expect("joined");
    assert_eq!(expect(&mut a, "user-join").await["payload"]["userId"], "far", "the whole space is in view");
    // A client that asked for a window sees its window even now.
    let (mut msg, mut w) = join_at("w", 3, 1, 0);
    msg.link.view = Some(crate::world::ViewWindow::default());
    h.space.send(msg).await.expect("space alive").expect("joined");
    let joined = expect(&mut w, "space-joined").await;
    assert_eq!(ids(&joined["payload"]["users"]), ["a"]);
    // A fourth person makes a crowd: the far one goes out of `a`'s view.
    let (msg, _near) = join_at("near", 4, 2, 2);
    h.space.send(msg).await.expect("space alive").expect("joined");
    assert_eq!(expect(&mut a, "view-leave").await["payload"]["userId"], "far");
    // Back to three: everyone again.
    h.space
        .send(Leave { user: "near".into(), session_id: 4, dropped: false, unsent: Vec::new() })
        .await
        .expect("alive");
    let back = expect(&mut a, "view-enter").await;
    assert_eq!((back["payload"]["userId"].as_str(), back["payload"]["x"].as_i64()), (Some("far"), Some(199)));
    // And `w` never saw the far one come or go (its frames of that tick
    // were queued with `a`'s).
    while let Ok(v) = w.rx.try_recv() {
        let v: Value = serde_json::from_slice(&v).expect("JSON");
        assert_ne!(v["payload"]["userId"], "far", "{v}");
    }
}

/// Which thread the space runs on.
#[derive(Message)]
#[rtype(result = "std::thread::ThreadId")]
struct WhichThread;

impl Handler<WhichThread> for SpaceActor {
    type Result = MessageResult<WhichThread>;

    fn handle(&mut self, _: WhichThread, _: &mut Self::Context) -> Self::Result {
        MessageResult(std::thread::current().id())
    }
}

#[actix::test]
async fn spaces_are_dealt_out_over_the_realtime_arbiters() {
    let (tx, _positions) = mpsc::channel(16);
    let registry = Registry::new(settings(), tx, EventSink::Off);
    let pool = [Arbiter::new(), Arbiter::new()];
    registry.run_spaces_on(pool.iter().map(Arbiter::handle).collect());
    let mut threads = Vec::new();
    for i in 0..4 {
        let space = registry.get_or_start(init(&format!("s{i}"), 10, 10));
        threads.push(space.send(WhichThread).await.expect("space alive"));
    }
    let here = std::thread::current().id();
    assert!(threads.iter().all(|t| *t != here), "no space on the caller's thread");
    assert_eq!((threads[0], threads[1]), (threads[2], threads[3]), "in turn");
    assert_ne!(threads[0], threads[1], "over both arbiters");
    // A space on another thread serves a join like any other.
    let (msg, mut port) = join_msg("ada", 1, 64, None);
    registry.get_or_start(init("s1", 10, 10)).send(msg).await.expect("space alive").expect("joined");
    expect(&mut port, "space-joined").await;
    for a in pool {
        a.stop();
    }
}

#[actix::test]
async fn chat_rides_the_tick_frame_for_batched_members_and_goes_at_once_to_the_others() {
    // A long tick, so the three messages surely fall into one.
    let h = start(10, 10, SpaceSettings { tick: Duration::from_secs(1), ..settings() });
    let (batched, mut b) = join_msg("bat", 1, 64, None);
    let batched = Join { link: batched.link.batched(true), ..batched };
    h.space.send(batched).await.expect("space alive").expect("joined");
    let (mut plain, _) = join(&h, "pla", 2).await;
    let room: Arc<str> = Arc::from("r1");
    for (user, session_id) in [("bat", 1), ("pla", 2)] {
        let sub = ChatSubscribe { user: user.into(), session_id, room: room.clone() };
        assert!(h.space.send(sub).await.expect("space alive"));
    }
    let chat = |n: u32| ServerMsg::ChatMessage {
        id: format!("m{n}"),
        chatroom_id: "r1".into(),
        user_id: "pla".into(),
        username: "PLA".into(),
        content: format!("hello {n}"),
        kind: "text".into(),
        sent_at: "2026-12-04T00:00:00Z".into(),
        client_id: None,
    };
    for n in 0..3 {
        h.space.send(ChatDeliver { room: room.clone(), msg: chat(n) }).await.expect("space alive");
    }
    // The plain member got three frames at once.
    for n in 0..3 {
        assert_eq!(expect(&mut plain, "chat-message").await["payload"]["id"], format!("m{n}"));
    }
    // The batched one saw the plain member arrive at once (the first event
    // after a quiet spell), then gets the three in the next tick's frame.
    let first = expect(&mut b, "batch").await;
    assert_eq!(first["payload"]["events"][0]["type"], "user-join", "{first}");
    let batch = expect(&mut b, "batch").await;
    let events = batch["payload"]["events"].as_array().expect("events");
    let ids: Vec<&str> = events.iter().filter_map(|e| e["payload"]["id"].as_str()).collect();
    assert_eq!(ids, ["m0", "m1", "m2"], "one frame, in order: {batch}");
}
