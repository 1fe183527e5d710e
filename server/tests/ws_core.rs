//! The WebSocket core over the real server: join, spawn, fan-out of joins
//! and moves, every move rejection, leave and disconnect, the upgrade's
//! Origin and subprotocol checks, and the metrics the session and the space
//! record. Each case runs on both backends and in both codecs.
//!
//! "Not sent" is asserted with a barrier: every recipient's queue is FIFO
//! from the one SpaceActor, so after someone else acts, the next message
//! must be that action.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    TestApp,
    ws::{
        WsClient, at, create_element, create_space, free_step, metric, metrics_text, movement, other, place_element,
        step, user_join, user_left,
    },
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, Position, ServerMsg, UserPosition};
use serde_json::json;

fn in_grid(p: Position, w: i32, h: i32) -> bool {
    p.x >= 0 && p.y >= 0 && p.x < w && p.y < h
}

fn others(users: &[UserPosition]) -> Vec<(String, Position)> {
    let mut v: Vec<_> = users.iter().map(|u| (u.user_id.clone(), at(u.x, u.y))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

// ---------------------------------------------------------------- join

async fn join_succeeds(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = create_space(&app, &ada_token, "7x5").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    assert_eq!(a.user_id, ada_id);
    assert!(in_grid(a.spawn, 7, 5), "spawn {:?} outside 7x5", a.spawn);
    assert!(a.users.is_empty(), "nobody else is there: {:?}", a.users);
    assert_eq!((a.space.width, a.space.height), (7, 5));
    assert!(!a.resume_token.is_empty(), "a resume token");
    assert!(!a.resumed);

    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(b.user_id, bob_id);
    assert!(in_grid(b.spawn, 7, 5));
    assert_ne!(b.spawn, a.spawn, "spawned on a free tile");
    assert_eq!(others(&b.users), vec![(ada_id.clone(), a.spawn)]);
    assert_eq!((b.space.width, b.space.height), (7, 5));
    assert!(!b.resume_token.is_empty());
    assert_ne!(b.resume_token, a.resume_token, "resume tokens are per member");
}

async fn join_with_a_bad_token_is_unauthorized(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let mut ws = WsClient::connect(&app.ws, codec).await;
    for bad in ["garbage", "", "a.b.c", &format!("{token}x")] {
        ws.send(&ClientMsg::Join {
            space_id: space_id.clone(),
            token: bad.to_owned(),
            resume_token: None,
            batch: None,
            view: None,
        })
        .await;
        ws.expect_error(ErrorCode::Unauthorized).await;
    }
    // Still usable: a heartbeat round trip, then a good join.
    ws.heartbeat().await;
    ws.join_ok(&space_id, &token, None).await;
}

async fn join_with_a_revoked_token_is_unauthorized(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let (status, body) = app.post("/api/v1/signout", Some(&token), json!({})).await;
    assert!(status.is_success(), "signout: {body}");

    let mut ws = WsClient::connect(&app.ws, codec).await;
    ws.send(&ClientMsg::Join {
        space_id: space_id.clone(),
        token: token.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    ws.expect_error(ErrorCode::Unauthorized).await;
    // Only that session is revoked: a fresh sign-in joins.
    let fresh = app.signin("ada").await["token"].as_str().unwrap().to_owned();
    ws.join_ok(&space_id, &fresh, None).await;
}

async fn join_an_unknown_space(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let mut ws = WsClient::connect(&app.ws, codec).await;
    for unknown in ["no-such-space".to_owned(), "x".repeat(65), String::new()] {
        ws.send(&ClientMsg::Join {
            space_id: unknown,
            token: token.clone(),
            resume_token: None,
            batch: None,
            view: None,
        })
        .await;
        ws.expect_error(ErrorCode::UnknownSpace).await;
    }
    ws.heartbeat().await;
    ws.join_ok(&space_id, &token, None).await;
}

// ---------------------------------------------------------------- spawn

async fn spawn_takes_a_free_tile_and_a_full_space_is_busy(app: TestApp, codec: Codec) {
    let (u1_id, t1) = app.user("user1").await;
    let (_, t2) = app.user("user2").await;
    let (_, t3) = app.user("user3").await;
    let space_id = create_space(&app, &t1, "2x1").await;

    let mut c1 = WsClient::connect(&app.ws, codec).await;
    let j1 = c1.join_ok(&space_id, &t1, None).await;
    let mut c2 = WsClient::connect(&app.ws, codec).await;
    let j2 = c2.join_ok(&space_id, &t2, None).await;
    let tiles = [at(0, 0), at(1, 0)];
    assert!(tiles.contains(&j1.spawn) && tiles.contains(&j2.spawn));
    assert_ne!(j1.spawn, j2.spawn, "two users, two tiles");

    let mut c3 = WsClient::connect(&app.ws, codec).await;
    c3.send(&ClientMsg::Join {
        space_id: space_id.clone(),
        token: t3.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    c3.expect_error(ErrorCode::Busy).await;
    c3.heartbeat().await;
    // The refused user is not in the space: u2's next message is u1's
    // leave, not a join of u3; and then u3 gets the tile u1 freed.
    c1.send(&ClientMsg::Leave {}).await;
    assert_eq!(c2.recv().await, user_left(&u1_id));
    let j3 = c3.join_ok(&space_id, &t3, None).await;
    assert_eq!(j3.spawn, j1.spawn, "the only free tile");
    assert_eq!(others(&j3.users), vec![(j2.user_id.clone(), j2.spawn)]);
    assert_eq!(c2.recv().await, user_join(&j3.user_id, j1.spawn));
}

async fn spawn_avoids_static_elements(app: TestApp, codec: Codec) {
    let (_, admin) = app.admin("boss").await;
    let wall = create_element(&app, &admin, 1, 1, true).await;
    let space_id = create_space(&app, &admin, "2x1").await;
    place_element(&app, &admin, &space_id, &wall, at(0, 0)).await;

    // One at a time: each spawns on the only walkable tile; while one is
    // in, the next is refused (the wall is not a free tile).
    let mut prev: Option<WsClient> = None;
    for i in 0..6 {
        let (_, token) = app.user(&format!("walker{i}")).await;
        let mut ws = WsClient::connect(&app.ws, codec).await;
        if let Some(mut p) = prev.take() {
            ws.send(&ClientMsg::Join {
                space_id: space_id.clone(),
                token: token.clone(),
                resume_token: None,
                batch: None,
                view: None,
            })
            .await;
            ws.expect_error(ErrorCode::Busy).await;
            p.send(&ClientMsg::Leave {}).await;
            // The session forwarded the leave before it answers this, so the
            // space sees the leave before the next join.
            p.heartbeat().await;
        }
        let j = ws.join_ok(&space_id, &token, None).await;
        assert_eq!(j.spawn, at(1, 0), "round {i}: spawned on the wall");
        prev = Some(ws);
    }
}

// ---------------------------------------------------------------- fan-out

async fn user_join_goes_to_the_others_only(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cy_id, cy_token) = app.user("cyd").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));

    // Barrier: Cy joins; Bob's next message is Cy's join, so Bob got no
    // user-join of himself. Cy's client speaks the other codec.
    let mut cy = WsClient::connect(&app.ws, other(codec)).await;
    let c = cy.join_ok(&space_id, &cy_token, None).await;
    assert_eq!(c.users.len(), 2);
    assert_eq!(bob.recv().await, user_join(&cy_id, c.spawn));
    assert_eq!(ada.recv().await, user_join(&cy_id, c.spawn));
    // And Cy got none of her own: a move of Ada's (or of Bob's, when Bob
    // and Cy box Ada into a corner) is her next message.
    let a_at = c.users.iter().find(|u| u.user_id == ada_id).map(|u| at(u.x, u.y)).unwrap();
    let (mover, mover_id, to) = match free_step(a_at, (6, 6), &[b.spawn, c.spawn]) {
        Some(to) => (&mut ada, &ada_id, to),
        None => (&mut bob, &bob_id, step(b.spawn, (6, 6), &[a_at, c.spawn])),
    };
    mover.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    assert_eq!(cy.recv().await, movement(mover_id, to));
}

async fn movement_goes_to_the_others_not_the_mover(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (_, cy_token) = app.user("cyd").await;
    // Big enough that two others practically never box a mover into a
    // corner (4 corners × 2 exact tiles: under one run in a million).
    let space_id = create_space(&app, &ada_token, "16x12").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    let mut cy = WsClient::connect(&app.ws, other(codec)).await;
    let c = cy.join_ok(&space_id, &cy_token, None).await;
    ada.recv().await; // bob's join
    ada.recv().await; // cy's join
    bob.recv().await; // cy's join

    let a_to = step(a.spawn, (16, 12), &[b.spawn, c.spawn]);
    ada.send(&ClientMsg::Move { x: a_to.x, y: a_to.y }).await;
    assert_eq!(bob.recv().await, movement(&ada_id, a_to));
    assert_eq!(cy.recv().await, movement(&ada_id, a_to));

    // Barrier: Bob moves; Ada's next message is that, not her own move.
    let b_to = step(b.spawn, (16, 12), &[a_to, c.spawn]);
    bob.send(&ClientMsg::Move { x: b_to.x, y: b_to.y }).await;
    assert_eq!(ada.recv().await, movement(&bob_id, b_to));
    assert_eq!(cy.recv().await, movement(&bob_id, b_to));
    // Ada really stands on her new tile.
    ada.assert_at(a_to).await;
}

// ---------------------------------------------------------------- rejections

/// Every rejection reason, each with a move that only that rule forbids,
/// answered with the mover's unchanged tile; the others hear nothing.
async fn rejected_moves_answer_the_unchanged_tile(app: TestApp, codec: Codec) {
    let (ada_id, admin) = app.admin("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cy_id, cy_token) = app.user("cyd").await;
    let wall = create_element(&app, &admin, 1, 1, true).await;
    let space_id = create_space(&app, &admin, "3x3").await;
    let wall_at = at(1, 0);
    place_element(&app, &admin, &space_id, &wall, wall_at).await;

    // Ada to (0,0), Bob to (0,1); the wall at (1,0).
    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &admin, None).await;
    assert_ne!(a.spawn, wall_at, "spawned on the wall");
    ada.walk(a.spawn, at(0, 0), (3, 3), &[wall_at]).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert!(b.spawn != wall_at && b.spawn != at(0, 0));
    assert_eq!(others(&b.users), vec![(ada_id.clone(), at(0, 0))]);
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));
    let walked = bob.walk(b.spawn, at(0, 1), (3, 3), &[wall_at, at(0, 0)]).await;
    ada.expect_walk(&bob_id, &walked).await;

    let home = at(0, 0);
    ada.move_rejected((0, 2), home).await; // two tiles
    ada.move_rejected((1, 1), home).await; // diagonal
    ada.move_rejected((-1, 0), home).await; // out of bounds
    ada.move_rejected((0, -1), home).await; // out of bounds
    ada.move_rejected((1, 0), home).await; // into the wall
    ada.move_rejected((0, 1), home).await; // onto Bob
    ada.move_rejected((0, 0), home).await; // standing still is no step
    ada.move_rejected((i32::MIN, i32::MAX), home).await; // far, far away
    // The same moves pipelined: one rejection each, in order.
    for (x, y) in [(0, 2), (1, 1), (-1, 0), (1, 0), (0, 1)] {
        ada.send(&ClientMsg::Move { x, y }).await;
    }
    for _ in 0..5 {
        assert_eq!(ada.recv().await, ServerMsg::MovementRejected { x: 0, y: 0 });
    }

    // Barrier: Cy joins; Bob's next message is that, so none of Ada's
    // rejected moves reached him. Ada's next is Cy's join too.
    let mut cy = WsClient::connect(&app.ws, codec).await;
    let c = cy.join_ok(&space_id, &cy_token, None).await;
    assert_eq!(bob.recv().await, user_join(&cy_id, c.spawn));
    assert_eq!(ada.recv().await, user_join(&cy_id, c.spawn));
    assert_eq!(
        others(&c.users),
        {
            let mut v = vec![(ada_id, at(0, 0)), (bob_id, at(0, 1))];
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        },
        "nobody moved"
    );
}

/// Elements placed or removed over HTTP change the live collision map at
/// once; non-static elements never block.
async fn live_element_changes_apply_at_once(app: TestApp, codec: Codec) {
    let (_, admin) = app.admin("ada").await;
    let wall = create_element(&app, &admin, 1, 1, true).await;
    let rug = create_element(&app, &admin, 1, 1, false).await;
    let space_id = create_space(&app, &admin, "3x3").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &admin, None).await;
    ada.walk(a.spawn, at(0, 0), (3, 3), &[]).await;

    let w1 = place_element(&app, &admin, &space_id, &wall, at(1, 0)).await;
    ada.move_rejected((1, 0), at(0, 0)).await;
    place_element(&app, &admin, &space_id, &rug, at(0, 1)).await;
    ada.send(&ClientMsg::Move { x: 0, y: 1 }).await;
    ada.assert_at(at(0, 1)).await;

    // A wall placed under Ada: she may step off, nobody may step on.
    let w2 = place_element(&app, &admin, &space_id, &wall, at(0, 1)).await;
    ada.send(&ClientMsg::Move { x: 1, y: 1 }).await;
    ada.assert_at(at(1, 1)).await;
    ada.move_rejected((0, 1), at(1, 1)).await;

    // Removing a wall (by path, then by body) opens its tile at once.
    let (status, body) = app.delete(&format!("/api/v1/space/element/{w1}"), Some(&admin), None).await;
    assert!(status.is_success(), "delete element: {body}");
    ada.send(&ClientMsg::Move { x: 1, y: 0 }).await;
    ada.assert_at_because(at(1, 0), "DELETE /space/element/:id did not reopen the tile in the live space").await;
    let (status, body) = app.delete("/api/v1/space/element", Some(&admin), Some(json!({"id": w2}))).await;
    assert!(status.is_success(), "delete element by body: {body}");
    ada.send(&ClientMsg::Move { x: 1, y: 1 }).await;
    ada.send(&ClientMsg::Move { x: 0, y: 1 }).await;
    ada.assert_at_because(at(0, 1), "DELETE /space/element did not reopen the tile in the live space").await;
}

