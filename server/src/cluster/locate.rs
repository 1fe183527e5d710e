//! Where a space lives: here, on another live node, or moving between
//! nodes (ask again shortly). Joins may take an unowned space; routing
//! and presence only look.

use std::time::Duration;

use super::{Cluster, ClusterError};

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

impl Cluster {
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
}
