//! Test harness: starts the real server on 127.0.0.1:0 with a database of
//! its own and talks to it over HTTP, as a client would.
//!
//! Every test runs on SQLite, and on PostgreSQL when `DATABASE_URL` names
//! one (each run in a fresh database, dropped afterwards). Under
//! `METAVERSE_REQUIRE_SERVICES=1` a missing PostgreSQL fails the test
//! instead of skipping it.
#![allow(dead_code)]

pub mod chat;
pub mod cluster;
pub mod media;
pub mod proxy;
pub mod tansu;
pub mod ws;

use std::time::Duration;

use metaverse_server::{
    app::{Spawned, spawn},
    config::{AdminSignup, ServeConfig},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn services_required() -> bool {
    std::env::var("METAVERSE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The PostgreSQL URL from the environment, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))
}

/// The Kafka brokers from `KAFKA_BROKERS`; `None` (skip) when unset,
/// unless services are required.
pub fn kafka_brokers() -> Option<Vec<String>> {
    let brokers: Vec<String> = std::env::var("KAFKA_BROKERS")
        .unwrap_or_default()
        .split(',')
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    if brokers.is_empty() {
        if services_required() {
            panic!("METAVERSE_REQUIRE_SERVICES=1 but KAFKA_BROKERS is not set");
        }
        eprintln!("skipped: KAFKA_BROKERS is not set");
        return None;
    }
    Some(brokers)
}

/// Points the server at Kafka with topics of its own (a random suffix), so
/// tests sharing one broker never read each other's records.
pub fn use_kafka(cfg: &mut ServeConfig, brokers: &[String]) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    cfg.kafka.kafka_brokers = brokers.to_vec();
    cfg.kafka.kafka_topic_chat = format!("chat-messages-{suffix}");
    cfg.kafka.kafka_topic_user_events = format!("user-events-{suffix}");
    cfg.kafka.kafka_topic_analytics = format!("chat-analytics-{suffix}");
    suffix
}

/// `postgres://h/db?x` with the database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("mv_test_{}", uuid::Uuid::new_v4().simple());
        let conn = Database::connect(admin_url).await?;
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
        conn.close().await?;
        Ok(Self { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name), name })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a fresh one on its own thread
        // may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let conn = Database::connect(&url).await.ok()?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

/// A running server and an HTTP client for it. Fields drop in order: the
/// server stops before its database goes away.
pub struct TestApp {
    pub base: String,
    /// The operator listener (`/metrics`, `/cluster/*`): its own port, or
    /// `base` when the server serves them on the HTTP port.
    pub admin: String,
    /// `ws://127.0.0.1:PORT`
    pub ws: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    server: Option<Spawned>,
    pub config: ServeConfig,
    pg: Option<PgDatabase>,
    pub dir: tempfile::TempDir,
}

/// The HTTP base and WebSocket URLs, `https`/`wss` when the server has TLS.
fn urls(server: &Spawned, cfg: &ServeConfig) -> (String, String) {
    let (http, ws) = if cfg.tls_cert.is_some() { ("https", "wss") } else { ("http", "ws") };
    (format!("{http}://{}", server.http_addr), format!("{ws}://{}", server.ws_addr))
}

/// A client that trusts the server's own certificate, when it has one.
fn client_for(cfg: &ServeConfig) -> reqwest::Client {
    let Some(cert) = &cfg.tls_cert else { return reqwest::Client::new() };
    let pem = std::fs::read(cert).expect("the test's certificate");
    let root = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
    reqwest::Client::builder().add_root_certificate(root).build().expect("a TLS client")
}

fn admin_base(server: &Spawned) -> String {
    format!("http://{}", server.admin_addr.unwrap_or(server.http_addr))
}

/// The configuration tests start from: an ephemeral port, a temporary data
/// directory, no demo content, one worker and a small pool.
pub fn test_config(dir: &std::path::Path) -> ServeConfig {
    let mut cfg = ServeConfig::defaults();
    cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    cfg.ws_addr = "127.0.0.1:0".parse().unwrap();
    cfg.db.data_dir = dir.to_path_buf();
    cfg.db.database_url = None;
    cfg.db.db_max_connections = 4;
    cfg.no_demo = true;
    cfg.admin_signup = AdminSignup::Open;
    cfg.http_workers = 1;
    cfg.token_key = None;
    cfg.cors_origins = vec![];
    cfg.admin_addr = "127.0.0.1:0".parse().unwrap();
    cfg.shutdown_timeout = Duration::from_secs(5);
    // CI exports KAFKA_BROKERS and REDIS_URL; only the Kafka and cluster
    // tests opt in to them.
    cfg.kafka.kafka_brokers.clear();
    cfg.cluster.redis.redis_url = None;
    // Scripted walks step as fast as the socket allows; the walking-speed
    // budget has its own tests (ws_abuse).
    cfg.limits.walk_speed = 1000.0;
    cfg.limits.walk_burst = 1000.0;
    cfg
}

