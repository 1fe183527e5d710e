//! Presence across sockets: a second socket of the same user takes the
//! session over, a dropped socket resumes within the grace period (with
//! the events it missed), and after the grace the user leaves as usual.
//! Each case runs on both backends and in both codecs.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    TestApp,
    ws::{WsClient, create_space, movement, step, user_join},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use metaverse_server::config::ServeConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn second_token(app: &TestApp, name: &str) -> String {
    app.signin(name).await["token"].as_str().unwrap().to_owned()
}

/// The same user joining from a second socket takes the presence over:
/// the first socket is told and closed with 4509, the others see nothing,
/// and the new socket stands where the old one stood.
async fn a_second_socket_takes_the_session_over(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cyd_id, cyd_token) = app.user("cyd").await;
    // 16×16: two others box a mover into a corner in under one run in a
    // million (random spawns; a 6×6 space did it once in CI).
    let space_id = create_space(&app, &ada_token, "16x16").await;

    let mut laptop = WsClient::connect(&app.ws, codec).await;
    let a = laptop.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(laptop.recv().await, user_join(&bob_id, b.spawn));

    // Another device, another sign-in.
    let phone_token = second_token(&app, "ada").await;
    let mut phone = WsClient::connect(&app.ws, codec).await;
    let p = phone.join_ok(&space_id, &phone_token, None).await;
    assert_eq!(p.user_id, ada_id);
    assert_eq!(p.spawn, a.spawn, "the same tile");
    assert!(!p.resumed, "a takeover without the token is no resume");
    assert_eq!(p.users.len(), 1);
    assert_eq!((p.users[0].user_id.as_str(), p.users[0].x, p.users[0].y), (bob_id.as_str(), b.spawn.x, b.spawn.y));

    laptop.expect_error(ErrorCode::SessionReplaced).await;
    let close = laptop.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4509);

    // Barrier: Cyd joins; Bob's next message is that, so he saw neither a
    // user-left nor a user-join of Ada.
    let mut cyd = WsClient::connect(&app.ws, codec).await;
    let c = cyd.join_ok(&space_id, &cyd_token, None).await;
    assert_eq!(bob.recv().await, user_join(&cyd_id, c.spawn));
    assert_eq!(phone.recv().await, user_join(&cyd_id, c.spawn));
    assert_eq!(c.users.len(), 2, "Ada is still there once: {:?}", c.users);

    // The new socket is the live one: its moves reach the others.
    let to = step(a.spawn, (16, 16), &[b.spawn, c.spawn]);
    phone.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    assert_eq!(bob.recv().await, movement(&ada_id, to));
    assert_eq!(cyd.recv().await, movement(&ada_id, to));
}

/// Within the grace period the resume token brings the presence back:
/// `resumed`, the same tile, then the events missed meanwhile; the others
/// see no flicker.
async fn resume_replays_what_was_missed(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cyd_id, cyd_token) = app.user("cyd").await;
    // 16×16: two others box a mover into a corner in under one run in a
    // million (random spawns; a 6×6 space did it once in CI).
    let space_id = create_space(&app, &ada_token, "16x16").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));

    // Ada's socket closes; once the server let go of it (the stream ended),
    // her session has handed her presence to the grace period, so Bob's
    // move below happens while she is away.
    ada.close_to_resume().await;
    let b_to = step(b.spawn, (16, 16), &[a.spawn]);
    bob.send(&ClientMsg::Move { x: b_to.x, y: b_to.y }).await;
    let mut cyd = WsClient::connect(&app.ws, codec).await;
    let c = cyd.join_ok(&space_id, &cyd_token, None).await;
    assert_eq!(c.users.len(), 2, "Ada is held for the grace: {:?}", c.users);
    assert_eq!(bob.recv().await, user_join(&cyd_id, c.spawn));

    let mut back = WsClient::connect(&app.ws, codec).await;
    let r = back.join_ok(&space_id, &ada_token, Some(&a.resume_token)).await;
    assert!(r.resumed, "resumed within the grace");
    assert_eq!(r.user_id, ada_id);
    assert_eq!(r.spawn, a.spawn, "the same tile");
    assert!(!r.resume_token.is_empty());
    assert_ne!(r.resume_token, a.resume_token, "a fresh token per join");
    let mut seen: Vec<_> = r.users.iter().map(|u| (u.user_id.clone(), u.x, u.y)).collect();
    seen.sort();
    let mut expected = vec![(bob_id.clone(), b_to.x, b_to.y), (cyd_id.clone(), c.spawn.x, c.spawn.y)];
    expected.sort();
    assert_eq!(seen, expected);
    // The missed events, in the order the space saw them. Bob's move and
    // Cyd's join race to the space; Cyd's snapshot tells which came first.
    let move_first = c.users.iter().any(|u| u.user_id == bob_id && (u.x, u.y) == (b_to.x, b_to.y));
    let (first, second) = if move_first {
        (movement(&bob_id, b_to), user_join(&cyd_id, c.spawn))
    } else {
        (user_join(&cyd_id, c.spawn), movement(&bob_id, b_to))
    };
    assert_eq!(back.recv().await, first);
    assert_eq!(back.recv().await, second);
    // When Cyd's join won that race, she saw Bob's move too.
    if !move_first {
        assert_eq!(cyd.recv().await, movement(&bob_id, b_to));
    }

    // Barrier: Bob and Cyd saw no leave or join of Ada. Cyd moves; that is
    // the next message of both others.
    let c_to = step(c.spawn, (16, 16), &[a.spawn, b_to]);
    cyd.send(&ClientMsg::Move { x: c_to.x, y: c_to.y }).await;
    assert_eq!(bob.recv().await, movement(&cyd_id, c_to));
    assert_eq!(back.recv().await, movement(&cyd_id, c_to));
    // And the resumed socket is live.
    let a_to = step(a.spawn, (16, 16), &[b_to, c_to]);
    back.send(&ClientMsg::Move { x: a_to.x, y: a_to.y }).await;
    assert_eq!(bob.recv().await, movement(&ada_id, a_to));
    assert_eq!(cyd.recv().await, movement(&ada_id, a_to));
}