// ---------------------------------------------------------------- leaving

fn short_grace(cfg: &mut metaverse_server::config::ServeConfig) {
    cfg.resume_grace = Duration::from_millis(300);
}

async fn leave_is_told_once_and_the_socket_may_join_again(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cy_id, cy_token) = app.user("cyd").await;
    let (dee_id, dee_token) = app.user("deedee").await;
    let s1 = create_space(&app, &ada_token, "6x6").await;
    let s2 = create_space(&app, &ada_token, "5x5").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.join_ok(&s1, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&s1, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));

    bob.send(&ClientMsg::Leave {}).await;
    assert_eq!(ada.recv().await, user_left(&bob_id));
    // Barrier: exactly one user-left.
    let mut cy = WsClient::connect(&app.ws, codec).await;
    let c = cy.join_ok(&s1, &cy_token, None).await;
    assert_eq!(ada.recv().await, user_join(&cy_id, c.spawn));
    assert_eq!(c.users.len(), 1, "Bob is gone: {:?}", c.users);

    // The same socket joins the same space again, back on its tile.
    let again = bob.join_ok(&s1, &bob_token, None).await;
    // Cyd spawned at random and may have taken Bob's free tile meanwhile.
    if c.spawn != b.spawn {
        assert_eq!(again.spawn, b.spawn, "rejoined on the tile he left");
    }
    assert_eq!(again.users.len(), 2);
    assert_eq!(ada.recv().await, user_join(&bob_id, again.spawn));
    assert_eq!(cy.recv().await, user_join(&bob_id, again.spawn));

    // Leave, then join another space from the same socket.
    bob.send(&ClientMsg::Leave {}).await;
    assert_eq!(ada.recv().await, user_left(&bob_id));
    let other_space = bob.join_ok(&s2, &bob_token, None).await;
    assert!(other_space.users.is_empty());
    assert_eq!((other_space.space.width, other_space.space.height), (5, 5));

    // Joining while in a space leaves it first: back to s1 from s2.
    let mut dee = WsClient::connect(&app.ws, codec).await;
    let d = dee.join_ok(&s2, &dee_token, None).await;
    assert_eq!(bob.recv().await, user_join(&dee_id, d.spawn));
    bob.join_ok(&s1, &bob_token, None).await;
    assert_eq!(dee.recv().await, user_left(&bob_id));
    assert_eq!(ada.recv().await, user_join(&bob_id, again.spawn));

    // A leave outside any space is an error, and the socket stays usable.
    let mut idle = WsClient::connect(&app.ws, codec).await;
    idle.send(&ClientMsg::Leave {}).await;
    idle.expect_error(ErrorCode::NotJoined).await;
    idle.heartbeat().await;
}

