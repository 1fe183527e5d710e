//! Guessing is limited: wrong passwords per account (and per client
//! address), wrong passcodes per room. Each test performs the attack and
//! asserts the safe outcome: 429 `rate-limited` with `retryAfterMs`,
//! while people who are not under attack are still served.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, TestApp,
    chat::{create_room, enter_space},
    ws::create_space,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_limited(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate-limited", "{body}");
    assert!(body["error"]["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0), "{body}");
}

#[tokio::test]
async fn the_eleventh_wrong_passcode_in_a_minute_is_refused() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let (_, ada) = app.user("ada").await;
    let (_, eve) = app.user("eve").await;
    let space_id = create_space(&app, &ada, "10x10").await;
    let vault = create_room(&app, &ada, &space_id, "vault", Some("7391")).await;
    let path = format!("/api/v1/chatroom/join/{}", vault["id"].as_str().unwrap_or_default());
    enter_space(&app, &space_id, &eve).await;
    for guess in 0..10 {
        let (status, body) = app.post(&path, Some(&eve), json!({"passcode": format!("{guess:04}")})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "guess {guess}: {body}");
    }
    let (status, body) = app.post(&path, Some(&eve), json!({"passcode": "0010"})).await;
    assert_limited(status, &body);
    // Even the right passcode waits now: the guesser cannot tell.
    let (status, body) = app.post(&path, Some(&eve), json!({"passcode": "7391"})).await;
    assert_limited(status, &body);
}

#[tokio::test]
async fn short_passcodes_are_refused() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let (_, ada) = app.user("ada").await;
    let space_id = create_space(&app, &ada, "10x10").await;
    let (status, body) = app
        .post("/api/v1/chatroom/create", Some(&ada), json!({"name": "den", "spaceId": space_id, "passcode": "123"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().starts_with("passcode"), "{body}");
}

#[tokio::test]
async fn wrong_passwords_for_one_account_are_refused_and_others_still_served() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    app.signup("ada", "user").await;
    app.signup("bob", "user").await;
    let signin =
        |name: &str, password: &str| app.post("/api/v1/signin", None, json!({"username": name, "password": password}));
    let mut refused = 0;
    for i in 0..20 {
        let (status, body) = signin("ada", &format!("guess-{i}")).await;
        match status {
            StatusCode::FORBIDDEN => assert_eq!(refused, 0, "no 403 after the first 429: {body}"),
            _ => {
                assert_limited(status, &body);
                refused += 1;
            }
        }
    }
    assert!(refused >= 9, "only {refused} of 20 wrong sign-ins were refused");
    // The right password waits too while the account is limited.
    let (status, body) = signin("ada", "password123").await;
    assert_limited(status, &body);
    // Another account from the same client is served.
    let (status, body) = signin("bob", "password123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An unknown name is limited the same way, so limits reveal nothing.
    let mut last = StatusCode::OK;
    for i in 0..11 {
        last = signin("nobody", &format!("guess-{i}")).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
