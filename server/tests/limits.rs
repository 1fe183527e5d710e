//! Attacks on the server's limits, each with its safe outcome: sockets that
//! never authenticate (per-address caps, the pre-join byte budget), slow
//! request bodies, quotas on spaces, walking too fast, and tokens whose
//! claims do not match the database (a `sid` of someone else, a stale role).

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    Backend, TestApp, error_code,
    ws::{PATIENCE, WsClient, create_space},
};
use futures_util::{SinkExt, StreamExt};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use metaverse_schema::store::ConnectionTrait;
use metaverse_server::auth::{Role, TokenIssuer};
use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{connect_async, tungstenite::Message};

async fn sqlite(tweak: impl FnOnce(&mut metaverse_server::config::ServeConfig)) -> TestApp {
    TestApp::start_with(Backend::Sqlite, tweak).await.expect("sqlite always runs")
}

/// Whether the server completes a WebSocket upgrade for us now.
async fn upgrades(app: &TestApp) -> bool {
    matches!(tokio::time::timeout(PATIENCE, connect_async(&app.ws)).await, Ok(Ok(_)))
}

#[tokio::test]
async fn one_address_holds_few_unauthenticated_sockets() {
    let app = sqlite(|cfg| {
        cfg.limits.ws_max_unauthenticated_per_ip = 3;
        cfg.limits.ws_max_per_ip = 5;
    })
    .await;
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "5x5").await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(WsClient::connect(&app.ws, Codec::Json).await);
    }
    assert!(!upgrades(&app).await, "a fourth unauthenticated socket was accepted");
    // Authenticating frees an unauthenticated place.
    idle[0].join_ok(&space_id, &token, None).await;
    idle.push(WsClient::connect(&app.ws, Codec::Json).await);
    idle[3].join_ok(&space_id, &token, None).await;
    idle.push(WsClient::connect(&app.ws, Codec::Json).await);
    // Five open now: the per-address cap refuses a sixth, joined or not.
    assert!(!upgrades(&app).await, "a sixth socket was accepted");
    // Closing one gives its place back.
    drop(idle.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Ok(Ok((ws, _))) = tokio::time::timeout(PATIENCE, connect_async(&app.ws)).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed socket's place was not given back");
}

