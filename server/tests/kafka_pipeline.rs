//! The event pipeline against a real Kafka-protocol broker (tansu): chat
//! over WebSocket through Kafka into history and analytics; the records as
//! a plain Kafka client reads them; the `metaverse consume` process killed
//! and restarted mid-stream, or two of them at once; the broker killed and
//! restarted mid-stream, bounced, or cut off by a network partition; a
//! broker that is not there at all (backlog full); and malformed records
//! on the topics.
//!
//! Each test has topics of its own (`use_kafka`) and a database of its own.
//! They need `KAFKA_BROKERS` (and skip without it unless
//! `METAVERSE_REQUIRE_SERVICES=1`); the broker-fault tests start a private
//! `tansu` (on the PATH, or `TANSU_BIN`) on a port of their own.
//!
//! Nothing here sleeps to synchronise: every wait polls what a client can
//! observe (history, analytics, `/ready`, `/metrics`, the consumer's offsets
//! in the database) with a bound on failure.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use common::{
    Backend, TestApp,
    chat::{Chat, chat_message, general_room, history, join_chat, next_chat, not_system, space_and_room},
    kafka_brokers,
    proxy::Proxy,
    tansu::{self, Tansu, free_port},
    use_kafka,
    ws::{WsClient, create_space, metrics_text},
};
use metaverse_protocol::{ClientMsg, Codec};
use metaverse_schema::entity::event_offset;
use metaverse_server::config::ServeConfig;
use reqwest::StatusCode;
use rskafka::{
    chrono::Utc,
    client::{
        Client, ClientBuilder,
        partition::{Compression, OffsetAt, UnknownTopicHandling},
    },
    record::Record,
};
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// The bound of every wait on the pipeline. A bound on failure: passing
/// runs never wait it out.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

// The cases that run on SQLite and on PostgreSQL (one invocation per file).
configured_on_both_backends!(
    chat_and_analytics_round_trip_through_kafka,
    consumer_killed_and_restarted_mid_stream,
    two_consumers_share_by_lease,
    two_consumers_split_partitions,
    broker_killed_and_restarted_mid_stream,
    broker_bounces_and_topics_come_back,
    kafka_partitioned_mid_stream,
);

// ---------------------------------------------------------------------------
// 1. WS → Kafka → consumer → database → history, and analytics
// ---------------------------------------------------------------------------

const ROUND_TRIP: usize = 20;