async fn disconnect_is_told_once_after_the_grace(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cy_id, cy_token) = app.user("cyd").await;
    let (dee_id, dee_token) = app.user("deedee").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.join_ok(&space_id, &ada_token, None).await;

    // Bob's socket just goes away (no close frame).
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));
    drop(bob);
    assert_eq!(ada.recv().await, user_left(&bob_id));
    let mut cy = WsClient::connect(&app.ws, codec).await;
    let c = cy.join_ok(&space_id, &cy_token, None).await;
    assert_eq!(ada.recv().await, user_join(&cy_id, c.spawn), "one user-left");
    assert_eq!(c.users.len(), 1, "Bob is gone: {:?}", c.users);

    // Dee closes properly: the same, once.
    let mut dee = WsClient::connect(&app.ws, codec).await;
    let d = dee.join_ok(&space_id, &dee_token, None).await;
    assert_eq!(ada.recv().await, user_join(&dee_id, d.spawn));
    assert_eq!(cy.recv().await, user_join(&dee_id, d.spawn));
    dee.close_and_wait().await;
    assert_eq!(ada.recv().await, user_left(&dee_id));
    assert_eq!(cy.recv().await, user_left(&dee_id));
    let (_, eve_token) = app.user("evelyn").await;
    let mut eve = WsClient::connect(&app.ws, codec).await;
    let e = eve.join_ok(&space_id, &eve_token, None).await;
    assert_eq!(ada.recv().await, user_join(&e.user_id, e.spawn), "one user-left");
    assert_eq!(cy.recv().await, user_join(&e.user_id, e.spawn), "one user-left");
}

