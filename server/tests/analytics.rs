//! Analytics without Kafka (the embedded default): joins, leaves and chat
//! messages generated over WebSocket and HTTP are folded in-process and
//! served at `/api/v1/analytics/spaces/{spaceId}` and
//! `/api/v1/analytics/overview`. The counts must equal what the test did;
//! resumes and takeovers are no new visits; access and ranges are checked;
//! a deleted space's numbers stay readable by an admin.
//!
//! The fold writes in batches a little later, so tests poll the endpoint
//! (short interval, bounded overall) until the last generated event shows,
//! then assert exact numbers: the fold is one queue written in order, so
//! once the last event is visible, every earlier one is too.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{
    Backend, TestApp, assert_forbidden, assert_invalid,
    chat::{general_room, join_chat, send_http, space_and_room},
    error_code,
    ws::{WsClient, create_space, user_left},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use metaverse_server::config::ServeConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long the fold may take to show an event, at most. A bound on
/// failure: passing tests stop polling as soon as the numbers are there.
const FOLD_PATIENCE: Duration = Duration::from_secs(20);
const POLL_EVERY: Duration = Duration::from_millis(50);
const MINUTE_MS: i64 = 60_000;

// ------------------------------------------------------------------ helpers

fn space_path(space_id: &str, query: &str) -> String {
    format!("/api/v1/analytics/spaces/{space_id}{query}")
}

fn overview_path(query: &str) -> String {
    format!("/api/v1/analytics/overview{query}")
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &Value) -> i64 {
    let s = s.as_str().unwrap_or_else(|| panic!("a time string, got {s}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is RFC 3339: {e}")).timestamp_millis()
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} is an integer in {v}"))
}

fn sorted_keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> =
        v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(|k| k.as_str()).collect();
    k.sort();
    k
}

