//! One origin for HTTP and WebSocket, TLS, and the old health port (issue
//! 15, items 6 and 7): `/ws` on the HTTP listener serves the same sessions
//! as the WebSocket port, under the same origin check; `--tls-cert` and
//! `--tls-key` put both listeners on TLS with a certificate the test makes
//! (rcgen), reloaded on SIGHUP without dropping open sockets; a plain
//! `GET /health` on the WebSocket port is answered.

#![allow(clippy::unwrap_used)]

mod common;

use std::{path::Path, sync::Arc};

use common::{
    Backend, TestApp,
    ws::{WsClient, create_space},
};
use metaverse_protocol::{Codec, ServerMsg};
use reqwest::StatusCode;
use rustls_pki_types::{CertificateDer, pem::PemObject};

/// A self-signed certificate for 127.0.0.1 and localhost, written as
/// `name.crt` and `name.key`; returns the certificate's PEM.
fn certificate(dir: &Path, name: &str) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let pem = made.cert.pem();
    std::fs::write(dir.join(format!("{name}.crt")), &pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), made.key_pair.serialize_pem()).unwrap();
    pem
}

/// A TLS client trusting `pem` only.
fn trusting(pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A server on TLS with a fresh certificate; returns it with the PEM.
async fn tls_app() -> (TestApp, String) {
    let certs = tempfile::tempdir().unwrap();
    let pem = certificate(certs.path(), "a");
    let (cert, key) = (certs.path().join("a.crt"), certs.path().join("a.key"));
    let app = TestApp::start_with(Backend::Sqlite, |cfg| {
        cfg.tls_cert = Some(cert);
        cfg.tls_key = Some(key);
    })
    .await
    .unwrap();
    // The files stay where the server reads them on reload.
    std::mem::forget(certs);
    (app, pem)
}

/// `wss://…/ws` on the HTTP listener of a TLS app.
fn ws_on_http(app: &TestApp) -> String {
    format!("{}/ws", app.base.replacen("https://", "wss://", 1))
}

async fn joins(url: &str, tls: Option<Arc<rustls::ClientConfig>>, space: &str, token: &str) -> WsClient {
    let (mut ws, _) = WsClient::connect_tls(url, Codec::Json, &[], tls).await.unwrap();
    ws.join_ok(space, token, None).await;
    ws
}

#[tokio::test]
async fn https_and_wss_on_both_listeners() {
    let (app, pem) = tls_app().await;
    assert!(app.base.starts_with("https://") && app.ws.starts_with("wss://"), "{} {}", app.base, app.ws);
    let (status, body) = app.get("/health", None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (_, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let space = create_space(&app, &ada, "20x20").await;
    // Ada on the WebSocket port, Bob on `/ws` of the HTTP port: one space.
    let mut a = joins(&app.ws, Some(trusting(&pem)), &space, &ada).await;
    let mut b = joins(&ws_on_http(&app), Some(trusting(&pem)), &space, &bob).await;
    assert!(matches!(a.recv().await, ServerMsg::UserJoin { user_id, .. } if user_id == bob_id));
    b.heartbeat().await;
    // Plain HTTP to the TLS port gets nowhere.
    let plain = app.base.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new().get(format!("{plain}/health")).send().await;
    assert!(refused.is_err() || !refused.unwrap().status().is_success());
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_open_sockets_stay() {
    let (app, first) = tls_app().await;
    let (_, ada) = app.user("ada").await;
    let space = create_space(&app, &ada, "20x20").await;
    let mut open = joins(&ws_on_http(&app), Some(trusting(&first)), &space, &ada).await;
    // A renewed certificate lands on disk; SIGHUP.
    let dir = app.config.tls_cert.as_ref().unwrap().parent().unwrap().to_owned();
    let second = certificate(&dir, "b");
    std::fs::rename(dir.join("b.crt"), dir.join("a.crt")).unwrap();
    std::fs::rename(dir.join("b.key"), dir.join("a.key")).unwrap();
    // SAFETY: signalling our own process; the server's handler is set at
    // start, so the default action (exit) never runs.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);
    // New handshakes get the new certificate once the signal is handled.
    let url = ws_on_http(&app);
    let mut tries = 0;
    while WsClient::connect_tls(&url, Codec::Json, &[], Some(trusting(&second))).await.is_err() {
        tries += 1;
        assert!(tries < 200, "the new certificate was never served");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        WsClient::connect_tls(&url, Codec::Json, &[], Some(trusting(&first))).await.is_err(),
        "the old certificate is no longer served"
    );
    // The socket opened before the reload still works.
    open.heartbeat().await;
}

#[tokio::test]
async fn the_origin_check_holds_on_ws() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, ada) = app.user("ada").await;
    let space = create_space(&app, &ada, "20x20").await;
    let url = format!("{}/ws", app.base.replacen("http://", "ws://", 1));
    let evil = WsClient::connect_with(&url, Codec::Json, &[("origin", "https://evil.example")]).await;
    let err = evil.err().expect("a foreign origin is refused");
    assert!(err.contains("403"), "{err}");
    let own = app.base.clone();
    let (mut ws, proto) = WsClient::connect_with(
        &url,
        Codec::MsgPack,
        &[("origin", own.as_str()), ("sec-websocket-protocol", "metaverse.v1.msgpack")],
    )
    .await
    .expect("the page's own origin is allowed");
    assert_eq!(proto.as_deref(), Some("metaverse.v1.msgpack"));
    ws.join_ok(&space, &ada, None).await;
    // A plain GET is not an upgrade.
    let plain = app.client.get(app.url("/ws")).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_websocket_port_answers_health() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let port = app.ws.replacen("ws://", "http://", 1);
    let health = app.client.get(format!("{port}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let other = app.client.get(format!("{port}/")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::UPGRADE_REQUIRED);
    // The port still upgrades.
    let mut ws = WsClient::connect(&app.ws, Codec::Json).await;
    ws.heartbeat().await;
}

#[tokio::test]
async fn ws_on_the_http_port_shares_the_per_address_caps() {
    let app = TestApp::start_with(Backend::Sqlite, |cfg| cfg.limits.ws_max_unauthenticated_per_ip = 1).await.unwrap();
    // One unauthenticated socket on the WebSocket port uses the address's
    // allowance, so `/ws` on the HTTP port is refused for it too.
    let mut first = WsClient::connect(&app.ws, Codec::Json).await;
    first.heartbeat().await;
    let url = format!("{}/ws", app.base.replacen("http://", "ws://", 1));
    let err = WsClient::connect_with(&url, Codec::Json, &[]).await.err().expect("over the per-address cap");
    assert!(err.contains("503"), "{err}");
    // The first socket is unharmed.
    first.heartbeat().await;
}
