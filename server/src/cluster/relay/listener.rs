//! This node's channel: packets arrive, and each envelope goes to the
//! handler for its kind.

use std::sync::Arc;

use fred::{clients::SubscriberClient, prelude::*};
use metaverse_actors::metric_names::{
    CLUSTER_RELAY_DROPPED_TOTAL, CLUSTER_RELAY_IN_TOTAL, CLUSTER_RELAY_REFUSED_TOTAL,
};
use tokio::sync::broadcast::error::RecvError;

use super::{control, delivery, joins, requests, revocation, traffic};
use crate::cluster::{
    Cluster,
    wire::{self, Envelope},
};

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
                    Ok(m) => receive(&cluster, m.value.as_bytes()),
                    Err(RecvError::Lagged(n)) => {
                        // Frames were lost: relayed sessions resync by rejoining.
                        metrics::counter!(CLUSTER_RELAY_DROPPED_TOTAL).increment(n);
                        cluster.relay.move_all(&cluster, "relay overloaded; join again").await;
                    }
                    Err(RecvError::Closed) => break,
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

/// Decodes one published packet and dispatches its envelopes in order.
fn receive(cluster: &Arc<Cluster>, bytes: Option<&[u8]>) {
    let Some(packet) = bytes.and_then(wire::decode) else {
        metrics::counter!(CLUSTER_RELAY_REFUSED_TOTAL).increment(1);
        tracing::warn!("refused an undecodable cluster packet");
        return;
    };
    for env in packet {
        dispatch(cluster, env);
    }
}

fn dispatch(cluster: &Arc<Cluster>, env: Envelope) {
    let relay = &cluster.relay;
    metrics::counter!(CLUSTER_RELAY_IN_TOTAL).increment(1);
    match env {
        env @ Envelope::Join { .. } => joins::on_join(cluster, env),
        Envelope::Move { session, x, y } => traffic::on_move(cluster, session, x, y),
        Envelope::Leave { session, dropped, unsent } => traffic::on_leave(relay, session, dropped, unsent),
        Envelope::Signal { session, to, kind, data } => traffic::on_signal(cluster, session, to, kind, &data),
        Envelope::Nearby { session, msg } => traffic::on_nearby(cluster, session, msg),
        Envelope::Unsubscribe { session, room } => traffic::on_unsubscribe(relay, session, &room),
        Envelope::Subscribe { req, from, session, room } => requests::on_subscribe(cluster, req, from, session, room),
        Envelope::Presence { req, from, space, viewer } => requests::on_presence(cluster, req, from, &space, viewer),
        Envelope::Reply { req, answer } => requests::on_reply(relay, req, answer),
        Envelope::Chat { space, room, msg } => control::on_chat(cluster, &space, &room, msg),
        Envelope::Statics { space } => control::on_statics(cluster, space),
        Envelope::Close { space, code } => control::on_close(cluster, &space, code),
        Envelope::Adopt { space } => control::on_adopt(cluster, space),
        Envelope::Drain {} => control::on_drain(cluster),
        Envelope::Revoked { session } => revocation::on_revoked(cluster, session),
        Envelope::Frames { frames, to } => delivery::on_frames(relay, frames, to),
        Envelope::Closed { session, code } => delivery::on_closed(relay, session, code),
    }
}
