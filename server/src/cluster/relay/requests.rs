//! Requests that wait for an answer from another node (join, chat
//! subscription, presence): each carries an id, and the `Reply` with
//! that id wakes the asker.

use std::sync::{Arc, atomic::Ordering};

use metaverse_actors::space::{ChatSubscribe, Members, Present};
use tokio::sync::oneshot;

use super::{ANSWER_TIMEOUT, Relay};
use crate::cluster::{
    Cluster,
    wire::{Answer, Envelope},
};

impl Relay {
    /// Sends a request and waits for its answer.
    pub(super) async fn ask(
        &self,
        cluster: &Arc<Cluster>,
        node: &str,
        make: impl FnOnce(u64) -> Envelope,
    ) -> Option<Answer> {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.insert(req, tx);
        self.send(cluster, node, make(req)).await;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await.ok().and_then(Result::ok);
        self.pending.remove(&req);
        answer
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
        viewer: Option<String>,
    ) -> Option<Vec<Present>> {
        let from = cluster.node.clone();
        match self.ask(cluster, owner, |req| Envelope::Presence { req, from, space, viewer }).await {
            Some(Answer::Presence { users }) => Some(users),
            _ => None,
        }
    }
}

pub(super) fn on_subscribe(cluster: &Arc<Cluster>, req: u64, from: String, session: u64, room: String) {
    let target = cluster.relay.remotes.get(&session).map(|m| (m.space.clone(), m.user.clone()));
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

pub(super) fn on_presence(cluster: &Arc<Cluster>, req: u64, from: String, space: &str, viewer: Option<String>) {
    let addr = cluster.registry().get(space);
    let c = cluster.clone();
    actix_rt::spawn(async move {
        let users = match addr {
            Some(a) => a.send(Members { viewer }).await.unwrap_or_default(),
            None => Vec::new(),
        };
        c.relay.send(&c, &from, Envelope::Reply { req, answer: Answer::Presence { users } }).await;
    });
}

pub(super) fn on_reply(relay: &Relay, req: u64, answer: Answer) {
    if let Some((_, tx)) = relay.pending.remove(&req) {
        let _ = tx.send(answer);
    }
}
