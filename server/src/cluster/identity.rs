//! Who this node is, and the Redis names derived from it. A node's name
//! may outlive a process (a restart with `--node-id`), so each process
//! also draws an incarnation: a lease written by an earlier process with
//! the same name is told apart from this one's.

use std::sync::atomic::Ordering;

use super::{Cluster, status};
use crate::config::ClusterConfig;

pub(super) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The configured name, else the host's with a random suffix.
pub(super) fn node_name(cfg: &ClusterConfig) -> String {
    cfg.node_id.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").ok().filter(|h| status::valid_name(h)).unwrap_or_else(|| "node".into());
        format!("{host}-{}", random_hex(3))
    })
}

impl Cluster {
    pub(super) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    pub fn channel_of(&self, node: &str) -> String {
        self.key("node", node)
    }

    pub(super) fn owner_value(&self) -> String {
        format!("{} {}", self.node, self.incarnation)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn redis_healthy(&self) -> bool {
        self.redis_ok.load(Ordering::Relaxed)
    }
}
