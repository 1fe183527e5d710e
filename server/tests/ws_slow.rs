//! A client that does not keep up cannot grow the server's memory: once its
//! bounded queue (here 8 frames) is full it is dropped as a slow consumer,
//! and after the resume grace the others see it leave.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Backend, TestApp, ws::WsClient};
use futures_util::StreamExt;
use metaverse_protocol::{ClientMsg, Codec, ServerMsg};
use serde_json::json;

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    let app = TestApp::start_with(Backend::Sqlite, |cfg| {
        cfg.ws_queue = 8;
        cfg.ws_rate = 1_000_000;
        cfg.ws_burst = 1_000_000;
        cfg.resume_grace = Duration::from_millis(200);
        // Every step must be accepted: a refused one would be a frame in
        // the bee's own queue of 8.
        cfg.limits.walk_speed = 1e9;
        cfg.limits.walk_burst = 1e9;
    })
    .await
    .expect("sqlite always runs");
    let (sloth_id, sloth_token) = app.user("sloth").await;
    let (_, bee_token) = app.user("bee").await;
    let (_, body) = app.post("/api/v1/space", Some(&sloth_token), json!({"name": "s", "dimensions": "4x4"})).await;
    let space_id = body["spaceId"].as_str().unwrap().to_owned();

    // Unbatched, every step is a frame for the sloth (batched, a tick's
    // steps would be one frame, and filling the queue would take minutes).
    let mut sloth = WsClient::connect(&app.ws, Codec::MsgPack).await;
    sloth.batch = Some(false);
    let ServerMsg::SpaceJoined { spawn: sloth_at, .. } = sloth.join(&space_id, &sloth_token).await else {
        panic!("join")
    };
    let mut bee = WsClient::connect(&app.ws, Codec::MsgPack).await;
    let ServerMsg::SpaceJoined { spawn, .. } = bee.join(&space_id, &bee_token).await else { panic!("join") };
    // From here on the sloth reads nothing.

    // The bee paces between two tiles; every accepted step is a frame for
    // the sloth. Its reader watches for the sloth's departure.
    let (mut sink, mut stream) = bee.stream.split();
    let sloth_left = tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if let tokio_tungstenite::tungstenite::Message::Binary(b) = frame {
                let events = match Codec::MsgPack.decode(&b, usize::MAX).unwrap() {
                    ServerMsg::Batch { events } => events,
                    other => vec![other],
                };
                if events.contains(&ServerMsg::UserLeft { user_id: sloth_id.clone() }) {
                    return true;
                }
            }
        }
        false
    });
    let other = [(1, 0), (-1, 0), (0, 1), (0, -1)]
        .into_iter()
        .map(|(dx, dy)| (spawn.x + dx, spawn.y + dy))
        // Not the sloth's tile: every step there would be refused, and the
        // refusals would fill the bee's own queue of 8.
        .find(|&(x, y)| (0..4).contains(&x) && (0..4).contains(&y) && (x, y) != (sloth_at.x, sloth_at.y))
        .unwrap();
    let steps = [ClientMsg::Move { x: other.0, y: other.1 }, ClientMsg::Move { x: spawn.x, y: spawn.y }]
        .map(|m| Codec::MsgPack.encode(&m).unwrap());
    use futures_util::SinkExt;
    // Bounded: at most 2 million steps (loopback buffers hold far fewer
    // frames), stopping as soon as the sloth is gone.
    for i in 0..2_000_000usize {
        if sloth_left.is_finished() {
            break;
        }
        let frame = tokio_tungstenite::tungstenite::Message::Binary(steps[i % 2].clone().into());
        if i % 64 == 0 {
            sink.send(frame).await.unwrap();
        } else {
            sink.feed(frame).await.unwrap();
        }
    }
    let left = tokio::time::timeout(common::ws::PATIENCE, sloth_left).await.expect("the sloth was dropped").unwrap();
    assert!(left, "the others were told the sloth left");
    let (_, metrics) = app.admin_get("/metrics").await;
    assert!(metrics.as_str().unwrap_or_default().contains("metaverse_slow_consumers_closed_total"), "{metrics}");
    drop(sloth);
}