#[tokio::test]
async fn a_big_frame_before_join_drops_the_socket_and_after_join_is_answered() {
    let app = sqlite(|_| {}).await;
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "5x5").await;
    // 20 KiB before joining: over the pre-join budget, the connection goes.
    let (mut ws, _) = connect_async(&app.ws).await.unwrap();
    let big = vec![b'x'; 20 * 1024];
    let _ = ws.send(Message::Binary(big.clone().into())).await;
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the socket stayed open");
    // Joined, the same frame is just a frame (answered with an error).
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join_ok(&space_id, &token, None).await;
    ada.send_raw(big).await;
    ada.expect_error(ErrorCode::Malformed).await;
    ada.heartbeat().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408() {
    let app = sqlite(|cfg| cfg.limits.http_body_timeout = Duration::from_millis(300)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/signin HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await.expect("no answer").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");
}

#[tokio::test]
async fn spaces_owned_are_capped_per_user_but_not_for_admins() {
    let app = sqlite(|cfg| cfg.limits.max_spaces_per_user = 2).await;
    let (_, token) = app.user("ada").await;
    for _ in 0..2 {
        create_space(&app, &token, "5x5").await;
    }
    let (status, body) = app.post("/api/v1/space", Some(&token), json!({"name": "x", "dimensions": "5x5"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::TOO_MANY_REQUESTS, "quota-exceeded"), "{body}");
    let (_, admin) = app.admin("root").await;
    for _ in 0..3 {
        create_space(&app, &admin, "5x5").await;
    }
}

#[tokio::test]
async fn one_user_wakes_few_spaces_per_minute() {
    let app = sqlite(|cfg| cfg.limits.space_starts_per_minute = 2).await;
    let (_, token) = app.user("ada").await;
    let (_, other) = app.user("bob").await;
    let spaces = [
        create_space(&app, &token, "5x5").await,
        create_space(&app, &token, "5x5").await,
        create_space(&app, &token, "5x5").await,
    ];
    let mut ada = WsClient::connect(&app.ws, Codec::Json).await;
    ada.join_ok(&spaces[0], &token, None).await;
    ada.join_ok(&spaces[1], &token, None).await;
    ada.send(&ClientMsg::Join {
        space_id: spaces[2].clone(),
        token: token.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    assert!(ada.expect_error(ErrorCode::RateLimited).await.contains("too many spaces"));
    // A space that is already live costs nothing to join.
    ada.join_ok(&spaces[0], &token, None).await;
    // Others are not affected: Bob wakes the third.
    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    bob.send(&ClientMsg::Join {
        space_id: spaces[2].clone(),
        token: other.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    assert!(matches!(bob.recv().await, ServerMsg::SpaceJoined { .. }));
}

#[tokio::test]
async fn walking_faster_than_the_walking_speed_is_rejected() {
    let app = sqlite(|cfg| {
        cfg.limits.walk_speed = 10.0;
        cfg.limits.walk_burst = 10.0;
        cfg.ws_rate = 1000;
        cfg.ws_burst = 1000;
    })
    .await;
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "50x1").await;
    let mut ada = WsClient::connect(&app.ws, Codec::Json).await;
    let joined = ada.join_ok(&space_id, &token, None).await;
    let x0 = joined.spawn.x;
    let side = if x0 < 49 { 1 } else { -1 };
    // 60 steps back and forth, sent as fast as the socket takes them.
    for i in 0..60 {
        ada.send(&ClientMsg::Move { x: x0 + side * ((i + 1) % 2), y: 0 }).await;
    }
    // The burst (10) and what refilled meanwhile pass; at least 40 do not
    // (`recv` fails the test if they never come).
    let mut rejected = 0;
    while rejected < 40 {
        if let ServerMsg::MovementRejected { .. } = ada.recv().await {
            rejected += 1;
        }
    }
}

/// Mints a token with this server's key: what a leaked key, or a bug in
/// issuing, would let through.
fn issuer(app: &TestApp) -> TokenIssuer {
    let key = metaverse_server::auth::key::load_or_create(None, app.dir.path()).unwrap();
    TokenIssuer::new(&key, Duration::from_secs(600)).unwrap()
}

#[tokio::test]
async fn a_token_naming_someone_elses_session_is_refused() {
    let app = sqlite(|_| {}).await;
    let (ada_id, _) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let issuer = issuer(&app);
    let bob_sid = issuer.verify(&bob_token).unwrap().session_id;
    // Ada's id with Bob's active session.
    let (forged, _) = issuer.issue(&ada_id, "ada", Role::User, &bob_sid).unwrap();
    let (status, body) = app.get("/api/v1/space/all", Some(&forged)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let mut ws = WsClient::connect(&app.ws, Codec::Json).await;
    ws.send(&ClientMsg::Join { space_id: "x".into(), token: forged, resume_token: None, batch: None, view: None })
        .await;
    ws.expect_error(ErrorCode::Unauthorized).await;
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_rights_with_the_same_token() {
    let app = sqlite(|_| {}).await;
    let (root_id, root_token) = app.admin("root").await;
    let avatar = json!({"imageUrl": "https://example.com/a.png", "name": "A"});
    let (status, body) = app.post("/api/v1/admin/avatar", Some(&root_token), avatar.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let db = metaverse_server::db::connect(&app.config.db).await.unwrap();
    let demote = format!("UPDATE users SET role = 'user' WHERE id = '{root_id}'");
    db.execute_unprepared(&demote).await.unwrap();
    let (status, body) = app.post("/api/v1/admin/avatar", Some(&root_token), avatar).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
