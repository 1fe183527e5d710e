//! Chat durability: a burst of 1,000 messages from ten sockets is stored
//! exactly once and echoed to every sender; and with PostgreSQL made
//! unreachable mid-stream (connections cut, or a partition that stalls
//! them), every message is answered exactly once, acknowledged ones are in
//! history and `chat-unavailable` ones are not.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::{Duration, Instant},
};

use common::{
    Backend, TestApp,
    chat::{
        Chat, chat_message, history, is_presence, join_chat, next_chat, next_chat_or_error, not_system, page,
        space_and_room,
    },
    postgres_url,
    proxy::{Proxy, target, via},
    ws::{WsClient, other},
};
use metaverse_protocol::{Codec, ErrorCode, ServerMsg};
use metaverse_server::config::ServeConfig;
use reqwest::StatusCode;

const CLIENTS: usize = 10;
const EACH: usize = 100;

/// How long a client waits for its next message before it reports what it
/// got (a bound on failure; passing runs never wait it out).
const QUIET: Duration = Duration::from_secs(5);

/// What one client of the burst saw.
#[derive(Default)]
struct Seen {
    /// Non-system chat messages by clientId, with how often each came.
    by_client_id: HashMap<String, usize>,
    own: usize,
    timed_out: bool,
}

/// Sends `EACH` messages as fast as the socket takes them while reading
/// whatever arrives, until its own `EACH` and all `CLIENTS * EACH` came
/// back (or nothing came for `QUIET`).
async fn burst(mut c: WsClient, i: usize, room: String) -> Seen {
    let mut seen = Seen::default();
    let mut sent = 0;
    let own_prefix = format!("user{i}-");
    while seen.own < EACH || seen.by_client_id.len() < CLIENTS * EACH {
        tokio::select! {
            _ = std::future::ready(()), if sent < EACH => {
                let cid = format!("user{i}-{sent}");
                c.send(&chat_message(&room, &format!("message {sent} of user{i}"), Some(&cid))).await;
                sent += 1;
            }
            m = tokio::time::timeout(QUIET, c.recv()) => {
                let Ok(m) = m else {
                    seen.timed_out = true;
                    break;
                };
                match m {
                    ServerMsg::ChatMessage { kind, .. } if kind == "system" => {}
                    ServerMsg::ChatMessage { client_id: Some(cid), .. } => {
                        if cid.starts_with(&own_prefix) {
                            seen.own += 1;
                        }
                        *seen.by_client_id.entry(cid).or_default() += 1;
                    }
                    m if is_presence(&m) => {}
                    other => panic!("client user{i}: unexpected {other:?}"),
                }
            }
        }
    }
    seen
}

async fn a_burst_of_a_thousand_messages_is_stored_exactly_once(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |cfg| {
        cfg.chat_rate = 100_000;
        cfg.chat_burst = 100_000;
        cfg.ws_rate = 100_000;
        cfg.ws_burst = 100_000;
        // Every socket receives all 1,000; a deep queue keeps the test
        // about durability, not slow-consumer handling.
        cfg.ws_queue = 16_384;
    })
    .await
    else {
        return;
    };
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        tokens.push(app.user(&format!("user{i}")).await.1);
    }
    let (space_id, room) = space_and_room(&app, &tokens[0], "20x20").await;
    let mut clients = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let codec = if i % 2 == 0 { Codec::MsgPack } else { Codec::Json };
        let mut c = WsClient::connect(&app.ws, codec).await;
        c.join_ok(&space_id, token, None).await;
        join_chat(&mut c, &room).await;
        clients.push(c);
    }

    let started = Instant::now();
    let runs = clients.into_iter().enumerate().map(|(i, c)| burst(c, i, room.clone()));
    let seen = futures_util::future::join_all(runs).await;
    let took = started.elapsed();

    for (i, s) in seen.iter().enumerate() {
        let dups: Vec<_> = s.by_client_id.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dups.is_empty(), "client user{i} got messages twice: {dups:?}");
        assert_eq!(s.own, EACH, "client user{i} got {} of its own {EACH} back (timed out: {})", s.own, s.timed_out);
        assert_eq!(
            s.by_client_id.len(),
            CLIENTS * EACH,
            "client user{i} got {} of the {} messages (timed out: {})",
            s.by_client_id.len(),
            CLIENTS * EACH,
            s.timed_out
        );
    }

    let stored = not_system(&history(&app, &tokens[0], &room).await);
    let ids: HashSet<&str> = stored.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let cids: BTreeSet<String> = stored.iter().map(|m| m["clientId"].as_str().unwrap().to_owned()).collect();
    let expected: BTreeSet<String> =
        (0..CLIENTS).flat_map(|i| (0..EACH).map(move |j| format!("user{i}-{j}"))).collect();
    assert_eq!(ids.len(), stored.len(), "no row twice");
    assert_eq!(cids.len(), stored.len(), "no message stored twice");
    let missing: Vec<_> = expected.difference(&cids).collect();
    let extra: Vec<_> = cids.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
    assert_eq!(stored.len(), CLIENTS * EACH);
    for m in &stored {
        let (cid, content) = (m["clientId"].as_str().unwrap(), m["content"].as_str().unwrap());
        let (user, n) = cid.split_once('-').unwrap();
        assert_eq!(content, format!("message {n} of {user}"), "stored as sent");
        assert_eq!(m["username"].as_str(), Some(user));
    }
    eprintln!("{backend:?}: {} messages from {CLIENTS} sockets, all delivered and stored, in {took:?}", CLIENTS * EACH);
}

