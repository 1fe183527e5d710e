//! Redis connections whose commands fail fast while Redis is away, so a
//! lease renewal or a relay publish never waits out a reconnect.

use std::time::Duration;

use fred::prelude::*;

/// A Redis client with bounded commands: while Redis is away, calls fail
/// after `timeout` instead of waiting for the reconnect.
pub fn redis_client(url: &str, timeout: Duration) -> Result<Builder, fred::error::Error> {
    let config = Config::from_url(url)?;
    let mut builder = Builder::from_config(config);
    builder
        .with_performance_config(|p| {
            p.default_command_timeout = timeout;
            p.broadcast_channel_capacity = 65_536;
        })
        .with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.internal_command_timeout = timeout;
            c.max_command_attempts = 2;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    Ok(builder)
}

/// A connected client for the operator commands.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Client> {
    let client = redis_client(url, timeout)?.build()?;
    client.init().await.map_err(|e| anyhow::anyhow!("connecting to Redis at {url}: {e}"))?;
    Ok(client)
}
