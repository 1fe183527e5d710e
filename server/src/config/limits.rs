//! Abuse limits that are not about one socket's message rate: per-address
//! socket caps, walking speed, HTTP body time, and per-user quotas on what
//! costs the server memory (spaces created, spaces woken).

use std::time::Duration;

use clap::Args;

use super::parse_duration;

#[derive(Debug, Clone, Args)]
pub struct AbuseLimits {
    /// WebSocket connections one address may hold (an IPv6 /64 counts as
    /// one address); 0: no cap. Behind a reverse proxy every socket comes
    /// from the proxy's address: set 0 there and cap at the proxy.
    #[arg(long, env = "METAVERSE_WS_MAX_PER_IP", default_value_t = 512)]
    pub ws_max_per_ip: u32,
    /// WebSocket connections one address may hold before they authenticate
    /// with a valid `join`; 0: no cap.
    #[arg(long, env = "METAVERSE_WS_MAX_UNAUTHENTICATED_PER_IP", default_value_t = 32)]
    pub ws_max_unauthenticated_per_ip: u32,
    /// Steps per second one member may take; faster steps get
    /// `movement-rejected`. The browser client walks at about 7.7.
    #[arg(long, env = "METAVERSE_WALK_SPEED", default_value_t = 10.0, value_parser = positive)]
    pub walk_speed: f64,
    /// Steps one member may take at once above the walking speed.
    #[arg(long, env = "METAVERSE_WALK_BURST", default_value_t = 10.0, value_parser = at_least_one)]
    pub walk_burst: f64,
    /// How long a request body may take to arrive; slower ones get 408.
    #[arg(long, env = "METAVERSE_HTTP_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_body_timeout: Duration,
    /// Spaces one (non-admin) user may own; creating more gets 429
    /// `quota-exceeded`. 0: no cap.
    #[arg(long, env = "METAVERSE_MAX_SPACES_PER_USER", default_value_t = 100)]
    pub max_spaces_per_user: u32,
    /// Spaces one user may wake (start live by joining) per minute: an
    /// empty space stays live for `--space-idle`, so this bounds how many
    /// one account keeps in memory. 0: no cap.
    #[arg(long, env = "METAVERSE_SPACE_STARTS_PER_MINUTE", default_value_t = 20)]
    pub space_starts_per_minute: u32,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of steps above 0 and at most 1000")),
    }
}

fn at_least_one(s: &str) -> Result<f64, String> {
    match positive(s) {
        Ok(v) if v >= 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of steps from 1 to 1000")),
    }
}
