//! The embedded browser client and the ICE configuration it fetches.

mod common;

use common::{Backend, TestApp, error_code};
use reqwest::{StatusCode, header};

#[tokio::test]
async fn the_client_is_served_from_the_binary() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite is always available");
    let ws_port = app.ws.rsplit(':').next().unwrap().to_owned();

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
    let tag = page.headers()[header::ETAG].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<meta name="metaverse-ws" content=":{ws_port}">"#)),
        "the page is told the WebSocket port"
    );
    assert!(tag.ends_with(&format!("-{ws_port}\"")), "the ETag covers the filled-in port: {tag}");
    let again = app.client.get(app.url("/")).header(header::IF_NONE_MATCH, &tag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let script = app.client.get(app.url("/app.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(script.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8", "module scripts need it");
    let image = app.client.get(app.url("/assets/avatars/astro.png")).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(&image.bytes().await.unwrap()[..4], b"\x89PNG");

    for missing in ["/nope.js", "/api/v1/nope", "/../Cargo.toml", "/index.html"] {
        let (status, body) = app.get(missing, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        assert_eq!(error_code(&body), "not-found");
    }
    // The API and the docs keep their routes.
    assert_eq!(app.get("/health", None).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/avatars", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rtc_config_hands_out_turn_credentials() {
    let app = TestApp::start_with(Backend::Sqlite, |cfg| {
        cfg.ice_servers = vec!["stun:stun.test:3478".into(), "turn:turn.test:3478?transport=udp".into()];
        cfg.turn_secret = Some("s3cret".into());
        cfg.turn_ttl = std::time::Duration::from_secs(600);
    })
    .await
    .unwrap();
    let (status, body) = app.get("/api/v1/rtc/config", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (user_id, token) = app.user("ada").await;
    let (status, body) = app.get("/api/v1/rtc/config", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ttl"], 600);
    let servers = body["iceServers"].as_array().unwrap();
    assert_eq!(servers[0], serde_json::json!({"urls": ["stun:stun.test:3478"]}));
    assert_eq!(servers[1]["urls"], serde_json::json!(["turn:turn.test:3478?transport=udp"]));
    let username = servers[1]["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, user_id);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry > now && expiry <= now + 600, "expires within the ttl: {expiry} vs {now}");
    assert_eq!(servers[1]["credential"].as_str().unwrap().len(), 28, "base64 of a 20-byte HMAC-SHA1");
}

#[tokio::test]
async fn bad_ice_configuration_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.ice_servers = vec!["http://not-ice.test".into()];
    let err = metaverse_server::app::spawn(cfg).err().expect("refused");
    assert!(format!("{err:#}").contains("--ice-servers"), "{err:#}");
}