/// A close from the client is answered with a close frame (RFC 6455
/// 5.5.1), not by dropping the connection.
async fn a_client_close_is_answered(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let ws = WsClient::connect(&app.ws, codec).await;
    let reply = ws.close_and_wait().await;
    let reply = reply.expect("the server dropped the connection without a close frame");
    assert_eq!(u16::from(reply.code), 1000, "the normal close is echoed");
    let mut joined = WsClient::connect(&app.ws, codec).await;
    joined.join_ok(&space_id, &token, None).await;
    let reply = joined.close_and_wait().await;
    let reply = reply.expect("the server dropped the connection without a close frame");
    assert_eq!(u16::from(reply.code), 1000, "the normal close is echoed");
}

// ---------------------------------------------------------------- upgrade

async fn origin_is_checked(app: TestApp, codec: Codec) {
    for evil in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let refused = WsClient::connect_with(&app.ws, codec, &[("Origin", evil)]).await;
        assert!(refused.is_err(), "origin {evil} accepted");
        assert!(refused.err().unwrap().contains("403"), "refused with 403");
    }
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    for own in [app.base.clone(), format!("{}/", app.base), format!("http://localhost:{port}")] {
        let (mut ws, _) = WsClient::connect_with(&app.ws, codec, &[("Origin", &own)])
            .await
            .unwrap_or_else(|e| panic!("own origin {own} refused: {e}"));
        ws.heartbeat().await;
    }
    // Non-browser clients send no Origin.
    let mut ws = WsClient::connect(&app.ws, codec).await;
    ws.heartbeat().await;
}

