//! A live space's lifetime: it starts on the first join, stays while
//! anyone is in it, stops once empty for `--space-idle`, and starts again
//! on the next join. Each case runs on both backends and in both codecs.
//!
//! Whether a space runs is seen through the `metaverse_live_spaces` gauge.
//! The metrics recorder is process-wide, so this file is a test binary of
//! its own and its tests take turns (`SERIAL`): the gauge then counts this
//! test's spaces only, on top of the baseline it starts from.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    TestApp,
    ws::{PATIENCE, WsClient, at, create_element, create_space, metric, metrics_text, place_element, step},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode};
use metaverse_server::config::ServeConfig;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const IDLE: Duration = Duration::from_millis(300);

fn short_idle(cfg: &mut ServeConfig) {
    cfg.space_idle = IDLE;
}

async fn live_spaces(app: &TestApp) -> f64 {
    metric(&metrics_text(app).await, "metaverse_live_spaces", "").unwrap_or(0.0)
}

/// Waits (bounded by `PATIENCE`) until the gauge shows `want` live spaces.
async fn until_live(app: &TestApp, want: f64, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = live_spaces(app).await;
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now} live spaces, expected {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn an_empty_space_stops_and_a_join_restarts_it(app: TestApp, codec: Codec) {
    let _turn = SERIAL.lock().await;
    let base = live_spaces(&app).await;
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "5x5").await;

    let mut ada = WsClient::connect(&app.ws, codec).await;
    let j = ada.join_ok(&space_id, &token, None).await;
    assert_eq!(live_spaces(&app).await, base + 1.0, "the join started it");

    // Occupied, it outlives its idle period: Ada's moves are still
    // answered after twice that time.
    tokio::time::sleep(IDLE * 2).await;
    ada.assert_at(j.spawn).await;
    let to = step(j.spawn, (5, 5), &[]);
    ada.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    ada.assert_at(to).await;
    assert_eq!(live_spaces(&app).await, base + 1.0);

    // Empty, it stops.
    ada.send(&ClientMsg::Leave {}).await;
    until_live(&app, base, "after the last leave").await;

    // The next join starts it again, with what the database remembers:
    // Ada's last tile.
    let again = ada.join_ok(&space_id, &token, None).await;
    assert_eq!(again.spawn, to, "spawned where she left");
    assert!(again.users.is_empty());
    assert_eq!((again.space.width, again.space.height), (5, 5));
    assert_eq!(live_spaces(&app).await, base + 1.0, "restarted");
    let next = step(to, (5, 5), &[]);
    ada.send(&ClientMsg::Move { x: next.x, y: next.y }).await;
    ada.assert_at(next).await;

    // A dropped socket empties it only when its grace ends (default 30 s,
    // far beyond this test), so leave explicitly again.
    ada.send(&ClientMsg::Leave {}).await;
    until_live(&app, base, "after the second leave").await;
}

/// A space started for a join that was refused (no free tile) stops too.
async fn a_space_started_for_a_refused_join_stops(app: TestApp, codec: Codec) {
    let _turn = SERIAL.lock().await;
    let base = live_spaces(&app).await;
    let (_, admin) = app.admin("boss").await;
    let wall = create_element(&app, &admin, 1, 1, true).await;
    let space_id = create_space(&app, &admin, "1x1").await;
    place_element(&app, &admin, &space_id, &wall, at(0, 0)).await;

    let mut ws = WsClient::connect(&app.ws, codec).await;
    ws.send(&ClientMsg::Join {
        space_id: space_id.clone(),
        token: admin.clone(),
        resume_token: None,
        batch: None,
        view: None,
    })
    .await;
    ws.expect_error(ErrorCode::Busy).await;
    until_live(&app, base, "after a refused join").await;
}

/// A graceful shutdown with people inside keeps where each stood: the
/// spaces hand the positions over as they stop, and the writer drains
/// them before the database closes.
async fn a_graceful_shutdown_keeps_where_everyone_stood(mut app: TestApp, codec: Codec) {
    let _turn = SERIAL.lock().await;
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "5x5").await;
    let mut ada = WsClient::connect(&app.ws, codec).await;
    let j = ada.join_ok(&space_id, &token, None).await;
    let to = step(j.spawn, (5, 5), &[]);
    ada.send(&ClientMsg::Move { x: to.x, y: to.y }).await;
    ada.assert_at(to).await;

    app.restart();

    let mut again = WsClient::connect(&app.ws, codec).await;
    let j = again.join_ok(&space_id, &token, None).await;
    assert_eq!(j.spawn, to, "spawned where she stood when the server stopped");
}

ws_cases!(@config short_idle;
    an_empty_space_stops_and_a_join_restarts_it,
    a_graceful_shutdown_keeps_where_everyone_stood,
    a_space_started_for_a_refused_join_stops,
);
