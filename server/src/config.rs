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
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        log: LogConfig,
    },
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
    /// How long in-flight requests may take to finish on shutdown.
    #[arg(long, env = "METAVERSE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
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
        assert!(matches!(
            Cli::try_parse_from(["metaverse", "migrate"]).unwrap().command,
            Some(Command::Migrate { .. })
        ));
    }
}