/// Polls `path` (200 expected) until `ready` accepts the body; fails after
/// [`FOLD_PATIENCE`] showing the last body.
async fn poll(app: &TestApp, token: &str, path: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + FOLD_PATIENCE;
    loop {
        let (status, body) = app.get(path, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        if ready(&body) {
            return body;
        }
        if Instant::now() >= deadline {
            panic!("analytics never showed {what} within {FOLD_PATIENCE:?} (GET {path}); last body: {body:#}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Polls a space's analytics (default range: the last hour) until `ready`.
async fn wait_space(app: &TestApp, token: &str, space_id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let body = poll(app, token, &space_path(space_id, ""), what, ready).await;
    assert_space_shape(&body, space_id);
    body
}

/// The totals as (joins, leaves, messages, activeUsers).
fn totals(body: &Value) -> (i64, i64, i64, i64) {
    let t = &body["totals"];
    (int(t, "joins"), int(t, "leaves"), int(t, "messages"), int(t, "activeUsers"))
}

/// The sessions as (count, averageMs, maxMs, totalMs).
fn sessions(body: &Value) -> (i64, i64, i64, i64) {
    let s = &body["sessions"];
    (int(s, "count"), int(s, "averageMs"), int(s, "maxMs"), int(s, "totalMs"))
}

/// The sessions block is self-consistent.
#[track_caller]
fn assert_sessions_consistent(body: &Value) {
    let s = &body["sessions"];
    assert_eq!(sorted_keys(s), ["averageMs", "count", "maxMs", "totalMs"], "{body}");
    let (count, avg, max, total) = sessions(body);
    assert!(count >= 0 && avg >= 0 && max >= 0 && total >= 0, "no negative session numbers: {s}");
    if count == 0 {
        assert_eq!((avg, max, total), (0, 0, 0), "no sessions, no durations: {s}");
    } else {
        assert!(max >= avg, "maxMs >= averageMs: {s}");
        assert!(total >= max, "totalMs >= maxMs: {s}");
        assert_eq!(avg, total / count, "averageMs is totalMs / count: {s}");
    }
}

/// The totals block has its keys and peak <= distinct users.
#[track_caller]
fn assert_totals_shape(t: &Value) {
    assert_eq!(sorted_keys(t), ["activeUsers", "attachments", "joins", "leaves", "messages", "peakActiveUsers"], "{t}");
    assert!(int(t, "peakActiveUsers") <= int(t, "activeUsers"), "peak within the distinct users: {t}");
}

/// The space answer's shape, and that its parts agree: the minutes add up
/// to the totals, lie in the range in order, whole minutes; the rooms add
/// up to the messages; the sessions are consistent.
#[track_caller]
fn assert_space_shape(body: &Value, space_id: &str) {
    assert_eq!(sorted_keys(body), ["from", "minutes", "rooms", "sessions", "spaceId", "to", "totals"], "{body}");
    assert_eq!(body["spaceId"], json!(space_id), "{body}");
    let (from, to) = (parse_time(&body["from"]), parse_time(&body["to"]));
    assert!(from < to, "from before to: {body}");
    assert_eq!((from % MINUTE_MS, to % MINUTE_MS), (0, 0), "the range is whole minutes: {body}");
    assert_totals_shape(&body["totals"]);

    let minutes = body["minutes"].as_array().expect("minutes is an array");
    let (mut joins, mut leaves, mut messages, mut peak) = (0, 0, 0, 0);
    let mut last = i64::MIN;
    for m in minutes {
        assert_eq!(sorted_keys(m), ["activeUsers", "attachments", "joins", "leaves", "messages", "minute"], "{m}");
        let at = parse_time(&m["minute"]);
        assert_eq!(at % MINUTE_MS, 0, "a minute starts on the minute: {m}");
        assert!(at > last, "minutes are oldest first, once each: {body}");
        assert!(from <= at && at < to, "minute {m} in the range [{from}, {to})");
        last = at;
        joins += int(m, "joins");
        leaves += int(m, "leaves");
        messages += int(m, "messages");
        peak = peak.max(int(m, "activeUsers"));
        assert!(
            int(m, "activeUsers") <= int(&body["totals"], "activeUsers"),
            "a minute's users within the range's: {body}"
        );
    }
    let t = &body["totals"];
    assert_eq!(
        (joins, leaves, messages, peak),
        (int(t, "joins"), int(t, "leaves"), int(t, "messages"), int(t, "peakActiveUsers")),
        "the minutes add up to the totals (joins, leaves, messages, peak): {body:#}"
    );

    let rooms = body["rooms"].as_array().expect("rooms is an array");
    let mut previous = i64::MAX;
    let mut in_rooms = 0;
    for r in rooms {
        assert_eq!(sorted_keys(r), ["chatroomId", "messages", "name"], "{r}");
        assert!(r["chatroomId"].is_string() && (r["name"].is_string() || r["name"].is_null()), "{r}");
        let n = int(r, "messages");
        assert!(n > 0 && n <= previous, "rooms busiest first, none empty: {body}");
        previous = n;
        in_rooms += n;
    }
    assert_eq!(in_rooms, int(t, "messages"), "every message counts in its room: {body:#}");
    assert_sessions_consistent(body);
}

/// The overview's shape: totals, sessions, and per-space summaries that add
/// up to the totals.
#[track_caller]
fn assert_overview_shape(body: &Value) {
    assert_eq!(sorted_keys(body), ["from", "sessions", "spaces", "to", "totals"], "{body}");
    assert!(parse_time(&body["from"]) < parse_time(&body["to"]), "{body}");
    assert_totals_shape(&body["totals"]);
    assert_sessions_consistent(body);
    let spaces = body["spaces"].as_array().expect("spaces is an array");
    let (mut joins, mut leaves, mut messages) = (0, 0, 0);
    for s in spaces {
        assert_eq!(
            sorted_keys(s),
            ["activeUsers", "attachments", "joins", "leaves", "messages", "name", "spaceId"],
            "{s}"
        );
        joins += int(s, "joins");
        leaves += int(s, "leaves");
        messages += int(s, "messages");
    }
    let t = &body["totals"];
    assert_eq!(
        (joins, leaves, messages),
        (int(t, "joins"), int(t, "leaves"), int(t, "messages")),
        "the spaces add up to the totals: {body:#}"
    );
}

/// The overview's summary of `space_id`.
fn summary<'a>(overview: &'a Value, space_id: &str) -> &'a Value {
    overview["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spaceId"] == json!(space_id))
        .unwrap_or_else(|| panic!("the overview lists space {space_id}: {overview:#}"))
}

/// Joins the space over WebSocket and the general room's chat.
async fn enter(app: &TestApp, codec: Codec, space_id: &str, token: &str, room: &str) -> WsClient {
    let mut c = WsClient::connect(&app.ws, codec).await;
    c.join_ok(space_id, token, None).await;
    join_chat(&mut c, room).await;
    c
}

/// Sends a chat message over WebSocket and waits for its echo (matched by
/// clientId), skipping presence events and others' messages.
async fn say(c: &mut WsClient, room: &str, content: &str) {
    let client_id = format!("cid-{content}");
    c.send(&ClientMsg::ChatMessage {
        chatroom_id: room.to_owned(),
        content: content.to_owned(),
        kind: None,
        client_id: Some(client_id.clone()),
        media_id: None,
    })
    .await;
    c.recv_until(|m| match m {
        ServerMsg::ChatMessage { client_id: Some(id), .. } if *id == client_id => Some(()),
        ServerMsg::Error { code, message } => panic!("chat {content:?}: error {code:?}: {message}"),
        _ => None,
    })
    .await;
}

/// Waits until `observer` sees `user` leave, skipping anything else.
async fn saw_leave(observer: &mut WsClient, user: &str) {
    let left = user_left(user);
    observer.recv_until(|m| (*m == left).then_some(())).await;
}

// -------------------------------------------------------------------- tests

/// Three users (both codecs) join, send 2, 3 and 4 messages (WebSocket and
/// HTTP), two leave: the analytics count exactly that. The join notices
/// (system messages) do not count.
async fn counts_equal_what_happened(app: TestApp) {
    let started = now_ms();
    let (_, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let (cyd_id, cyd) = app.user("cyd").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;

    // Nothing happened yet: zeros.
    let (status, empty) = app.get(&space_path(&space_id, ""), Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_space_shape(&empty, &space_id);
    assert_eq!(totals(&empty), (0, 0, 0, 0), "{empty}");
    assert_eq!(sessions(&empty), (0, 0, 0, 0), "{empty}");

    let mut a = enter(&app, Codec::MsgPack, &space_id, &ada, &room).await;
    let mut b = enter(&app, Codec::Json, &space_id, &bob, &room).await;
    let mut c = enter(&app, Codec::MsgPack, &space_id, &cyd, &room).await;

    // Ada: 2 over WebSocket.
    say(&mut a, &room, "a1").await;
    say(&mut a, &room, "a2").await;
    // Bob: 2 over WebSocket, 1 over HTTP.
    say(&mut b, &room, "b1").await;
    say(&mut b, &room, "b2").await;
    send_http(&app, &bob, &room, "b3").await;
    // Cyd: 2 over WebSocket, 2 over HTTP.
    say(&mut c, &room, "c1").await;
    send_http(&app, &cyd, &room, "c2").await;
    say(&mut c, &room, "c3").await;
    send_http(&app, &cyd, &room, "c4").await;

    // Bob and Cyd leave explicitly; Ada stays.
    b.send(&ClientMsg::Leave {}).await;
    saw_leave(&mut a, &bob_id).await;
    c.send(&ClientMsg::Leave {}).await;
    saw_leave(&mut a, &cyd_id).await;

    let body = wait_space(&app, &ada, &space_id, "3 joins, 2 leaves, 9 messages and 2 sessions", |v| {
        let (j, l, m, _) = totals(v);
        j >= 3 && l >= 2 && m >= 9 && v["sessions"]["count"].as_i64() >= Some(2)
    })
    .await;
    assert_eq!(totals(&body), (3, 2, 9, 3), "(joins, leaves, messages, activeUsers): {body:#}");
    let peak = int(&body["totals"], "peakActiveUsers");
    assert!((1..=3).contains(&peak), "peak of 3 users: {body:#}");
    assert_eq!(
        body["rooms"],
        json!([{"chatroomId": room, "name": "general", "messages": 9}]),
        "the general room holds all 9 (no join notices): {body:#}"
    );
    let (count, avg, max, _) = sessions(&body);
    assert_eq!(count, 2, "Bob's and Cyd's visits ended: {body:#}");
    assert!(avg >= 0 && max >= avg, "{body:#}");

    // The minutes: at least one, adding up (checked by the shape); when it
    // all fell in one minute, that row is the totals.
    let minutes = body["minutes"].as_array().unwrap();
    assert!(!minutes.is_empty(), "activity shows in minutes: {body:#}");
    if minutes.len() == 1 {
        let m = &minutes[0];
        assert_eq!(
            (int(m, "joins"), int(m, "leaves"), int(m, "messages"), int(m, "activeUsers")),
            (3, 2, 9, 3),
            "the one minute: {body:#}"
        );
    }
    let first = parse_time(&minutes[0]["minute"]);
    assert!(first >= started - started.rem_euclid(MINUTE_MS), "no minute before the test began: {body:#}");

    // The same with an explicit range, in Unix milliseconds and RFC 3339.
    let query = format!("?from={}&to={}", started - MINUTE_MS, rfc3339(now_ms() + MINUTE_MS));
    let (status, ranged) = app.get(&space_path(&space_id, &query), Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{ranged}");
    assert_space_shape(&ranged, &space_id);
    assert_eq!(totals(&ranged), (3, 2, 9, 3), "{ranged:#}");
    assert_eq!(ranged["rooms"], body["rooms"]);
    assert_eq!(ranged["minutes"], body["minutes"]);
    assert_eq!(ranged["sessions"], body["sessions"]);

    // Barrier for "no late extras": Ada leaves too, and once her visit
    // shows, nothing else was counted meanwhile.
    a.send(&ClientMsg::Leave {}).await;
    let after = wait_space(&app, &ada, &space_id, "Ada's leave", |v| totals(v).1 >= 3).await;
    assert_eq!(totals(&after), (3, 3, 9, 3), "{after:#}");
    assert_eq!(sessions(&after).0, 3, "{after:#}");
}

fn short_grace(cfg: &mut ServeConfig) {
    cfg.resume_grace = Duration::from_secs(2);
}

/// A takeover (a second socket of the same user) and a resume (a dropped
/// socket back within the grace, with its token) continue one visit: no
/// join, no leave, no session of their own.
async fn resume_and_takeover_are_one_visit(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, short_grace).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let space_id = create_space(&app, &ada, "8x8").await;

    let mut laptop = WsClient::connect(&app.ws, Codec::MsgPack).await;
    laptop.join_ok(&space_id, &ada, None).await;
    let visit_began = Instant::now();
    let mut observer = WsClient::connect(&app.ws, Codec::Json).await;
    observer.join_ok(&space_id, &bob, None).await;

    // Takeover: another device, another sign-in, the other codec.
    let phone_token = app.signin("ada").await["token"].as_str().unwrap().to_owned();
    let mut phone = WsClient::connect(&app.ws, Codec::Json).await;
    let p = phone.join_ok(&space_id, &phone_token, None).await;
    assert_eq!(p.user_id, ada_id);
    assert!(!p.resumed, "a takeover is no resume");
    // The laptop saw Bob come in, then is told and closed.
    laptop
        .recv_until(|m| match m {
            ServerMsg::Error { code: ErrorCode::SessionReplaced, .. } => Some(()),
            _ => None,
        })
        .await;
    assert_eq!(laptop.expect_close_code().await, 4509);

    // Resume: the phone's socket closes, and comes back with its token
    // within the grace.
    phone.close_to_resume().await;
    let mut back = WsClient::connect(&app.ws, Codec::Json).await;
    let r = back.join_ok(&space_id, &phone_token, Some(&p.resume_token)).await;
    assert!(r.resumed, "resumed within the grace");
    assert_eq!(r.user_id, ada_id);

    // A second resume after a socket that just vanishes.
    drop(back);
    let mut again = WsClient::connect(&app.ws, Codec::Json).await;
    let r2 = again.join_ok(&space_id, &phone_token, Some(&r.resume_token)).await;
    assert!(r2.resumed, "resumed within the grace");

    // Ada leaves for good.
    let visit_ms = i64::try_from(visit_began.elapsed().as_millis()).unwrap();
    again.send(&ClientMsg::Leave {}).await;
    saw_leave(&mut observer, &ada_id).await;

    // Barrier: Bob's socket drops and his presence ends after the grace:
    // any leave a replaced or dropped socket of Ada's wrongly scheduled
    // (it would be due earlier) has been folded by the time his shows.
    observer.close_to_resume().await;
    let body = wait_space(&app, &ada, &space_id, "Bob's leave after the grace", |v| {
        totals(v).1 >= 2 && v["sessions"]["count"].as_i64() >= Some(2)
    })
    .await;
    assert_eq!(
        totals(&body),
        (2, 2, 0, 2),
        "one visit each for Ada and Bob (joins, leaves, messages, users): {body:#}"
    );
    let (count, _, _, total) = sessions(&body);
    assert_eq!(count, 2, "one session each: {body:#}");
    // Ada's one session spans her whole visit, takeover and resumes
    // included (a few ms of slack for clock granularity).
    assert!(total >= visit_ms - 5, "sessions total {total} ms covers Ada's visit of >= {visit_ms} ms: {body:#}");
    assert!(body["rooms"].as_array().unwrap().is_empty(), "no messages, no rooms: {body:#}");
}

/// Who may read what, and which ranges are refused.
async fn access_and_ranges(app: TestApp) {
    let (_, admin) = app.admin("root").await;
    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (status, created) =
        app.post("/api/v1/space", Some(&ada), json!({"name": "Atrium", "dimensions": "10x10"})).await;
    assert!(status.is_success(), "{created}");
    let space_id = created["spaceId"].as_str().unwrap().to_owned();
    let room = general_room(&app, &ada, &space_id).await;

    let mut a = enter(&app, Codec::Json, &space_id, &ada, &room).await;
    say(&mut a, &room, "hello").await;
    send_http(&app, &ada, &room, "again").await;
    a.send(&ClientMsg::Leave {}).await;
    let body = wait_space(&app, &ada, &space_id, "Ada's visit and 2 messages", |v| {
        totals(v).1 >= 1 && totals(v).2 >= 2 && v["sessions"]["count"].as_i64() >= Some(1)
    })
    .await;
    assert_eq!(totals(&body), (1, 1, 2, 1), "{body:#}");
    assert_eq!(sessions(&body).0, 1, "{body:#}");

    // Another user: 403 on the space, 404 on an unknown one; the overview is
    // for admins only (the creator included); no token is refused too.
    let (status, err) = app.get(&space_path(&space_id, ""), Some(&bob)).await;
    assert_forbidden(status, &err);
    for unknown in ["0190a3e0-0000-7000-8000-000000000000", "no-such-space", &"x".repeat(100)] {
        let (status, err) = app.get(&space_path(unknown, ""), Some(&bob)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "unknown space {unknown}: {err}");
        assert_eq!(error_code(&err), "not-found");
    }
    for token in [&bob, &ada] {
        let (status, err) = app.get(&overview_path(""), Some(token)).await;
        assert_forbidden(status, &err);
    }
    let (status, err) = app.get(&space_path(&space_id, ""), None).await;
    assert_forbidden(status, &err);
    let (status, err) = app.get(&overview_path(""), None).await;
    assert_forbidden(status, &err);

    // An admin reads any space, and an unknown one as empty.
    let (status, as_admin) = app.get(&space_path(&space_id, ""), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{as_admin}");
    assert_space_shape(&as_admin, &space_id);
    assert_eq!(as_admin["totals"], body["totals"]);
    assert_eq!(as_admin["rooms"], body["rooms"]);
    let (status, nothing) = app.get(&space_path("0190a3e0-0000-7000-8000-000000000000", ""), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{nothing}");
    assert_eq!(totals(&nothing), (0, 0, 0, 0), "{nothing}");

    // The admin overview lists the space by name, with its counts.
    let (status, overview) = app.get(&overview_path(""), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_overview_shape(&overview);
    assert_eq!(
        summary(&overview, &space_id),
        &json!({"spaceId": space_id, "name": "Atrium", "joins": 1, "leaves": 1, "messages": 2, "attachments": 0, "activeUsers": 1}),
        "{overview:#}"
    );
    assert_eq!(overview["spaces"].as_array().unwrap().len(), 1, "one space had activity: {overview:#}");
    assert_eq!(overview["totals"], body["totals"], "one space: its totals are everyone's");
    assert_eq!(overview["sessions"], body["sessions"]);

    // Bad ranges: 400 naming the field, on both endpoints.
    let week = 7 * 24 * 60 * MINUTE_MS;
    let t0 = 1_700_000_000_000_i64;
    let bad: Vec<(String, &str)> = vec![
        ("?from=yesterday".into(), "from"),
        ("?to=tomorrow".into(), "to"),
        ("?from=".into(), "from"),
        ("?from=-5".into(), "from"),
        (format!("?from={t0}&to={t0}"), "from"),
        (format!("?from={}&to={}", rfc3339(t0 + 1), rfc3339(t0)), "from"),
        (format!("?from={}", now_ms() + 10 * MINUTE_MS), "from"),
        (format!("?from={t0}&to={}", t0 + week + 1), "to"),
        (format!("?from={}&to={}", rfc3339(t0), rfc3339(t0 + 8 * week)), "to"),
    ];
    for (query, field) in &bad {
        for (path, token) in [(space_path(&space_id, query), &ada), (overview_path(query), &admin)] {
            let (status, err) = app.get(&path, Some(token)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "GET {path}: {err}");
            assert_invalid(status, &err, field);
        }
    }

    // A range of exactly 7 days is fine.
    let (status, week_body) =
        app.get(&space_path(&space_id, &format!("?from={t0}&to={}", t0 + week)), Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{week_body}");

    // A range in the past (RFC 3339 with an offset, Unix ms): zeros, no
    // minutes, no rooms, no sessions.
    for query in
        ["?from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z", "?from=2020-01-01T02:00:00%2B02:00&to=1577840400000"]
    {
        let (status, past) = app.get(&space_path(&space_id, query), Some(&ada)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {past}");
        assert_space_shape(&past, &space_id);
        assert_eq!(parse_time(&past["from"]), 1_577_836_800_000, "{query}: {past}");
        assert_eq!(parse_time(&past["to"]), 1_577_840_400_000, "{query}: {past}");
        assert_eq!(
            past["totals"],
            json!({"joins": 0, "leaves": 0, "messages": 0, "attachments": 0, "activeUsers": 0, "peakActiveUsers": 0}),
            "{query}: {past}"
        );
        assert_eq!(past["minutes"], json!([]), "{query}");
        assert_eq!(past["rooms"], json!([]), "{query}");
        assert_eq!(past["sessions"], json!({"count": 0, "averageMs": 0, "maxMs": 0, "totalMs": 0}), "{query}");

        let (status, past) = app.get(&overview_path(query), Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {past}");
        assert_overview_shape(&past);
        assert_eq!(past["spaces"], json!([]), "{query}: {past}");
        assert_eq!(past["totals"]["joins"], json!(0), "{query}: {past}");
    }
}

/// A deleted space's numbers outlive it: an admin still reads them (the
/// overview without a name), while its creator and others get 404. The
/// members present at the deletion count as leaving.
async fn deleted_space_stays_readable_by_admins(app: TestApp) {
    let (_, admin) = app.admin("root").await;
    let (_, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;

    let mut a = enter(&app, Codec::MsgPack, &space_id, &ada, &room).await;
    let mut b = enter(&app, Codec::Json, &space_id, &bob, &room).await;
    say(&mut b, &room, "bye soon").await;
    say(&mut a, &room, "see you").await;
    send_http(&app, &bob, &room, "bye").await;
    b.send(&ClientMsg::Leave {}).await;
    saw_leave(&mut a, &bob_id).await;

    // Ada is still inside when she deletes the space.
    let (status, body) = app.delete(&format!("/api/v1/space/{space_id}"), Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.recv_until(|m| match m {
        ServerMsg::Error { code: ErrorCode::SpaceClosed, .. } => Some(()),
        _ => None,
    })
    .await;

    let body = wait_space(&app, &admin, &space_id, "both visits ended", |v| {
        totals(v).1 >= 2 && v["sessions"]["count"].as_i64() >= Some(2)
    })
    .await;
    assert_eq!(totals(&body), (2, 2, 3, 2), "(joins, leaves, messages, users) of the deleted space: {body:#}");
    assert_eq!(sessions(&body).0, 2, "{body:#}");
    let rooms = body["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1, "{body:#}");
    assert_eq!((&rooms[0]["chatroomId"], &rooms[0]["messages"]), (&json!(room), &json!(3)), "{body:#}");
    assert!(rooms[0]["name"].is_null(), "the room went with the space; its name is null: {body:#}");

    let (status, overview) = app.get(&overview_path(""), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_overview_shape(&overview);
    assert_eq!(
        summary(&overview, &space_id),
        &json!({"spaceId": space_id, "name": null, "joins": 2, "leaves": 2, "messages": 3, "attachments": 0, "activeUsers": 2}),
        "{overview:#}"
    );

    // Not for non-admins, its creator included: the space is gone.
    for token in [&ada, &bob] {
        let (status, err) = app.get(&space_path(&space_id, ""), Some(token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
        assert_eq!(error_code(&err), "not-found");
    }
}

/// A graceful restart loses nothing that happened just before it: the
/// join and the message of a moment ago are folded (the in-process fold
/// batches for ~200 ms; a shutdown must write what it holds).
async fn a_graceful_restart_keeps_recent_events(mut app: TestApp) {
    let (_, ada) = app.user("ada").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;

    let mut a = enter(&app, Codec::MsgPack, &space_id, &ada, &room).await;
    say(&mut a, &room, "last words").await;
    // Stops gracefully (sockets and spaces closed, requests done) and starts
    // again on the same database.
    app.restart();
    drop(a);

    let body = wait_space(&app, &ada, &space_id, "the join and the message from before the restart", |v| {
        let (j, _, m, _) = totals(v);
        j >= 1 && m >= 1
    })
    .await;
    assert_eq!((totals(&body).0, totals(&body).2), (1, 1), "(joins, messages): {body:#}");
}

/// The visit a graceful shutdown ends (the server closes every space, which
/// emits a leave for whoever is inside) counts as a leave and a session.
async fn a_graceful_shutdown_ends_open_visits(mut app: TestApp) {
    let (_, ada) = app.user("ada").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;

    let mut a = enter(&app, Codec::Json, &space_id, &ada, &room).await;
    say(&mut a, &room, "still here").await;
    // Everything so far is folded before the restart.
    wait_space(&app, &ada, &space_id, "the join and the message", |v| {
        let (j, _, m, _) = totals(v);
        j >= 1 && m >= 1
    })
    .await;
    app.restart();
    drop(a);

    let body = wait_space(&app, &ada, &space_id, "the leave of the visit the shutdown ended", |v| {
        totals(v).1 >= 1 && v["sessions"]["count"].as_i64() >= Some(1)
    })
    .await;
    assert_eq!(totals(&body), (1, 1, 1, 1), "{body:#}");
    assert_eq!(sessions(&body).0, 1, "{body:#}");
}

on_both_backends!(
    counts_equal_what_happened,
    access_and_ranges,
    deleted_space_stays_readable_by_admins,
    a_graceful_restart_keeps_recent_events,
    a_graceful_shutdown_ends_open_visits,
);
configured_on_both_backends!(resume_and_takeover_are_one_visit);
