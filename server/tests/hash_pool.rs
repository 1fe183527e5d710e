//! Every argon2 run goes through one bounded pool: a crowd of passcode
//! joins can neither exhaust memory (each run holds 19 MiB) nor starve
//! sign-ins. This file is its own test binary because it reads the
//! process's peak memory, which other tests would disturb.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, TestApp,
    chat::{create_room, enter_space},
    ws::create_space,
};
use reqwest::StatusCode;
use serde_json::json;

/// The process's peak resident set, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const CROWD: usize = 64;

#[tokio::test]
async fn a_crowd_of_passcode_joins_stays_inside_the_pool() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let (_, ada) = app.user("ada").await;
    let space_id = create_space(&app, &ada, "20x20").await;
    let vault = create_room(&app, &ada, &space_id, "vault", Some("open sesame")).await;
    let vault = vault["id"].as_str().unwrap_or_default().to_owned();
    let mut crowd = Vec::new();
    for i in 0..CROWD {
        let (_, token) = app.user(&format!("guest{i}")).await;
        enter_space(&app, &space_id, &token).await;
        crowd.push(token);
    }
    let Some(before) = peak_rss_kib() else {
        eprintln!("skipped: no /proc/self/status");
        return;
    };

    let path = format!("/api/v1/chatroom/join/{vault}");
    let joins = crowd.iter().map(|token| app.post(&path, Some(token), json!({"passcode": "open sesame"})));
    let answers = futures_util::future::join_all(joins).await;

    let after = peak_rss_kib().unwrap_or(before);
    let grown_mib = (after.saturating_sub(before)) / 1024;
    assert!(grown_mib < 200, "peak RSS grew {grown_mib} MiB for {CROWD} concurrent passcode joins");
    let mut joined = 0;
    for (status, body) in &answers {
        match *status {
            StatusCode::OK => joined += 1,
            StatusCode::SERVICE_UNAVAILABLE => assert_eq!(body["error"]["code"], "busy", "{body}"),
            other => panic!("a passcode join answered {other}: {body}"),
        }
    }
    assert!(joined > 0, "some joins got through the pool");
    // Past the crowd, a sign-in is served as usual.
    let (status, body) = app.post("/api/v1/signin", None, json!({"username": "ada", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