async fn subprotocol_is_negotiated(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let name = match codec {
        Codec::MsgPack => "metaverse.v1.msgpack",
        Codec::Json => "metaverse.v1.json",
    };
    for offer in [name.to_owned(), format!("chat.v2, {name}")] {
        let (mut ws, chosen) = WsClient::connect_with(&app.ws, codec, &[("Sec-WebSocket-Protocol", &offer)])
            .await
            .unwrap_or_else(|e| panic!("offer {offer:?} refused: {e}"));
        assert_eq!(chosen.as_deref(), Some(name), "offered {offer:?}");
        ws.heartbeat().await;
        ws.join_ok(&space_id, &token, None).await;
    }
    // Without an offer, no subprotocol in the response.
    let (mut ws, chosen) = WsClient::connect_with(&app.ws, codec, &[]).await.unwrap();
    assert_eq!(chosen, None);
    ws.heartbeat().await;
}

/// Replies use the codec of the frame they answer; space events use the
/// negotiated codec, or without one the codec of the `join` frame.
async fn events_keep_their_codec_replies_follow_the_frame(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cyd_id, cyd_token) = app.user("cyd").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;
    let name = match codec {
        Codec::MsgPack => "metaverse.v1.msgpack",
        Codec::Json => "metaverse.v1.json",
    };
    let o = other(codec);

    // Ada negotiated `codec` but writes in the other one.
    let (mut ada, chosen) = WsClient::connect_with(&app.ws, o, &[("Sec-WebSocket-Protocol", name)]).await.unwrap();
    assert_eq!(chosen.as_deref(), Some(name));
    ada.send_as(o, &ClientMsg::Heartbeat {}).await;
    assert_eq!(ada.recv_any().await, (o, ServerMsg::Heartbeat {}));
    ada.send_as(
        o,
        &ClientMsg::Join {
            space_id: space_id.clone(),
            token: ada_token.clone(),
            resume_token: None,
            batch: None,
            view: None,
        },
    )
    .await;
    let (got, joined) = ada.recv_any().await;
    assert_eq!(got, codec, "space-joined in the negotiated codec");
    assert!(matches!(joined, ServerMsg::SpaceJoined { .. }), "{joined:?}");

    // Bob negotiated nothing and joined in `codec`; his heartbeat in the
    // other codec is answered in that one, his events stay in `codec`.
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv_any().await, (codec, user_join(&bob_id, b.spawn)));
    bob.send_as(o, &ClientMsg::Heartbeat {}).await;
    assert_eq!(bob.recv_any().await, (o, ServerMsg::Heartbeat {}));
    bob.send_as(o, &ClientMsg::Move { x: -5, y: -5 }).await;
    assert_eq!(
        bob.recv_any().await,
        (codec, ServerMsg::MovementRejected { x: b.spawn.x, y: b.spawn.y }),
        "movement-rejected is a space event"
    );
    let mut cyd = WsClient::connect(&app.ws, o).await;
    let c = cyd.join_ok(&space_id, &cyd_token, None).await;
    assert_eq!(bob.recv_any().await, (codec, user_join(&cyd_id, c.spawn)));
    assert_eq!(ada.recv_any().await, (codec, user_join(&cyd_id, c.spawn)));
}

