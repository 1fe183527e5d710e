//! The flags of cluster mode and of `metaverse cluster`.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Subcommand};

use super::parse_duration;

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
    /// Default: `ws://<ws-addr>`. On a single node `/route` hands it out
    /// too (default there: the listener's address, `localhost` for an
    /// unspecified one), never a URL made from the request's `Host`.
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
