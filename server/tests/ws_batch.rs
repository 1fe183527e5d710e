//! Per-tick batching and the area of interest over the real server
//! (issue 7).
//!
//! Batching: a batched session gets one `batch` frame per tick with the
//! tick's world events, a mover's overwritten steps coalesced and its own
//! final step included; a plain session gets every step as its own frame.
//! The tick here is a second long, so steps sent back to back on one
//! socket land in one tick.
//!
//! Area of interest: with a 10×10 view window, a 30×3 space is cut into
//! 2-tile columns and a viewer that asks for a 10×10 window sees the 5
//! columns around its own (10 tiles). People crossing its edge come as `view-enter`/`view-leave`, and
//! so do those standing still when the viewer's own window moves.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    Backend, TestApp,
    ws::{Joined, WsClient, at, create_space, movement, seat},
};
use metaverse_actors::ViewWindow;
use metaverse_protocol::{Codec, Position, ServerMsg, ViewSize};

async fn app_with(tick: Duration, view: ViewWindow) -> TestApp {
    TestApp::start_with(Backend::Sqlite, |cfg| {
        cfg.tick = tick;
        cfg.view = view;
        // The walks here are long and sent back to back.
        cfg.ws_rate = 10_000;
        cfg.ws_burst = 10_000;
    })
    .await
    .expect("sqlite always runs")
}

