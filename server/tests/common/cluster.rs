//! Several `metaverse` processes sharing one PostgreSQL database and one
//! Redis (keys under a prefix of their own), for the cluster tests. Each
//! node is a real process, so a test can SIGKILL it.

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fred::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use super::{PgDatabase, TestApp, postgres_url, services_required};

const BIN: &str = env!("CARGO_BIN_EXE_metaverse");

/// The Redis URL from `REDIS_URL`; `None` (skip) when unset, unless
/// services are required.
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(u) => Some(u),
        None if services_required() => panic!("METAVERSE_REQUIRE_SERVICES=1 but REDIS_URL is not set"),
        None => {
            eprintln!("skipped: REDIS_URL is not set");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Node {
    pub name: String,
    pub app: TestApp,
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Node {
    /// The WebSocket URL the node advertises.
    pub fn ws(&self) -> &str {
        &self.app.ws
    }

    pub fn alive(&self) -> bool {
        self.child.is_some()
    }
}

/// One cluster at a time per test binary: a handful of processes on two
/// cores is already a crowd, and lease timing should not depend on it.
static ONE_AT_A_TIME: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// A cluster of nodes; dropping it kills them all.
pub struct Nodes {
    _turn: tokio::sync::OwnedMutexGuard<()>,
    pub redis_url: String,
    pub prefix: String,
    pub lease_ttl: String,
    key: String,
    pub nodes: Vec<Node>,
    dir: tempfile::TempDir,
    pub pg: PgDatabase,
}

impl Nodes {
    /// Starts `n` nodes (`node-1`…) with this lease TTL, on Redis at
    /// `redis_url` (default: `REDIS_URL`). `None` when PostgreSQL or Redis
    /// is not available and not required.
    pub async fn start(n: usize, lease_ttl: &str, redis: Option<String>) -> Option<Self> {
        let redis_url = match redis {
            Some(u) => u,
            None => redis_url()?,
        };
        let pg_url = match postgres_url() {
            Some(u) => u,
            None if services_required() => panic!("METAVERSE_REQUIRE_SERVICES=1 but DATABASE_URL names no PostgreSQL"),
            None => {
                eprintln!("skipped: DATABASE_URL names no PostgreSQL");
                return None;
            }
        };
        let turn = ONE_AT_A_TIME.clone().lock_owned().await;
        let pg = PgDatabase::create(&pg_url).await.expect("creating a PostgreSQL test database");
        let key: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        let mut nodes = Self {
            _turn: turn,
            redis_url,
            prefix: format!("mvtest-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            lease_ttl: lease_ttl.to_owned(),
            key,
            nodes: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            pg,
        };
        // The first node migrates the database; the others then start together.
        for i in 0..n {
            nodes.add_node(&format!("node-{}", i + 1)).await;
        }
        Some(nodes)
    }

    /// Starts one more node and waits until it is ready.
    pub async fn add_node(&mut self, name: &str) -> usize {
        let (http, ws) = (free_port(), free_port());
        let data = self.dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let log = self.dir.path().join(format!("{name}.log"));
        let child = self.spawn(name, http, ws, &data, &log);
        let mut app = TestApp::external(format!("http://127.0.0.1:{http}"), format!("ws://127.0.0.1:{ws}"));
        app.config.cluster.redis.redis_url = Some(self.redis_url.clone());
        let node = Node { name: name.to_owned(), app, child: Some(child), log };
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.wait_ready(i).await;
        i
    }

    fn spawn(&self, name: &str, http: u16, ws: u16, data: &std::path::Path, log: &std::path::Path) -> Child {
        let out = std::fs::File::create(log).unwrap();
        Command::new(BIN)
            .args(["--http-addr", &format!("127.0.0.1:{http}"), "--ws-addr", &format!("127.0.0.1:{ws}")])
            .args(["--node-id", name, "--lease-ttl", &self.lease_ttl, "--redis-prefix", &self.prefix])
            .args(["--no-demo", "--admin-signup", "open", "--tick", "20ms", "--http-workers", "1"])
            .args(["--db-max-connections", "4", "--shutdown-timeout", "5s", "--admin-on-http-port"])
            .env_remove("KAFKA_BROKERS")
            .env("REDIS_URL", &self.redis_url)
            .env("DATABASE_URL", &self.pg.url)
            .env("METAVERSE_TOKEN_KEY", &self.key)
            .env("METAVERSE_DATA_DIR", data)
            // One upload directory for the test's nodes, as a mounted share.
            .env("METAVERSE_MEDIA_STORE", self.dir.path().join("media"))
            .env("METAVERSE_MEDIA_STORE_SHARED", "true")
            .env("METAVERSE_LOG", "info,sqlx=warn,sea_orm=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("metaverse starts")
    }

    /// Polls `/ready` until the node answers 200 (a process starting up
    /// has no event to await).
    pub async fn wait_ready(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.nodes[i].app.client.get(self.nodes[i].app.url("/ready")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "{} never became ready:\n{}", self.nodes[i].name, self.log_of(i));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_of(&self, i: usize) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.nodes[i].log) {
            let _ = f.read_to_string(&mut s);
        }
        let tail: Vec<&str> = s.lines().rev().take(60).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn app(&self, i: usize) -> &TestApp {
        &self.nodes[i].app
    }

    /// SIGKILL: no drain, no lease release.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and waits for the process to exit (it drains first).
    pub fn terminate(&mut self, i: usize) -> std::process::ExitStatus {
        let mut c = self.nodes[i].child.take().expect("node is running");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(i32::try_from(c.id()).unwrap(), libc::SIGTERM) };
        c.wait().unwrap()
    }

    /// Runs `metaverse cluster …` against this cluster's Redis.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .arg("cluster")
            .args(args)
            .env("REDIS_URL", &self.redis_url)
            .env("METAVERSE_REDIS_PREFIX", &self.prefix)
            .output()
            .expect("metaverse cluster runs")
    }

    pub async fn redis(&self) -> Client {
        metaverse_server::cluster::connect(&self.redis_url, Duration::from_secs(2)).await.expect("Redis connects")
    }

    /// The lease of a space as stored: (node, token).
    pub async fn lease(&self, space: &str) -> Option<(String, u64)> {
        let value: Option<String> = self.redis().await.get(format!("{}:lease:{space}", self.prefix)).await.ok()?;
        let value = value?;
        let parts: Vec<&str> = value.split(' ').collect();
        Some((parts[0].to_owned(), parts[2].parse().ok()?))
    }

    /// `/cluster/node` of a live node.
    pub async fn node_view(&self, i: usize) -> Value {
        let (status, body) = self.nodes[i].app.admin_get("/cluster/node").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Every lease tenure the live nodes remember, as (node, space, token,
    /// from ms, until ms or None).
    pub async fn tenures(&self) -> Vec<Tenure> {
        let mut all = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.alive() {
                continue;
            }
            let view = self.node_view(i).await;
            for t in view["tenures"].as_array().unwrap() {
                all.push(Tenure {
                    node: n.name.clone(),
                    space: t["spaceId"].as_str().unwrap().to_owned(),
                    token: t["token"].as_u64().unwrap(),
                    from: t["fromMs"].as_i64().unwrap(),
                    until: t["untilMs"].as_i64(),
                });
            }
        }
        all
    }
}

#[derive(Clone, Debug)]
pub struct Tenure {
    pub node: String,
    pub space: String,
    pub token: u64,
    pub from: i64,
    pub until: Option<i64>,
}

/// No two nodes ran one space at once: per space, ordered by fencing
/// token, each tenure ended before the next began, and tokens only grow.
/// `extra` adds tenures of nodes that are gone (ended when they died).
pub fn assert_one_owner_at_a_time(mut tenures: Vec<Tenure>) {
    tenures.sort_by_key(|t| (t.space.clone(), t.token));
    for w in tenures.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.space != b.space {
            continue;
        }
        assert!(a.token < b.token, "fencing tokens repeat: {a:?} {b:?}");
        let end = a.until.unwrap_or_else(|| panic!("{a:?} never ended, yet {b:?} began"));
        assert!(end <= b.from, "two owners at once: {a:?} until {end}, {b:?} from {}", b.from);
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        for i in 0..self.nodes.len() {
            if failed {
                eprintln!("---- log of {} ----\n{}", self.nodes[i].name, self.log_of(i));
            }
            self.kill(i);
        }
    }
}
