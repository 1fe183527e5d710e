//! Cluster mode: spaces sharded across nodes on Redis (DESIGN.md,
//! "Cluster mode"). Each live space has one owner, recorded as a lease
//! with a fencing token; any node accepts any socket and relays sessions
//! of spaces it does not own through pub/sub to their owner.
//!
//! Nothing here sits on the hot path of a local session: a node that owns
//! a space serves it from memory and talks to Redis only to take, renew
//! and release leases, and to relay for sessions on other nodes.

pub mod handle;
pub mod lease;
pub mod relay;
pub mod status;
pub mod wire;

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dashmap::DashMap;
use fred::prelude::*;
use metaverse_actors::{CloseReason, Registry, Shards};
use metaverse_protocol::ServerMsg;
use metaverse_schema::store::DatabaseConnection;

use crate::config::ClusterConfig;
use lease::{Held, Holder, Leases};
use status::NodeInfo;
use wire::Envelope;

/// How often a node publishes its status (and proves it is alive).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose status is older than this is gone.
const NODE_TTL: Duration = Duration::from_secs(4);
/// Released leases remembered for `/cluster/node`.
const HISTORY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
}

/// Where a space lives, as seen from this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This node holds the lease.
    Here,
    /// Another live node holds it (or will take it).
    Node { id: String, url: String },
    /// Its lease is held by a node that is gone or handing it over: ask
    /// again after this long.
    Moving { retry_after: Duration },
}

