//! A private tansu broker (Kafka protocol, memory storage) on a port of its
//! own, for tests that stop and restart the broker. It can be killed
//! (SIGKILL) and started again on the same port; it is killed on drop.
//!
//! Memory storage keeps nothing across a restart: the restarted broker has
//! no topics and its offsets start again from zero.

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// How long a (re)started broker may take to accept connections.
const STARTUP: Duration = Duration::from_secs(20);

pub struct Tansu {
    port: u16,
    /// What it tells clients to connect to (itself, or a proxy in front).
    advertised: String,
    child: Option<Child>,
    /// Where its output goes (appended across restarts), for diagnostics.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The tansu binary: `$TANSU_BIN`, or `tansu` on the PATH.
fn binary() -> String {
    std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".to_owned())
}

/// Whether tansu can be run here. Without it the tests that need a broker
/// of their own skip, or fail under `METAVERSE_REQUIRE_SERVICES=1`.
pub fn available() -> bool {
    let ok = Command::new(binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("METAVERSE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("METAVERSE_REQUIRE_SERVICES=1 but {} cannot be run (install tansu or set TANSU_BIN)", binary());
        }
        eprintln!("skipped: {} cannot be run (install tansu or set TANSU_BIN)", binary());
    }
    ok
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local address").port()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

impl Tansu {
    /// Starts a broker on a free port and waits until it accepts.
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port();
        Self::start_advertising(port, &format!("127.0.0.1:{port}")).await
    }

    /// Starts a broker on `port` that advertises `advertised` (`host:port`)
    /// to clients, e.g. a proxy in front of it, so that every connection
    /// of a client goes through that proxy.
    pub async fn start_advertising(port: u16, advertised: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("tansu.log");
        let mut t = Self { port, advertised: advertised.to_owned(), child: None, log, _dir: dir };
        t.launch().await?;
        Ok(t)
    }

    /// `127.0.0.1:PORT` of the broker itself, for `--kafka-brokers` (when
    /// it advertises itself).
    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The broker's output so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://{}", self.advertised);
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let err = out.try_clone()?;
        Command::new(binary())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &advertised])
            .args(["--storage-engine", "memory://tansu/"])
            // Its environment settings would override nothing given as a
            // flag, but keep the broker ours alone.
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {} (is tansu installed? set TANSU_BIN)", binary()))
    }

    /// Starts the process and waits until the port accepts. A start that
    /// fails (the port still held by the killed one's sockets) is retried.
    async fn launch(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP;
        loop {
            let mut child = self.spawn()?;
            loop {
                if accepts(self.port) {
                    self.child = Some(child);
                    return Ok(());
                }
                if let Some(status) = child.try_wait()? {
                    eprintln!("tansu on port {} exited at start ({status}); retrying", self.port);
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("tansu did not accept on port {} within {STARTUP:?}:\n{}", self.port, self.output());
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            if Instant::now() > deadline {
                bail!("tansu could not start on port {} within {STARTUP:?}:\n{}", self.port, self.output());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, and waits until the process is gone and the port refuses.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + STARTUP;
        while accepts(self.port) {
            assert!(Instant::now() < deadline, "port {} still accepts after the broker was killed", self.port);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Starts a fresh broker (empty: memory storage) on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.launch().await
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
