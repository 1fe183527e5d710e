//! Sessions relayed between nodes. On a session's node, a relayed session
//! has an ordinary local queue that frames from the owner fill; on the
//! owner, it is an ordinary member of the SpaceActor whose queue a
//! forwarder drains into the session node's outbox. Each peer node has one
//! outbox, published in packets, so a tick's frames for every session on
//! that node go in one publish with each shared frame once.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use actix::Addr;
use bytes::Bytes;
use dashmap::DashMap;
use fred::{clients::SubscriberClient, prelude::*};
use metaverse_actors::{
    CloseReason, SessionPort, UserId, link,
    space::{
        ChatDeliver, ChatSubscribe, ChatUnsubscribe, CloseSpace, Join, JoinRefused, Leave, Members, Move, NearbyChat,
        Signal, SpaceActor,
    },
};
use metaverse_protocol::{Codec, ErrorCode, Position, ServerMsg};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    Cluster,
    wire::{self, Answer, Envelope},
};

/// Items an outbox holds at most; a full outbox pushes back on the
/// forwarders, whose session queues then fill (slow consumer).
const OUTBOX: usize = 16_384;
/// Frame bytes per published packet, about.
const PACKET_BYTES: usize = 1 << 20;
/// How long a relayed request waits for its answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

enum Out {
    Env(Envelope),
    Frame(u64, Bytes),
}

