//! A session's handle on its space, wherever the space runs: the same
//! calls go to a local SpaceActor or, relayed, to the owner node.

use std::sync::Arc;

use actix::{Addr, dev::SendError};
use metaverse_actors::{
    metric_names::CLUSTER_RELAY_DROPPED_TOTAL,
    space::{ChatSubscribe, ChatUnsubscribe, Leave, Move, NearbyChat, Signal, SpaceActor},
};

use super::{Cluster, wire::Envelope};

#[derive(Clone)]
pub enum SpaceHandle {
    Local(Addr<SpaceActor>),
    Remote(Arc<Remote>),
}

pub struct Remote {
    pub cluster: Arc<Cluster>,
    pub owner: String,
}

/// An input that could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The space (or the relay to it) is overloaded.
    Busy,
    /// The space is gone.
    Closed,
}

fn local<M>(r: Result<(), SendError<M>>) -> Result<(), Refused> {
    match r {
        Ok(()) => Ok(()),
        Err(SendError::Full(_)) => Err(Refused::Busy),
        Err(SendError::Closed(_)) => Err(Refused::Closed),
    }
}

impl SpaceHandle {
    fn relay(r: &Remote, env: Envelope) -> Result<(), Refused> {
        if r.cluster.relay.input(&r.owner, env) {
            Ok(())
        } else {
            metrics::counter!(CLUSTER_RELAY_DROPPED_TOTAL).increment(1);
            Err(Refused::Busy)
        }
    }

    pub fn move_to(&self, m: Move) -> Result<(), Refused> {
        match self {
            Self::Local(a) => local(a.try_send(m)),
            Self::Remote(r) => Self::relay(r, Envelope::Move { session: m.session_id, x: m.to.x, y: m.to.y }),
        }
    }

    pub fn leave(&self, l: Leave) {
        match self {
            Self::Local(a) => a.do_send(l),
            Self::Remote(r) => r.cluster.relay.leave(&r.owner, l.session_id, l.dropped, l.unsent),
        }
    }

    pub fn signal(&self, s: Signal) -> Result<(), Refused> {
        match self {
            Self::Local(a) => local(a.try_send(s)),
            Self::Remote(r) => {
                let data = serde_json::to_string(&s.data).unwrap_or_else(|_| "null".into());
                Self::relay(r, Envelope::Signal { session: s.session_id, to: s.to, kind: s.kind, data })
            }
        }
    }

    pub fn nearby(&self, n: NearbyChat) -> Result<(), Refused> {
        match self {
            Self::Local(a) => local(a.try_send(n)),
            Self::Remote(r) => Self::relay(r, Envelope::Nearby { session: n.session_id, msg: n.msg }),
        }
    }

    /// False when the session is no longer the member's current one.
    pub async fn subscribe(&self, s: ChatSubscribe) -> bool {
        match self {
            Self::Local(a) => a.send(s).await.unwrap_or(false),
            Self::Remote(r) => r.cluster.relay.subscribe(&r.cluster, &r.owner, s.session_id, s.room.to_string()).await,
        }
    }

    pub fn unsubscribe(&self, session: u64, u: ChatUnsubscribe) {
        match self {
            Self::Local(a) => a.do_send(u),
            Self::Remote(r) => {
                let _ = Self::relay(r, Envelope::Unsubscribe { session, room: u.room.to_string() });
            }
        }
    }
}
