//! Who sees whom (issue 15, item 3): a client that asks for no window sees
//! everyone in the space, as the old platform's clients expect, until the
//! space is crowded (`--view-all-up-to`); then it gets the view window, with
//! `view-leave`/`view-enter` for those outside it, and everyone again when
//! the crowd thins. A client that asks for a window gets it throughout.
//!
//! The space is 100×200 with the default 40×30 window: Ada stands at (0,0)
//! and Bob at (60,0), far outside each other's window.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, TestApp,
    ws::{WsClient, at, create_space, other, seat},
};
use metaverse_protocol::{ClientMsg, Codec, ServerMsg, ViewSize};

const SIZE: (i32, i32) = (100, 200);

async fn app(view_all_up_to: u32) -> TestApp {
    TestApp::start_with(Backend::Sqlite, |cfg| {
        cfg.view_all_up_to = view_all_up_to;
        cfg.ws_rate = 10_000;
        cfg.ws_burst = 10_000;
    })
    .await
    .expect("sqlite always runs")
}

/// Ada and Bob seated far apart in a new space; returns it with their ids
/// and tokens.
async fn far_apart(app: &TestApp) -> (String, [(String, String); 2]) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let space = create_space(app, &ada.1, "100x200").await;
    seat(app, &ada.1, &space, SIZE, at(0, 0)).await;
    seat(app, &bob.1, &space, SIZE, at(60, 0)).await;
    (space, [ada, bob])
}

async fn old_clients_see_everyone_in_a_big_space(codec: Codec) {
    let app = app(100).await;
    let (space, [(ada_id, ada_token), (bob_id, bob_token)]) = far_apart(&app).await;
    let mut ada = WsClient::connect(&app.ws, codec).await;
    ada.join_ok(&space, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, other(codec)).await;
    let b = bob.join_ok(&space, &bob_token, None).await;
    assert_eq!(b.spawn, at(60, 0));
    assert_eq!(b.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), [ada_id.as_str()]);
    match ada.recv().await {
        ServerMsg::UserJoin { user_id, x: 60, y: 0, .. } => assert_eq!(user_id, bob_id),
        other => panic!("expected Bob's user-join, got {other:?}"),
    }
    bob.send(&ClientMsg::Move { x: 61, y: 0 }).await;
    assert_eq!(ada.recv().await, ServerMsg::Movement { user_id: bob_id, x: 61, y: 0 });
}

#[tokio::test]
async fn old_clients_see_everyone_in_a_big_space_msgpack() {
    old_clients_see_everyone_in_a_big_space(Codec::MsgPack).await;
}

#[tokio::test]
async fn old_clients_see_everyone_in_a_big_space_json() {
    old_clients_see_everyone_in_a_big_space(Codec::Json).await;
}

#[tokio::test]
async fn a_client_that_asks_for_a_window_gets_it_in_a_quiet_space() {
    let app = app(100).await;
    let (space, [(ada_id, ada_token), (bob_id, bob_token)]) = far_apart(&app).await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join_ok(&space, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    bob.view = Some(ViewSize { width: 40, height: 30 });
    // Batched with his own moves shown, so his step's confirmation marks
    // a tick no earlier than Ada's step.
    (bob.batch, bob.own_moves) = (Some(true), true);
    let b = bob.join_ok(&space, &bob_token, None).await;
    assert!(b.users.is_empty(), "Ada is outside Bob's window: {:?}", b.users);
    // Ada asked for nothing, so she sees Bob arrive; Bob sees nothing of
    // her step.
    assert!(matches!(ada.recv().await, ServerMsg::UserJoin { user_id, .. } if user_id == bob_id));
    ada.send(&ClientMsg::Move { x: 1, y: 0 }).await;
    ada.assert_at(at(1, 0)).await;
    bob.send(&ClientMsg::Move { x: 61, y: 0 }).await;
    let mine = ServerMsg::Movement { user_id: bob_id.clone(), x: 61, y: 0 };
    assert_eq!(bob.recv().await, mine, "nothing of {ada_id} reaches Bob");
    // An invalid window is refused with a clear error.
    bob.view = Some(ViewSize { width: 0, height: 30 });
    bob.send(&ClientMsg::Join {
        space_id: space.clone(),
        token: bob_token.clone(),
        resume_token: None,
        batch: None,
        view: bob.view,
    })
    .await;
    bob.expect_error(metaverse_protocol::ErrorCode::Invalid).await;
}

#[tokio::test]
async fn a_crowd_gets_the_window_and_loses_it_again() {
    // Two is company, three a crowd.
    let app = app(2).await;
    let (space, [(_, ada_token), (bob_id, bob_token)]) = far_apart(&app).await;
    let (_, cy_token) = app.user("cyd").await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join_ok(&space, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    bob.join_ok(&space, &bob_token, None).await;
    assert!(matches!(ada.recv().await, ServerMsg::UserJoin { user_id, .. } if user_id == bob_id));
    let mut cy = WsClient::connect(&app.ws, Codec::Json).await;
    cy.join_ok(&space, &cy_token, None).await;
    // Cy spawns somewhere random: Ada may or may not see Cy, but Bob, 60
    // tiles away, leaves her view.
    let mut saw = Vec::new();
    loop {
        match ada.recv().await {
            ServerMsg::ViewLeave { user_id } if user_id == bob_id => break,
            m @ (ServerMsg::UserJoin { .. } | ServerMsg::Movement { .. }) => saw.push(m),
            other => panic!("expected Bob's view-leave, got {other:?} after {saw:?}"),
        }
    }
    // Cy leaves: two again, and Bob comes back into view where he stands.
    cy.close_and_wait().await;
    loop {
        match ada.recv().await {
            ServerMsg::ViewEnter { user_id, x: 60, y: 0, .. } if user_id == bob_id => break,
            ServerMsg::UserLeft { .. } => {}
            other => panic!("expected Bob's view-enter, got {other:?}"),
        }
    }
}
