//! Draining a node before it stops: its spaces are handed to other nodes
//! and its sessions sent to their spaces' owners, so clients move instead
//! of waiting out a lease.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use metaverse_actors::{CloseReason, Shards};
use metaverse_protocol::ServerMsg;

use super::Cluster;

impl Cluster {
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
}
