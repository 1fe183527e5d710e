//! One outbox per peer node, published in packets: frames queued for the
//! peer's sessions in the same moment go in one publish, each distinct
//! frame once, however many sessions share it.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
};

use bytes::Bytes;
use fred::prelude::*;
use metaverse_actors::metric_names::{
    CLUSTER_RELAY_DROPPED_TOTAL, CLUSTER_RELAY_FRAMES_TOTAL, CLUSTER_RELAY_PACKETS_TOTAL,
};
use serde_bytes::ByteBuf;
use tokio::sync::mpsc;

use super::{ANSWER_TIMEOUT, Out, Relay};
use crate::cluster::{
    Cluster, ClusterError,
    wire::{self, Envelope},
};

/// Items an outbox holds at most; a full outbox pushes back on the
/// forwarders, whose session queues then fill (slow consumer).
const OUTBOX: usize = 16_384;
/// Frame bytes per published packet, about.
const PACKET_BYTES: usize = 1 << 20;

impl Relay {
    /// The node's outbox, started (with its publisher) on first use or
    /// after its publisher stopped.
    pub(super) fn outbox(&self, cluster: &Arc<Cluster>, node: &str) -> mpsc::Sender<Out> {
        if let Some(tx) = self.outboxes.get(node).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.outboxes.insert(node.to_owned(), tx.clone());
        actix_rt::spawn(publisher(Arc::downgrade(cluster), node.to_owned(), rx));
        tx
    }
}

impl Cluster {
    /// Publishes a packet to a node's channel; the count of listeners (0:
    /// the node is gone).
    pub async fn publish(&self, node: &str, packet: &[Envelope]) -> Result<i64, ClusterError> {
        let Some(bytes) = wire::encode(packet) else { return Ok(0) };
        let n: i64 = self.redis.publish(self.channel_of(node), bytes).await?;
        Ok(n)
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
                Ok(Ok(n)) if n > 0 => metrics::counter!(CLUSTER_RELAY_PACKETS_TOTAL).increment(1),
                _ => metrics::counter!(CLUSTER_RELAY_DROPPED_TOTAL).increment(1),
            }
        }
    }
}

/// Packets being filled. Frames for consecutive sessions share one
/// `Frames` envelope until an envelope (or the size limit) ends it; a
/// frame is known by its buffer, so one shared by many sessions is
/// stored once.
#[derive(Default)]
struct Packer {
    packets: Vec<Vec<Envelope>>,
    packet: Vec<Envelope>,
    frames: Vec<Bytes>,
    to: Vec<(u64, u32)>,
    seen: HashMap<(usize, usize), u32>,
    bytes: usize,
}

impl Packer {
    fn frame(&mut self, session: u64, f: Bytes) {
        let key = (f.as_ptr() as usize, f.len());
        let idx = match self.seen.get(&key) {
            Some(i) => *i,
            None => {
                self.bytes += f.len();
                self.frames.push(f);
                let i = u32::try_from(self.frames.len() - 1).unwrap_or(u32::MAX);
                self.seen.insert(key, i);
                i
            }
        };
        self.to.push((session, idx));
    }

    fn envelope(&mut self, env: Envelope) {
        self.flush_frames();
        self.packet.push(env);
    }

    fn flush_frames(&mut self) {
        if !self.to.is_empty() {
            let fs = self.frames.drain(..).map(|b| ByteBuf::from(b.to_vec())).collect();
            metrics::counter!(CLUSTER_RELAY_FRAMES_TOTAL).increment(self.to.len() as u64);
            self.packet.push(Envelope::Frames { frames: fs, to: std::mem::take(&mut self.to) });
        }
        self.frames.clear();
        self.seen.clear();
    }

    /// Starts a new packet once this one holds enough frame bytes.
    fn split_if_full(&mut self) {
        if self.bytes >= PACKET_BYTES {
            self.flush_frames();
            self.packets.push(std::mem::take(&mut self.packet));
            self.bytes = 0;
        }
    }

    fn finish(mut self) -> Vec<Vec<Envelope>> {
        self.flush_frames();
        if !self.packet.is_empty() {
            self.packets.push(self.packet);
        }
        self.packets
    }
}

/// Groups queued items into packets, keeping their order.
fn pack(items: &mut Vec<Out>) -> Vec<Vec<Envelope>> {
    let mut packer = Packer::default();
    for item in items.drain(..) {
        match item {
            Out::Frame(session, f) => packer.frame(session, f),
            Out::Env(env) => packer.envelope(*env),
        }
        packer.split_if_full();
    }
    packer.finish()
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
            Out::Env(Box::new(Envelope::Closed { session: 2, code: 4006 })),
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
}
