//! Revoked sign-in sessions: the node that revokes tells every other
//! node, so sockets of that session close everywhere, not only here.

use std::sync::Arc;

use crate::cluster::{Cluster, status, wire::Envelope};

impl Cluster {
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
}

pub(super) fn on_revoked(cluster: &Arc<Cluster>, session: String) {
    if let Some(tx) = cluster.revoked.get() {
        let _ = tx.send(session);
    }
}