impl TestApp {
    /// Starts a server on `backend`; `None` when that backend is not
    /// available and not required (the test then passes as skipped).
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(dir.path());
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match postgres_url() {
                Some(url) => Some(PgDatabase::create(&url).await.expect("creating a PostgreSQL test database")),
                None if services_required() => {
                    panic!("METAVERSE_REQUIRE_SERVICES=1 but DATABASE_URL names no PostgreSQL")
                }
                None => {
                    eprintln!("skipped: DATABASE_URL names no PostgreSQL");
                    return None;
                }
            },
        };
        cfg.db.database_url = pg.as_ref().map(|p| p.url.clone());
        tweak(&mut cfg);
        let server = spawn(cfg.clone()).expect("server starts");
        let (base, ws) = urls(&server, &cfg);
        Some(Self {
            base,
            admin: admin_base(&server),
            ws,
            client: client_for(&cfg),
            backend,
            server: Some(server),
            config: cfg,
            pg,
            dir,
        })
    }

    /// A client for a server this process did not start (a cluster node).
    pub fn external(base: String, ws: String) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path());
        Self {
            admin: base.clone(),
            base,
            ws,
            client: reqwest::Client::new(),
            backend: Backend::Postgres,
            server: None,
            config,
            pg: None,
            dir,
        }
    }

    /// Stops the server gracefully (the database stays) and starts it again
    /// on the same data, on a new port.
    pub fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().expect("clean shutdown");
        }
        let server = spawn(self.config.clone()).expect("server restarts");
        (self.base, self.ws) = urls(&server, &self.config);
        self.admin = admin_base(&server);
        self.server = Some(server);
    }

    /// GET on the operator listener.
    /// The server's own PostgreSQL database, on that backend.
    pub fn database_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self.client.get(format!("{}{}", self.admin, path)).send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and returns the status and the JSON body (`Null`
    /// when the body is empty, a string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, body).await
    }

    /// Signs up and returns the new user's id.
    pub async fn signup(&self, username: &str, kind: &str) -> String {
        let (status, body) = self
            .post("/api/v1/signup", None, json!({"username": username, "password": "password123", "type": kind}))
            .await;
        assert_eq!(status, StatusCode::OK, "signup {username}: {body}");
        body["userId"].as_str().expect("userId").to_owned()
    }

    /// Signs in and returns the whole token response.
    pub async fn signin(&self, username: &str) -> Value {
        let (status, body) =
            self.post("/api/v1/signin", None, json!({"username": username, "password": "password123"})).await;
        assert_eq!(status, StatusCode::OK, "signin {username}: {body}");
        body
    }

    /// Signs up and in; returns (user id, access token).
    pub async fn user(&self, username: &str) -> (String, String) {
        let id = self.signup(username, "user").await;
        let token = self.signin(username).await["token"].as_str().unwrap().to_owned();
        (id, token)
    }

    /// Signs up and in an admin; returns (user id, access token).
    pub async fn admin(&self, username: &str) -> (String, String) {
        let id = self.signup(username, "admin").await;
        let token = self.signin(username).await["token"].as_str().unwrap().to_owned();
        (id, token)
    }
}

/// Asserts the one error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"].as_str();
    assert!(code.is_some() && body["error"]["message"].is_string(), "not the error shape: {body}");
    code.unwrap()
}

/// Asserts a 400 in the error shape whose message names `field`.
#[track_caller]
pub fn assert_invalid(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(body);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(field), "the message should name {field:?}: {message:?}");
}

/// Asserts a 403 in the error shape.
#[track_caller]
pub fn assert_forbidden(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(body), "forbidden");
}

/// One `#[tokio::test]` per backend around `async fn $name(backend: Backend)`,
/// for tests that start their own app with a non-default configuration.
#[macro_export]
macro_rules! configured_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_configured {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres_configured {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Defines one `#[tokio::test]` per backend around `async fn $name(app: TestApp)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
    assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
