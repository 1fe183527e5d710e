//! The `metaverse` binary itself: help, migrate, serve with demo content,
//! and a graceful stop on SIGTERM.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_metaverse");

fn command(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("METAVERSE_DATA_DIR", data_dir)
        .env("METAVERSE_ADMIN_ADDR", "127.0.0.1:0")
        .env("METAVERSE_LOG_FORMAT", "json")
        .env("METAVERSE_LOG", "info");
    cmd
}

#[test]
fn help_documents_every_setting_with_its_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "METAVERSE_HTTP_ADDR",
        "METAVERSE_WS_ADDR",
        "METAVERSE_DATA_DIR",
        "DATABASE_URL",
        "METAVERSE_ADMIN_SIGNUP",
        "METAVERSE_NO_DEMO",
        "METAVERSE_TOKEN_TTL",
        "METAVERSE_TOKEN_KEY",
        "METAVERSE_CORS_ORIGINS",
        "METAVERSE_LOG_FORMAT",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn migrate_creates_the_database_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let status = command(dir.path()).arg("migrate").stdout(Stdio::null()).status().unwrap();
        assert!(status.success());
    }
    assert!(dir.path().join("metaverse.db").exists());
}

#[test]
fn bad_configuration_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).args(["--admin-signup", "sometimes"]).output().unwrap();
    assert!(!out.status.success());
    let out = command(dir.path())
        .env("METAVERSE_TOKEN_KEY", "too-short")
        .args(["--http-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("64 hex characters"), "{text}");
}

#[tokio::test]
async fn serves_demo_content_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .args(["--http-addr", "127.0.0.1:0", "--http-workers", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The server logs its bound address once it listens.
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "serving HTTP" {
            break v["http_addr"].as_str().unwrap().to_owned();
        }
    };
    let maps: serde_json::Value =
        reqwest::get(format!("http://{addr}/api/v1/maps")).await.unwrap().json().await.unwrap();
    let lobby = maps["maps"].as_array().unwrap().iter().find(|m| m["name"] == "Lobby").expect("demo Lobby map");
    assert_eq!(lobby["dimensions"], "40x30");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("\"stopped\"")), "no clean stop logged: {rest:?}");
}

/// The key `deploy/cluster.env` once shipped: public, so anyone could
/// mint tokens for a server that used it.
const PUBLISHED_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Runs `serve` with `key` and returns its stderr, asserting it refused.
fn refused_serving_with_key(dir: &std::path::Path, key: &str) -> String {
    let out = command(dir)
        .env("METAVERSE_TOKEN_KEY", key)
        .args(["--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "a server started with the key {key}: {text}");
    assert!(text.contains("openssl rand -hex 32"), "the error says how to make a key: {text}");
    assert!(!dir.join("metaverse.db").exists(), "refused before touching the database");
    text
}

#[test]
fn serve_refuses_the_published_token_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = refused_serving_with_key(dir.path(), PUBLISHED_KEY);
    assert!(text.contains("published"), "{text}");
    let text = refused_serving_with_key(dir.path(), &PUBLISHED_KEY.to_uppercase());
    assert!(text.contains("published"), "the same key in capitals: {text}");
}

#[test]
fn serve_refuses_low_entropy_token_keys() {
    let dir = tempfile::tempdir().unwrap();
    let text = refused_serving_with_key(dir.path(), &"deadbeef".repeat(8));
    assert!(text.contains("distinct byte values"), "{text}");
    let counting: String = (0..32u8).map(|b| format!("{b:02x}")).collect();
    let text = refused_serving_with_key(dir.path(), &counting);
    assert!(text.contains("pattern"), "{text}");
}

#[tokio::test]
async fn client_errors_are_logged_at_debug_not_warn() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .env("METAVERSE_LOG", "info,metaverse_server::http=debug")
        .args(["--http-addr", "127.0.0.1:0", "--http-workers", "1", "--no-demo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the log on its own thread: a full pipe would stall the server.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap_or_default());
        }
    });
    let addr = loop {
        let v = rx.recv().expect("server exited before listening");
        if v["message"] == "serving HTTP" {
            break v["http_addr"].as_str().unwrap().to_owned();
        }
    };
    // A flood of bad requests: garbage tokens and malformed bodies.
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let r = client.get(format!("http://{addr}/api/v1/space/all")).bearer_auth("garbage").send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
        let r = client.post(format!("http://{addr}/api/v1/signin")).body("{not json").send().await.unwrap();
        assert!(r.status().is_client_error());
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let logged: Vec<serde_json::Value> = rx.into_iter().collect();
    let failures: Vec<&serde_json::Value> = logged
        .iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains("processing the incoming HTTP request")))
        .collect();
    assert!(failures.len() >= 20, "every client error is still logged, at debug: {logged:?}");
    for event in failures {
        assert_eq!(event["level"], "DEBUG", "a client error above debug: {event}");
    }
}

/// With `ulimit -n 1024`, a thousand idle TCP connections to the WebSocket
/// port used to exhaust the process's descriptors and take the HTTP API
/// down. The default connection cap now comes from the open-file limit and
/// leaves room for HTTP: past it connections are dropped at accept.
#[tokio::test]
async fn a_socket_flood_under_a_low_open_file_limit_leaves_http_serving() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "ulimit -n 1024 && exec {BIN} --http-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
         --http-workers 1 --no-demo --ws-max-per-ip 0 --ws-max-unauthenticated-per-ip 0"
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("KAFKA_BROKERS")
        .env("METAVERSE_DATA_DIR", dir.path())
        .env("METAVERSE_LOG_FORMAT", "json")
        .env("METAVERSE_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut ws) = (None, None);
    while http.is_none() || ws.is_none() {
        let line = lines.next().expect("server exited before listening").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "serving HTTP" {
            http = v["http_addr"].as_str().map(str::to_owned);
        }
        if v["message"] == "serving WebSocket" {
            ws = v["ws_addr"].as_str().map(str::to_owned);
            assert_eq!(v["max_connections"], 768, "the cap leaves an eighth of 1024 (256) for the rest");
        }
    }
    let (http, ws) = (http.unwrap(), ws.unwrap());
    // Keep reading its log, so a full pipe never stalls the server.
    std::thread::spawn(move || lines.for_each(drop));
    let mut held = Vec::new();
    for _ in 0..1000 {
        match tokio::net::TcpStream::connect(&ws).await {
            Ok(s) => held.push(s),
            Err(e) => panic!("the test's own descriptors ran out ({e}); raise its open-file limit"),
        }
    }
    for _ in 0..3 {
        let get = reqwest::get(format!("http://{http}/health"));
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), get).await.map(|r| r.map(|r| r.status()));
        assert!(matches!(status, Ok(Ok(s)) if s.is_success()), "HTTP went down under the flood: {status:?}");
    }
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}
