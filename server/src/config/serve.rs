//! `metaverse serve`: every setting of a serving node.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, ValueEnum};

use super::{
    AbuseLimits, Cli, ClusterConfig, ConsumerConfig, DbConfig, KafkaConfig, LogConfig, MediaConfig, parse_duration,
};

/// Who may sign up with `type: admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdminSignup {
    /// Anyone (the old platform's behaviour).
    Open,
    /// Only the very first account.
    First,
    /// Nobody; admins are made by admins.
    Closed,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address of the HTTP API.
    #[arg(long, env = "METAVERSE_HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,
    /// Address of the WebSocket listener (served by the real-time core).
    #[arg(long, env = "METAVERSE_WS_ADDR", default_value = "127.0.0.1:3001")]
    pub ws_addr: SocketAddr,
    /// PEM certificate chain (leaf first): serve the HTTP and WebSocket
    /// listeners over TLS (`https://`, `wss://`). Read again on SIGHUP.
    #[arg(long, env = "METAVERSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1). Read again
    /// on SIGHUP.
    #[arg(long, env = "METAVERSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Address of the operator listener: `/metrics` and `/cluster/*`, which
    /// are not for the public (loopback by default; bind it where only
    /// Prometheus and operators reach).
    #[arg(long, env = "METAVERSE_ADMIN_ADDR", default_value = "127.0.0.1:3002")]
    pub admin_addr: SocketAddr,
    /// Serve the operator endpoints on the HTTP port instead of their own
    /// listener (then set `--admin-token`, or keep the port private).
    #[arg(long, env = "METAVERSE_ADMIN_ON_HTTP_PORT")]
    pub admin_on_http_port: bool,
    /// Bearer token the operator endpoints require (`Authorization: Bearer
    /// <token>`, 401 without it). Unset: open to whoever reaches them.
    #[arg(long, env = "METAVERSE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub log: LogConfig,
    /// Do not create demo avatars, elements and the "Lobby" map in an empty database.
    #[arg(long, env = "METAVERSE_NO_DEMO")]
    pub no_demo: bool,
    /// Who may sign up as admin.
    #[arg(long, env = "METAVERSE_ADMIN_SIGNUP", value_enum, default_value_t = AdminSignup::First)]
    pub admin_signup: AdminSignup,
    /// Lifetime of access tokens (e.g. `24h`, `15m`).
    #[arg(long, env = "METAVERSE_TOKEN_TTL", default_value = "24h", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Lifetime of refresh tokens.
    #[arg(long, env = "METAVERSE_REFRESH_TTL", default_value = "30d", value_parser = parse_duration)]
    pub refresh_ttl: Duration,
    /// Token key: 32 bytes as 64 hex characters. Without it a key is
    /// generated into `<data-dir>/token.key` on first start. Nodes of one
    /// cluster must share it.
    #[arg(long, env = "METAVERSE_TOKEN_KEY", hide_env_values = true)]
    pub token_key: Option<String>,
    /// Origins allowed by CORS, comma-separated (`*` for any). Empty: same-origin only.
    #[arg(long, env = "METAVERSE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "METAVERSE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest width or height of a space, map or element, in tiles.
    #[arg(long, env = "METAVERSE_MAX_SPACE_SIDE", default_value_t = 1024,
          value_parser = clap::value_parser!(i32).range(1..=65535))]
    pub max_space_side: i32,
    /// Browser origins allowed to open a WebSocket, comma-separated (`*` for
    /// any). Empty: the HTTP origin (`http://<http-addr>`, and `localhost`
    /// for a loopback address). Requests without `Origin` (non-browser
    /// clients) are always allowed.
    #[arg(long, env = "METAVERSE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket frame decoded; larger ones get an `error`.
    #[arg(long, env = "METAVERSE_WS_MAX_FRAME", default_value_t = metaverse_protocol::MAX_FRAME_BYTES,
          value_parser = clap::value_parser!(usize))]
    pub ws_max_frame: usize,
    /// Close a socket that sent nothing (not even a pong) for this long.
    #[arg(long, env = "METAVERSE_WS_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub ws_idle_timeout: Duration,
    /// Close a socket that has not sent a valid join this long after
    /// connecting (4007); pongs do not count.
    #[arg(long, env = "METAVERSE_WS_JOIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_join_timeout: Duration,
    /// Sustained messages per second allowed per connection.
    #[arg(long, env = "METAVERSE_WS_RATE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_rate: u32,
    /// Burst allowed above the rate.
    #[arg(long, env = "METAVERSE_WS_BURST", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_burst: u32,
    /// Outbound frames queued per socket before it counts as a slow consumer.
    #[arg(long, env = "METAVERSE_WS_QUEUE", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(8..=1_000_000))]
    pub ws_queue: u32,
    /// Open WebSocket connections at most; more are refused at accept.
    /// 0: derived from the open-file limit (raised to its hard limit at
    /// start), leaving an eighth of it (at least 256) for HTTP and the
    /// database.
    #[arg(long, env = "METAVERSE_WS_MAX_CONNECTIONS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub ws_max_connections: u32,
    #[command(flatten)]
    pub limits: AbuseLimits,
    #[command(flatten)]
    pub media: MediaConfig,
    /// How long a dropped socket's presence waits for a resume.
    #[arg(long, env = "METAVERSE_RESUME_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub resume_grace: Duration,
    /// How long an empty space stays live.
    #[arg(long, env = "METAVERSE_SPACE_IDLE", default_value = "30s", value_parser = parse_duration)]
    pub space_idle: Duration,
    /// Period of world updates: joins, moves and leaves go out once per
    /// tick (one `batch` frame per batched session), 1ms to 1s.
    #[arg(long, env = "METAVERSE_TICK", default_value = "50ms", value_parser = parse_tick)]
    pub tick: Duration,
    /// Threads the real-time path runs on: live spaces (each pinned to one)
    /// and the WebSocket port's sessions are dealt out over them. Default:
    /// one per core; 0 keeps both on the main thread.
    #[arg(long, env = "METAVERSE_REALTIME_THREADS",
          value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub realtime_threads: Option<u32>,
    /// View window (`WIDTHxHEIGHT` tiles): in a larger space a session gets
    /// the moves of the users in its window only, with `view-enter` and
    /// `view-leave` as they cross its edge.
    #[arg(long, env = "METAVERSE_VIEW", default_value = "40x30", value_parser = parse_view)]
    pub view: metaverse_actors::ViewWindow,
    /// A client whose `join` asks for no window sees the whole space while
    /// it holds at most this many people, and the `--view` window above
    /// (0: always the window).
    #[arg(long, env = "METAVERSE_VIEW_ALL_UP_TO", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub view_all_up_to: u32,
    /// Longest chat message, in characters (after trimming).
    #[arg(long, env = "METAVERSE_CHAT_MAX_LENGTH", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chat_max_length: u32,
    /// Chat messages per second per user per room.
    #[arg(long, env = "METAVERSE_CHAT_RATE", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chat_rate: u32,
    /// Chat burst per user per room.
    #[arg(long, env = "METAVERSE_CHAT_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chat_burst: u32,
    /// Chat messages waiting for the database, at most; more are refused
    /// with `chat-unavailable`.
    #[arg(long, env = "METAVERSE_CHAT_QUEUE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub chat_queue: u32,
    /// How long a chat message may wait to become durable before its sender
    /// is told `chat-unavailable`.
    #[arg(long, env = "METAVERSE_CHAT_DEADLINE", default_value = "5s", value_parser = parse_duration)]
    pub chat_deadline: Duration,
    /// Threads of the one argon2 pool (each hash takes 19 MiB): every
    /// password and passcode check. A few per thread may wait; past that,
    /// or after 10 s, 503 busy. 0: two per core.
    #[arg(long, env = "METAVERSE_MAX_CONCURRENT_HASHES", default_value_t = 0)]
    pub max_concurrent_hashes: usize,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "METAVERSE_HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,
    /// STUN/TURN server URLs for WebRTC, comma-separated (`stun:host:3478`,
    /// `turn:host:3478?transport=udp`, `turns:…`), served by
    /// `/api/v1/rtc/config`. Empty: none (peers on one network connect
    /// directly).
    #[arg(long, env = "METAVERSE_ICE_SERVERS", value_delimiter = ',')]
    pub ice_servers: Vec<String>,
    /// Shared secret of the TURN server (coturn's `static-auth-secret`):
    /// with it, TURN URLs get short-lived credentials in the TURN REST style.
    #[arg(long, env = "METAVERSE_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Lifetime of TURN credentials.
    #[arg(long, env = "METAVERSE_TURN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub turn_ttl: Duration,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// With Kafka: do not consume the topics in this process (run `metaverse
    /// consume` elsewhere).
    #[arg(long, env = "METAVERSE_NO_CONSUMER")]
    pub no_consumer: bool,
    #[command(flatten)]
    pub consumer: ConsumerConfig,
    #[command(flatten)]
    pub cluster: ClusterConfig,
    /// How long in-flight requests may take to finish on shutdown.
    #[arg(long, env = "METAVERSE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

fn parse_tick(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(1) {
        return Err("must be between 1ms and 1s".into());
    }
    Ok(d)
}

fn parse_view(s: &str) -> Result<metaverse_actors::ViewWindow, String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT, e.g. 40x30")?;
    let side = |v: &str| match v.trim().parse::<i32>() {
        Ok(n) if (5..=4096).contains(&n) => Ok(n),
        _ => Err(format!("{v:?} is not a side of 5 to 4096 tiles")),
    };
    Ok(metaverse_actors::ViewWindow { width: side(w)?, height: side(h)? })
}

impl ServeConfig {
    /// The TLS files, when both are set (clap requires them together).
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert: cert.clone(), key: key.clone() }),
            _ => None,
        }
    }

    /// The defaults, as `metaverse` with no flags and no environment would
    /// have them, for tests and embedding.
    pub fn defaults() -> Self {
        let cli = Cli::parse_from(["metaverse"]);
        cli.serve
    }
}