/// This node's end of a session relayed to another node's space.
struct LocalEnd {
    tx: mpsc::Sender<Bytes>,
    close: watch::Sender<Option<CloseReason>>,
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

/// Close codes that cross nodes, back to their reasons.
fn reason_of(code: u16) -> CloseReason {
    [
        CloseReason::SHUTDOWN,
        CloseReason::IDLE,
        CloseReason::SLOW_CONSUMER,
        CloseReason::RATE_LIMITED,
        CloseReason::SPACE_CLOSED,
        CloseReason::TOKEN_EXPIRED,
        CloseReason::MOVED,
        CloseReason::AUTH_FAILED,
        CloseReason::PROTOCOL,
        CloseReason::REVOKED,
        CloseReason::SPACE_DELETED,
        CloseReason::REPLACED,
    ]
    .into_iter()
    .find(|r| r.code == code)
    .unwrap_or(CloseReason::MOVED)
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

    fn outbox(&self, cluster: &Arc<Cluster>, node: &str) -> mpsc::Sender<Out> {
        if let Some(tx) = self.outboxes.get(node).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.outboxes.insert(node.to_owned(), tx.clone());
        actix_rt::spawn(publisher(Arc::downgrade(cluster), node.to_owned(), rx));
        tx
    }

    /// Queues an envelope for a node, waiting for room.
    pub async fn send(&self, cluster: &Arc<Cluster>, node: &str, env: Envelope) {
        let _ = self.outbox(cluster, node).send(Out::Env(env)).await;
    }

    /// Queues an envelope without waiting; false when the outbox is full.
    fn try_send(&self, node: &str, env: Envelope) -> bool {
        let Some(cluster) = self.me() else { return false };
        self.outbox(&cluster, node).try_send(Out::Env(env)).is_ok()
    }

    /// Sends a request and waits for its answer.
    async fn ask(&self, cluster: &Arc<Cluster>, node: &str, make: impl FnOnce(u64) -> Envelope) -> Option<Answer> {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.insert(req, tx);
        self.send(cluster, node, make(req)).await;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await.ok().and_then(Result::ok);
        self.pending.remove(&req);
        answer
    }

    /// Joins a space owned by `owner` for a session on this node; the
    /// port then works as a local one.
    pub async fn join(
        &self,
        cluster: &Arc<Cluster>,
        owner: &str,
        req: RemoteJoin,
    ) -> Result<(SessionPort, mpsc::Sender<Bytes>), Answer> {
        let (link, port) = link(req.session, req.codec, req.queue as usize);
        let own_tx = link.tx.clone();
        self.locals.insert(
            req.session,
            LocalEnd { tx: link.tx, close: link.close, owner: owner.to_owned(), codec: req.codec },
        );
        let session = req.session;
        let answer = self
            .ask(cluster, owner, |id| Envelope::Join {
                req: id,
                from: cluster.node.clone(),
                session: req.session,
                space: req.space,
                user: req.user,
                msgpack: req.codec == Codec::MsgPack,
                batched: req.batched,
                preferred: req.preferred,
                resume_token: req.resume_token,
                username: req.username,
                avatar_id: req.avatar_id,
                queue: req.queue,
            })
            .await;
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

    pub fn input(&self, owner: &str, env: Envelope) -> bool {
        self.try_send(owner, env)
    }

    /// The session left or its socket went: forget its local end.
    pub fn leave(&self, owner: &str, session: u64, dropped: bool, unsent: Vec<Bytes>) {
        self.locals.remove(&session);
        let unsent = unsent.into_iter().map(|b| ByteBuf::from(b.to_vec())).collect();
        if !self.try_send(owner, Envelope::Leave { session, dropped, unsent }) {
            metrics::counter!("metaverse_cluster_relay_dropped_total").increment(1);
        }
    }

    pub async fn subscribe(&self, cluster: &Arc<Cluster>, owner: &str, session: u64, room: String) -> bool {
        let from = cluster.node.clone();
        matches!(
            self.ask(cluster, owner, |req| Envelope::Subscribe { req, from, session, room }).await,
            Some(Answer::Subscribed { ok: true })
        )
    }

    pub async fn presence(
        &self,
        cluster: &Arc<Cluster>,
        owner: &str,
        space: String,
    ) -> Option<Vec<metaverse_actors::space::Present>> {
        let from = cluster.node.clone();
        match self.ask(cluster, owner, |req| Envelope::Presence { req, from, space }).await {
            Some(Answer::Presence { users }) => Some(users),
            _ => None,
        }
    }

    /// Tells every session relayed from this node to reconnect (to its
    /// space's owner) and closes it.
    pub async fn move_all(&self, cluster: &Cluster, why: &str) {
        let owners: std::collections::HashSet<String> = self.locals.iter().map(|e| e.owner.clone()).collect();
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
        let mut peers: std::collections::HashSet<String> = self.locals.iter().map(|e| e.owner.clone()).collect();
        peers.extend(self.remotes.iter().map(|e| e.origin.clone()));
        for peer in peers {
            match cluster.node_info(&peer).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                // Redis is away: no verdict.
                Err(_) => continue,
            }
            tracing::warn!(peer, "peer node is gone; dropping its relayed sessions");
            let gone: Vec<u64> = self.locals.iter().filter(|e| e.owner == peer).map(|e| *e.key()).collect();
            let retry = cluster.leases.ttl.as_millis() as u64;
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
}

fn close_end(end: LocalEnd, why: &str, url: Option<String>, retry_after_ms: u64) {
    let notice = ServerMsg::Reconnect { reason: why.to_owned(), url, retry_after_ms };
    if let Some(f) = encode_in(end.codec, &notice) {
        let _ = end.tx.try_send(f);
    }
    end.close.send_replace(Some(CloseReason::MOVED));
}

/// What a session's node sends to join a space on its owner.
pub struct RemoteJoin {
    pub session: u64,
    pub space: String,
    pub user: String,
    pub codec: Codec,
    pub batched: bool,
    pub preferred: Option<Position>,
    pub resume_token: Option<String>,
    pub username: Option<String>,
    pub avatar_id: Option<String>,
    pub queue: u32,
}

/// Subscribes to this node's channel and dispatches what arrives.
pub async fn listen(cluster: Arc<Cluster>, sub: SubscriberClient) -> anyhow::Result<()> {
    let _ = cluster.relay.me.set(Arc::downgrade(&cluster));
    let mut messages = sub.message_rx();
    let mut reconnects = sub.reconnect_rx();
    sub.subscribe(cluster.channel_of(&cluster.node)).await?;
    let _resubscribe = sub.manage_subscriptions();
    actix_rt::spawn(async move {
        let _keep = sub;
        loop {
            tokio::select! {
                msg = messages.recv() => match msg {
                    Ok(m) => {
                        let Some(packet) = m.value.as_bytes().and_then(wire::decode) else {
                            metrics::counter!("metaverse_cluster_relay_refused_total").increment(1);
                            tracing::warn!("refused an undecodable cluster packet");
                            continue;
                        };
                        for env in packet {
                            dispatch(&cluster, env);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // Frames were lost: relayed sessions resync by rejoining.
                        metrics::counter!("metaverse_cluster_relay_dropped_total").increment(n);
                        cluster.relay.move_all(&cluster, "relay overloaded; join again").await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                r = reconnects.recv() => {
                    if r.is_err() {
                        continue;
                    }
                    // Published frames may have been missed while away.
                    tracing::warn!("reconnected to Redis; relayed sessions rejoin");
                    cluster.relay.move_all(&cluster, "connection between nodes was lost").await;
                }
            }
        }
    });
    Ok(())
}

/// Tells a remote member its input was dropped.
fn busy(cluster: &Arc<Cluster>, session: u64, m: &RemoteMember, why: &str) {
    if let Some(f) = encode_in(m.codec, &ServerMsg::error(ErrorCode::Busy, why)) {
        let _ = cluster.relay.outbox(cluster, &m.origin).try_send(Out::Frame(session, f));
    }
}

fn dispatch(cluster: &Arc<Cluster>, env: Envelope) {
    let relay = &cluster.relay;
    metrics::counter!("metaverse_cluster_relay_in_total").increment(1);
    match env {
        Envelope::Join {
            req,
            from,
            session,
            space,
            user,
            msgpack,
            batched,
            preferred,
            resume_token,
            username,
            avatar_id,
            queue,
        } => {
            let c = cluster.clone();
            let join = RemoteJoin {
                session,
                space,
                user,
                codec: if msgpack { Codec::MsgPack } else { Codec::Json },
                batched,
                preferred,
                resume_token,
                username,
                avatar_id,
                queue: queue.clamp(8, 1_000_000),
            };
            actix_rt::spawn(async move {
                let answer = serve_join(&c, &from, join).await;
                c.relay.send(&c, &from, Envelope::Reply { req, answer }).await;
            });
        }
        Envelope::Move { session, x, y } => {
            if let Some(m) = relay.remotes.get(&session) {
                let mv = Move { user: m.user.clone(), session_id: session, to: Position { x, y } };
                if m.space.try_send(mv).is_err() {
                    busy(cluster, session, &m, &format!("the space is overloaded; move to ({x}, {y}) dropped"));
                }
            }
        }
        Envelope::Leave { session, dropped, unsent } => {
            if let Some((_, m)) = relay.remotes.remove(&session) {
                let unsent = unsent.into_iter().map(|b| Bytes::from(b.into_vec())).collect();
                m.space.do_send(Leave { user: m.user, session_id: session, dropped, unsent });
            }
        }
        Envelope::Signal { session, to, kind, data } => {
            if let Some(m) = relay.remotes.get(&session) {
                let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
                if m.space.try_send(Signal { from: m.user.clone(), session_id: session, to, kind, data }).is_err() {
                    busy(cluster, session, &m, "the space is overloaded; signal dropped");
                }
            }
        }
        Envelope::Nearby { session, msg } => {
            if let Some(m) = relay.remotes.get(&session)
                && m.space.try_send(NearbyChat { from: m.user.clone(), session_id: session, msg }).is_err()
            {
                busy(cluster, session, &m, "the space is overloaded; message dropped");
            }
        }
        Envelope::Subscribe { req, from, session, room } => {
            let target = relay.remotes.get(&session).map(|m| (m.space.clone(), m.user.clone()));
            let c = cluster.clone();
            actix_rt::spawn(async move {
                let ok = match target {
                    Some((space, user)) => space
                        .send(ChatSubscribe { user, session_id: session, room: Arc::from(room.as_str()) })
                        .await
                        .unwrap_or(false),
                    None => false,
                };
                c.relay.send(&c, &from, Envelope::Reply { req, answer: Answer::Subscribed { ok } }).await;
            });
        }
        Envelope::Unsubscribe { session, room } => {
            if let Some(m) = relay.remotes.get(&session) {
                m.space.do_send(ChatUnsubscribe { user: m.user.clone(), room: Arc::from(room.as_str()) });
            }
        }
        Envelope::Chat { space, room, msg } => {
            // Only a live space here: never forwarded on, so no loops.
            if let Some(addr) = cluster.registry().get(&space) {
                addr.do_send(ChatDeliver { room: Arc::from(room.as_str()), msg });
            }
        }
        Envelope::Statics { space } => {
            let c = cluster.clone();
            actix_rt::spawn(async move {
                let _ = crate::ws::store::push_statics(c.db(), c.registry(), &space).await;
            });
        }
        Envelope::Close { space, code } => {
            if let Some(addr) = cluster.registry().get(&space) {
                addr.do_send(CloseSpace::new(reason_of(code)));
            }
        }
        Envelope::Presence { req, from, space } => {
            let addr = cluster.registry().get(&space);
            let c = cluster.clone();
            actix_rt::spawn(async move {
                let users = match addr {
                    Some(a) => a.send(Members).await.unwrap_or_default(),
                    None => Vec::new(),
                };
                c.relay.send(&c, &from, Envelope::Reply { req, answer: Answer::Presence { users } }).await;
            });
        }
        Envelope::Adopt { space } => {
            let c = cluster.clone();
            actix_rt::spawn(async move {
                let _ = start_space(&c, &space).await;
            });
        }
        Envelope::Revoked { session } => {
            if let Some(tx) = cluster.revoked.get() {
                let _ = tx.send(session);
            }
        }
        Envelope::Drain {} => {
            let c = cluster.clone();
            actix_rt::spawn(async move { c.drain().await });
        }
        Envelope::Reply { req, answer } => {
            if let Some((_, tx)) = relay.pending.remove(&req) {
                let _ = tx.send(answer);
            }
        }
        Envelope::Frames { frames, to } => {
            let frames: Vec<Bytes> = frames.into_iter().map(|b| Bytes::from(b.into_vec())).collect();
            for (session, i) in to {
                let Some(frame) = frames.get(i as usize) else { continue };
                let full = match relay.locals.get(&session) {
                    Some(end) => matches!(end.tx.try_send(frame.clone()), Err(mpsc::error::TrySendError::Full(_))),
                    None => false,
                };
                if full && let Some((_, end)) = relay.locals.remove(&session) {
                    metrics::counter!("metaverse_slow_consumers_closed_total").increment(1);
                    end.close.send_replace(Some(CloseReason::SLOW_CONSUMER));
                }
            }
        }
        Envelope::Closed { session, code } => {
            if let Some((_, end)) = relay.locals.remove(&session)
                && code != 0
            {
                end.close.send_replace(Some(reason_of(code)));
            }
        }
    }
}

/// Starts the space here if this node holds (or can take) its lease.
async fn start_space(cluster: &Arc<Cluster>, space: &str) -> Result<Option<Addr<SpaceActor>>, String> {
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
        link: link.batched(j.batched),
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

/// Drains a relayed member's queue into its node's outbox, then says how
/// the session ended.
async fn forward(cluster: Arc<Cluster>, origin: String, session: u64, mut port: SessionPort) {
    let outbox = cluster.relay.outbox(&cluster, &origin);
    let code = loop {
        tokio::select! {
            biased;
            frame = port.rx.recv() => match frame {
                Some(f) => {
                    if outbox.send(Out::Frame(session, f)).await.is_err() {
                        break 0;
                    }
                }
                // Dropped by the space: closed too if it said so.
                None => break port.close.borrow().map(|r| r.code).unwrap_or(0),
            },
            reason = closed(&mut port.close) => {
                while let Ok(f) = port.rx.try_recv() {
                    let _ = outbox.send(Out::Frame(session, f)).await;
                }
                break reason.code;
            }
        }
    };
    cluster.relay.remotes.remove_if(&session, |_, m| m.origin == origin);
    let _ = outbox.send(Out::Env(Envelope::Closed { session, code })).await;
}

async fn closed(rx: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    loop {
        if let Some(r) = *rx.borrow_and_update() {
            return r;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Publishes a node's outbox in packets.
async fn publisher(cluster: Weak<Cluster>, node: String, mut rx: mpsc::Receiver<Out>) {
    let mut items = Vec::with_capacity(1024);
    while rx.recv_many(&mut items, 1024).await > 0 {
        let Some(c) = cluster.upgrade() else { break };
        for packet in pack(&mut items) {
            let sent = tokio::time::timeout(ANSWER_TIMEOUT, c.publish(&node, &packet)).await;
            match sent {
                Ok(Ok(n)) if n > 0 => metrics::counter!("metaverse_cluster_relay_packets_total").increment(1),
                _ => metrics::counter!("metaverse_cluster_relay_dropped_total").increment(1),
            }
        }
    }
}

/// Groups queued items into packets: frames for consecutive sessions go
/// in one `Frames` envelope, each distinct frame once.
fn pack(items: &mut Vec<Out>) -> Vec<Vec<Envelope>> {
    let mut packets = Vec::new();
    let mut packet: Vec<Envelope> = Vec::new();
    let mut frames: Vec<Bytes> = Vec::new();
    let mut to: Vec<(u64, u32)> = Vec::new();
    let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
    let mut bytes = 0;
    let flush_frames = |packet: &mut Vec<Envelope>,
                        frames: &mut Vec<Bytes>,
                        to: &mut Vec<(u64, u32)>,
                        seen: &mut HashMap<(usize, usize), u32>| {
        if !to.is_empty() {
            let fs = frames.drain(..).map(|b| ByteBuf::from(b.to_vec())).collect();
            metrics::counter!("metaverse_cluster_relay_frames_total").increment(to.len() as u64);
            packet.push(Envelope::Frames { frames: fs, to: std::mem::take(to) });
        }
        frames.clear();
        seen.clear();
    };
    for item in items.drain(..) {
        match item {
            Out::Frame(session, f) => {
                let key = (f.as_ptr() as usize, f.len());
                let idx = match seen.get(&key) {
                    Some(i) => *i,
                    None => {
                        bytes += f.len();
                        frames.push(f);
                        let i = (frames.len() - 1) as u32;
                        seen.insert(key, i);
                        i
                    }
                };
                to.push((session, idx));
            }
            Out::Env(env) => {
                flush_frames(&mut packet, &mut frames, &mut to, &mut seen);
                packet.push(env);
            }
        }
        if bytes >= PACKET_BYTES {
            flush_frames(&mut packet, &mut frames, &mut to, &mut seen);
            packets.push(std::mem::take(&mut packet));
            bytes = 0;
        }
    }
    flush_frames(&mut packet, &mut frames, &mut to, &mut seen);
    if !packet.is_empty() {
        packets.push(packet);
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_frame_travels_once_and_order_is_kept() {
        let shared = Bytes::from_static(b"tick");
        let mut items = vec![
            Out::Frame(1, shared.clone()),
            Out::Frame(2, shared.clone()),
            Out::Frame(3, Bytes::from_static(b"own")),
            Out::Env(Envelope::Closed { session: 2, code: 4006 }),
            Out::Frame(1, shared.clone()),
        ];
        let packets = pack(&mut items);
        assert_eq!(packets.len(), 1);
        let p = &packets[0];
        assert_eq!(p.len(), 3);
        match &p[0] {
            Envelope::Frames { frames, to } => {
                assert_eq!(frames.len(), 2);
                assert_eq!(to, &vec![(1, 0), (2, 0), (3, 1)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(p[1], Envelope::Closed { session: 2, .. }));
        assert!(matches!(&p[2], Envelope::Frames { to, .. } if to == &vec![(1, 0)]));
    }

    #[test]
    fn big_outboxes_are_split_into_packets() {
        let big = Bytes::from(vec![0u8; 600 * 1024]);
        let mut items =
            vec![Out::Frame(1, big.clone()), Out::Frame(2, Bytes::from(vec![1u8; 600 * 1024])), Out::Frame(3, big)];
        let packets = pack(&mut items);
        assert_eq!(packets.len(), 2);
    }

    #[test]
    fn unknown_close_codes_mean_moved() {
        assert_eq!(reason_of(4002), CloseReason::SLOW_CONSUMER);
        assert_eq!(reason_of(1), CloseReason::MOVED);
    }
}