fn events(frame: ServerMsg) -> Vec<ServerMsg> {
    match frame {
        ServerMsg::Batch { events } => events,
        other => panic!("expected a batch frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tick_is_one_batch_with_overwritten_steps_coalesced() {
    let app = app_with(Duration::from_secs(1), ViewWindow::default()).await;
    let (ada_id, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (_, cyd_token) = app.user("cyd").await;
    let (_, dan_token) = app.user("dan").await;
    let space_id = create_space(&app, &ada_token, "10x2").await;
    let size = (10, 2);
    seat(&app, &ada_token, &space_id, size, at(0, 0)).await;
    seat(&app, &bob_token, &space_id, size, at(9, 0)).await;
    seat(&app, &cyd_token, &space_id, size, at(8, 1)).await;
    seat(&app, &dan_token, &space_id, size, at(9, 1)).await;

    // Bob: MessagePack, batched by default. Cyd: JSON, plain by default.
    // Dan: JSON asking for batches.
    let mut bob = WsClient::connect(&app.ws, Codec::MsgPack).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(b.spawn, at(9, 0));
    let mut cyd = WsClient::connect(&app.ws, Codec::Json).await;
    cyd.join_ok(&space_id, &cyd_token, None).await;
    let mut dan = WsClient::connect(&app.ws, Codec::Json).await;
    dan.batch = Some(true);
    dan.join_ok(&space_id, &dan_token, None).await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    assert_eq!(a.spawn, at(0, 0));

    // Four steps back to back, in the tick of Ada's join.
    let steps = [at(1, 0), at(2, 0), at(3, 0), at(4, 0)];
    for s in steps {
        ada.send(&metaverse_protocol::ClientMsg::Move { x: s.x, y: s.y }).await;
    }
    ada.assert_at(at(4, 0)).await;

    let joined_ada = |m: &ServerMsg| matches!(m, ServerMsg::UserJoin { user_id, .. } if *user_id == ada_id);
    for (name, ws) in [("bob", &mut bob), ("dan", &mut dan)] {
        let mut got = Vec::new();
        // Frames until Ada's last step; each is a batch.
        while !got.contains(&movement(&ada_id, at(4, 0))) {
            got.extend(events(ws.recv_frame().await));
        }
        assert!(got.iter().any(joined_ada), "{name}: Ada's join came in a batch: {got:?}");
        let moves: Vec<&ServerMsg> = got.iter().filter(|m| matches!(m, ServerMsg::Movement { .. })).collect();
        // The steps took a millisecond; a tick boundary may fall among
        // them once at most, so at most two of the four arrive.
        assert!(
            moves.len() <= 2 && moves.iter().all(|m| steps.iter().any(|s| **m == movement(&ada_id, *s))),
            "{name}: the tick's steps coalesce: {moves:?}"
        );
    }
    // Cyd, plain, gets each step as a frame of its own.
    let mut seen = Vec::new();
    while seen.len() < steps.len() {
        match cyd.recv_frame().await {
            m @ ServerMsg::Movement { .. } => seen.push(m),
            ServerMsg::UserJoin { .. } | ServerMsg::Proximity { .. } | ServerMsg::RtcSignal { .. } => {}
            other => panic!("cyd: expected single events, got {other:?}"),
        }
    }
    assert_eq!(seen, steps.map(|s| movement(&ada_id, s)));
    // Ada's own batch carries her last step back: her position, confirmed.
    ada.own_moves = true;
    ada.recv_until(|m| (*m == movement(&ada_id, at(4, 0))).then_some(())).await;
}

/// The next message about `who`, skipping others.
async fn next_about(ws: &mut WsClient, who: &str) -> ServerMsg {
    let (m, _) = ws
        .recv_until(|m| {
            let about = match m {
                ServerMsg::Movement { user_id, .. }
                | ServerMsg::ViewEnter { user_id, .. }
                | ServerMsg::ViewLeave { user_id }
                | ServerMsg::UserJoin { user_id, .. }
                | ServerMsg::UserLeft { user_id } => user_id == who,
                _ => false,
            };
            about.then(|| m.clone())
        })
        .await;
    m
}

/// The next message about `who` must be its `view-enter` (named); then
/// its moves up to `to`. Returns where it entered.
async fn enters_then_walks_to(ws: &mut WsClient, who: &str, name: &str, to: Position) -> Position {
    let entered = match next_about(ws, who).await {
        ServerMsg::ViewEnter { x, y, username, .. } => {
            assert_eq!(username.as_deref(), Some(name), "view-enter names the user");
            at(x, y)
        }
        other => panic!("expected {name}'s view-enter, got {other:?}"),
    };
    if entered != to {
        moves_until(ws, who, |m| *m == movement(who, to)).await;
    }
    entered
}

/// Reads messages about `who` until `done` accepts one; every one before
/// it must be a `movement`.
async fn moves_until(ws: &mut WsClient, who: &str, done: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    loop {
        let m = next_about(ws, who).await;
        if done(&m) {
            return m;
        }
        assert!(matches!(m, ServerMsg::Movement { .. }), "expected {who}'s moves, got {m:?}");
    }
}

async fn walkers_cross_the_view_window_edge(codec: Codec) {
    let app = app_with(Duration::from_millis(50), ViewWindow { width: 10, height: 10 }).await;
    let size = (30, 3);
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = create_space(&app, &ada_token, "30x3").await;
    seat(&app, &bob_token, &space_id, size, at(29, 1)).await;

    // Both ask for the window (as the browser client does); without it
    // two people in a space this small would see each other throughout.
    let window = Some(ViewSize { width: 10, height: 10 });
    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.view = window;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    ada.walk(a.spawn, at(0, 1), size, &[]).await;
    let mut bob = WsClient::connect(&app.ws, crate::common::ws::other(codec)).await;
    bob.view = window;
    let b: Joined = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(b.spawn, at(29, 1));
    assert!(b.users.is_empty(), "Ada is out of Bob's view: {:?}", b.users);

    // Bob walks up to Ada: she sees him enter at her window's edge (x ≤ 5)
    // and then walk, to (4,1).
    bob.walk(at(29, 1), at(4, 1), size, &[at(0, 1)]).await;
    let entered = enters_then_walks_to(&mut ada, &bob_id, "bob", at(4, 1)).await;
    assert!(entered.x <= 5 && entered.y == 1, "Bob entered at the window's edge, not at {entered:?}");
    // Bob's window reached Ada, who stood still.
    assert_eq!(enters_then_walks_to(&mut bob, &ada_id, "ada", at(0, 1)).await, at(0, 1));

    // Bob walks away: she sees him leave once, still in the space.
    bob.walk(at(4, 1), at(29, 1), size, &[at(0, 1)]).await;
    moves_until(&mut ada, &bob_id, |m| matches!(m, ServerMsg::ViewLeave { .. })).await;
    match next_about(&mut bob, &ada_id).await {
        ServerMsg::ViewLeave { .. } => {}
        other => panic!("expected Ada's view-leave, got {other:?}"),
    }

    // Now Ada walks to Bob, who stands still: her moving window reveals
    // him (at 29), and hides him again as she walks back.
    ada.walk(at(0, 1), at(24, 1), size, &[]).await;
    assert_eq!(
        next_about(&mut ada, &bob_id).await,
        ServerMsg::ViewEnter { user_id: bob_id.clone(), x: 29, y: 1, username: Some("bob".into()), avatar_id: None }
    );
    let entered = enters_then_walks_to(&mut bob, &ada_id, "ada", at(24, 1)).await;
    assert!(entered.x >= 24, "Ada entered Bob's window at its edge, not at {entered:?}");
    ada.walk(at(24, 1), at(0, 1), size, &[]).await;
    assert_eq!(next_about(&mut ada, &bob_id).await, ServerMsg::ViewLeave { user_id: bob_id.clone() });
    moves_until(&mut bob, &ada_id, |m| matches!(m, ServerMsg::ViewLeave { .. })).await;

    // Out of view, Bob's steps reach Ada not at all: the next she hears of
    // him is his entering her window again.
    bob.walk(at(29, 1), at(5, 1), size, &[at(0, 1)]).await;
    assert_eq!(enters_then_walks_to(&mut ada, &bob_id, "bob", at(5, 1)).await, at(5, 1));
}

#[tokio::test]
async fn walkers_cross_the_view_window_edge_msgpack() {
    walkers_cross_the_view_window_edge(Codec::MsgPack).await;
}

#[tokio::test]
async fn walkers_cross_the_view_window_edge_json() {
    walkers_cross_the_view_window_edge(Codec::Json).await;
}