configured_on_both_backends!(a_burst_of_a_thousand_messages_is_stored_exactly_once);

/// How PostgreSQL becomes unreachable.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Every connection dies and new ones are refused (the database or its
    /// host went down).
    Cut,
    /// Nothing is forwarded and nothing is closed (a network partition):
    /// a write in flight hangs until the network returns.
    Stall,
}

/// The chat deadline during the outage tests, and the pace of the stream.
const DEADLINE: Duration = Duration::from_secs(1);
const PACE: Duration = Duration::from_millis(20);

/// Messages in the stream, and at which message the outage starts and
/// ends. Both outages outlast the deadline (the stall by more than the
/// extra second a sender waits), so some messages must fail; some sent
/// late in it may still make it.
fn plan(outage: Outage) -> (usize, usize, usize) {
    match outage {
        // 90 × 20 ms = 1.8 s
        Outage::Cut => (150, 30, 120),
        // 150 × 20 ms = 3 s
        Outage::Stall => (210, 30, 180),
    }
}

fn cid(n: usize) -> String {
    format!("s-{n}")
}

/// PostgreSQL made unreachable through a proxy in the middle of a stream of
/// messages, then back: every message gets exactly one answer, the
/// acknowledged ones are in history (and were delivered), the
/// `chat-unavailable` ones are not.
#[tokio::test]
async fn postgres_cut_off_mid_stream() {
    stream_through_an_outage(Outage::Cut).await;
}

#[tokio::test]
async fn postgres_partitioned_mid_stream() {
    stream_through_an_outage(Outage::Stall).await;
}

/// A PostgreSQL app whose database connections go through a proxy the
/// test controls; `None` when PostgreSQL is not available (and not
/// required). The proxy is returned first, so it outlives the server.
async fn behind_a_proxy(tweak: impl FnOnce(&mut ServeConfig)) -> Option<(Proxy, TestApp)> {
    let Some(url) = postgres_url() else {
        // Skipped, or failed under METAVERSE_REQUIRE_SERVICES=1, as every
        // PostgreSQL case is.
        assert!(TestApp::start(Backend::Postgres).await.is_none());
        return None;
    };
    let proxy = Proxy::start(target(&url));
    let through = proxy.addr;
    let app = TestApp::start_with(Backend::Postgres, |cfg| {
        let direct = cfg.db.database_url.clone().expect("the test database's URL");
        cfg.db.database_url = Some(via(&direct, through));
        tweak(cfg);
    })
    .await
    .expect("PostgreSQL is available");
    Some((proxy, app))
}

