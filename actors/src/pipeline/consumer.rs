//! The consumer: reads the three topics back into the database. rskafka
//! has no consumer groups, so each partition's position lives in
//! `event_offsets`, written in the same transaction as the rows its
//! records produced (history, analytics): a crash at any point neither
//! loses nor repeats a record.
//!
//! One consumer per partition is active at a time: each partition row
//! carries a lease (owner and expiry) that its consumer renews with every
//! commit. The commit itself is conditional on the offset it started from
//! and on still owning the lease, so even two consumers that both think
//! they own a partition cannot both apply the same records. Several
//! processes may split partitions (`partitions`), or all take all and let
//! the leases decide.

use std::{sync::Arc, time::Duration};

use metaverse_schema::{now_millis, store::DatabaseConnection};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    consumer_partition::PartitionConsumer,
    fold,
    kafka::{self, KafkaError, KafkaSettings, Topic},
};

/// How the consumer reaches the topics and shares their partitions.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    /// The brokers and topics, as the writer uses them.
    pub kafka: KafkaSettings,
    /// This consumer's name in the leases; unique per process.
    pub owner: String,
    /// Partitions to consume (of every topic); `None` for all.
    pub partitions: Option<Vec<i32>>,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// Bytes one fetch may return, at most: bounds a batch, and so the
    /// transaction that applies it.
    pub fetch_max_bytes: i32,
    /// How long a fetch waits at the broker for records: what history lags
    /// an acknowledged message by, at most, on a quiet partition.
    pub fetch_wait: Duration,
}

impl ConsumerSettings {
    /// All partitions, a 15 s lease, 4 MiB fetches waiting up to 250 ms.
    pub fn new(kafka: KafkaSettings, owner: String) -> Self {
        Self {
            kafka,
            owner,
            partitions: None,
            lease: Duration::from_secs(15),
            fetch_max_bytes: 4 * 1024 * 1024,
            fetch_wait: Duration::from_millis(250),
        }
    }
}

/// A running consumer.
pub struct Consumer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Consumer {
    /// Starts on the current tokio runtime. It connects in the background
    /// and keeps retrying while the broker is away.
    pub fn start(db: DatabaseConnection, settings: ConsumerSettings) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(db, Arc::new(settings), stop_rx));
        Self { stop, task }
    }

    /// Stops after the batches in progress and releases its leases.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Sleeps, unless stopped first (then returns true).
pub(super) async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn run(db: DatabaseConnection, s: Arc<ConsumerSettings>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    let (client, counts) = loop {
        let attempt = async {
            let client = kafka::connect(&s.kafka).await?;
            let counts = kafka::ensure_topics(&client, &s.kafka).await?;
            Ok::<_, KafkaError>((client, counts))
        };
        match attempt.await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "consumer cannot reach Kafka; retrying");
                if pause(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    let client = Arc::new(client);
    let mut workers = Vec::new();
    for topic in Topic::ALL {
        let count = counts.get(&topic).copied().unwrap_or(1);
        for p in 0..count {
            if s.partitions.as_ref().is_some_and(|only| !only.contains(&p)) {
                continue;
            }
            let w = PartitionConsumer::new(db.clone(), client.clone(), s.clone(), topic, p);
            workers.push(tokio::spawn(w.run(stop.clone())));
        }
        if let Some(only) = &s.partitions {
            for p in only.iter().filter(|p| **p >= count || **p < 0) {
                tracing::warn!(topic = s.kafka.topics.name(topic), partition = p, "no such partition; skipped");
            }
        }
    }
    tracing::info!(owner = %s.owner, partitions = workers.len(), "consuming events");
    // Every consumer prunes; the delete is idempotent.
    let pruner_db = db.clone();
    let mut pruner_stop = stop.clone();
    workers.push(tokio::spawn(async move {
        loop {
            if let Err(e) = fold::prune_seen(&pruner_db, now_millis()).await {
                tracing::debug!(error = %e, "pruning analytics keys failed");
            }
            if pause(&mut pruner_stop, Duration::from_secs(600)).await {
                break;
            }
        }
    }));
    futures_util::future::join_all(workers).await;
}
