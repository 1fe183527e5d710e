//! Cluster mode with real processes: two or three `metaverse` nodes on one
//! PostgreSQL database and one Redis, started by the test on their own
//! ports. Sessions on different nodes share a space, the route names the
//! owner, a killed owner's space moves, a drain and a rolling restart hand
//! spaces over, Redis can go away and come back, and no two nodes ever
//! run one space at once (checked with the fencing tokens).

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    chat::{chat_message, general_room, history, join_chat, next_chat, send_http},
    cluster::{Nodes, Tenure, assert_one_owner_at_a_time},
    ws::{WsClient, create_space, step},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, Position, ServerMsg};
use reqwest::StatusCode;

/// Joins through `ws`, retrying while the space changes hands (until its
/// old lease lapses): the `space-moving` error says when to try again.
async fn join_when_ready(ws: &str, codec: Codec, space: &str, token: &str) -> (WsClient, common::ws::Joined) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = WsClient::connect(ws, codec).await;
        c.send(&ClientMsg::Join {
            space_id: space.into(),
            token: token.into(),
            resume_token: None,
            batch: None,
            view: None,
        })
        .await;
        match c.recv().await {
            m @ ServerMsg::SpaceJoined { .. } => return (c, m.into()),
            ServerMsg::Error { code: ErrorCode::SpaceMoving | ErrorCode::Internal, message } => {
                assert!(Instant::now() < deadline, "the space never became available: {message}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("join: {other:?}"),
        }
    }
}

/// The next `reconnect` (skipping world events), then the close code.
async fn expect_reconnect(c: &mut WsClient) -> (Option<String>, u16) {
    let (url, _) = c
        .recv_until(|m| match m {
            ServerMsg::Reconnect { url, .. } => Some(url.clone()),
            _ => None,
        })
        .await;
    let code = c.expect_close().await.map(|f| u16::from(f.code)).unwrap_or(0);
    (url, code)
}

async fn sees_move(c: &mut WsClient, user: &str, to: Position) {
    c.recv_until(|m| match m {
        ServerMsg::Movement { user_id, x, y } if user_id == user && *x == to.x && *y == to.y => Some(()),
        _ => None,
    })
    .await;
}

