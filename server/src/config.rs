//! Command line and environment. Every setting is a flag with an
//! environment variable, so containers configure by env and people by flag.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "metaverse",
    version,
    about = "Real-time server for 2D virtual spaces. With no subcommand it runs `serve`.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (and, with the real-time core, WebSocket). The default.
    Serve(Box<ServeConfig>),
    /// Consume the Kafka topics into the database (chat history and
    /// analytics) without serving. Run it beside nodes started with
    /// `--no-consumer`, or as extra capacity: leases keep one consumer per
    /// partition.
    Consume(Box<ConsumeConfig>),
    /// Operate a cluster of nodes sharing Redis.
    Cluster {
        #[command(subcommand)]
        op: ClusterOp,
        #[command(flatten)]
        redis: RedisConfig,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        log: LogConfig,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ClusterOp {
    /// Nodes, their spaces (members, lease token and age) and sessions.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop NODE taking spaces, hand each of its spaces to another node and
    /// tell its clients to reconnect.
    Drain {
        #[arg(value_parser = parse_name)]
        node: String,
        /// Wait until the node owns no space, at most this long (`0s`: do
        /// not wait).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

/// Where the cluster's Redis is.
#[derive(Debug, Clone, Args)]
pub struct RedisConfig {
    /// Redis URL (`redis://`, `rediss://` for TLS). Setting it on `serve`
    /// turns on cluster mode: spaces are sharded across the nodes sharing
    /// this Redis and the database.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every key and channel, so clusters can share a Redis.
    #[arg(long, env = "METAVERSE_REDIS_PREFIX", default_value = "metaverse", value_parser = parse_name)]
    pub redis_prefix: String,
}

/// Cluster mode (with `--redis-url`).
#[derive(Debug, Clone, Args)]
pub struct ClusterConfig {
    #[command(flatten)]
    pub redis: RedisConfig,
    /// This node's name in the cluster: letters, digits, `.`, `_`, `-`
    /// (default: the host name and a random suffix).
    #[arg(long, env = "METAVERSE_NODE_ID", value_parser = parse_name)]
    pub node_id: Option<String>,
    /// The `ws://` or `wss://` URL at which clients reach this node's
    /// WebSocket listener directly; `/api/v1/space/:id/route` hands it out.
    /// Default: `ws://<ws-addr>`.
    #[arg(long, env = "METAVERSE_ADVERTISED_WS_URL", value_parser = parse_ws_url)]
    pub advertised_ws_url: Option<String>,
    /// Lifetime of a space's lease without renewal: a dead node's spaces
    /// move after it (1s to 5m).
    #[arg(long, env = "METAVERSE_LEASE_TTL", default_value = "10s", value_parser = parse_lease)]
    pub lease_ttl: Duration,
}

impl ClusterConfig {
    /// The URL to advertise, given where the listener is.
    pub fn ws_url(&self, ws_addr: SocketAddr) -> anyhow::Result<String> {
        if let Some(url) = &self.advertised_ws_url {
            return Ok(url.clone());
        }
        if ws_addr.port() == 0 || ws_addr.ip().is_unspecified() {
            anyhow::bail!(
                "cluster mode: --ws-addr {ws_addr} is not an address clients can dial; set --advertised-ws-url (METAVERSE_ADVERTISED_WS_URL)"
            );
        }
        Ok(format!("ws://{ws_addr}"))
    }
}

fn parse_name(s: &str) -> Result<String, String> {
    if crate::cluster::status::valid_name(s) {
        Ok(s.to_owned())
    } else {
        Err("1 to 64 letters, digits, `.`, `_` or `-`".into())
    }
}

fn parse_ws_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("ws://") || s.starts_with("wss://")) && s.len() <= 2048 && !s.contains(char::is_whitespace);
    if ok { Ok(s.trim_end_matches('/').to_owned()) } else { Err("expected a ws:// or wss:// URL".into()) }
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(300) {
        return Err("must be between 1s and 5m".into());
    }
    Ok(d)
}

#[derive(Debug, Clone, Args)]
pub struct ConsumeConfig {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub log: LogConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    #[command(flatten)]
    pub consumer: ConsumerConfig,
}

#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// Directory for the SQLite file and the generated token key.
    #[arg(long, env = "METAVERSE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database to use instead of `<data-dir>/metaverse.db`: a `sqlite:` or
    /// `postgres:` URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Upper bound of pooled database connections.
    #[arg(long, env = "METAVERSE_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log output format.
    #[arg(long, env = "METAVERSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Log filter, in `tracing_subscriber::EnvFilter` syntax (e.g. `info,sqlx=warn`).
    #[arg(long, env = "METAVERSE_LOG", default_value = "info,sqlx=warn,sea_orm=warn")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaCompression {
    None,
    Gzip,
    Lz4,
    Snappy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    Plain,
    #[value(name = "scram-sha-256")]
    ScramSha256,
    #[value(name = "scram-sha-512")]
    ScramSha512,
}

