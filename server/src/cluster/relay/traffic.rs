//! A relayed session's inputs: the session's node sends them without
//! waiting, and the owner hands each to the member's space. Input the
//! space cannot take is answered `busy`, as it would be for a local one.

use std::sync::Arc;

use bytes::Bytes;
use metaverse_actors::{
    metric_names::CLUSTER_RELAY_DROPPED_TOTAL,
    space::{ChatUnsubscribe, Leave, Move, NearbyChat, Signal},
};
use metaverse_protocol::{ErrorCode, Position, RtcKind, ServerMsg};
use serde_bytes::ByteBuf;

use super::{Out, Relay, RemoteMember, encode_in};
use crate::cluster::{Cluster, wire::Envelope};

impl Relay {
    pub fn input(&self, owner: &str, env: Envelope) -> bool {
        self.try_send(owner, env)
    }

    /// The session left or its socket went: forget its local end.
    pub fn leave(&self, owner: &str, session: u64, dropped: bool, unsent: Vec<Bytes>) {
        self.locals.remove(&session);
        let unsent = unsent.into_iter().map(|b| ByteBuf::from(b.to_vec())).collect();
        if !self.try_send(owner, Envelope::Leave { session, dropped, unsent }) {
            metrics::counter!(CLUSTER_RELAY_DROPPED_TOTAL).increment(1);
        }
    }
}

/// Tells a remote member its input was dropped.
fn busy(cluster: &Arc<Cluster>, session: u64, m: &RemoteMember, why: &str) {
    if let Some(f) = encode_in(m.codec, &ServerMsg::error(ErrorCode::Busy, why)) {
        let _ = cluster.relay.outbox(cluster, &m.origin).try_send(Out::Frame(session, f));
    }
}

pub(super) fn on_move(cluster: &Arc<Cluster>, session: u64, x: i32, y: i32) {
    if let Some(m) = cluster.relay.remotes.get(&session) {
        let mv = Move { user: m.user.clone(), session_id: session, to: Position { x, y } };
        if m.space.try_send(mv).is_err() {
            busy(cluster, session, &m, &format!("the space is overloaded; move to ({x}, {y}) dropped"));
        }
    }
}

pub(super) fn on_leave(relay: &Relay, session: u64, dropped: bool, unsent: Vec<ByteBuf>) {
    if let Some((_, m)) = relay.remotes.remove(&session) {
        let unsent = unsent.into_iter().map(|b| Bytes::from(b.into_vec())).collect();
        m.space.do_send(Leave { user: m.user, session_id: session, dropped, unsent });
    }
}

pub(super) fn on_signal(cluster: &Arc<Cluster>, session: u64, to: String, kind: RtcKind, data: &str) {
    if let Some(m) = cluster.relay.remotes.get(&session) {
        let data = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
        if m.space.try_send(Signal { from: m.user.clone(), session_id: session, to, kind, data }).is_err() {
            busy(cluster, session, &m, "the space is overloaded; signal dropped");
        }
    }
}

pub(super) fn on_nearby(cluster: &Arc<Cluster>, session: u64, msg: ServerMsg) {
    if let Some(m) = cluster.relay.remotes.get(&session)
        && m.space.try_send(NearbyChat { from: m.user.clone(), session_id: session, msg }).is_err()
    {
        busy(cluster, session, &m, "the space is overloaded; message dropped");
    }
}

pub(super) fn on_unsubscribe(relay: &Relay, session: u64, room: &str) {
    if let Some(m) = relay.remotes.get(&session) {
        m.space.do_send(ChatUnsubscribe { user: m.user.clone(), room: Arc::from(room) });
    }
}
