//! Sessions relayed between nodes. On a session's node, a relayed session
//! has an ordinary local queue that frames from the owner fill; on the
//! owner, it is an ordinary member of the SpaceActor whose queue a
//! forwarder drains into the session node's outbox. Each peer node has one
//! outbox, published in packets, so a tick's frames for every session on
//! that node go in one publish with each shared frame once.

mod control;
mod delivery;
mod forward;
mod joins;
mod listener;
mod peers;
mod publisher;
mod requests;
mod revocation;
mod traffic;

use std::{
    sync::{Arc, OnceLock, Weak, atomic::AtomicU64},
    time::Duration,
};

use actix::Addr;
use bytes::Bytes;
use dashmap::DashMap;
use metaverse_actors::{
    UserId,
    queue::{CloseTx, FrameTx},
    space::SpaceActor,
};
use metaverse_protocol::{Codec, ServerMsg};
use tokio::sync::{mpsc, oneshot};

pub use joins::RemoteJoin;
pub use listener::listen;

use super::{
    Cluster,
    wire::{Answer, Envelope},
};

/// How long a relayed request waits for its answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What waits in a peer's outbox: an envelope, or a frame for one of its
/// sessions (frames are grouped into `Frames` envelopes when published).
enum Out {
    // Boxed: envelopes (joins, closes) are rare; frames are the traffic.
    Env(Box<Envelope>),
    Frame(u64, Bytes),
}

/// This node's end of a session relayed to another node's space.
struct LocalEnd {
    tx: FrameTx,
    close: CloseTx,
    owner: String,
    codec: Codec,
}

/// Another node's session in a space owned here.
struct RemoteMember {
    space: Addr<SpaceActor>,
    user: UserId,
    origin: String,
    codec: Codec,
}

#[derive(Default)]
pub struct Relay {
    me: OnceLock<Weak<Cluster>>,
    next_req: AtomicU64,
    pending: DashMap<u64, oneshot::Sender<Answer>>,
    locals: DashMap<u64, LocalEnd>,
    remotes: DashMap<u64, RemoteMember>,
    outboxes: DashMap<String, mpsc::Sender<Out>>,
}

fn encode_in(codec: Codec, msg: &ServerMsg) -> Option<Bytes> {
    codec.encode(msg).ok().map(Bytes::from)
}

impl Relay {
    pub fn me(&self) -> Option<Arc<Cluster>> {
        self.me.get().and_then(Weak::upgrade)
    }

    pub fn local_count(&self) -> usize {
        self.locals.len()
    }

    pub fn remote_count(&self) -> usize {
        self.remotes.len()
    }

    /// Queues an envelope for a node, waiting for room.
    pub async fn send(&self, cluster: &Arc<Cluster>, node: &str, env: Envelope) {
        let _ = self.outbox(cluster, node).send(Out::Env(Box::new(env))).await;
    }

    /// Queues an envelope without waiting; false when the outbox is full.
    fn try_send(&self, node: &str, env: Envelope) -> bool {
        let Some(cluster) = self.me() else { return false };
        self.outbox(&cluster, node).try_send(Out::Env(Box::new(env))).is_ok()
    }
}