/// The event pipeline. Without brokers, chat is written straight to the
/// database and analytics are folded in-process.
#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// Kafka bootstrap brokers, comma-separated (`host:port`). Setting it
    /// makes Kafka the durable log of chat and the source of analytics.
    #[arg(long, env = "KAFKA_BROKERS", value_delimiter = ',')]
    pub kafka_brokers: Vec<String>,
    /// Topic of chat messages.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_CHAT", default_value = "chat-messages")]
    pub kafka_topic_chat: String,
    /// Topic of joins and leaves.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_USER_EVENTS", default_value = "user-events")]
    pub kafka_topic_user_events: String,
    /// Topic of per-message facts.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_ANALYTICS", default_value = "chat-analytics")]
    pub kafka_topic_analytics: String,
    /// Partitions of the topics this server creates when they are missing.
    #[arg(long, env = "METAVERSE_KAFKA_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub kafka_partitions: i32,
    /// Replication factor of the topics this server creates.
    #[arg(long, env = "METAVERSE_KAFKA_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i16).range(1..=100))]
    pub kafka_replication: i16,
    /// Compression of produced batches.
    #[arg(long, env = "METAVERSE_KAFKA_COMPRESSION", value_enum, default_value_t = KafkaCompression::Lz4)]
    pub kafka_compression: KafkaCompression,
    /// How long the writer waits to fill a batch.
    #[arg(long, env = "METAVERSE_KAFKA_LINGER", default_value = "5ms", value_parser = parse_duration)]
    pub kafka_linger: Duration,
    /// Records waiting for Kafka, at most. Past it chat is written straight
    /// to the database and analytics events are dropped (and counted).
    #[arg(long, env = "METAVERSE_KAFKA_BACKLOG", default_value_t = 50_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub kafka_backlog: u32,
    /// How long a chat message waits for Kafka before it is written straight
    /// to the database instead.
    #[arg(long, env = "METAVERSE_KAFKA_CHAT_WAIT", default_value = "2s", value_parser = parse_duration)]
    pub kafka_chat_wait: Duration,
    /// Bound of each Kafka request, retries included.
    #[arg(long, env = "METAVERSE_KAFKA_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
    /// Client id sent to the brokers.
    #[arg(long, env = "METAVERSE_KAFKA_CLIENT_ID", default_value = "metaverse")]
    pub kafka_client_id: String,
    /// SASL mechanism; needs `--kafka-sasl-username` and `--kafka-sasl-password`.
    #[arg(long, env = "METAVERSE_KAFKA_SASL_MECHANISM", value_enum, requires_all = ["kafka_sasl_username", "kafka_sasl_password"])]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    #[arg(long, env = "METAVERSE_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    #[arg(long, env = "METAVERSE_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,
    /// Connect to the brokers over TLS (trusting the Mozilla roots unless
    /// `--kafka-ca-file` is given).
    #[arg(long, env = "METAVERSE_KAFKA_TLS")]
    pub kafka_tls: bool,
    /// PEM bundle of the CAs to trust for the brokers' TLS; implies `--kafka-tls`.
    #[arg(long, env = "METAVERSE_KAFKA_CA_FILE")]
    pub kafka_ca_file: Option<PathBuf>,
}

