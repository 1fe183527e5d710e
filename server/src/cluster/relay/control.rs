//! Envelopes about a whole space or node rather than one session: chat
//! and static changes for a space owned here, closes, handovers, drains.

use std::sync::Arc;

use metaverse_actors::{
    CloseReason,
    space::{ChatDeliver, CloseSpace},
};
use metaverse_protocol::ServerMsg;

use super::joins::start_space;
use crate::cluster::Cluster;

/// A close code that crossed nodes, back to its reason. A code this build
/// does not know (a newer peer's) still closes, as a move: the client
/// reconnects and finds out more.
pub(super) fn reason_of(code: u16) -> CloseReason {
    CloseReason::from_code(code).unwrap_or(CloseReason::MOVED)
}

pub(super) fn on_chat(cluster: &Arc<Cluster>, space: &str, room: &str, msg: ServerMsg) {
    // Only a live space here: never forwarded on, so no loops.
    if let Some(addr) = cluster.registry().get(space) {
        addr.do_send(ChatDeliver { room: Arc::from(room), msg });
    }
}

pub(super) fn on_statics(cluster: &Arc<Cluster>, space: String) {
    let c = cluster.clone();
    actix_rt::spawn(async move {
        let _ = crate::ws::store::push_statics(c.db(), c.registry(), &space).await;
    });
}

pub(super) fn on_close(cluster: &Arc<Cluster>, space: &str, code: u16) {
    if let Some(addr) = cluster.registry().get(space) {
        addr.do_send(CloseSpace::new(reason_of(code)));
    }
}

/// A draining node handed this space over: start it here.
pub(super) fn on_adopt(cluster: &Arc<Cluster>, space: String) {
    let c = cluster.clone();
    actix_rt::spawn(async move {
        let _ = start_space(&c, &space).await;
    });
}

pub(super) fn on_drain(cluster: &Arc<Cluster>) {
    let c = cluster.clone();
    actix_rt::spawn(async move { c.drain().await });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_close_codes_mean_moved() {
        assert_eq!(reason_of(4002), CloseReason::SLOW_CONSUMER);
        assert_eq!(reason_of(1), CloseReason::MOVED);
    }
}