/// A socket that just vanishes (no close frame) resumes too; a used resume
/// token is spent, and presenting it again is a plain takeover.
async fn resume_after_a_dropped_socket(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (cyd_id, cyd_token) = app.user("cyd").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));
    drop(ada);

    let mut again = WsClient::connect(&app.ws, codec).await;
    let r = again.join_ok(&space_id, &ada_token, Some(&a.resume_token)).await;
    assert!(r.resumed);
    assert_eq!((r.user_id.as_str(), r.spawn), (ada_id.as_str(), a.spawn));
    drop(again);

    // The first token was spent by that resume.
    let mut third = WsClient::connect(&app.ws, codec).await;
    let s = third.join_ok(&space_id, &ada_token, Some(&a.resume_token)).await;
    assert!(!s.resumed, "a spent resume token resumed");
    assert_eq!(s.spawn, a.spawn, "a takeover keeps the tile");

    // Barrier: Bob saw none of it.
    let mut cyd = WsClient::connect(&app.ws, codec).await;
    let c = cyd.join_ok(&space_id, &cyd_token, None).await;
    assert_eq!(bob.recv().await, user_join(&cyd_id, c.spawn));
    assert_eq!(third.recv().await, user_join(&cyd_id, c.spawn));
}

fn short_grace(cfg: &mut ServeConfig) {
    cfg.resume_grace = Duration::from_millis(300);
}

/// After the grace the user leaves as usual (once), and the old token no
/// longer resumes: the next join is a fresh one the others are told of.
async fn after_the_grace_the_user_leaves(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let a = ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, codec).await;
    let b = bob.join_ok(&space_id, &bob_token, None).await;
    assert_eq!(ada.recv().await, user_join(&bob_id, b.spawn));
    drop(ada);

    assert_eq!(bob.recv().await, ServerMsg::UserLeft { user_id: ada_id.clone() });
    let mut late = WsClient::connect(&app.ws, codec).await;
    let r = late.join_ok(&space_id, &ada_token, Some(&a.resume_token)).await;
    assert!(!r.resumed, "resumed after the grace ran out");
    assert_eq!(r.spawn, a.spawn, "spawned where she left");
    assert_eq!(r.users.len(), 1);
    // Bob's next message is the fresh join: exactly one user-left before it.
    assert_eq!(bob.recv().await, user_join(&ada_id, a.spawn));
}

/// A clean close (1000, or 1001 as a browser sends when a tab closes) is a
/// departure: the others see `user-left` at once, not after the 30 s grace.
/// A connection that just drops is held for a resume, shown as suspended.
async fn a_clean_close_is_a_departure_and_a_drop_is_not(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let space_id = create_space(&app, &ada_token, "6x6").await;
    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.join_ok(&space_id, &ada_token, None).await;
    for (name, code) in [("bob", CloseCode::Normal), ("cyd", CloseCode::Away)] {
        let (id, token) = app.user(name).await;
        let mut ws = WsClient::connect(&app.ws, codec).await;
        let joined = ws.join_ok(&space_id, &token, None).await;
        assert_eq!(ada.recv().await, user_join(&id, joined.spawn));
        ws.close_with(code).await;
        // `recv` gives up long before the grace would end.
        assert_eq!(ada.recv().await, ServerMsg::UserLeft { user_id: id }, "close {code}");
    }
    let (dee_id, dee_token) = app.user("dee").await;
    let mut dee = WsClient::connect(&app.ws, codec).await;
    let d = dee.join_ok(&space_id, &dee_token, None).await;
    assert_eq!(ada.recv().await, user_join(&dee_id, d.spawn));
    drop(dee);
    let path = format!("/api/v1/space/{space_id}/presence");
    let mut suspended = false;
    for _ in 0..200 {
        let (_, p) = app.get(&path, Some(&ada_token)).await;
        let users = p["users"].as_array().cloned().unwrap_or_default();
        suspended = users.iter().any(|u| u["userId"] == dee_id.as_str() && u["suspended"] == true);
        if suspended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(suspended, "a dropped connection is held for its resume");
    ada.heartbeat().await;
}

ws_cases!(
    a_second_socket_takes_the_session_over,
    resume_replays_what_was_missed,
    resume_after_a_dropped_socket,
    a_clean_close_is_a_departure_and_a_drop_is_not,
);
ws_cases!(@config short_grace; after_the_grace_the_user_leaves);
