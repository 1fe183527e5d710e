//! The embedded browser client, its security headers, and the ICE
//! configuration it fetches.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestApp, cluster::Nodes, error_code};
use reqwest::{StatusCode, header};

#[tokio::test]
async fn the_client_is_served_from_the_binary() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite is always available");

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
    let tag = page.headers()[header::ETAG].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta name="metaverse-ws" content="/ws">"#), "the page dials /ws on its own origin");
    assert!(tag.ends_with("-ws\""), "the ETag covers the filled-in address: {tag}");
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
async fn the_page_carries_a_content_security_policy() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite is always available");
    let ws_port = app.ws.rsplit(':').next().unwrap().to_owned();

    let page = app.client.get(app.url("/")).send().await.unwrap();
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    let directives: BTreeMap<&str, &str> = policy.split(';').filter_map(|d| d.trim().split_once(' ')).collect();
    assert_eq!(directives["default-src"], "'self'", "{policy}");
    assert_eq!(directives["script-src"], "'self'", "no inline script: {policy}");
    assert_eq!(
        directives["connect-src"],
        format!("'self' ws://127.0.0.1:{ws_port} wss://127.0.0.1:{ws_port}"),
        "only its own origin and the WebSocket listener"
    );
    assert_eq!(directives["img-src"], "'self' data: blob:");
    assert_eq!(directives["object-src"], "'none'");
    assert_eq!(directives["base-uri"], "'none'");
    assert_eq!(directives["frame-ancestors"], "'none'");
    assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");

    // The policy follows the host the page was loaded from.
    let tag = page.headers()[header::ETAG].to_str().unwrap().to_owned();
    let renamed = app.client.get(app.url("/")).header(header::HOST, "example.test:8080").send().await.unwrap();
    let policy = renamed.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        policy.contains(&format!("connect-src 'self' ws://example.test:{ws_port} wss://example.test:{ws_port};")),
        "{policy}"
    );
    let forged = app.client.get(app.url("/")).header(header::HOST, "evil.test,*").send().await.unwrap();
    let policy = forged.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("connect-src 'self';"), "an odd Host adds no source: {policy}");
    let cached = app.client.get(app.url("/")).header(header::IF_NONE_MATCH, &tag).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.headers().contains_key(header::CONTENT_SECURITY_POLICY), "a revalidated page keeps its policy");

    // Every response, not only the client's, gets the cheap headers.
    for path in ["/health", "/api/v1/avatars", "/api/v1/nope", "/app.js"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(res.headers()[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY", "{path}");
    }
}

/// A link such as `/?api=https://evil.example` must not redirect the
/// client's requests (and its tokens): nothing the page runs reads the URL's
/// query, and invite links do not copy it.
#[tokio::test]
async fn the_client_never_takes_its_server_from_the_url() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite is always available");
    let html = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let mut pending: Vec<String> = Vec::new();
    for tag in html.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        let src = tag.split("src=\"").nth(1).and_then(|s| s.split('"').next());
        pending.push(src.expect("no inline script: the policy would block it").to_owned());
    }
    assert!(!html.contains(" onclick=") && !html.contains(" onload="), "no inline handlers");
    assert!(pending.contains(&"app.js".to_owned()));

    // Every module the page loads, following the imports.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(module) = pending.pop() {
        if !seen.insert(module.clone()) {
            continue;
        }
        let res = app.client.get(app.url(&format!("/{module}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{module}");
        let js = res.text().await.unwrap();
        for forbidden in ["location.search", "URLSearchParams", "get('api')", "get('ws')", "location.href.split('?')"] {
            assert!(!js.contains(forbidden), "{module} reads the page's query ({forbidden})");
        }
        for import in js.split("from './").skip(1).chain(js.split("import('./").skip(1)) {
            pending.push(import.split('\'').next().unwrap().to_owned());
        }
    }
    assert!(seen.len() >= 5 && seen.contains("api.js") && seen.contains("net.js"), "{seen:?}");
    let api = app.client.get(app.url("/api.js")).send().await.unwrap().text().await.unwrap();
    assert!(api.contains("fetch(`/api/v1${path}`"), "the API is the page's own origin");
    assert!(api.contains("return `${location.origin}${location.pathname}${hash}`;"), "invite links drop the query");
}

/// In cluster mode `route` sends the client to other nodes: their
/// advertised WebSockets are allowed too.
#[tokio::test]
async fn the_policy_admits_every_node_of_a_cluster() {
    let Some(nodes) = Nodes::start(2, "10s", None).await else { return };
    let page = nodes.app(0).client.get(nodes.app(0).url("/")).send().await.unwrap();
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    let connect = policy.split(';').find(|d| d.trim().starts_with("connect-src")).unwrap();
    let sources: Vec<&str> = connect.split_whitespace().skip(1).collect();
    for node in &nodes.nodes {
        assert!(sources.contains(&node.ws()), "{} missing from {connect}", node.ws());
    }
    assert_eq!(sources.iter().filter(|s| **s == nodes.nodes[0].ws()).count(), 1, "no duplicates: {connect}");
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