/// A lease this node held, for the audit in `/cluster/node`.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenure {
    pub space_id: String,
    pub token: u64,
    pub from_ms: i64,
    pub until_ms: Option<i64>,
    pub ended: Option<&'static str>,
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

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

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
        let node = cfg.node_id.clone().unwrap_or_else(|| {
            let host =
                std::env::var("HOSTNAME").ok().filter(|h| status::valid_name(h)).unwrap_or_else(|| "node".into());
            format!("{host}-{}", random_hex(3))
        });
        let cluster = Arc::new(Self {
            incarnation: random_hex(6),
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
        actix_rt::spawn(keep_leases(cluster.clone()));
        actix_rt::spawn(heartbeat(cluster.clone()));
        tracing::info!(node = %cluster.node, ws_url = %cluster.ws_url, "cluster mode: joined");
        Ok(cluster)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    pub fn channel_of(&self, node: &str) -> String {
        self.key("node", node)
    }

    fn owner_value(&self) -> String {
        format!("{} {}", self.node, self.incarnation)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn redis_healthy(&self) -> bool {
        self.redis_ok.load(Ordering::Relaxed)
    }

    /// Whether this node holds a still-valid lease on the space.
    pub fn owns(&self, space: &str) -> bool {
        self.owned.get(space).is_some_and(|h| h.valid_until > Instant::now())
    }

    pub fn owned_token(&self, space: &str) -> Option<u64> {
        self.owned.get(space).map(|h| h.holder.token)
    }

    async fn holder(&self, space: &str) -> Result<Option<Holder>, ClusterError> {
        let value: Option<String> = self.redis.get(self.key("lease", space)).await?;
        Ok(value.as_deref().and_then(Holder::parse))
    }

    /// Takes the space's lease if nobody holds it. `Ok(true)`: it is ours.
    pub async fn try_acquire(&self, space: &str) -> Result<bool, ClusterError> {
        if self.owns(space) {
            return Ok(true);
        }
        if self.is_draining() {
            return Ok(false);
        }
        let sent = Instant::now();
        let holder = self
            .leases
            .acquire(&self.redis, &self.key("lease", space), &self.key("fence", space), &self.owner_value())
            .await?;
        if holder.node != self.node || holder.incarnation != self.incarnation {
            return Ok(false);
        }
        if self.owned.contains_key(space) {
            return Ok(true);
        }
        let now_ms = metaverse_schema::now_millis();
        self.remember(Tenure {
            space_id: space.to_owned(),
            token: holder.token,
            from_ms: now_ms,
            until_ms: None,
            ended: None,
        });
        tracing::info!(space, token = holder.token, "took the space's lease");
        self.owned.insert(
            space.to_owned(),
            Held { valid_until: self.leases.valid_from(sent), holder, acquired: sent, acquired_at_ms: now_ms },
        );
        metrics::gauge!("metaverse_cluster_spaces_owned").set(self.owned.len() as f64);
        Ok(true)
    }

    fn remember(&self, t: Tenure) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if h.len() >= HISTORY {
            h.pop_front();
        }
        h.push_back(t);
    }

    fn end_tenure(&self, space: &str, token: u64, why: &'static str) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = h.iter_mut().rev().find(|t| t.space_id == space && t.token == token && t.until_ms.is_none()) {
            t.until_ms = Some(metaverse_schema::now_millis());
            t.ended = Some(why);
        }
    }

    pub fn tenures(&self) -> Vec<Tenure> {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Finds (or takes) the owner of a space, for a join arriving here.
    pub async fn locate(&self, space: &str) -> Result<Owner, ClusterError> {
        if self.owns(space) {
            return Ok(Owner::Here);
        }
        match self.holder(space).await? {
            Some(h) if h.node == self.node && h.incarnation == self.incarnation => {
                // Ours in Redis but let go here (stopping, or being
                // released): the release finishes in a moment.
                Ok(Owner::Moving { retry_after: Duration::from_millis(100) })
            }
            // An earlier process with this node's name (it crashed): its
            // lease lapses by itself.
            Some(h) if h.node == self.node => Ok(Owner::Moving { retry_after: self.lease_left(space).await? }),
            Some(h) => match self.node_info(&h.node).await? {
                Some(info) if !info.draining => Ok(Owner::Node { id: h.node, url: info.ws_url }),
                // Handing it over: that takes milliseconds.
                Some(_) => Ok(Owner::Moving { retry_after: Duration::from_millis(100) }),
                // Gone: its lease lapses by itself.
                None => Ok(Owner::Moving { retry_after: self.lease_left(space).await? }),
            },
            None if !self.is_draining() => {
                if self.try_acquire(space).await? {
                    Ok(Owner::Here)
                } else {
                    // Lost a race: whoever won serves it.
                    Ok(Owner::Moving { retry_after: Duration::from_millis(50) })
                }
            }
            None => match self.pick_node().await? {
                Some(info) => Ok(Owner::Node { id: info.node, url: info.ws_url }),
                None => Ok(Owner::Moving { retry_after: Duration::from_secs(1) }),
            },
        }
    }

    /// Who owns a space, without taking it.
    pub async fn locate_only(&self, space: &str) -> Result<Owner, ClusterError> {
        if self.owns(space) {
            return Ok(Owner::Here);
        }
        Ok(match self.holder(space).await? {
            Some(h) if h.node != self.node => match self.node_info(&h.node).await? {
                Some(info) => Owner::Node { id: h.node, url: info.ws_url },
                None => Owner::Moving { retry_after: self.lease_left(space).await? },
            },
            _ => Owner::Moving { retry_after: Duration::ZERO },
        })
    }

    /// Where a client should dial for a space, without taking anything.
    pub async fn route(&self, space: &str) -> Result<(Option<String>, String), ClusterError> {
        match self.locate_only(space).await? {
            Owner::Here => return Ok((Some(self.node.clone()), self.ws_url.clone())),
            Owner::Node { id, url } => return Ok((Some(id), url)),
            Owner::Moving { .. } => {}
        }
        // Nobody serves it: whichever node the client reaches takes it.
        if !self.is_draining() {
            return Ok((None, self.ws_url.clone()));
        }
        Ok(match self.pick_node().await? {
            Some(info) => (None, info.ws_url),
            None => (None, self.ws_url.clone()),
        })
    }

    async fn lease_left(&self, space: &str) -> Result<Duration, ClusterError> {
        let ms: i64 = self.redis.pttl(self.key("lease", space)).await?;
        Ok(Duration::from_millis(ms.clamp(50, 60_000) as u64))
    }

    /// Tells every other node that a sign-in session was revoked.
    pub async fn announce_revoked(self: &Arc<Self>, session: &str) {
        let nodes = match status::read_nodes(&self.redis, &self.prefix).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell other nodes of a revocation; their sockets close at token expiry");
                return;
            }
        };
        for n in nodes.into_iter().filter(|n| n.node != self.node) {
            self.relay.send(self, &n.node, Envelope::Revoked { session: session.to_owned() }).await;
        }
    }

    pub async fn node_info(&self, node: &str) -> Result<Option<NodeInfo>, ClusterError> {
        let raw: Option<String> = self.redis.get(self.key("nodeinfo", node)).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The live node, other than this one and not draining, with the
    /// fewest spaces.
    pub async fn pick_node(&self) -> Result<Option<NodeInfo>, ClusterError> {
        let nodes = status::read_nodes(&self.redis, &self.prefix).await?;
        Ok(nodes.into_iter().filter(|n| n.node != self.node && !n.draining).min_by_key(|n| n.spaces.len()))
    }

    /// Stops acting as owner of a space whose lease is gone: its members
    /// are told to reconnect, and the actor stops at once.
    fn lose(&self, space: &str, why: &'static str) {
        let Some((_, held)) = self.owned.remove(space) else { return };
        metrics::counter!("metaverse_cluster_leases_lost_total").increment(1);
        metrics::gauge!("metaverse_cluster_spaces_owned").set(self.owned.len() as f64);
        tracing::warn!(space, token = held.holder.token, why, "lost the space's lease; stopping it");
        self.end_tenure(space, held.holder.token, why);
        let notice = ServerMsg::Reconnect {
            reason: format!("this node lost the space ({why})"),
            url: None,
            retry_after_ms: self.leases.ttl.as_millis() as u64,
        };
        self.registry.close_with(space, CloseReason::MOVED, notice);
    }

    /// Publishes a packet to a node's channel; the count of listeners (0:
    /// the node is gone).
    pub async fn publish(&self, node: &str, packet: &[Envelope]) -> Result<i64, ClusterError> {
        let Some(bytes) = wire::encode(packet) else { return Ok(0) };
        let n: i64 = self.redis.publish(self.channel_of(node), bytes).await?;
        Ok(n)
    }

    /// Stops taking spaces, hands each owned space over to another node,
    /// and tells this node's relayed sessions to reconnect to their owner.
    /// Again on a draining node, it moves the sessions relayed since.
    pub async fn drain(self: &Arc<Self>) {
        if self.draining.swap(true, Ordering::SeqCst) {
            self.relay.move_all(self, "the node is draining").await;
            return;
        }
        tracing::info!(node = %self.node, "draining: handing spaces over");
        self.publish_status().await;
        let spaces: Vec<String> = self.owned.iter().map(|e| e.key().clone()).collect();
        for space in spaces {
            let target = self.pick_node().await.ok().flatten();
            let notice = ServerMsg::Reconnect {
                reason: "the node is draining".into(),
                url: target.as_ref().map(|t| t.ws_url.clone()),
                retry_after_ms: 0,
            };
            if let Some(t) = &target {
                self.handovers.insert(space.clone(), t.node.clone());
            }
            if !self.registry.close_with(&space, CloseReason::MOVED, notice) {
                // Held but not running: just let it go.
                self.stopped(&space);
            }
        }
        self.relay.move_all(self, "the node is draining").await;
    }

    /// Waits until this node owns no space, for at most `limit`.
    pub async fn drained(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while !self.owned.is_empty() {
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    pub async fn publish_status(&self) {
        let info = self.info();
        let Ok(json) = serde_json::to_string(&info) else { return };
        let key = self.key("nodeinfo", &self.node);
        let set: Result<(), _> =
            self.redis.set(key, json, Some(Expiration::PX(NODE_TTL.as_millis() as i64)), None, false).await;
        let add: Result<(), _> = self.redis.sadd(format!("{}:nodes", self.prefix), self.node.clone()).await;
        self.redis_ok.store(set.is_ok() && add.is_ok(), Ordering::Relaxed);
    }

    pub fn info(&self) -> NodeInfo {
        let now = Instant::now();
        let members: std::collections::HashMap<_, _> = self.registry.list().into_iter().collect();
        NodeInfo {
            node: self.node.clone(),
            incarnation: self.incarnation.clone(),
            ws_url: self.ws_url.clone(),
            draining: self.is_draining(),
            started_at_ms: self.started_at_ms,
            sessions: self.sessions.load(Ordering::Relaxed),
            relayed_out: self.relay.local_count() as u64,
            relayed_in: self.relay.remote_count() as u64,
            spaces: self
                .owned
                .iter()
                .map(|e| status::SpaceInfo {
                    space_id: e.key().clone(),
                    token: e.holder.token,
                    lease_age_ms: now.duration_since(e.acquired).as_millis() as u64,
                    members: members.get(e.key().as_str()).copied().unwrap_or(0) as u64,
                })
                .collect(),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Publishes to the owner of a space (if another node holds it).
    async fn to_owner(self: &Arc<Self>, space: &str, env: Envelope) {
        match self.holder(space).await {
            Ok(Some(h)) if !(h.node == self.node && h.incarnation == self.incarnation) => {
                self.relay.send(self, &h.node, env).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(space, error = %e, "could not reach the space's owner"),
        }
    }
}

impl Cluster {
    /// Hands an envelope to the space's owner without waiting (the
    /// registry's callers are not async).
    fn forward_to_owner(&self, space_id: &str, env: Envelope) {
        let (Some(me), space) = (self.relay.me(), space_id.to_owned()) else { return };
        actix_rt::spawn(async move { me.to_owner(&space, env).await });
    }
}

impl Shards for Cluster {
    fn chat(&self, space_id: &str, room: &str, msg: &ServerMsg) {
        let env = Envelope::Chat { space: space_id.to_owned(), room: room.to_owned(), msg: msg.clone() };
        self.forward_to_owner(space_id, env);
    }

    fn statics_changed(&self, space_id: &str) {
        self.forward_to_owner(space_id, Envelope::Statics { space: space_id.to_owned() });
    }

    fn close(&self, space_id: &str, reason: CloseReason) {
        self.forward_to_owner(space_id, Envelope::Close { space: space_id.to_owned(), code: reason.code });
    }

    fn stopped(&self, space_id: &str) {
        // Let go here at once, so a join arriving meanwhile waits for the
        // release instead of starting a second actor under this lease.
        let Some((_, held)) = self.owned.remove(space_id) else { return };
        metrics::gauge!("metaverse_cluster_spaces_owned").set(self.owned.len() as f64);
        self.end_tenure(space_id, held.holder.token, "released");
        let Some(me) = self.relay.me() else { return };
        let space = space_id.to_owned();
        actix_rt::spawn(async move {
            let key = me.key("lease", &space);
            if let Err(e) = me.leases.release(&me.redis, &key, &held.holder.value()).await {
                // It expires by itself within the TTL.
                tracing::warn!(space, error = %e, "could not release a lease");
            }
            if let Some((_, target)) = me.handovers.remove(&space) {
                me.relay.send(&me, &target, Envelope::Adopt { space: space.clone() }).await;
            }
        });
    }
}

/// Renews every held lease a few times per TTL, in one round trip, and
/// stops a space as soon as its lease may have lapsed.
async fn keep_leases(cluster: Arc<Cluster>) {
    let every = (cluster.leases.ttl / 4).max(Duration::from_millis(50));
    let mut renew = tokio::time::interval(every);
    let mut check = tokio::time::interval(Duration::from_millis(50));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = renew.tick() => {
                let held: Vec<(String, String)> =
                    cluster.owned.iter().map(|e| (e.key().clone(), e.holder.value())).collect();
                if held.is_empty() {
                    continue;
                }
                let keys = held.iter().map(|(s, _)| cluster.key("lease", s)).collect();
                let values = held.iter().map(|(_, v)| v.clone()).collect();
                let sent = Instant::now();
                // Bounded by the client's command timeout; a renewal that
                // cannot finish before a lease lapses is as good as failed.
                match tokio::time::timeout(cluster.leases.margin(), cluster.leases.renew(&cluster.redis, keys, values)).await {
                    Ok(Ok(renewed)) => {
                        cluster.redis_ok.store(true, Ordering::Relaxed);
                        for ((space, value), ok) in held.iter().zip(renewed) {
                            if !ok {
                                cluster.lose(space, "taken by another node, or gone from Redis");
                                continue;
                            }
                            if let Some(mut h) = cluster.owned.get_mut(space)
                                && h.holder.value() == *value
                            {
                                h.valid_until = cluster.leases.valid_from(sent);
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        cluster.redis_ok.store(false, Ordering::Relaxed);
                        tracing::warn!(error = %e, "renewing leases failed; spaces stop when their leases would lapse");
                    }
                    Err(_) => {
                        cluster.redis_ok.store(false, Ordering::Relaxed);
                        tracing::warn!("renewing leases timed out");
                    }
                }
            }
            _ = check.tick() => {
                let now = Instant::now();
                let lapsed: Vec<String> =
                    cluster.owned.iter().filter(|e| e.valid_until <= now).map(|e| e.key().clone()).collect();
                for space in lapsed {
                    cluster.lose(&space, "lease lapsed (Redis unreachable?)");
                }
            }
        }
    }
}

/// Publishes this node's status every second, and drops relayed sessions
/// whose peer node is gone.
async fn heartbeat(cluster: Arc<Cluster>) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        cluster.publish_status().await;
        if cluster.redis_healthy() {
            cluster.relay.check_peers(&cluster).await;
        } else if cluster.relay.local_count() > 0 {
            // Frames to and from other nodes are being lost: relayed
            // sessions rejoin (and find their space) once Redis is back.
            cluster.relay.move_all(&cluster, "the connection between nodes was lost").await;
        }
    }
}