/// The consumer of the Kafka topics (history and analytics).
#[derive(Debug, Clone, Args)]
pub struct ConsumerConfig {
    /// Partitions (of every topic) this process consumes, comma-separated.
    /// Empty: all, with leases deciding which process works on which.
    #[arg(long = "consumer-partitions", visible_alias = "partitions", env = "METAVERSE_CONSUMER_PARTITIONS", value_delimiter = ',',
          value_parser = clap::value_parser!(i32).range(0..=10_000))]
    pub partitions: Vec<i32>,
    /// This consumer's name in the partition leases (default: host, pid and
    /// a random suffix).
    #[arg(long = "consumer-id", env = "METAVERSE_CONSUMER_ID")]
    pub id: Option<String>,
    /// How long a consumer's partition lease lasts without renewal; another
    /// consumer takes the partition over after it.
    #[arg(long = "consumer-lease", env = "METAVERSE_CONSUMER_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub lease: Duration,
}

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
    #[arg(long, env = "METAVERSE_WS_MAX_CONNECTIONS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub ws_max_connections: u32,
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
    /// View window (`WIDTHxHEIGHT` tiles): in a larger space a session gets
    /// the moves of the users in its window only, with `view-enter` and
    /// `view-leave` as they cross its edge.
    #[arg(long, env = "METAVERSE_VIEW", default_value = "40x30", value_parser = parse_view)]
    pub view: metaverse_actors::ViewWindow,
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
    /// Password hashes computed at once at most (each takes 19 MiB); more
    /// sign-ins wait, and get 503 after 10 s. 0: two per core.
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

impl ServeConfig {
    /// The defaults, as `metaverse` with no flags and no environment would
    /// have them, for tests and embedding.
    pub fn defaults() -> Self {
        let cli = Cli::parse_from(["metaverse"]);
        cli.serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_and_lists_parse() {
        let cli =
            Cli::try_parse_from(["metaverse", "--token-ttl", "15m", "--cors-origins", "http://a.test,http://b.test"])
                .unwrap();
        assert_eq!(cli.serve.token_ttl, Duration::from_secs(900));
        assert_eq!(cli.serve.cors_origins.len(), 2);
        assert!(Cli::try_parse_from(["metaverse", "--token-ttl", "0s"]).is_err());
        assert!(Cli::try_parse_from(["metaverse", "--admin-signup", "sometimes"]).is_err());
        let cli = Cli::try_parse_from(["metaverse", "--tick", "20ms", "--view", "60x45"]).unwrap();
        assert_eq!(cli.serve.tick, Duration::from_millis(20));
        assert_eq!(cli.serve.view, metaverse_actors::ViewWindow { width: 60, height: 45 });
        for bad in [["--tick", "2s"], ["--view", "40"], ["--view", "4x30"], ["--view", "40x-1"]] {
            assert!(Cli::try_parse_from(["metaverse", bad[0], bad[1]]).is_err(), "{bad:?} is refused");
        }
        let cli = Cli::try_parse_from([
            "metaverse",
            "--node-id",
            "n-1",
            "--advertised-ws-url",
            "wss://a.test/ws/",
            "--lease-ttl",
            "3s",
        ])
        .unwrap();
        assert_eq!(cli.serve.cluster.node_id.as_deref(), Some("n-1"));
        assert_eq!(cli.serve.cluster.advertised_ws_url.as_deref(), Some("wss://a.test/ws"));
        assert_eq!(cli.serve.cluster.lease_ttl, Duration::from_secs(3));
        for bad in [
            ["--node-id", "a b"],
            ["--node-id", "a:b"],
            ["--advertised-ws-url", "http://x"],
            ["--lease-ttl", "500ms"],
            ["--lease-ttl", "1h"],
        ] {
            assert!(Cli::try_parse_from(["metaverse", bad[0], bad[1]]).is_err(), "{bad:?} is refused");
        }
        let unspecified: SocketAddr = "0.0.0.0:3001".parse().unwrap();
        assert!(cli.serve.cluster.ws_url(unspecified).is_ok(), "the advertised URL wins");
        let plain = Cli::try_parse_from(["metaverse"]).unwrap().serve.cluster;
        assert!(plain.ws_url(unspecified).is_err());
        assert_eq!(plain.ws_url("127.0.0.1:4001".parse().unwrap()).unwrap(), "ws://127.0.0.1:4001");
        assert!(matches!(
            Cli::try_parse_from(["metaverse", "cluster", "--redis-url", "redis://x", "drain", "n-1"]).unwrap().command,
            Some(Command::Cluster { op: ClusterOp::Drain { .. }, .. })
        ));
        assert!(matches!(
            Cli::try_parse_from(["metaverse", "migrate"]).unwrap().command,
            Some(Command::Migrate { .. })
        ));
    }
}