// ---------------------------------------------------------------- metrics

async fn metrics_count_messages_moves_and_fanout(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let space_id = create_space(&app, &ada_token, "8x8").await;
    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    ada.recv().await;

    let before = metrics_text(&app).await;
    let moves_in = metric(&before, "metaverse_ws_messages_in_total", r#"type="move""#).unwrap_or(0.0);
    let too_far = metric(&before, "metaverse_moves_rejected_total", r#"reason="too-far""#).unwrap_or(0.0);
    let fanouts = metric(&before, "metaverse_fanout_seconds_count", "").unwrap_or(0.0);
    let movements_out = metric(&before, "metaverse_ws_messages_out_total", r#"type="movement""#).unwrap_or(0.0);

    let to = step(a.spawn, (8, 8), &[b.spawn]);
    ada.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    assert_eq!(bob.recv().await, movement(&ada_id, to));
    ada.move_rejected((to.x + 2, to.y), to).await;

    let after = metrics_text(&app).await;
    for name in [
        "metaverse_ws_sessions",
        "metaverse_live_spaces",
        "metaverse_fanout_seconds_bucket",
        "metaverse_fanout_seconds_sum",
    ] {
        assert!(
            metric(&after, name, "").is_some(),
            "{name} missing:
{after}"
        );
    }
    assert!(metric(&after, "metaverse_ws_messages_in_total", r#"type="move""#).unwrap() >= moves_in + 2.0);
    assert!(metric(&after, "metaverse_moves_rejected_total", r#"reason="too-far""#).unwrap() >= too_far + 1.0);
    assert!(metric(&after, "metaverse_fanout_seconds_count", "").unwrap() >= fanouts + 1.0);
    assert!(metric(&after, "metaverse_ws_messages_out_total", r#"type="movement""#).unwrap() >= movements_out + 1.0);
    assert!(metric(&after, "metaverse_ws_sessions", "").unwrap() >= 2.0, "two sockets are open");
    assert!(metric(&after, "metaverse_live_spaces", "").unwrap() >= 1.0);
}

ws_cases!(
    join_succeeds,
    join_with_a_bad_token_is_unauthorized,
    join_with_a_revoked_token_is_unauthorized,
    join_an_unknown_space,
    spawn_takes_a_free_tile_and_a_full_space_is_busy,
    spawn_avoids_static_elements,
    user_join_goes_to_the_others_only,
    movement_goes_to_the_others_not_the_mover,
    rejected_moves_answer_the_unchanged_tile,
    live_element_changes_apply_at_once,
    leave_is_told_once_and_the_socket_may_join_again,
    a_client_close_is_answered,
    origin_is_checked,
    subprotocol_is_negotiated,
    events_keep_their_codec_replies_follow_the_frame,
    metrics_count_messages_moves_and_fanout,
);

ws_cases!(@config short_grace; disconnect_is_told_once_after_the_grace);