/// Waits until history answers again (the pool may take a moment).
async fn wait_for_history(app: &TestApp, token: &str, room: &str) {
    let recovered = Instant::now();
    loop {
        let (status, _) = page(app, token, room, "?limit=1").await;
        if status == StatusCode::OK {
            return;
        }
        assert!(recovered.elapsed() < Duration::from_secs(20), "history did not come back: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stream_through_an_outage(outage: Outage) {
    let (total, cut_at, restore_at) = plan(outage);
    let Some((proxy, app)) = behind_a_proxy(|cfg| {
        cfg.chat_deadline = DEADLINE;
        cfg.chat_rate = 100_000;
        cfg.chat_burst = 100_000;
        cfg.ws_rate = 100_000;
        cfg.ws_burst = 100_000;
    })
    .await
    else {
        return;
    };
    assert!(proxy.connections() > 0, "the server reaches PostgreSQL through the proxy");

    let (ada_id, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join_ok(&space_id, &ada_token, None).await;
    join_chat(&mut ada, &room).await;
    // Bob listens: he must see exactly what was acknowledged.
    let mut bob = WsClient::connect(&app.ws, other(Codec::MsgPack)).await;
    bob.join_ok(&space_id, &bob_token, None).await;
    join_chat(&mut bob, &room).await;

    let mut tick = tokio::time::interval(PACE);
    let mut next = 0;
    let mut acked: Vec<usize> = Vec::new();
    let mut unavailable = 0;
    let started = Instant::now();
    while acked.len() + unavailable < total {
        tokio::select! {
            _ = tick.tick(), if next < total => {
                if next == cut_at {
                    match outage {
                        Outage::Cut => proxy.cut(),
                        Outage::Stall => proxy.stall(),
                    }
                }
                if next == restore_at {
                    proxy.restore();
                }
                ada.send(&chat_message(&room, &format!("message {next}"), Some(&cid(next)))).await;
                next += 1;
            }
            m = ada.recv() => match m {
                ServerMsg::ChatMessage { kind, .. } if kind == "system" => {}
                ServerMsg::ChatMessage { user_id, client_id: Some(c), .. } if user_id == ada_id => {
                    let n: usize = c.strip_prefix("s-").and_then(|n| n.parse().ok()).expect("one of ours");
                    assert!(!acked.contains(&n), "{c} acknowledged twice");
                    acked.push(n);
                }
                ServerMsg::Error { code: ErrorCode::ChatUnavailable, .. } => unavailable += 1,
                m if is_presence(&m) => {}
                other => panic!("expected an echo or chat-unavailable, got {other:?}"),
            }
        }
    }
    let streamed = started.elapsed();
    acked.sort();
    eprintln!(
        "{outage:?}: {} acknowledged, {unavailable} chat-unavailable of {total} in {streamed:?}; acknowledged: {acked:?}",
        acked.len()
    );
    assert_eq!(next, total, "every message was sent before all were answered");
    assert!(unavailable > 0, "the outage outlasted the deadline, so some messages must have failed");
    assert!(acked.iter().any(|&n| n < cut_at), "messages before the cut were acknowledged");
    assert!(acked.iter().any(|&n| n >= restore_at), "messages after the restore were acknowledged");

    // Once history answers again, one more message: its echo must be
    // Ada's next answer (so no message got a second one), and Bob's last.
    wait_for_history(&app, &ada_token, &room).await;
    ada.send(&chat_message(&room, "after the outage", Some("final"))).await;
    match ada.recv_until(|m| (!is_presence(m)).then(|| m.clone())).await.0 {
        ServerMsg::ChatMessage { client_id: Some(c), .. } if c == "final" => {}
        other => panic!("expected the final message's echo, got {other:?}"),
    }
    let mut bob_saw = Vec::new();
    loop {
        let m = Chat::from_msg(&bob.recv_until(|m| (!is_presence(m)).then(|| m.clone())).await.0);
        if m.kind == "system" {
            continue;
        }
        let c = m.client_id.expect("ours carry a clientId");
        if c == "final" {
            break;
        }
        bob_saw.push(c.strip_prefix("s-").and_then(|n| n.parse::<usize>().ok()).expect("one of ours"));
    }
    bob_saw.sort();
    assert_eq!(bob_saw, acked, "bob saw exactly the acknowledged messages, each once");

    let stored = not_system(&history(&app, &ada_token, &room).await);
    let mut in_history: Vec<usize> = stored
        .iter()
        .map(|m| m["clientId"].as_str().expect("a clientId"))
        .filter(|c| *c != "final")
        .map(|c| c.strip_prefix("s-").and_then(|n| n.parse().ok()).expect("one of ours"))
        .collect();
    in_history.sort();
    let lost: Vec<_> = acked.iter().filter(|n| in_history.binary_search(n).is_err()).collect();
    let ghosts: Vec<_> = in_history.iter().filter(|n| acked.binary_search(n).is_err()).collect();
    assert!(lost.is_empty(), "acknowledged but not in history: {lost:?}");
    assert!(ghosts.is_empty(), "answered chat-unavailable but in history: {ghosts:?}");
    assert_eq!(in_history, acked, "each acknowledged message stored once");
    assert_eq!(stored.len(), acked.len() + 1, "and nothing else");
}

/// A COMMIT that reaches PostgreSQL but whose answer is lost: the writer
/// cannot know the message was stored, its sender is told
/// `chat-unavailable`, and the message must not stay in history (the next
/// write deletes it in the same transaction).
#[tokio::test]
async fn a_commit_whose_answer_is_lost_leaves_no_refused_message() {
    let Some((proxy, app)) = behind_a_proxy(|cfg| {
        // In clear text, so the proxy can see the COMMIT.
        let url = cfg.db.database_url.take().expect("the proxied URL");
        let sep = if url.contains('?') { '&' } else { '?' };
        cfg.db.database_url = Some(format!("{url}{sep}sslmode=disable"));
        cfg.chat_deadline = Duration::from_millis(800);
    })
    .await
    else {
        return;
    };
    let (_, ada_token) = app.user("ada").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;
    let mut ada = WsClient::connect(&app.ws, Codec::Json).await;
    ada.join_ok(&space_id, &ada_token, None).await;
    join_chat(&mut ada, &room).await;

    proxy.arm_commit_trap();
    ada.send(&chat_message(&room, "in doubt", Some("doubt"))).await;
    proxy.cut_when_sprung().await;
    match next_chat_or_error(&mut ada).await {
        ServerMsg::Error { code: ErrorCode::ChatUnavailable, .. } => {}
        other => panic!("the lost answer makes the message fail: {other:?}"),
    }
    proxy.restore();
    wait_for_history(&app, &ada_token, &room).await;
    ada.send(&chat_message(&room, "after", Some("after"))).await;
    assert!(matches!(next_chat(&mut ada).await, ServerMsg::ChatMessage { client_id: Some(c), .. } if c == "after"));
    let stored: Vec<String> = not_system(&history(&app, &ada_token, &room).await)
        .iter()
        .map(|m| m["content"].as_str().unwrap().into())
        .collect();
    assert_eq!(stored, ["after"], "the refused message is gone");
}