async fn chat_and_analytics_round_trip_through_kafka(backend: Backend) {
    let Some(brokers) = kafka_brokers() else { return };
    // A dropped socket's visit ends after the resume grace: keep it short.
    let Some(app) = start(backend, &brokers, |cfg| cfg.resume_grace = Duration::from_millis(300)).await else {
        return;
    };
    let app = &app;
    let talk = talk(app, ROUND_TRIP).await;
    let (token, room, space) = (&talk.ada.token, &talk.room, &talk.space_id);

    // History fills in a moment after the acks (the consumer writes it).
    let stored = wait_for_history(app, token, room, &talk.sent).await;
    assert_exactly(&stored, &talk.sent, "history after the round trip");
    for m in &stored {
        let sent = &talk.sent[m["id"].as_str().unwrap()];
        assert_eq!(m["userId"].as_str(), Some(sent.user_id.as_str()), "{m}");
        assert_eq!(m["type"], "text", "{m}");
    }

    let a = eventually("analytics to count 20 messages and 2 joins", || async move {
        let a = space_analytics(app, token, space).await;
        let t = &a["totals"];
        if t["messages"].as_i64() >= Some(i64::try_from(ROUND_TRIP).unwrap()) && t["joins"].as_i64() >= Some(2) {
            Ok(a)
        } else {
            Err(t.to_string())
        }
    })
    .await;
    let t = &a["totals"];
    assert_eq!(t["messages"], ROUND_TRIP, "every message counted once: {a}");
    assert_eq!(t["joins"], 2, "{a}");
    assert_eq!(t["leaves"], 0, "nobody left yet: {a}");
    assert_eq!(t["activeUsers"], 2, "{a}");
    assert_eq!(a["rooms"], json!([{"chatroomId": room, "name": "general", "messages": ROUND_TRIP}]), "{a}");
    assert_eq!(a["sessions"]["count"], 0, "no visit ended yet: {a}");

    // ada leaves with `leave`; bob just closes his socket (1000: a
    // departure too).
    let [mut ada, bob]: [WsClient; 2] = talk.sockets.try_into().ok().expect("two sockets");
    ada.send(&ClientMsg::Leave {}).await;
    ada.close_and_wait().await;
    bob.close_and_wait().await;
    let a = eventually("analytics to count 2 leaves and 2 visits", || async move {
        let a = space_analytics(app, token, space).await;
        if a["totals"]["leaves"].as_i64() >= Some(2) && a["sessions"]["count"].as_i64() >= Some(2) {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert_eq!(a["totals"]["leaves"], 2, "{a}");
    assert_eq!(a["sessions"]["count"], 2, "{a}");
    assert_eq!(a["totals"]["joins"], 2, "{a}");
    assert_eq!(a["totals"]["messages"], ROUND_TRIP, "{a}");
    assert!(a["sessions"]["maxMs"].as_i64().is_some_and(|ms| ms >= 0), "{a}");

    // Still exactly once, well after the consumer caught up.
    assert_exactly(&not_system(&history(app, token, room).await), &talk.sent, "history at the end");
}

// ---------------------------------------------------------------------------
// 2. The records, read with a plain Kafka client and no project types
// ---------------------------------------------------------------------------

#[tokio::test]
async fn records_are_readable_by_a_plain_kafka_client() {
    let Some(brokers) = kafka_brokers() else { return };
    let Some(app) = start(Backend::Sqlite, &brokers, |_| {}).await else { return };
    const N: usize = 10;
    let talk = talk(&app, N).await;
    for mut c in talk.sockets {
        c.send(&ClientMsg::Leave {}).await;
        c.close_and_wait().await;
    }
    let kafka = ClientBuilder::new(brokers.clone()).build().await.expect("a plain client connects");
    let space = talk.space_id.as_str();
    let users = BTreeMap::from([(talk.ada.id.as_str(), "ada"), (talk.bob.id.as_str(), "bob")]);

    // Chat: acknowledged, so already in Kafka.
    let chat = read_topic(&kafka, &app.config.kafka.kafka_topic_chat).await;
    let mut texts = BTreeMap::new();
    for r in &chat {
        let v = r.json();
        r.assert_envelope(space);
        for field in ["id", "chatroomId", "userId", "username", "content", "type"] {
            assert!(v[field].as_str().is_some_and(|s| !s.is_empty()), "{field} is a non-empty string: {v}");
        }
        assert!(v["sentAt"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "sentAt is Unix milliseconds: {v}");
        assert_eq!(v["chatroomId"], talk.room, "{v}");
        assert_eq!(v["username"].as_str(), users.get(v["userId"].as_str().unwrap()).copied(), "{v}");
        if v["type"] != "system" {
            assert_eq!(v["type"], "text", "{v}");
            let id = v["id"].as_str().unwrap().to_owned();
            assert!(texts.insert(id, v.clone()).is_none(), "a message twice on the chat topic: {v}");
        }
    }
    assert_eq!(texts.keys().collect::<BTreeSet<_>>(), talk.sent.keys().collect(), "chat records = acked messages");
    for (id, v) in &texts {
        let sent = &talk.sent[id];
        assert_eq!(v["content"].as_str(), Some(sent.content.as_str()), "{v}");
        assert_eq!(v["userId"].as_str(), Some(sent.user_id.as_str()), "{v}");
        assert_eq!(v["clientId"].as_str(), Some(sent.client_id.as_str()), "the sender's clientId is kept: {v}");
    }

    // User events and chat facts are fire-and-forget: wait until all came.
    let topic = &app.config.kafka.kafka_topic_user_events;
    let kafka = &kafka;
    let events = eventually("2 joins and 2 leaves on the user-events topic", || async move {
        let rs = read_topic(kafka, topic).await;
        if rs.len() >= 4 { Ok(rs) } else { Err(format!("{} records", rs.len())) }
    })
    .await;
    assert_eq!(
        events.len(),
        4,
        "a join and a leave per user: {:?}",
        events.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    for user in users.keys() {
        let mine: Vec<&Read> = events.iter().filter(|r| r.json()["userId"] == *user).collect();
        assert_eq!(mine.len(), 2, "{user}: one join, one leave");
        let (join, leave) = (mine[0].json(), mine[1].json());
        mine.iter().for_each(|r| r.assert_envelope(space));
        assert_eq!(join["type"], "join", "the join comes first (same partition, in order): {join}");
        assert_eq!(leave["type"], "leave", "{leave}");
        let session = join["sessionId"].as_str().filter(|s| !s.is_empty()).expect("join has a sessionId");
        assert_eq!(leave["sessionId"].as_str(), Some(session), "the leave names the same visit");
        let (joined, left) = (join["at"].as_i64().expect("at"), leave["at"].as_i64().expect("at"));
        assert_eq!(leave["joinedAt"].as_i64(), Some(joined), "{leave}");
        assert_eq!(leave["durationMs"].as_i64(), Some(left - joined), "{leave}");
        assert!(left >= joined, "{leave}");
    }

    let topic = &app.config.kafka.kafka_topic_analytics;
    let facts = eventually("a fact per message on the chat-analytics topic", || async move {
        let rs = read_topic(kafka, topic).await;
        if rs.len() >= N { Ok(rs) } else { Err(format!("{} records", rs.len())) }
    })
    .await;
    assert_eq!(facts.len(), N, "one fact per message, none for system notices");
    let mut seen = BTreeSet::new();
    for r in &facts {
        let v = r.json();
        r.assert_envelope(space);
        let id = v["messageId"].as_str().expect("messageId").to_owned();
        let sent = talk.sent.get(&id).unwrap_or_else(|| panic!("a fact of no message we sent: {v}"));
        assert!(seen.insert(id.clone()), "a fact twice: {v}");
        assert_eq!(v["length"].as_u64(), Some(sent.content.chars().count() as u64), "length in characters: {v}");
        assert_eq!(v["type"], "text", "{v}");
        assert_eq!(v["chatroomId"], talk.room, "{v}");
        assert_eq!(v["userId"].as_str(), Some(sent.user_id.as_str()), "{v}");
        assert!(v.get("content").is_none(), "facts carry no content: {v}");
        assert!(v["at"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "{v}");
    }
}

// ---------------------------------------------------------------------------
// 3. `metaverse consume` killed and restarted mid-stream; two at once
// ---------------------------------------------------------------------------

/// Messages in each consumer test's stream (over HTTP, round-robin over
/// one space per partition).
const STREAM: usize = 300;

/// The `consume` process killed (SIGKILL) three times while the stream
/// runs, each time after it committed something new, and started again
/// (with the same consumer id, so it takes its partitions back at once).
async fn consumer_killed_and_restarted_mid_stream(backend: Backend) {
    let Some(brokers) = kafka_brokers() else { return };
    let Some(app) = start(backend, &brokers, |cfg| cfg.no_consumer = true).await else { return };
    let setup = Stream::prepare(&app).await;
    let db = connect(&app).await;
    let mut consumer = ConsumerProcess::start(&app, "killed", &[]);
    let progress = AtomicUsize::new(0);

    let control = async {
        let mut committed = 0;
        for round in 1..=3 {
            let before = committed;
            committed = eventually("the consumer to commit another batch", || {
                let db = &db;
                let topic = app.config.kafka.kafka_topic_chat.as_str();
                async move {
                    let c = committed_total(db, topic).await;
                    if c > before { Ok(c) } else { Err(format!("chat offsets at {c}")) }
                }
            })
            .await;
            let at = progress.load(Ordering::Acquire);
            consumer.kill();
            eprintln!("round {round}: consumer killed with {committed} chat records committed, {at} messages acked");
            // Let the stream go on without a consumer for a while.
            let target = (at + 40).min(STREAM);
            eventually("more messages acked while no consumer runs", || {
                let progress = &progress;
                async move {
                    let n = progress.load(Ordering::Acquire);
                    if n >= target { Ok(()) } else { Err(format!("{n} acked")) }
                }
            })
            .await;
            consumer.restart();
        }
    };
    let (sent, ()) = tokio::join!(setup.run(&app, &progress), control);
    setup.verify(&app, &sent, &[&consumer]).await;
}

/// Two `consume` processes on all partitions at once (the leases decide),
/// one of them killed mid-stream: the other takes its partitions over when
/// the lease runs out.
async fn two_consumers_share_by_lease(backend: Backend) {
    let Some(brokers) = kafka_brokers() else { return };
    let Some(app) = start(backend, &brokers, |cfg| cfg.no_consumer = true).await else { return };
    let setup = Stream::prepare(&app).await;
    let db = connect(&app).await;
    let mut first = ConsumerProcess::start(&app, "lease-a", &[]);
    let second = ConsumerProcess::start(&app, "lease-b", &[]);
    let progress = AtomicUsize::new(0);

    let control = async {
        let topic = app.config.kafka.kafka_topic_chat.as_str();
        let db = &db;
        eventually("a consumer to commit a batch", || async move {
            let c = committed_total(db, topic).await;
            if c > 0 { Ok(()) } else { Err("nothing committed".into()) }
        })
        .await;
        let owners = owners(db).await;
        first.kill();
        eprintln!("lease-a killed at {} acked; owners then: {owners:?}", progress.load(Ordering::Acquire));
    };
    let (sent, ()) = tokio::join!(setup.run(&app, &progress), control);
    setup.verify(&app, &sent, &[&first, &second]).await;
    let db = &db;
    eventually("the survivor to hold every partition once the dead one's leases ran out", || async move {
        let owners = owners(db).await;
        if owners.values().all(|o| o.as_deref() == Some("lease-b")) { Ok(()) } else { Err(format!("{owners:?}")) }
    })
    .await;
}

/// Two `consume` processes splitting the partitions (`0` and `1,2`).
async fn two_consumers_split_partitions(backend: Backend) {
    let Some(brokers) = kafka_brokers() else { return };
    let Some(app) = start(backend, &brokers, |cfg| cfg.no_consumer = true).await else { return };
    assert_eq!(app.config.kafka.kafka_partitions, 3, "the split below assumes 3 partitions");
    let setup = Stream::prepare(&app).await;
    let db = connect(&app).await;
    let a = ConsumerProcess::start(&app, "split-a", &["--consumer-partitions", "0"]);
    let b = ConsumerProcess::start(&app, "split-b", &["--consumer-partitions", "1,2"]);
    let progress = AtomicUsize::new(0);
    let sent = setup.run(&app, &progress).await;
    setup.verify(&app, &sent, &[&a, &b]).await;
    let owners = owners(&db).await;
    assert_eq!(owners.len(), 9, "a row per topic and partition: {owners:?}");
    for ((topic, partition), owner) in &owners {
        let expected = if *partition == 0 { "split-a" } else { "split-b" };
        assert_eq!(owner.as_deref(), Some(expected), "{topic}/{partition}: {owners:?}");
    }
}

// ---------------------------------------------------------------------------
// 4. Broker faults: killed and restarted mid-stream, bounced, partitioned
// ---------------------------------------------------------------------------

async fn broker_killed_and_restarted_mid_stream(backend: Backend) {
    if kafka_brokers().is_none() || !tansu::available() {
        return;
    }
    let mut tansu = Tansu::start().await.expect("a private tansu starts");
    let broker = tansu.broker();
    let Some(app) = start(backend, std::slice::from_ref(&broker), |cfg| {
        cfg.kafka.kafka_chat_wait = Duration::from_millis(300);
        cfg.kafka.kafka_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let (_, token) = app.admin("ada").await;
    let (space, room) = space_and_room(&app, &token, "10x10").await;
    let mut sent = BTreeMap::new();
    let mut next = 0;
    let mut send_batch = async |label: &str, n: usize, sent: &mut BTreeMap<String, Sent>| {
        let mut ids = Vec::new();
        for _ in 0..n {
            let s = send(&app, &token, &room, next, label).await;
            next += 1;
            ids.push(s.id.clone());
            sent.insert(s.id.clone(), s);
        }
        ids
    };

    // Through Kafka, with the broker up.
    send_batch("before", 10, &mut sent).await;
    // Quiesce before the kill: tansu's memory storage loses its whole log
    // when it dies, so records it acknowledged but the consumer had not
    // read yet would be lost by the broker itself (a real Kafka keeps
    // them). Wait until history and analytics hold everything sent so far.
    wait_for_history(&app, &token, &room, &sent).await;
    wait_for_messages(&app, &token, &space, sent.len()).await;

    let fallbacks = counter(&metrics_text(&app).await, "metaverse_chat_fallback_total", &[]);
    tansu.kill().await;
    // Broker down: every send is still acknowledged, written straight to
    // the database (so it is in history at once, with no consumer able to
    // read Kafka).
    let outage = send_batch("outage", 10, &mut sent).await;
    let stored: BTreeSet<String> =
        not_system(&history(&app, &token, &room).await).iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    let missing: Vec<_> = outage.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "acked during the outage but not in the database at its ack: {missing:?}");
    let now = counter(&metrics_text(&app).await, "metaverse_chat_fallback_total", &[]);
    assert!(now >= fallbacks + outage.len() as f64, "fallback counted for each outage message: {fallbacks} → {now}");
    eventually("/ready to report Kafka degraded, and still 200", || async {
        let (status, ready) = app.get("/ready", None).await;
        if status == StatusCode::OK && ready["kafka"]["status"] == "degraded" {
            Ok(())
        } else {
            Err(format!("{status} {ready}"))
        }
    })
    .await;

    tansu.restart().await.expect("tansu restarts on its port");
    // Right after the restart the writer may still be backing off: these
    // may go either way, but each is acknowledged.
    send_batch("restart", 10, &mut sent).await;
    // Kafka takes records again: the writer reconnects, re-creates the
    // topics on the empty broker and empties its backlog into them.
    eventually("the writer to report Kafka healthy with an empty backlog", || async {
        let (status, ready) = app.get("/ready", None).await;
        if status == StatusCode::OK && ready["kafka"] == json!({"status": "ok", "backlog": 0}) {
            Ok(())
        } else {
            Err(format!("{status} {ready}"))
        }
    })
    .await;
    let after = send_batch("after", 10, &mut sent).await;

    let stored = wait_for_history(&app, &token, &room, &sent).await;
    assert_exactly(&stored, &sent, "history after the broker restart");
    let total = wait_for_messages(&app, &token, &space, sent.len()).await;
    assert_eq!(total, i64::try_from(sent.len()).unwrap(), "analytics count every message once");

    // The messages since the restart, and the outage's backlog, are on the
    // new broker's chat topic.
    let kafka = ClientBuilder::new(vec![broker.clone()]).build().await.expect("connects to the restarted broker");
    let on_topic: BTreeSet<String> = read_topic(&kafka, &app.config.kafka.kafka_topic_chat)
        .await
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    let not_there: Vec<_> = after.iter().chain(&outage).filter(|id| !on_topic.contains(*id)).collect();
    assert!(not_there.is_empty(), "not on the new broker's chat topic: {not_there:?}\n{}", tansu.output());
    // And history still holds each message once.
    assert_exactly(&not_system(&history(&app, &token, &room).await), &sent, "history at the end");
}

/// The broker killed and started again at once (well within
/// `--kafka-timeout`, left at its default), its topics provisioned again
/// right away (as an operator's tooling would; it also makes the timing
/// deterministic), then more messages. Through Kafka again, every message
/// must reach history and analytics exactly once: the consumer must notice
/// that the log it was reading is gone, although no request of its own
/// failed (the Kafka client reconnects by itself within its deadline).
async fn broker_bounces_and_topics_come_back(backend: Backend) {
    if kafka_brokers().is_none() || !tansu::available() {
        return;
    }
    let mut tansu = Tansu::start().await.expect("a private tansu starts");
    let broker = tansu.broker();
    let Some(app) = start(backend, std::slice::from_ref(&broker), |cfg| {
        cfg.kafka.kafka_chat_wait = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    let (_, token) = app.admin("ada").await;
    let (space, room) = space_and_room(&app, &token, "10x10").await;
    let mut sent = BTreeMap::new();
    for i in 0..10 {
        let s = send(&app, &token, &room, i, "before").await;
        sent.insert(s.id.clone(), s);
    }
    // Quiesced first (memory storage: see broker_killed_and_restarted_mid_stream).
    wait_for_history(&app, &token, &room, &sent).await;
    wait_for_messages(&app, &token, &space, sent.len()).await;

    tansu.restart().await.expect("tansu restarts on its port");
    let kafka = ClientBuilder::new(vec![broker.clone()]).build().await.expect("connects to the restarted broker");
    let k = &app.config.kafka;
    for topic in [&k.kafka_topic_chat, &k.kafka_topic_user_events, &k.kafka_topic_analytics] {
        let controller = kafka.controller_client().expect("a controller");
        controller.create_topic(topic, k.kafka_partitions, 1, 5_000).await.expect("topic re-created");
    }
    for i in 10..30 {
        let s = send(&app, &token, &room, i, "after").await;
        sent.insert(s.id.clone(), s);
    }
    let db = connect(&app).await;
    let stored = wait_for(&format!("history of {room} to hold the {} messages sent", sent.len()), || async {
        let stored = not_system(&history(&app, &token, &room).await);
        if stored.len() >= sent.len() { Ok(stored) } else { Err(format!("{} stored", stored.len())) }
    })
    .await;
    let stored = match stored {
        Ok(s) => s,
        Err(e) => panic!("{e}\n{}", pipeline_state(&app, &db, &broker, &sent, &token, &room).await),
    };
    assert_exactly(&stored, &sent, "history after the bounce");
    let counted = wait_for(&format!("analytics of {space} to count {} messages", sent.len()), || async {
        let a = space_analytics(&app, &token, &space).await;
        match a["totals"]["messages"].as_i64() {
            Some(m) if m >= i64::try_from(sent.len()).unwrap() => Ok(m),
            _ => Err(a["totals"].to_string()),
        }
    })
    .await;
    let total = match counted {
        Ok(m) => m,
        Err(e) => panic!("{e}\n{}", pipeline_state(&app, &db, &broker, &sent, &token, &room).await),
    };
    assert_eq!(total, i64::try_from(sent.len()).unwrap(), "analytics count every message once");
}

/// The network to the broker partitioned in the middle of a stream (a
/// proxy in front of a private tansu stops forwarding, both ways, without
/// closing anything), then healed. Produce requests caught in the
/// partition time out and are retried, and may also reach the broker late:
/// Kafka then holds some records twice. History (inserts skip known ids)
/// and analytics must still count every message exactly once.
async fn kafka_partitioned_mid_stream(backend: Backend) {
    if kafka_brokers().is_none() || !tansu::available() {
        return;
    }
    let port = free_port();
    // Declared first, so it outlives the broker and the server.
    let proxy = Proxy::start(format!("127.0.0.1:{port}"));
    let broker = proxy.addr.to_string();
    let _tansu = Tansu::start_advertising(port, &broker).await.expect("a private tansu starts");
    let Some(app) = start(backend, std::slice::from_ref(&broker), |cfg| {
        cfg.kafka.kafka_chat_wait = Duration::from_millis(300);
        cfg.kafka.kafka_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let (_, token) = app.admin("ada").await;
    let (space, room) = space_and_room(&app, &token, "10x10").await;
    let mut sent = BTreeMap::new();
    let phases = [("before", 10), ("partitioned", 10), ("healed", 10)];
    let mut i = 0;
    for (label, n) in phases {
        match label {
            "partitioned" => proxy.stall(),
            "healed" => proxy.restore(),
            _ => {}
        }
        let mut ids = Vec::new();
        for _ in 0..n {
            let s = send(&app, &token, &room, i, label).await;
            ids.push(s.id.clone());
            sent.insert(s.id.clone(), s);
            i += 1;
        }
        if label == "partitioned" {
            // Kafka could not take them: each was written to the database
            // before its ack, so history has them already.
            let stored: BTreeSet<String> = not_system(&history(&app, &token, &room).await)
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect();
            let missing: Vec<_> = ids.iter().filter(|id| !stored.contains(*id)).collect();
            assert!(missing.is_empty(), "acked while partitioned but not in the database at its ack: {missing:?}");
        }
    }
    eventually("the writer to report Kafka healthy with an empty backlog", || async {
        let (status, ready) = app.get("/ready", None).await;
        if status == StatusCode::OK && ready["kafka"] == json!({"status": "ok", "backlog": 0}) {
            Ok(())
        } else {
            Err(format!("{status} {ready}"))
        }
    })
    .await;
    let stored = wait_for_history(&app, &token, &room, &sent).await;
    assert_exactly(&stored, &sent, "history after the partition");

    // Everything is produced now: wait until the consumer has read the
    // space's whole analytics partition, then count.
    let kafka = ClientBuilder::new(vec![broker.clone()]).build().await.expect("a plain client connects");
    let topic = &app.config.kafka.kafka_topic_analytics;
    let p = fnv_partition(space.as_bytes(), app.config.kafka.kafka_partitions);
    let pc = kafka.partition_client(topic, p, UnknownTopicHandling::Retry).await.expect("partition client");
    let (_, end) = pc.fetch_records(0, 1..1_000_000, 0).await.expect("high watermark");
    let db = connect(&app).await;
    let db = &db;
    eventually(&format!("{topic}/{p} consumed up to {end}"), || async move {
        let at = next_offset(db, topic, p).await;
        if at >= end { Ok(()) } else { Err(format!("next offset {at}")) }
    })
    .await;
    let mut facts: BTreeMap<String, usize> = BTreeMap::new();
    for r in read_topic(&kafka, topic).await {
        *facts
            .entry(sent.get(r.json()["messageId"].as_str().unwrap()).map_or("?".into(), |s| s.client_id.clone()))
            .or_default() += 1;
    }
    let twice: BTreeMap<&String, &usize> = facts.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "{backend:?}: {} facts on the topic for {} messages; twice: {twice:?}",
        facts.values().sum::<usize>(),
        sent.len()
    );
    let a = space_analytics(&app, &token, &space).await;
    assert_eq!(
        a["totals"]["messages"],
        sent.len(),
        "analytics count each message once; facts on the topic more than once: {twice:?}"
    );
    assert_exactly(&not_system(&history(&app, &token, &room).await), &sent, "history at the end");
}

/// What each side holds, for a failure message: messages missing from
/// history, the consumer's offsets, and the broker's chat and analytics
/// logs.
async fn pipeline_state(
    app: &TestApp,
    db: &DatabaseConnection,
    broker: &str,
    sent: &BTreeMap<String, Sent>,
    token: &str,
    room: &str,
) -> String {
    let stored: BTreeSet<String> =
        not_system(&history(app, token, room).await).iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    let missing: Vec<&str> = sent.values().filter(|s| !stored.contains(&s.id)).map(|s| s.client_id.as_str()).collect();
    let mut out = format!("missing from history: {missing:?}\n");
    for ((topic, p), _) in owners(db).await {
        out += &format!("consumer offset {topic}/{p}: {}\n", next_offset(db, &topic, p).await);
    }
    let kafka = ClientBuilder::new(vec![broker.to_owned()]).build().await.expect("connects");
    let label = |id: &str| sent.get(id).map_or("?", |s| s.client_id.as_str()).to_owned();
    for (topic, field) in
        [(&app.config.kafka.kafka_topic_chat, "id"), (&app.config.kafka.kafka_topic_analytics, "messageId")]
    {
        for r in read_topic(&kafka, topic).await {
            let v = r.json();
            out += &format!("{topic}/{} @{}: {}\n", r.partition, r.offset, label(v[field].as_str().unwrap_or("")));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// 5. No broker at all: the backlog fills, chat falls back, events are counted
// ---------------------------------------------------------------------------

#[tokio::test]
async fn backlog_full_falls_back_and_counts_drops() {
    let Some(_) = kafka_brokers() else { return };
    // Nothing listens there.
    let nowhere = vec![format!("127.0.0.1:{}", free_port())];
    let Some(app) = start(Backend::Sqlite, &nowhere, |cfg| {
        cfg.kafka.kafka_backlog = 3;
        cfg.kafka.kafka_chat_wait = Duration::from_millis(200);
        cfg.kafka.kafka_timeout = Duration::from_millis(500);
    })
    .await
    else {
        return;
    };
    let before = metrics_text(&app).await;
    let fallback =
        |t: &str, reason: &str| counter(t, "metaverse_chat_fallback_total", &[&format!("reason=\"{reason}\"")]);
    let dropped = |t: &str, topic: &str| {
        counter(t, "metaverse_events_dropped_total", &[&format!("topic=\"{topic}\""), "reason=\"backlog-full\""])
    };

    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (space, room) = space_and_room(&app, &ada, "10x10").await;
    const N: usize = 8;
    let mut sent = BTreeMap::new();
    for i in 0..N {
        let s = send(&app, &ada, &room, i, "nowhere").await;
        sent.insert(s.id.clone(), s);
    }
    // Written straight to the database before each ack.
    assert_exactly(&not_system(&history(&app, &ada, &room).await), &sent, "history without a broker");

    // Two visits: their joins and leaves cannot fit the backlog either.
    for token in [&ada, &bob] {
        let mut c = WsClient::connect(&app.ws, Codec::Json).await;
        c.join_ok(&space, token, None).await;
        c.send(&ClientMsg::Leave {}).await;
        c.close_and_wait().await;
    }

    let (before, app_ref) = (&before, &app);
    let text = eventually("the fallbacks and drops to be counted", || async move {
        let now = metrics_text(app_ref).await;
        let full = fallback(&now, "backlog-full") - fallback(before, "backlog-full");
        let all =
            counter(&now, "metaverse_chat_fallback_total", &[]) - counter(before, "metaverse_chat_fallback_total", &[]);
        let facts = dropped(&now, "chat-analytics") - dropped(before, "chat-analytics");
        let users = dropped(&now, "user-events") - dropped(before, "user-events");
        // The backlog (3) holds at most 3 records: the rest of the N chat
        // records fell back as backlog-full, the rest of the N facts and
        // all 4 user events were dropped.
        if all >= N as f64 && full >= (N - 3) as f64 && facts >= (N - 3) as f64 && users >= 4.0 {
            Ok(now)
        } else {
            Err(format!("fallback {all} (backlog-full {full}), dropped facts {facts}, dropped user events {users}"))
        }
    })
    .await;
    let timeouts = fallback(&text, "timeout") - fallback(before, "timeout");
    assert!(timeouts >= 1.0, "the first messages, which fit the backlog, waited for Kafka and timed out");

    let ready = eventually("/ready to report Kafka degraded", || async move {
        let (status, ready) = app_ref.get("/ready", None).await;
        if status == StatusCode::OK && ready["kafka"]["status"] == "degraded" {
            Ok(ready)
        } else {
            Err(format!("{status} {ready}"))
        }
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    assert_eq!(ready["kafka"]["backlog"], 3, "the backlog is full, and bounded: {ready}");
}

// ---------------------------------------------------------------------------
// 6. Malformed records are skipped
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_records_are_skipped() {
    let Some(brokers) = kafka_brokers() else { return };
    let Some(app) = start(Backend::Sqlite, &brokers, |_| {}).await else { return };
    let (ada_id, token) = app.user("ada").await;
    let (space, room) = space_and_room(&app, &token, "10x10").await;
    let db = connect(&app).await;
    let skipped_before =
        counter(&metrics_text(&app).await, "metaverse_consumer_skipped_total", &["reason=\"invalid\""]);

    // A first good message: the consumer is up and the topics exist.
    let mut sent = BTreeMap::new();
    let s = send(&app, &token, &room, 0, "good").await;
    sent.insert(s.id.clone(), s);
    wait_for_history(&app, &token, &room, &sent).await;

    let kafka = ClientBuilder::new(brokers.clone()).build().await.expect("a plain client connects");
    let topics = &app.config.kafka;
    let uuid = || uuid::Uuid::now_v7().to_string();
    let chat_bad: Vec<Option<Vec<u8>>> = vec![
        Some(b"not json at all".to_vec()),
        None,
        Some(b"[1,2]".to_vec()),
        Some(chat_json(2, &uuid(), &space, &room, &ada_id).into_bytes()),
        Some(chat_json(1, &"x".repeat(37), &space, &room, &ada_id).into_bytes()),
    ];
    // Well-formed, but for a room that does not exist (skipped, counted
    // apart).
    let unknown_room = chat_json(1, &uuid(), &space, &uuid(), &ada_id).into_bytes();
    let user_bad: Vec<Option<Vec<u8>>> = vec![
        Some(b"{".to_vec()),
        Some(
            json!({"v": 2, "type": "join", "spaceId": space, "userId": ada_id, "sessionId": uuid(), "at": 1})
                .to_string()
                .into_bytes(),
        ),
        Some(
            json!({"v": 1, "type": "join", "spaceId": space, "userId": ada_id, "sessionId": "s".repeat(65), "at": 1})
                .to_string()
                .into_bytes(),
        ),
    ];
    let now = Utc::now().timestamp_millis();
    let fact = |v: u32, message_id: &str, kind: &str| {
        json!({"v": v, "messageId": message_id, "spaceId": space, "chatroomId": room, "userId": ada_id,
               "length": 3, "type": kind, "at": now})
        .to_string()
        .into_bytes()
    };
    let facts_bad: Vec<Option<Vec<u8>>> =
        vec![Some(fact(2, &uuid(), "text")), Some(fact(1, &"y".repeat(37), "text")), Some(fact(1, &uuid(), ""))];

    // On every partition, so the space's partition has them ahead of the
    // next good record.
    let chat_all: Vec<_> = chat_bad.iter().cloned().chain([Some(unknown_room)]).collect();
    for (topic, values) in [
        (&topics.kafka_topic_chat, &chat_all),
        (&topics.kafka_topic_user_events, &user_bad),
        (&topics.kafka_topic_analytics, &facts_bad),
    ] {
        for p in partitions(&kafka, topic).await {
            produce(&kafka, topic, p, &space, values).await;
        }
    }

    // A second good message, behind the bad records in its partition.
    let s = send(&app, &token, &room, 1, "good").await;
    sent.insert(s.id.clone(), s);
    let stored = wait_for_history(&app, &token, &room, &sent).await;
    assert_exactly(&stored, &sent, "only the good messages are in history");

    // Wait until the space's partition of each topic is consumed past the
    // bad records and the second good record, then check nothing bad was
    // counted.
    let p = fnv_partition(space.as_bytes(), app.config.kafka.kafka_partitions);
    let expect = [
        (&topics.kafka_topic_chat, 2 + i64::try_from(chat_all.len()).unwrap()),
        (&topics.kafka_topic_user_events, i64::try_from(user_bad.len()).unwrap()),
        (&topics.kafka_topic_analytics, 2 + i64::try_from(facts_bad.len()).unwrap()),
    ];
    for (topic, n) in expect {
        let db = &db;
        eventually(&format!("{topic}/{p} consumed past offset {n}"), || async move {
            let at = next_offset(db, topic, p).await;
            if at >= n { Ok(()) } else { Err(format!("next offset {at}")) }
        })
        .await;
    }
    let a = space_analytics(&app, &token, &space).await;
    assert_eq!(a["totals"]["messages"], 2, "only the good facts count: {a}");
    assert_eq!(a["totals"]["joins"], 0, "the bad joins do not count: {a}");
    assert_eq!(a["rooms"], json!([{"chatroomId": room, "name": "general", "messages": 2}]), "{a}");
    let skipped = counter(&metrics_text(&app).await, "metaverse_consumer_skipped_total", &["reason=\"invalid\""]);
    let invalid = chat_bad.len() + user_bad.len() + facts_bad.len();
    assert!(skipped - skipped_before >= invalid as f64, "each invalid record counted: {skipped_before} → {skipped}");
    assert_exactly(&not_system(&history(&app, &token, &room).await), &sent, "history at the end");
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A server on `brokers` with topics of its own and chat limits out of the
/// way, then `tweak`.
async fn start(backend: Backend, brokers: &[String], tweak: impl FnOnce(&mut ServeConfig)) -> Option<TestApp> {
    TestApp::start_with(backend, |cfg| {
        use_kafka(cfg, brokers);
        cfg.chat_rate = 100_000;
        cfg.chat_burst = 100_000;
        cfg.ws_rate = 100_000;
        cfg.ws_burst = 100_000;
        tweak(cfg);
    })
    .await
}

/// Polls `check` every `POLL` until it returns `Ok`, for at most
/// `PATIENCE`; `Err` says what it saw, for the failure message.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(t) => return Ok(t),
            Err(seen) if Instant::now() >= deadline => {
                return Err(format!("timed out after {PATIENCE:?} waiting for {what}; last seen: {seen}"));
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// [`wait_for`], failing the test on timeout.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_for(what, check).await.unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Clone, Debug)]
struct Sent {
    id: String,
    user_id: String,
    content: String,
    client_id: String,
}

struct User {
    id: String,
    token: String,
}

/// Two users chatting in the general room of one space over WebSocket.
struct Talk {
    space_id: String,
    room: String,
    ada: User,
    bob: User,
    /// ada (MessagePack) and bob (JSON), still in the space.
    sockets: Vec<WsClient>,
    /// By message id.
    sent: BTreeMap<String, Sent>,
}

/// ada (MessagePack) and bob (JSON) join a space and its general room and
/// take turns sending `n` messages; each is acknowledged to its sender
/// (its copy, with its clientId) and delivered live to the other.
async fn talk(app: &TestApp, n: usize) -> Talk {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = create_space(app, &ada_token, "10x10").await;
    let room = general_room(app, &ada_token, &space_id).await;
    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join_ok(&space_id, &ada_token, None).await;
    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    bob.join_ok(&space_id, &bob_token, None).await;
    join_chat(&mut ada, &room).await;
    join_chat(&mut bob, &room).await;
    let mut sent = BTreeMap::new();
    for i in 0..n {
        let (from, to, user_id) =
            if i % 2 == 0 { (&mut ada, &mut bob, &ada_id) } else { (&mut bob, &mut ada, &bob_id) };
        let client_id = format!("m-{i}");
        let content = format!("message {i} through Kafka ✓");
        from.send(&chat_message(&room, &content, Some(&client_id))).await;
        let ack = Chat::from_msg(&next_chat(from).await);
        assert_eq!(ack.client_id.as_deref(), Some(client_id.as_str()), "the sender's copy is its ack: {ack:?}");
        assert_eq!((&ack.content, &ack.user_id), (&content, user_id), "{ack:?}");
        let live = Chat::from_msg(&next_chat(to).await);
        assert_eq!(live.id, ack.id, "delivered live to the other user");
        sent.insert(ack.id.clone(), Sent { id: ack.id, user_id: user_id.clone(), content, client_id });
    }
    Talk {
        space_id,
        room,
        ada: User { id: ada_id, token: ada_token },
        bob: User { id: bob_id, token: bob_token },
        sockets: vec![ada, bob],
        sent,
    }
}

/// Sends message `i` over HTTP (content and clientId made from `label`
/// and `i`); asserts it is acknowledged (201).
async fn send(app: &TestApp, token: &str, room: &str, i: usize, label: &str) -> Sent {
    let content = format!("{label} message {i}");
    let client_id = format!("{label}-{i}");
    let (status, body) = app
        .post(&format!("/api/v1/chatroom/{room}/send"), Some(token), json!({"content": content, "clientId": client_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "send {content:?} must be acknowledged: {body}");
    let m = &body["message"];
    Sent {
        id: m["id"].as_str().expect("id").to_owned(),
        user_id: m["userId"].as_str().expect("userId").to_owned(),
        content,
        client_id,
    }
}

/// Waits until history holds every message of `sent` (system notices
/// aside); returns it for exact assertions.
async fn wait_for_history(app: &TestApp, token: &str, room: &str, sent: &BTreeMap<String, Sent>) -> Vec<Value> {
    eventually(&format!("history of {room} to hold the {} messages sent", sent.len()), || async move {
        let stored = not_system(&history(app, token, room).await);
        let ids: BTreeSet<&str> = stored.iter().filter_map(|m| m["id"].as_str()).collect();
        let missing = sent.keys().filter(|id| !ids.contains(id.as_str())).count();
        if missing == 0 { Ok(stored) } else { Err(format!("{} stored, {missing} missing", stored.len())) }
    })
    .await
}

/// Asserts `stored` (history, system notices removed) holds exactly the
/// messages of `sent`, each once, as sent.
#[track_caller]
fn assert_exactly(stored: &[Value], sent: &BTreeMap<String, Sent>, what: &str) {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut client_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for m in stored {
        *ids.entry(m["id"].as_str().expect("id")).or_default() += 1;
        *client_ids.entry(m["clientId"].as_str().unwrap_or("")).or_default() += 1;
    }
    let twice: Vec<_> = ids.iter().chain(&client_ids).filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: stored more than once: {twice:?}");
    let missing: Vec<_> = sent.keys().filter(|id| !ids.contains_key(id.as_str())).collect();
    let extra: Vec<_> = ids.keys().filter(|id| !sent.contains_key(**id)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{what}: missing {missing:?}, unexpected {extra:?}");
    for m in stored {
        let s = &sent[m["id"].as_str().unwrap()];
        assert_eq!(m["content"].as_str(), Some(s.content.as_str()), "{what}: stored as sent: {m}");
        assert_eq!(m["clientId"].as_str(), Some(s.client_id.as_str()), "{what}: {m}");
        assert_eq!(m["userId"].as_str(), Some(s.user_id.as_str()), "{what}: {m}");
    }
}

/// The space's analytics (the last hour), as its creator or an admin.
async fn space_analytics(app: &TestApp, token: &str, space: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/analytics/spaces/{space}"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "analytics of {space}: {body}");
    body
}

/// Waits until the space's analytics count at least `n` messages; returns
/// the count.
async fn wait_for_messages(app: &TestApp, token: &str, space: &str, n: usize) -> i64 {
    eventually(&format!("analytics of {space} to count {n} messages"), || async move {
        let a = space_analytics(app, token, space).await;
        match a["totals"]["messages"].as_i64() {
            Some(m) if m >= i64::try_from(n).unwrap() => Ok(m),
            _ => Err(a["totals"].to_string()),
        }
    })
    .await
}

/// The sum of the samples of `name` whose labels contain every one of
/// `labels` (0 when there are none).
fn counter(text: &str, name: &str, labels: &[&str]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (found, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some(x) => x,
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        if labels.iter().all(|l| found.contains(l)) {
            sum += value.trim().parse::<f64>().expect("a sample value");
        }
    }
    sum
}

/// The test's own connection to the server's database.
async fn connect(app: &TestApp) -> DatabaseConnection {
    let url = metaverse_server::db::database_url(&app.config.db).expect("the database URL");
    Database::connect(url).await.expect("the test connects to the server's database")
}

/// Chat records the consumers committed, over all partitions.
async fn committed_total(db: &DatabaseConnection, topic: &str) -> i64 {
    event_offset::Entity::find()
        .filter(event_offset::Column::Topic.eq(topic))
        .all(db)
        .await
        .expect("reading event_offsets")
        .iter()
        .map(|r| r.next_offset.max(0))
        .sum()
}

/// The consumer's next offset in a partition (-1 before the first).
async fn next_offset(db: &DatabaseConnection, topic: &str, partition: i32) -> i64 {
    event_offset::Entity::find_by_id((topic.to_owned(), partition))
        .one(db)
        .await
        .expect("reading event_offsets")
        .map_or(-1, |r| r.next_offset)
}

/// The lease owner of every (topic, partition) row.
async fn owners(db: &DatabaseConnection) -> BTreeMap<(String, i32), Option<String>> {
    event_offset::Entity::find()
        .all(db)
        .await
        .expect("reading event_offsets")
        .into_iter()
        .map(|r| ((r.topic, r.partition), r.owner))
        .collect()
}

/// The partition of a key as docs/OPERATIONS.md documents it: FNV-1a
/// (64 bits) of the key modulo the partition count. Written here from the
/// definition, as another team's producer would.
fn fnv_partition(key: &[u8], partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i32::try_from(h % u64::from(partitions.unsigned_abs())).unwrap()
}

/// A record read back from a topic.
struct Read {
    partition: i32,
    offset: i64,
    partitions: i32,
    record: Record,
}

impl Read {
    /// The value as JSON (no project types).
    fn json(&self) -> Value {
        let bytes = self.record.value.as_deref().expect("a value");
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
    }

    /// Version, key, header and partition, as docs/OPERATIONS.md ("Records")
    /// documents them.
    #[track_caller]
    fn assert_envelope(&self, space: &str) {
        let v = self.json();
        assert_eq!(v["v"], 1, "schema version 1: {v}");
        let key = self.record.key.as_deref().map(String::from_utf8_lossy);
        assert_eq!(key.as_deref(), Some(space), "keyed by space id: {v}");
        assert_eq!(v["spaceId"], space, "{v}");
        assert_eq!(
            self.record.headers.get("content-type").map(Vec::as_slice),
            Some(&b"application/json"[..]),
            "content-type header"
        );
        assert_eq!(self.partition, fnv_partition(space.as_bytes(), self.partitions), "FNV-1a partitioning: {v}");
    }
}

/// The partitions of a topic (empty when it does not exist).
async fn partitions(kafka: &Client, topic: &str) -> Vec<i32> {
    let topics = kafka.list_topics().await.expect("listing topics");
    topics.into_iter().find(|t| t.name == topic).map(|t| t.partitions.into_iter().collect()).unwrap_or_default()
}

/// Every record of every partition of `topic`, by partition then offset.
async fn read_topic(kafka: &Client, topic: &str) -> Vec<Read> {
    let read = async {
        let ps = partitions(kafka, topic).await;
        assert!(!ps.is_empty(), "topic {topic} exists");
        let mut out = Vec::new();
        for &p in &ps {
            let pc = kafka.partition_client(topic, p, UnknownTopicHandling::Retry).await.expect("partition client");
            let mut offset = pc.get_offset(OffsetAt::Earliest).await.expect("low watermark");
            // The high watermark a fetch answers with (tansu 0.6's
            // `OffsetAt::Latest` can lag behind it). Fetches stay at batch
            // boundaries: tansu answers one from inside a batch oddly.
            let mut end = offset + 1;
            while offset < end {
                let (records, high_watermark) = pc.fetch_records(offset, 1..1_000_000, 100).await.expect("fetch");
                end = high_watermark;
                let from = offset;
                for r in records.into_iter().filter(|r| r.offset >= from) {
                    offset = r.offset + 1;
                    out.push(Read {
                        partition: p,
                        offset: r.offset,
                        partitions: i32::try_from(ps.len()).unwrap(),
                        record: r.record,
                    });
                }
            }
        }
        out
    };
    tokio::time::timeout(PATIENCE, read).await.unwrap_or_else(|_| panic!("reading {topic} took over {PATIENCE:?}"))
}

/// Produces raw values (keyed by `key`) to one partition.
async fn produce(kafka: &Client, topic: &str, partition: i32, key: &str, values: &[Option<Vec<u8>>]) {
    let pc = kafka.partition_client(topic, partition, UnknownTopicHandling::Retry).await.expect("partition client");
    let records = values
        .iter()
        .map(|v| Record {
            key: Some(key.as_bytes().to_vec()),
            value: v.clone(),
            headers: BTreeMap::new(),
            timestamp: Utc::now(),
        })
        .collect();
    pc.produce(records, Compression::NoCompression).await.expect("produce");
}

/// A chat record as JSON with the given version and id.
fn chat_json(v: u32, id: &str, space: &str, room: &str, user: &str) -> String {
    json!({"v": v, "id": id, "spaceId": space, "chatroomId": room, "userId": user, "username": "ada",
           "content": "should never be stored", "type": "text", "sentAt": Utc::now().timestamp_millis()})
    .to_string()
}

/// The consumer tests' stream: one space per partition (so every
/// partition carries messages), a general room in each, sent round-robin.
struct Stream {
    token: String,
    /// (space, general room) per space.
    spaces: Vec<(String, String)>,
}

impl Stream {
    async fn prepare(app: &TestApp) -> Self {
        let (_, token) = app.admin("ada").await;
        let count = app.config.kafka.kafka_partitions;
        let mut by_partition: BTreeMap<i32, String> = BTreeMap::new();
        for _ in 0..200 {
            if by_partition.len() == count as usize {
                break;
            }
            let space = create_space(app, &token, "10x10").await;
            by_partition.entry(fnv_partition(space.as_bytes(), count)).or_insert(space);
        }
        assert_eq!(by_partition.len(), count as usize, "a space on every partition");
        let mut spaces = Vec::new();
        for space in by_partition.into_values() {
            let room = general_room(app, &token, &space).await;
            spaces.push((space, room));
        }
        Self { token, spaces }
    }

    /// Sends `STREAM` messages over HTTP, each acknowledged, counting them
    /// in `progress` as they go. Returns them by room.
    async fn run(&self, app: &TestApp, progress: &AtomicUsize) -> BTreeMap<String, BTreeMap<String, Sent>> {
        let mut sent: BTreeMap<String, BTreeMap<String, Sent>> = BTreeMap::new();
        for i in 0..STREAM {
            let room = &self.spaces[i % self.spaces.len()].1;
            let s = send(app, &self.token, room, i, "stream").await;
            sent.entry(room.clone()).or_default().insert(s.id.clone(), s);
            progress.store(i + 1, Ordering::Release);
        }
        sent
    }

    /// Every room's history holds exactly its messages, and analytics count
    /// exactly them (a record folded twice would over-count).
    async fn verify(
        &self,
        app: &TestApp,
        sent: &BTreeMap<String, BTreeMap<String, Sent>>,
        consumers: &[&ConsumerProcess],
    ) {
        let logs = || consumers.iter().map(|c| c.output()).collect::<Vec<_>>().join("\n");
        let total: usize = sent.values().map(BTreeMap::len).sum();
        assert_eq!(total, STREAM);
        for (space, room) in &self.spaces {
            let mine = &sent[room];
            let token = &self.token;
            let stored = wait_for(&format!("history of {room} ({} messages)", mine.len()), || async move {
                let stored = not_system(&history(app, token, room).await);
                if stored.len() >= mine.len() { Ok(stored) } else { Err(format!("{} stored", stored.len())) }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\nconsumer logs:\n{}", logs()));
            assert_exactly(&stored, mine, &format!("history of {space}"));
            let counted = wait_for(&format!("analytics of {space}"), || async move {
                let a = space_analytics(app, token, space).await;
                match a["totals"]["messages"].as_i64() {
                    Some(m) if m >= i64::try_from(mine.len()).unwrap() => Ok(a),
                    _ => Err(a["totals"].to_string()),
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\nconsumer logs:\n{}", logs()));
            assert_eq!(counted["totals"]["messages"], mine.len(), "analytics of {space} count each message once");
            assert_eq!(counted["rooms"][0]["messages"], mine.len(), "{counted}");
        }
        let (status, overview) = app.get("/api/v1/analytics/overview", Some(&self.token)).await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        assert_eq!(overview["totals"]["messages"], STREAM, "{overview}");
        // Still exact once everything has settled.
        for (_, room) in &self.spaces {
            assert_exactly(&not_system(&history(app, &self.token, room).await), &sent[room], "history at the end");
        }
    }
}

/// A `metaverse consume` process on the test server's database and topics.
/// Killed (SIGKILL) on drop.
struct ConsumerProcess {
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
    runs: usize,
}

impl ConsumerProcess {
    /// Starts `metaverse consume` with consumer id `id`, a short lease, and
    /// `extra` flags.
    fn start(app: &TestApp, id: &str, extra: &[&str]) -> Self {
        let k = &app.config.kafka;
        let mut args: Vec<String> = vec![
            "consume".into(),
            "--kafka-brokers".into(),
            k.kafka_brokers.join(","),
            "--kafka-topic-chat".into(),
            k.kafka_topic_chat.clone(),
            "--kafka-topic-user-events".into(),
            k.kafka_topic_user_events.clone(),
            "--kafka-topic-analytics".into(),
            k.kafka_topic_analytics.clone(),
            "--consumer-id".into(),
            id.into(),
            "--consumer-lease".into(),
            "2s".into(),
            "--db-max-connections".into(),
            "4".into(),
        ];
        match &app.config.db.database_url {
            Some(url) => args.extend(["--database-url".into(), url.clone()]),
            None => args.extend(["--data-dir".into(), app.dir.path().display().to_string()]),
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = app.dir.path().join(format!("consumer-{id}.log"));
        let mut c = Self { args, child: None, log, runs: 0 };
        c.restart();
        c
    }

    /// Starts it (again, after a kill).
    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.runs += 1;
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("consumer log");
        let err = out.try_clone().expect("consumer log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metaverse"));
        cmd.args(&self.args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Everything comes from the flags, not from the test's environment.
        for (k, _) in std::env::vars() {
            if k.starts_with("METAVERSE_") || k == "DATABASE_URL" || k == "KAFKA_BROKERS" {
                cmd.env_remove(k);
            }
        }
        self.child = Some(cmd.spawn().expect("metaverse consume starts"));
    }

    /// SIGKILL: no shutdown, no lease released.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("--- {} ({} runs) ---\n{text}", self.log.display(), self.runs)
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
