//! The "done when": two clients, one on MessagePack and one on
//! JSON, meet in a space, see each other arrive, walk and leave.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    TestApp,
    ws::{WsClient, user_join},
};
use metaverse_protocol::{ClientMsg, Codec, Position, ServerMsg};
use serde_json::json;

async fn space(app: &TestApp, token: &str, dims: &str) -> String {
    let (status, body) = app.post("/api/v1/space", Some(token), json!({"name": "room", "dimensions": dims})).await;
    assert!(status.is_success(), "{body}");
    body["spaceId"].as_str().unwrap().to_owned()
}

/// A free neighbour of `p` inside a `w`×`h` grid that is not `avoid`.
fn step(p: Position, w: i32, h: i32, avoid: Position) -> Position {
    [(1, 0), (-1, 0), (0, 1), (0, -1)]
        .into_iter()
        .map(|(dx, dy)| Position { x: p.x + dx, y: p.y + dy })
        .find(|q| q.x >= 0 && q.y >= 0 && q.x < w && q.y < h && *q != avoid)
        .unwrap()
}

async fn two_codecs_meet_walk_and_leave(app: TestApp) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = space(&app, &ada_token, "8x6").await;

    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    let ServerMsg::SpaceJoined { user_id, spawn: ada_at, users, space, .. } = ada.join(&space_id, &ada_token).await
    else {
        panic!("ada did not join");
    };
    assert_eq!(user_id, ada_id);
    assert!(users.is_empty());
    assert_eq!((space.width, space.height), (8, 6));

    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    let ServerMsg::SpaceJoined { spawn: bob_at, users, .. } = bob.join(&space_id, &bob_token).await else {
        panic!("bob did not join");
    };
    assert_ne!(bob_at, ada_at, "spawned on a free tile");
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].user_id.as_str(), users[0].x, users[0].y), (ada_id.as_str(), ada_at.x, ada_at.y));
    assert_eq!(ada.recv().await, user_join(&bob_id, bob_at));

    let to = step(ada_at, 8, 6, bob_at);
    ada.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    assert_eq!(bob.recv().await, ServerMsg::Movement { user_id: ada_id.clone(), x: to.x, y: to.y });

    let bob_to = step(bob_at, 8, 6, to);
    bob.send(&ClientMsg::Move { x: bob_to.x, y: bob_to.y }).await;
    // Ada's next message is Bob's move: she got no echo of her own.
    assert_eq!(ada.recv().await, ServerMsg::Movement { user_id: bob_id.clone(), x: bob_to.x, y: bob_to.y });

    bob.send(&ClientMsg::Leave {}).await;
    assert_eq!(ada.recv().await, ServerMsg::UserLeft { user_id: bob_id.clone() });
}

on_both_backends!(two_codecs_meet_walk_and_leave);

/// The last tile is reused on the next join: from the live space's memory
/// right away, and from the database after the space stopped.
async fn last_position_is_the_next_spawn(app: TestApp) {
    let (_, token) = app.user("ada").await;
    let space_id = space(&app, &token, "30x30").await;
    let mut ada = WsClient::connect(&app.ws, Codec::Json).await;
    let ServerMsg::SpaceJoined { spawn, .. } = ada.join(&space_id, &token).await else { panic!("join") };
    let to = step(spawn, 30, 30, spawn);
    ada.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    ada.send(&ClientMsg::Leave {}).await;
    // Rejoin on the same socket: the space is still live.
    let ServerMsg::SpaceJoined { spawn: again, .. } = ada.join(&space_id, &token).await else { panic!("rejoin") };
    assert_eq!(again, to, "spawned where she left");
}

mod last_position {
    #[tokio::test]
    async fn sqlite() {
        if let Some(app) = crate::common::TestApp::start(crate::common::Backend::Sqlite).await {
            super::last_position_is_the_next_spawn(app).await;
        }
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(app) = crate::common::TestApp::start(crate::common::Backend::Postgres).await {
            super::last_position_is_the_next_spawn(app).await;
        }
    }
}

/// Signing out closes the session's open sockets (4503).
async fn sign_out_closes_open_sockets(app: TestApp) {
    let (_, token) = app.user("ada").await;
    let space_id = space(&app, &token, "5x5").await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    assert!(matches!(ada.join(&space_id, &token).await, ServerMsg::SpaceJoined { .. }));
    let (status, _) = app.post("/api/v1/signout", Some(&token), json!({})).await;
    assert!(status.is_success());
    let frame = ada.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4503);
}

mod sign_out {
    #[tokio::test]
    async fn sqlite() {
        if let Some(app) = crate::common::TestApp::start(crate::common::Backend::Sqlite).await {
            super::sign_out_closes_open_sockets(app).await;
        }
    }
}

/// Past `--ws-max-connections` a new connection is dropped at accept; a
/// closed one frees its place.
async fn connection_cap_refuses_the_excess(app: TestApp) {
    let first = WsClient::connect(&app.ws, Codec::Json).await;
    let mut second = WsClient::connect(&app.ws, Codec::Json).await;
    assert!(WsClient::connect_with(&app.ws, Codec::Json, &[]).await.is_err(), "the third is refused");
    second.send(&ClientMsg::Heartbeat {}).await;
    assert_eq!(second.recv().await, ServerMsg::Heartbeat {}, "the admitted ones work");
    drop(first);
    // The place frees when the server notices the close; retry until then.
    let deadline = std::time::Instant::now() + common::ws::PATIENCE;
    loop {
        if let Ok((mut third, _)) = WsClient::connect_with(&app.ws, Codec::Json, &[]).await {
            third.send(&ClientMsg::Heartbeat {}).await;
            if matches!(third.next().await, common::ws::Received::Msg(ServerMsg::Heartbeat {})) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the freed place was never reused");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

mod connection_cap {
    #[tokio::test]
    async fn sqlite() {
        let app = crate::common::TestApp::start_with(crate::common::Backend::Sqlite, |cfg| cfg.ws_max_connections = 2)
            .await
            .expect("sqlite always runs");
        super::connection_cap_refuses_the_excess(app).await;
    }
}
