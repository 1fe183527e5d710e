//! Cluster mode: spaces sharded across nodes on Redis. Each live space
//! has one owner, recorded as a lease with a fencing token; any node
//! accepts any socket and relays sessions of spaces it does not own
//! through pub/sub to their owner.
//!
//! Nothing here sits on the hot path of a local session: a node that owns
//! a space serves it from memory and talks to Redis only to take, renew
//! and release leases, and to relay for sessions on other nodes.

mod connection;
mod drain;
pub mod handle;
mod heartbeat;
mod identity;
pub mod lease;
mod locate;
pub mod relay;
mod shards;
pub mod status;
mod tenure;
pub mod wire;

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64},
    },
    time::Duration,
};

use dashmap::DashMap;
use fred::prelude::*;
use metaverse_actors::Registry;
use metaverse_schema::store::DatabaseConnection;

use crate::config::ClusterConfig;
pub use connection::{connect, redis_client};
use lease::{Held, Leases};
pub use locate::Owner;
pub use tenure::Tenure;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
}

pub struct Cluster {
    pub node: String,
    pub incarnation: String,
    pub ws_url: String,
    prefix: String,
    pub leases: Leases,
    pub redis: Client,
    owned: DashMap<String, Held>,
    history: Mutex<VecDeque<Tenure>>,
    draining: AtomicBool,
    /// Spaces handed over during a drain, with the node asked to adopt them.
    handovers: DashMap<String, String>,
    registry: Arc<Registry>,
    db: DatabaseConnection,
    pub relay: relay::Relay,
    redis_ok: AtomicBool,
    started_at_ms: i64,
    /// WebSocket sessions open on this node.
    pub sessions: AtomicU64,
    /// Where revocations announced by other nodes go (set at start).
    pub revoked: std::sync::OnceLock<tokio::sync::broadcast::Sender<String>>,
}

impl Cluster {
    /// Connects to Redis and starts the node's tasks (listener, lease
    /// renewal, heartbeat). Must run inside the actix system.
    pub async fn start(
        cfg: &ClusterConfig,
        url: &str,
        ws_url: String,
        registry: Arc<Registry>,
        db: DatabaseConnection,
    ) -> anyhow::Result<Arc<Self>> {
        let timeout = (cfg.lease_ttl / 5).clamp(Duration::from_millis(200), Duration::from_secs(2));
        let builder = redis_client(url, timeout)?;
        let redis = builder.build()?;
        let sub = builder.build_subscriber_client()?;
        redis.init().await.map_err(|e| anyhow::anyhow!("connecting to Redis at {url}: {e}"))?;
        sub.init().await.map_err(|e| anyhow::anyhow!("connecting to Redis at {url}: {e}"))?;
        let node = identity::node_name(cfg);
        let cluster = Arc::new(Self {
            incarnation: identity::random_hex(6),
            ws_url,
            prefix: cfg.redis.redis_prefix.clone(),
            leases: Leases::new(cfg.lease_ttl),
            redis,
            owned: DashMap::new(),
            history: Mutex::new(VecDeque::new()),
            draining: AtomicBool::new(false),
            handovers: DashMap::new(),
            registry: registry.clone(),
            db,
            relay: relay::Relay::default(),
            redis_ok: AtomicBool::new(true),
            started_at_ms: metaverse_schema::now_millis(),
            sessions: AtomicU64::new(0),
            revoked: std::sync::OnceLock::new(),
            node,
        });
        registry.set_shards(cluster.clone());
        relay::listen(cluster.clone(), sub).await?;
        cluster.publish_status().await;
        actix_rt::spawn(tenure::keep_leases(cluster.clone()));
        actix_rt::spawn(heartbeat::heartbeat(cluster.clone()));
        tracing::info!(node = %cluster.node, ws_url = %cluster.ws_url, "cluster mode: joined");
        Ok(cluster)
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
