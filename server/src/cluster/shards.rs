//! The registry's hooks for spaces owned elsewhere: chat, static changes
//! and closes go to the owner, and a space stopped here gives its lease
//! back (to the drain's chosen node, if it is being handed over).

use std::sync::Arc;

use metaverse_actors::{CloseReason, Shards};
use metaverse_protocol::ServerMsg;

use super::{Cluster, wire::Envelope};

impl Cluster {
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
        self.count_owned();
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
