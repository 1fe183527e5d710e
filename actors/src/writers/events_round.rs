//! One produce round of the events writer: the head of its buffer, grouped
//! by partition, one produce request per partition, all at once. Records
//! whose request failed go back to the head of the buffer in their order;
//! the others are acknowledged.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use rskafka::{
    chrono::Utc,
    client::partition::{PartitionClient, UnknownTopicHandling},
    record::Record,
};

use super::events::{BACKOFF_MAX, BACKOFF_MIN, BATCH_MAX, EventsJob, Pending};
use crate::{
    metric_names,
    pipeline::kafka::{self, KafkaError, Topic},
};

/// Indices into a round's batch, by the partition they go to; arrival
/// order is kept inside each group.
type Groups = BTreeMap<(Topic, i32), Vec<usize>>;

impl EventsJob {
    /// One produce round over the head of the buffer.
    pub(super) async fn round(&mut self) {
        if let Err(e) = self.try_round().await {
            self.fail(e);
        }
    }

    async fn ensure_connected(&mut self) -> Result<(), KafkaError> {
        if self.client.is_none() {
            let client = kafka::connect(&self.settings).await?;
            self.counts = kafka::ensure_topics(&client, &self.settings).await?;
            self.client = Some(client);
        }
        Ok(())
    }

    async fn partition(&mut self, topic: Topic, p: i32) -> Result<Arc<PartitionClient>, KafkaError> {
        if let Some(c) = self.partitions.get(&(topic, p)) {
            return Ok(c.clone());
        }
        let client = self.client.as_ref().expect("connected");
        let name = self.settings.topics.name(topic).to_owned();
        let pc = kafka::bounded(
            self.settings.request_timeout,
            client.partition_client(name, p, UnknownTopicHandling::Retry),
        )
        .await?;
        let pc = Arc::new(pc);
        self.partitions.insert((topic, p), pc.clone());
        Ok(pc)
    }

    async fn try_round(&mut self) -> Result<(), KafkaError> {
        self.ensure_connected().await?;
        let n = self.buffer.len().min(BATCH_MAX);
        let batch: Vec<Pending> = self.buffer.drain(..n).collect();
        let mut groups = Groups::new();
        for (i, p) in batch.iter().enumerate() {
            let count = self.counts.get(&p.topic).copied().unwrap_or(1);
            groups.entry((p.topic, kafka::partition_for(&p.key, count))).or_default().push(i);
        }
        let mut clients = Vec::with_capacity(groups.len());
        for key in groups.keys() {
            match self.partition(key.0, key.1).await {
                Ok(c) => clients.push(c),
                Err(e) => {
                    self.requeue(batch);
                    return Err(e);
                }
            }
        }
        let results = self.produce(&batch, &groups, &clients).await;
        let mut failed: Vec<usize> = Vec::new();
        let mut first_error = None;
        for (idx, result) in groups.values().zip(results) {
            if let Err(e) = result {
                failed.extend(idx);
                first_error.get_or_insert(e);
            }
        }
        let retry = self.settle(batch, failed);
        match first_error {
            None => {
                self.succeeded();
                Ok(())
            }
            Some(e) => {
                self.requeue(retry);
                Err(e)
            }
        }
    }

    /// Sends each group to its partition client, concurrently.
    async fn produce(
        &self,
        batch: &[Pending],
        groups: &Groups,
        clients: &[Arc<PartitionClient>],
    ) -> Vec<Result<Vec<i64>, KafkaError>> {
        let now = Utc::now();
        let started = Instant::now();
        let limit = self.settings.request_timeout;
        let compression = self.settings.compression;
        let sends = groups.values().zip(clients).map(|(idx, client)| {
            let records: Vec<Record> = idx
                .iter()
                .map(|&i| Record {
                    key: Some(batch[i].key.clone()),
                    value: Some(batch[i].value.clone()),
                    headers: BTreeMap::from([("content-type".to_owned(), b"application/json".to_vec())]),
                    timestamp: now,
                })
                .collect();
            kafka::bounded(limit, client.produce(records, compression))
        });
        let results = futures_util::future::join_all(sends).await;
        metrics::histogram!(metric_names::KAFKA_PRODUCE_SECONDS).record(started.elapsed().as_secs_f64());
        results
    }

    /// Acknowledges what was produced and hands back, in order, what was
    /// not (the records at the `failed` indices).
    fn settle(&mut self, batch: Vec<Pending>, mut failed: Vec<usize>) -> Vec<Pending> {
        failed.sort_unstable();
        let mut batch: Vec<Option<Pending>> = batch.into_iter().map(Some).collect();
        let mut retry = Vec::with_capacity(failed.len());
        for i in failed {
            retry.extend(batch[i].take());
        }
        let mut count = 0usize;
        for p in batch.into_iter().flatten() {
            count += 1;
            if let Some(ack) = p.ack {
                let _ = ack.send(());
            }
        }
        self.queued.fetch_sub(count, Ordering::AcqRel);
        metrics::gauge!(metric_names::EVENTS_BACKLOG).decrement(count as f64);
        metrics::counter!(metric_names::EVENTS_PRODUCED_TOTAL).increment(count as u64);
        retry
    }

    fn succeeded(&mut self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!("Kafka is taking records again");
        }
        self.backoff = BACKOFF_MIN;
        self.retry_at = None;
    }

    /// Puts records back at the head, in their order.
    fn requeue(&mut self, batch: Vec<Pending>) {
        for p in batch.into_iter().rev() {
            self.buffer.push_front(p);
        }
    }

    fn fail(&mut self, e: KafkaError) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %e, backlog = self.buffer.len(), "Kafka is not taking records; retrying with backoff");
        } else {
            tracing::debug!(error = %e, "produce retry failed");
        }
        metrics::counter!(metric_names::KAFKA_PRODUCE_ERRORS_TOTAL).increment(1);
        // Reconnect from scratch: leaders may have moved.
        self.client = None;
        self.partitions.clear();
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}
