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
    assert_eq!(old.close.reason(), Some(CloseReason::REPLACED));
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
    let (msg, mut slow) = join_msg("slow", 1, 2, None);
    h.space.send(msg).await.expect("space alive").expect("joined");
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(join(&h, &format!("u{i}"), 10 + i).await);
    }
    let reason = tokio::time::timeout(Duration::from_secs(2), slow.close.closed()).await.expect("closed in time");
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
    while let Some(frame) = a.rx.try_recv() {
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

mod delivery;
mod sight;

/// Sockets that drop together depart together when their graces end: the
/// one who stays hears each `user-left` once and of its new surroundings
/// once, not once per leaver.
#[actix::test]
async fn graces_that_end_together_depart_in_one_batch() {
    let (tx, _positions) = mpsc::channel(16);
    let registry = Registry::new(settings(), tx.clone(), EventSink::Off);
    let init = SpaceInit { proximity_radius: 10, ..init("s1", 5, 5) };
    let space = SpaceActor::new(init, 1, Arc::new(settings()), registry, tx).start();
    let h = Harness { space, positions: _positions };
    let (mut d, _) = join(&h, "d", 1).await;
    let mut ports = Vec::new();
    for (i, u) in ["a", "b", "c"].into_iter().enumerate() {
        ports.push(join(&h, u, 10 + i as u64).await.0);
    }
    // d has heard of all three before they go.
    loop {
        let v = expect(&mut d, "proximity").await;
        if v["payload"]["nearby"].as_array().map(Vec::len) == Some(3) {
            break;
        }
    }
    drop(ports);
    for (i, u) in ["a", "b", "c"].into_iter().enumerate() {
        h.space.do_send(Leave { user: u.into(), session_id: 10 + i as u64, dropped: true, unsent: Vec::new() });
    }
    // A later join marks the end of what the departures caused.
    let (mut lefts, mut nearby_updates) = (Vec::new(), Vec::new());
    let mut marker = None;
    loop {
        let v = next(&mut d).await.expect("frames until the marker");
        match v["type"].as_str() {
            Some("user-left") => {
                lefts.push(v["payload"]["userId"].clone());
                if lefts.len() == 3 {
                    marker = Some(join(&h, "e", 20).await.0);
                }
            }
            Some("proximity") => nearby_updates.push(v["payload"]["nearby"].clone()),
            Some("user-join") => break,
            _ => {}
        }
    }
    drop(marker);
    lefts.sort_by_key(ToString::to_string);
    assert_eq!(lefts, ["a", "b", "c"]);
    assert_eq!(nearby_updates, [serde_json::json!([])], "one update for the whole batch");
}

/// A grace belongs to the suspension that started it: a member who came
/// back (here even under the same session id) and dropped again gets a
/// whole grace from the second drop, not what was left of the first.
#[actix::test]
async fn a_second_drop_gets_a_whole_grace() {
    let h = start(10, 10, settings());
    let grace = settings().resume_grace;
    let (a, _) = join(&h, "a", 1).await;
    let (mut b, _) = join(&h, "b", 2).await;
    drop(a);
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: true, unsent: Vec::new() });
    let (again, _) = join(&h, "a", 1).await;
    // Half the first grace later, the socket drops again.
    tokio::time::sleep(grace / 2).await;
    drop(again);
    let dropped_again = std::time::Instant::now();
    h.space.do_send(Leave { user: "a".into(), session_id: 1, dropped: true, unsent: Vec::new() });
    let left = expect(&mut b, "user-left").await;
    assert_eq!(left["payload"]["userId"], "a");
    assert!(dropped_again.elapsed() >= grace, "left {:?} after the second drop", dropped_again.elapsed());
}