async fn chat_text(c: &mut WsClient) -> String {
    match next_chat(c).await {
        ServerMsg::ChatMessage { content, .. } => content,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_two_nodes_share_a_space() {
    let Some(nodes) = Nodes::start(2, "10s", None).await else { return };
    let (n1, n2) = (nodes.app(0), nodes.app(1));
    let (_, owner) = n1.user("owner").await;
    for codec in [Codec::MsgPack, Codec::Json] {
        let space = create_space(n1, &owner, "20x20").await;
        let (a_id, a_tok) = n1.user(&format!("a-{codec:?}")).await;
        let (b_id, b_tok) = n2.user(&format!("b-{codec:?}")).await;

        // Nobody serves it yet: the route says to dial the node asked.
        let (status, route) = n2.get(&format!("/api/v1/space/{space}/route"), None).await;
        assert_eq!(status, StatusCode::OK, "{route}");
        assert!(route["nodeId"].is_null(), "{route}");
        assert_eq!(route["url"], n2.ws);

        let mut a = WsClient::connect(&n1.ws, codec).await;
        let ja = a.join_ok(&space, &a_tok, None).await;
        let (_, lease_token) = nodes.lease(&space).await.expect("a lease");
        assert_eq!(nodes.lease(&space).await.unwrap().0, "node-1");
        for n in [n1, n2] {
            let (_, route) = n.get(&format!("/api/v1/space/{space}/route"), None).await;
            assert_eq!(route["nodeId"], "node-1", "{route}");
            assert_eq!(route["url"], n1.ws);
        }

        // B's socket is on node 2; the space runs on node 1.
        let mut b = WsClient::connect(&n2.ws, codec).await;
        let jb = b.join_ok(&space, &b_tok, None).await;
        assert!(jb.users.iter().any(|u| u.user_id == a_id), "B sees A: {:?}", jb.users);
        a.recv_until(|m| matches!(m, ServerMsg::UserJoin { user_id, .. } if *user_id == b_id).then_some(())).await;

        let to_b = step(jb.spawn, (20, 20), &[ja.spawn]);
        b.send(&ClientMsg::Move { x: to_b.x, y: to_b.y }).await;
        sees_move(&mut a, &b_id, to_b).await;
        let to_a = step(ja.spawn, (20, 20), &[to_b]);
        a.send(&ClientMsg::Move { x: to_a.x, y: to_a.y }).await;
        sees_move(&mut b, &a_id, to_a).await;

        // Presence, from either node.
        for n in [n1, n2] {
            let (status, p) = n.get(&format!("/api/v1/space/{space}/presence"), Some(&b_tok)).await;
            assert_eq!(status, StatusCode::OK, "{p}");
            assert_eq!(p["nodeId"], "node-1");
            let mut ids: Vec<&str> =
                p["users"].as_array().unwrap().iter().map(|u| u["userId"].as_str().unwrap()).collect();
            ids.sort();
            let mut want = vec![a_id.as_str(), b_id.as_str()];
            want.sort();
            assert_eq!(ids, want);
        }

        // Chat both ways: over the relay, and posted over HTTP to node 2.
        let room = general_room(n1, &a_tok, &space).await;
        join_chat(&mut a, &room).await;
        join_chat(&mut b, &room).await;
        a.send(&chat_message(&room, "hello from node 1", None)).await;
        assert_eq!(chat_text(&mut a).await, "hello from node 1");
        assert_eq!(chat_text(&mut b).await, "hello from node 1");
        send_http(n2, &b_tok, &room, "hello over HTTP on node 2").await;
        assert_eq!(chat_text(&mut a).await, "hello over HTTP on node 2");
        assert_eq!(chat_text(&mut b).await, "hello over HTTP on node 2");

        // B leaves: A sees it once, and node 1 no longer relays for it.
        b.send(&ClientMsg::Leave {}).await;
        a.recv_until(|m| matches!(m, ServerMsg::UserLeft { user_id } if *user_id == b_id).then_some(())).await;
        assert_eq!(nodes.lease(&space).await.unwrap().1, lease_token, "the lease stayed with node 1");
    }

    // Signing out on node 1 closes the session's socket on node 2.
    let space = create_space(n1, &owner, "20x20").await;
    let (_, c_tok) = n1.user("carol").await;
    let mut c = WsClient::connect(&n2.ws, Codec::Json).await;
    c.join_ok(&space, &c_tok, None).await;
    let (status, _) = n1.post("/api/v1/signout", Some(&c_tok), serde_json::json!({})).await;
    assert!(status.is_success());
    let frame = c.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4503, "revoked on another node");

    // The operator's view (each node publishes its status every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let out = nodes.cli(&["status", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let spaces = |i: usize| status[i]["spaces"].as_array().map_or(0, Vec::len);
        if (spaces(0), spaces(1)) == (2, 1) || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let names: Vec<&str> = status.as_array().unwrap().iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(names, ["node-1", "node-2"]);
    // Node 1 took the first two spaces; Carol's join on node 2 took hers.
    assert_eq!(status[0]["spaces"].as_array().unwrap().len(), 2, "{status}");
    assert_eq!(status[1]["spaces"].as_array().unwrap().len(), 1, "{status}");
    let text = nodes.cli(&["status"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("node-1  serving"));
    // Bad operator input: a node that is not running, a bad name, no Redis.
    let out = nodes.cli(&["drain", "node-9", "--wait", "0s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!nodes.cli(&["drain", "a:b"]).status.success(), "node names are checked");
    let out = Command::new(env!("CARGO_BIN_EXE_metaverse"))
        .args(["cluster", "status"])
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis-url"));
    assert_one_owner_at_a_time(nodes.tenures().await);
}

/// A space made on node 1, with Alice's socket on node 1 (MessagePack, so
/// node 1 takes the space) and Bob's on node 2 (JSON, relayed), both in
/// its `general` room.
struct TwoInARoom {
    space: String,
    room: String,
    a_tok: String,
    b_tok: String,
    a: WsClient,
    b: WsClient,
}

async fn two_in_a_room(nodes: &Nodes) -> TwoInARoom {
    let (_, owner) = nodes.app(0).user("owner").await;
    let space = create_space(nodes.app(0), &owner, "20x20").await;
    let (_, a_tok) = nodes.app(0).user("alice").await;
    let (_, b_tok) = nodes.app(1).user("bob").await;
    let room = general_room(nodes.app(0), &a_tok, &space).await;
    let mut a = WsClient::connect(&nodes.app(0).ws, Codec::MsgPack).await;
    a.join_ok(&space, &a_tok, None).await;
    let mut b = WsClient::connect(&nodes.app(1).ws, Codec::Json).await;
    b.join_ok(&space, &b_tok, None).await;
    join_chat(&mut a, &room).await;
    join_chat(&mut b, &room).await;
    TwoInARoom { space, room, a_tok, b_tok, a, b }
}

/// The contents of a room's history, read through `app`.
async fn history_texts(app: &common::TestApp, token: &str, room: &str) -> Vec<String> {
    history(app, token, room).await.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_owner_moves_the_space_to_another_node() {
    let Some(mut nodes) = Nodes::start(3, "3s", None).await else { return };
    let TwoInARoom { space, room, b_tok, mut a, mut b, .. } = two_in_a_room(&nodes).await;
    a.send(&chat_message(&room, "before the crash", None)).await;
    assert_eq!(chat_text(&mut b).await, "before the crash");
    let (_, first_token) = nodes.lease(&space).await.unwrap();

    let mut before: Vec<Tenure> = nodes.tenures().await.into_iter().filter(|t| t.node == "node-1").collect();
    nodes.kill(0);
    let killed_at = metaverse_schema::now_millis();
    for t in &mut before {
        t.until.get_or_insert(killed_at);
    }

    // B's node notices its space's node is gone and says so.
    let (_, code) = expect_reconnect(&mut b).await;
    assert_eq!(code, 4006);
    // Rejoining gets the space from a live node once the lease lapses.
    let (mut b, _) = join_when_ready(&nodes.app(1).ws, Codec::Json, &space, &b_tok).await;
    let (holder, token) = nodes.lease(&space).await.unwrap();
    assert_eq!(holder, "node-2");
    assert!(token > first_token, "a new fencing token: {token} > {first_token}");
    let (_, route) = nodes.app(2).get(&format!("/api/v1/space/{space}/route"), None).await;
    assert_eq!(route["nodeId"], "node-2");
    assert_eq!(route["url"], nodes.app(1).ws);

    join_chat(&mut b, &room).await;
    b.send(&chat_message(&room, "after the crash", None)).await;
    assert_eq!(chat_text(&mut b).await, "after the crash");
    let texts = history_texts(nodes.app(2), &b_tok, &room).await;
    assert!(
        texts.contains(&"before the crash".to_owned()) && texts.contains(&"after the crash".to_owned()),
        "{texts:?}"
    );

    let mut all = nodes.tenures().await;
    all.extend(before);
    assert_one_owner_at_a_time(all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_and_rolling_restart_hand_spaces_over_without_losing_chat() {
    let Some(mut nodes) = Nodes::start(2, "10s", None).await else { return };
    let TwoInARoom { space, room, a_tok, b_tok, mut a, mut b } = two_in_a_room(&nodes).await;
    let mut acked = Vec::new();
    a.send(&chat_message(&room, "one", None)).await;
    b.send(&chat_message(&room, "two", None)).await;
    for c in [&mut a, &mut b] {
        let mut got = vec![chat_text(c).await, chat_text(c).await];
        got.sort();
        assert_eq!(got, ["one", "two"]);
    }
    acked.extend(["one".to_owned(), "two".to_owned()]);
    let (_, first_token) = nodes.lease(&space).await.unwrap();

    // Drain node 1: both sessions (one local, one relayed from node 2) are
    // told to reconnect to node 2, where the space goes.
    let out = nodes.cli(&["drain", "node-1", "--wait", "20s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("drained"));
    for c in [&mut a, &mut b] {
        let (url, code) = expect_reconnect(c).await;
        assert_eq!(url.as_deref(), Some(nodes.app(1).ws.as_str()));
        assert_eq!(code, 4006);
    }
    let (status, ready) = nodes.app(0).get("/ready", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a draining node is not ready: {ready}");
    assert_eq!(ready["status"], "draining");
    let (mut a, _) = join_when_ready(&nodes.app(1).ws, Codec::MsgPack, &space, &a_tok).await;
    let (holder, token) = nodes.lease(&space).await.unwrap();
    assert_eq!(holder, "node-2");
    assert!(token > first_token);
    // A join arriving at the draining node is served elsewhere.
    let (mut b, _) = join_when_ready(&nodes.app(0).ws, Codec::Json, &space, &b_tok).await;
    assert_eq!(nodes.lease(&space).await.unwrap().0, "node-2");
    join_chat(&mut a, &room).await;
    join_chat(&mut b, &room).await;
    b.send(&chat_message(&room, "three", None)).await;
    assert_eq!(chat_text(&mut a).await, "three");
    acked.push("three".into());
    let status = nodes.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("node-1  draining") && text.contains("node-2  serving"), "{text}");

    // Rolling restart, with SIGTERM only: node 1 stops (B's socket was
    // there and is sent to the space's node), a fresh node 3 joins, then
    // node 2, which owns the space, stops and hands it to node 3.
    let tenures: Vec<Tenure> = nodes.tenures().await;
    assert!(nodes.terminate(0).success());
    let (url, code) = expect_reconnect(&mut b).await;
    assert_eq!((url.as_deref(), code), (Some(nodes.app(1).ws.as_str()), 4006));
    nodes.add_node("node-3").await;
    let (mut b, _) = join_when_ready(&nodes.app(2).ws, Codec::Json, &space, &b_tok).await;
    join_chat(&mut b, &room).await;
    b.send(&chat_message(&room, "four", None)).await;
    assert_eq!(chat_text(&mut a).await, "four");
    assert_eq!(chat_text(&mut b).await, "four");
    acked.push("four".into());
    let (_, before_restart) = nodes.lease(&space).await.unwrap();
    assert!(nodes.terminate(1).success());
    for c in [&mut a, &mut b] {
        let (url, code) = expect_reconnect(c).await;
        assert_eq!((url.as_deref(), code), (Some(nodes.app(2).ws.as_str()), 4006));
    }
    let (mut a, _) = join_when_ready(&nodes.app(2).ws, Codec::MsgPack, &space, &a_tok).await;
    let (holder, token) = nodes.lease(&space).await.unwrap();
    assert_eq!(holder, "node-3");
    assert!(token > before_restart);
    join_chat(&mut a, &room).await;
    a.send(&chat_message(&room, "five", None)).await;
    assert_eq!(chat_text(&mut a).await, "five");
    acked.push("five".into());

    let texts = history_texts(nodes.app(2), &a_tok, &room).await;
    for t in &acked {
        assert!(texts.contains(t), "acknowledged {t:?} is in history: {texts:?}");
    }
    // The drain's hand-over (queried before node 1 stopped); node 2's to
    // node 3 is checked by the token above.
    assert_one_owner_at_a_time(tenures);
}

/// A Redis of the test's own, so stopping it disturbs no other test.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (install Redis 7)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { port, child: Some(child) }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_status(app: &common::TestApp, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = app.get("/ready", None).await;
        if status == want {
            return;
        }
        assert!(Instant::now() < deadline, "/ready never answered {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopping_stops_spaces_at_lease_expiry_and_service_resumes() {
    if common::cluster::redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port).await;
    let Some(nodes) = Nodes::start(2, "3s", Some(redis.url())).await else { return };
    let (_, owner) = nodes.app(0).user("owner").await;
    let space = create_space(nodes.app(0), &owner, "20x20").await;
    let (a_id, a_tok) = nodes.app(0).user("alice").await;
    let (_, b_tok) = nodes.app(0).user("bob").await;
    let mut a = WsClient::connect(&nodes.app(0).ws, Codec::MsgPack).await;
    a.own_moves = true;
    let ja = a.join_ok(&space, &a_tok, None).await;
    let mut b = WsClient::connect(&nodes.app(1).ws, Codec::Json).await;
    b.join_ok(&space, &b_tok, None).await;
    let before = nodes.tenures().await;
    assert_eq!(before.len(), 1);

    redis.stop();
    // The owner keeps serving its own members until the lease would lapse.
    let to = step(ja.spawn, (20, 20), &[]);
    a.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    sees_move(&mut a, &a_id, to).await;
    // Then it stops the space cleanly.
    let (_, code) = expect_reconnect(&mut a).await;
    assert_eq!(code, 4006);
    // The relayed session is dropped too (its node lost the relay).
    let (_, code) = expect_reconnect(&mut b).await;
    assert_eq!(code, 4006);
    wait_status(nodes.app(0), StatusCode::SERVICE_UNAVAILABLE).await;
    // Nobody takes the space while Redis is away.
    let mut c = WsClient::connect(&nodes.app(1).ws, Codec::Json).await;
    c.send(&ClientMsg::Join {
        space_id: space.clone(),
        token: b_tok.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    assert!(matches!(c.recv().await, ServerMsg::Error { .. }), "no join without Redis");
    let stopped = nodes.tenures().await;
    assert!(stopped.iter().all(|t| t.until.is_some()), "the space stopped: {stopped:?}");

    let _redis = PrivateRedis::start(port).await;
    wait_status(nodes.app(0), StatusCode::OK).await;
    wait_status(nodes.app(1), StatusCode::OK).await;
    let (mut b, _) = join_when_ready(&nodes.app(1).ws, Codec::Json, &space, &b_tok).await;
    let (mut a, ja) = join_when_ready(&nodes.app(0).ws, Codec::MsgPack, &space, &a_tok).await;
    let to = step(ja.spawn, (20, 20), &[]);
    a.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    sees_move(&mut b, &a_id, to).await;
    assert_one_owner_at_a_time(nodes.tenures().await);
}

/// Without a shared key each node would generate its own, and a token
/// signed on one node would be refused by the others.
#[test]
fn cluster_mode_without_a_token_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metaverse"))
        .args(["--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0", "--node-id", "keyless"])
        .env("REDIS_URL", std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
        .env_remove("METAVERSE_TOKEN_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("KAFKA_BROKERS")
        .env("METAVERSE_DATA_DIR", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a keyless cluster node started: {text}");
    assert!(text.contains("--token-key") && text.contains("openssl rand -hex 32"), "{text}");
    assert!(!dir.path().join("token.key").exists(), "no per-node key was generated");
}
