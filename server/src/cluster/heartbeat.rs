//! This node's status in Redis: published every second as proof of life
//! (a node whose status expired is gone), and read back to find live
//! peers for routing and handovers.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use fred::prelude::*;

use super::{
    Cluster, ClusterError,
    status::{self, NodeInfo, SpaceInfo},
};

/// How often a node publishes its status (and proves it is alive).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose status is older than this is gone.
const NODE_TTL: Duration = Duration::from_secs(4);

impl Cluster {
    pub async fn publish_status(&self) {
        let info = self.info();
        let Ok(json) = serde_json::to_string(&info) else { return };
        let key = self.key("nodeinfo", &self.node);
        let set: Result<(), _> = self
            .redis
            .set(key, json, Some(Expiration::PX(i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX))), None, false)
            .await;
        let add: Result<(), _> = self.redis.sadd(format!("{}:nodes", self.prefix), self.node.clone()).await;
        self.redis_ok.store(set.is_ok() && add.is_ok(), Ordering::Relaxed);
    }

    pub fn info(&self) -> NodeInfo {
        let now = Instant::now();
        let members: HashMap<_, _> = self.registry.list().into_iter().collect();
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
                .map(|e| SpaceInfo {
                    space_id: e.key().clone(),
                    token: e.holder.token,
                    lease_age_ms: u64::try_from(now.duration_since(e.acquired).as_millis()).unwrap_or(u64::MAX),
                    members: members.get(e.key().as_str()).copied().unwrap_or(0) as u64,
                })
                .collect(),
        }
    }

    pub async fn node_info(&self, node: &str) -> Result<Option<NodeInfo>, ClusterError> {
        let raw: Option<String> = self.redis.get(self.key("nodeinfo", node)).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The advertised WebSocket URLs of this node and every live one, for
    /// the web client's policy; this node's alone when Redis does not answer.
    pub async fn ws_urls(&self) -> Vec<String> {
        let mut urls = vec![self.ws_url.clone()];
        match status::read_nodes(&self.redis, &self.prefix).await {
            Ok(nodes) => urls.extend(nodes.into_iter().map(|n| n.ws_url).filter(|u| *u != self.ws_url)),
            Err(e) => tracing::warn!(error = %e, "listing the cluster's nodes for the page's policy"),
        }
        urls
    }

    /// The live node, other than this one and not draining, with the
    /// fewest spaces.
    pub async fn pick_node(&self) -> Result<Option<NodeInfo>, ClusterError> {
        let nodes = status::read_nodes(&self.redis, &self.prefix).await?;
        Ok(nodes.into_iter().filter(|n| n.node != self.node && !n.draining).min_by_key(|n| n.spaces.len()))
    }
}

/// Publishes this node's status every second, and drops relayed sessions
/// whose peer node is gone.
pub(super) async fn heartbeat(cluster: Arc<Cluster>) {
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
