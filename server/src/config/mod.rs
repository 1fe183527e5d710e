//! Command line and environment. Every setting is a flag with an
//! environment variable, so containers configure by env and people by flag.

mod cluster;
mod events;
mod limits;
mod media;
mod serve;
mod storage;
#[cfg(test)]
mod tests;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use cluster::{ClusterConfig, ClusterOp, RedisConfig};
pub use events::{ConsumeConfig, ConsumerConfig, KafkaCompression, KafkaConfig, SaslMechanism};
pub use limits::AbuseLimits;
pub use media::MediaConfig;
pub use serve::{AdminSignup, ServeConfig};
pub use storage::DbConfig;

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
    /// Manage accounts from the server's own host, without HTTP.
    Admin {
        #[command(subcommand)]
        op: AdminOp,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminOp {
    /// Create an administrator: the way to bootstrap a fresh server, since
    /// nobody can race the operator for it. The password comes from
    /// `METAVERSE_ADMIN_PASSWORD` if set, else from the first line of
    /// standard input; the rules of sign-up apply (8 to 128 characters).
    Create {
        /// 3 to 64 printable characters, no whitespace; must not exist yet.
        username: String,
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        log: LogConfig,
    },
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}
