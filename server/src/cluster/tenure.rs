//! Ownership of spaces: taking a space's lease, keeping it renewed, and
//! stopping the space the moment the lease may have lapsed, so two nodes
//! never serve one space. Each tenure is remembered for the audit in
//! `/cluster/node`.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use fred::prelude::*;
use metaverse_actors::{
    CloseReason,
    metric_names::{CLUSTER_LEASES_LOST_TOTAL, CLUSTER_SPACES_OWNED},
};
use metaverse_protocol::ServerMsg;

use super::{
    Cluster, ClusterError,
    lease::{Held, Holder},
};

/// Released leases remembered for `/cluster/node`.
const HISTORY: usize = 256;

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

impl Cluster {
    /// Whether this node holds a still-valid lease on the space.
    pub fn owns(&self, space: &str) -> bool {
        self.owned.get(space).is_some_and(|h| h.valid_until > Instant::now())
    }

    pub fn owned_token(&self, space: &str) -> Option<u64> {
        self.owned.get(space).map(|h| h.holder.token)
    }

    pub(super) async fn holder(&self, space: &str) -> Result<Option<Holder>, ClusterError> {
        let value: Option<String> = self.redis.get(self.key("lease", space)).await?;
        Ok(value.as_deref().and_then(Holder::parse))
    }

    pub(super) async fn lease_left(&self, space: &str) -> Result<Duration, ClusterError> {
        let ms: i64 = self.redis.pttl(self.key("lease", space)).await?;
        Ok(Duration::from_millis(ms.clamp(50, 60_000) as u64))
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
        self.count_owned();
        Ok(true)
    }

    /// Publishes how many spaces this node holds, after any change.
    pub(super) fn count_owned(&self) {
        metrics::gauge!(CLUSTER_SPACES_OWNED).set(self.owned.len() as f64);
    }

    fn remember(&self, t: Tenure) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if h.len() >= HISTORY {
            h.pop_front();
        }
        h.push_back(t);
    }

    pub(super) fn end_tenure(&self, space: &str, token: u64, why: &'static str) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = h.iter_mut().rev().find(|t| t.space_id == space && t.token == token && t.until_ms.is_none()) {
            t.until_ms = Some(metaverse_schema::now_millis());
            t.ended = Some(why);
        }
    }

    pub fn tenures(&self) -> Vec<Tenure> {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Stops acting as owner of a space whose lease is gone: its members
    /// are told to reconnect, and the actor stops at once.
    fn lose(&self, space: &str, why: &'static str) {
        let Some((_, held)) = self.owned.remove(space) else { return };
        metrics::counter!(CLUSTER_LEASES_LOST_TOTAL).increment(1);
        self.count_owned();
        tracing::warn!(space, token = held.holder.token, why, "lost the space's lease; stopping it");
        self.end_tenure(space, held.holder.token, why);
        let notice = ServerMsg::Reconnect {
            reason: format!("this node lost the space ({why})"),
            url: None,
            retry_after_ms: u64::try_from(self.leases.ttl.as_millis()).unwrap_or(u64::MAX),
        };
        self.registry.close_with(space, CloseReason::MOVED, notice);
    }

    /// Renews every held lease in one round trip; a lease the renewal did
    /// not confirm is lost at once.
    async fn renew_all(&self) {
        let held: Vec<(String, String)> = self.owned.iter().map(|e| (e.key().clone(), e.holder.value())).collect();
        if held.is_empty() {
            return;
        }
        let keys = held.iter().map(|(s, _)| self.key("lease", s)).collect();
        let values = held.iter().map(|(_, v)| v.clone()).collect();
        let sent = Instant::now();
        // Bounded by the client's command timeout; a renewal that
        // cannot finish before a lease lapses is as good as failed.
        match tokio::time::timeout(self.leases.margin(), self.leases.renew(&self.redis, keys, values)).await {
            Ok(Ok(renewed)) => {
                self.redis_ok.store(true, Ordering::Relaxed);
                for ((space, value), ok) in held.iter().zip(renewed) {
                    if !ok {
                        self.lose(space, "taken by another node, or gone from Redis");
                        continue;
                    }
                    if let Some(mut h) = self.owned.get_mut(space)
                        && h.holder.value() == *value
                    {
                        h.valid_until = self.leases.valid_from(sent);
                    }
                }
            }
            Ok(Err(e)) => {
                self.redis_ok.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "renewing leases failed; spaces stop when their leases would lapse");
            }
            Err(_) => {
                self.redis_ok.store(false, Ordering::Relaxed);
                tracing::warn!("renewing leases timed out");
            }
        }
    }

    /// Stops every space whose lease may have lapsed by now.
    fn drop_lapsed(&self) {
        let now = Instant::now();
        let lapsed: Vec<String> = self.owned.iter().filter(|e| e.valid_until <= now).map(|e| e.key().clone()).collect();
        for space in lapsed {
            self.lose(&space, "lease lapsed (Redis unreachable?)");
        }
    }
}

/// Renews every held lease a few times per TTL, in one round trip, and
/// stops a space as soon as its lease may have lapsed.
pub(super) async fn keep_leases(cluster: Arc<Cluster>) {
    let every = (cluster.leases.ttl / 4).max(Duration::from_millis(50));
    let mut renew = tokio::time::interval(every);
    let mut check = tokio::time::interval(Duration::from_millis(50));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = renew.tick() => cluster.renew_all().await,
            _ = check.tick() => cluster.drop_lapsed(),
        }
    }
}
