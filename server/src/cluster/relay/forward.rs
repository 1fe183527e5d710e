//! The owner's side of a relayed member: its queue drains into the
//! session node's outbox, and the session's end is reported with its
//! close code so the far socket closes the same way a local one would.

use std::sync::Arc;

use metaverse_actors::SessionPort;

use super::Out;
use crate::cluster::{Cluster, wire::Envelope};

/// Drains a relayed member's queue into its node's outbox, then says how
/// the session ended.
pub(super) async fn forward(cluster: Arc<Cluster>, origin: String, session: u64, mut port: SessionPort) {
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
                None => break port.close.reason().map(|r| r.code).unwrap_or(0),
            },
            reason = port.close.closed() => {
                while let Some(f) = port.rx.try_recv() {
                    let _ = outbox.send(Out::Frame(session, f)).await;
                }
                break reason.code;
            }
        }
    };
    cluster.relay.remotes.remove_if(&session, |_, m| m.origin == origin);
    let _ = outbox.send(Out::Env(Box::new(Envelope::Closed { session, code }))).await;
}
