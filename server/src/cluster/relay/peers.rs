//! Relayed sessions whose peer is lost: all of them when the link between
//! nodes breaks, or those of one node that stopped publishing its status.

use std::collections::{HashMap, HashSet};

use metaverse_actors::space::Leave;

use super::{Relay, delivery::close_end};
use crate::cluster::Cluster;

impl Relay {
    /// Tells every session relayed from this node to reconnect (to its
    /// space's owner) and closes it.
    pub async fn move_all(&self, cluster: &Cluster, why: &str) {
        let owners: HashSet<String> = self.locals.iter().map(|e| e.owner.clone()).collect();
        let mut urls = HashMap::new();
        for o in owners {
            let url = cluster.node_info(&o).await.ok().flatten().map(|i| i.ws_url);
            urls.insert(o, url);
        }
        let sessions: Vec<u64> = self.locals.iter().map(|e| *e.key()).collect();
        for s in sessions {
            if let Some((_, end)) = self.locals.remove(&s) {
                let url = urls.get(&end.owner).cloned().flatten();
                close_end(end, why, url, 0);
            }
        }
    }

    /// Drops relayed sessions whose peer node stopped publishing its
    /// status: their owner is dead (sessions here), or their socket's node
    /// is (members here).
    pub async fn check_peers(&self, cluster: &Cluster) {
        let mut peers: HashSet<String> = self.locals.iter().map(|e| e.owner.clone()).collect();
        peers.extend(self.remotes.iter().map(|e| e.origin.clone()));
        for peer in peers {
            match cluster.node_info(&peer).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                // Redis is away: no verdict.
                Err(_) => continue,
            }
            tracing::warn!(peer, "peer node is gone; dropping its relayed sessions");
            self.drop_peer(cluster, &peer);
        }
    }

    fn drop_peer(&self, cluster: &Cluster, peer: &str) {
        let gone: Vec<u64> = self.locals.iter().filter(|e| e.owner == peer).map(|e| *e.key()).collect();
        let retry = u64::try_from(cluster.leases.ttl.as_millis()).unwrap_or(u64::MAX);
        for s in gone {
            if let Some((_, end)) = self.locals.remove(&s) {
                close_end(end, "the space's node is gone", None, retry);
            }
        }
        let members: Vec<u64> = self.remotes.iter().filter(|e| e.origin == peer).map(|e| *e.key()).collect();
        for s in members {
            if let Some((_, m)) = self.remotes.remove(&s) {
                m.space.do_send(Leave { user: m.user, session_id: s, dropped: true, unsent: Vec::new() });
            }
        }
    }
}
