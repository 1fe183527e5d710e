//! Joining a space owned by another node. The session's node registers a
//! local end and asks; the owner starts the space if it may, joins an
//! ordinary member, and forwards that member's queue back.

use std::sync::Arc;

use actix::Addr;
use metaverse_actors::{
    SessionPort, ViewWindow, link,
    queue::FrameTx,
    space::{Join, JoinRefused, SpaceActor},
};
use metaverse_protocol::{Codec, Position};

use super::{LocalEnd, Relay, RemoteMember, forward::forward};
use crate::cluster::{
    Cluster,
    wire::{Answer, Envelope},
};

/// What a session's node sends to join a space on its owner.
pub struct RemoteJoin {
    pub session: u64,
    pub space: String,
    pub user: String,
    pub codec: Codec,
    pub batched: bool,
    pub view: Option<ViewWindow>,
    pub preferred: Option<Position>,
    pub resume_token: Option<String>,
    pub username: Option<String>,
    pub avatar_id: Option<String>,
    pub queue: u32,
}

impl Relay {
    /// Joins a space owned by `owner` for a session on this node; the
    /// port then works as a local one.
    pub async fn join(
        &self,
        cluster: &Arc<Cluster>,
        owner: &str,
        req: RemoteJoin,
    ) -> Result<(SessionPort, FrameTx), Answer> {
        let (link, port) = link(req.session, req.codec, req.queue as usize);
        let own_tx = link.tx.clone();
        self.locals.insert(
            req.session,
            LocalEnd { tx: link.tx, close: link.close, owner: owner.to_owned(), codec: req.codec },
        );
        let session = req.session;
        let answer = self.ask(cluster, owner, |id| join_envelope(id, cluster.node.clone(), req)).await;
        match answer {
            Some(Answer::Joined) => Ok((port, own_tx)),
            other => {
                self.locals.remove(&session);
                if other.is_none() {
                    // The owner may have taken it after all: tell it to drop us.
                    self.try_send(owner, Envelope::Leave { session, dropped: false, unsent: Vec::new() });
                }
                Err(other.unwrap_or(Answer::Failed { message: "the space's node did not answer".into() }))
            }
        }
    }
}

fn join_envelope(req: u64, from: String, j: RemoteJoin) -> Envelope {
    Envelope::Join {
        req,
        from,
        session: j.session,
        space: j.space,
        user: j.user,
        msgpack: j.codec == Codec::MsgPack,
        batched: j.batched,
        view: j.view.map(|w| (w.width, w.height)),
        preferred: j.preferred,
        resume_token: j.resume_token,
        username: j.username,
        avatar_id: j.avatar_id,
        queue: j.queue,
    }
}

/// A join from another node: served in the background, answered by reply.
pub(super) fn on_join(cluster: &Arc<Cluster>, env: Envelope) {
    let Envelope::Join {
        req,
        from,
        session,
        space,
        user,
        msgpack,
        batched,
        view,
        preferred,
        resume_token,
        username,
        avatar_id,
        queue,
    } = env
    else {
        return;
    };
    let join = RemoteJoin {
        session,
        space,
        user,
        codec: if msgpack { Codec::MsgPack } else { Codec::Json },
        batched,
        // The space caps an asked window itself; any size is safe.
        view: view.map(|(width, height)| ViewWindow { width, height }),
        preferred,
        resume_token,
        username,
        avatar_id,
        queue: queue.clamp(8, 1_000_000),
    };
    let c = cluster.clone();
    actix_rt::spawn(async move {
        let answer = serve_join(&c, &from, join).await;
        c.relay.send(&c, &from, Envelope::Reply { req, answer }).await;
    });
}

/// Starts the space here if this node holds (or can take) its lease.
pub(super) async fn start_space(cluster: &Arc<Cluster>, space: &str) -> Result<Option<Addr<SpaceActor>>, String> {
    if !cluster.try_acquire(space).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    if let Some(addr) = cluster.registry().get(space) {
        return Ok(Some(addr));
    }
    let registry = cluster.registry();
    match crate::ws::store::load_space(cluster.db(), space, registry.statics_tick()).await {
        Ok(Some(init)) => Ok(Some(registry.get_or_start(init))),
        Ok(None) => {
            // No such space: let the lease go again.
            metaverse_actors::Shards::stopped(cluster.as_ref(), space);
            Err("no such space".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A join from another node's session, for a space owned here.
async fn serve_join(cluster: &Arc<Cluster>, from: &str, j: RemoteJoin) -> Answer {
    let addr = match start_space(cluster, &j.space).await {
        Ok(Some(a)) => a,
        Ok(None) => return Answer::NotOwner,
        Err(message) => return Answer::Failed { message },
    };
    let (link, port) = link(j.session, j.codec, j.queue as usize);
    let join = Join {
        user: Arc::from(j.user.as_str()),
        link: link.batched(j.batched).view(j.view),
        preferred: j.preferred,
        resume_token: j.resume_token,
        username: j.username,
        avatar_id: j.avatar_id,
    };
    match addr.send(join).await {
        Ok(Ok(())) => {
            let member =
                RemoteMember { space: addr, user: Arc::from(j.user.as_str()), origin: from.to_owned(), codec: j.codec };
            cluster.relay.remotes.insert(j.session, member);
            actix_rt::spawn(forward(cluster.clone(), from.to_owned(), j.session, port));
            Answer::Joined
        }
        Ok(Err(JoinRefused::Full)) => Answer::Full,
        Err(_) => Answer::NotOwner,
    }
}
