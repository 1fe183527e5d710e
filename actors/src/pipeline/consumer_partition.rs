//! One partition's consumer: holds the partition's lease, fetches its
//! records from the stored offset, and applies them together with the
//! new offset in one transaction, so a crash neither loses nor repeats a
//! record. It also notices a broker that lost or replaced the log.

use std::{sync::Arc, time::Duration};

use metaverse_schema::{
    now_millis,
    store::{
        ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait, chatrooms,
        messages::insert_messages,
        offsets::{self, Advance, Partition},
    },
};
use rskafka::client::{
    Client,
    partition::{OffsetAt, PartitionClient, UnknownTopicHandling},
};
use tokio::sync::watch;

use super::{
    consumer::{ConsumerSettings, pause},
    fold::Fold,
    kafka::{self, KafkaError, Topic},
    record::{AnalyticsEvent, ChatRecord, RecordError},
};
use crate::metric_names;

#[derive(Debug, thiserror::Error)]
enum WorkError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

pub(super) struct PartitionConsumer {
    db: DatabaseConnection,
    client: Arc<Client>,
    s: Arc<ConsumerSettings>,
    topic: Topic,
    name: String,
    partition: i32,
    pc: Option<PartitionClient>,
    /// When our lease runs out (0: not held).
    held_until: i64,
    /// The offset in the database (what the commit compares against).
    stored: i64,
    /// The next offset to fetch.
    next: i64,
    /// Digest of the last applied record, as stored.
    digest: Option<String>,
    /// Whether the log was checked to still hold the last applied record
    /// since the (re)connect.
    verified: bool,
}

enum Step {
    Progress,
    Idle,
    NotOurs,
}

impl PartitionConsumer {
    pub(super) fn new(
        db: DatabaseConnection,
        client: Arc<Client>,
        s: Arc<ConsumerSettings>,
        topic: Topic,
        partition: i32,
    ) -> Self {
        let name = s.kafka.topics.name(topic).to_owned();
        Self {
            db,
            client,
            s,
            topic,
            name,
            partition,
            pc: None,
            held_until: 0,
            stored: -1,
            next: -1,
            digest: None,
            verified: false,
        }
    }

    fn labels(&self) -> [(&'static str, String); 2] {
        [("topic", self.topic.label().to_owned()), ("partition", self.partition.to_string())]
    }

    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let lease_ms = i64::try_from(self.s.lease.as_millis()).unwrap_or(i64::MAX);
        loop {
            if *stop.borrow() {
                break;
            }
            match self.step().await {
                Ok(Step::Progress | Step::Idle) => backoff = Duration::from_millis(100),
                Ok(Step::NotOurs) => {
                    if pause(&mut stop, Duration::from_millis((lease_ms / 3).max(50) as u64)).await {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = %self.name, partition = self.partition, error = %e, "consumer step failed; retrying");
                    metrics::counter!(metric_names::CONSUMER_ERRORS_TOTAL, &self.labels()).increment(1);
                    self.pc = None;
                    self.verified = false;
                    if pause(&mut stop, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.release().await;
    }

    async fn release(&mut self) {
        if self.held_until == 0 {
            return;
        }
        let _ = offsets::release(&self.db, self.key()).await;
    }

    fn key(&self) -> Partition<'_> {
        Partition { topic: &self.name, partition: self.partition, owner: &self.s.owner }
    }

    /// Takes or renews the lease; on taking it, reads the stored offset.
    async fn lease(&mut self) -> Result<bool, DbErr> {
        let now = now_millis();
        let lease_ms = i64::try_from(self.s.lease.as_millis()).unwrap_or(i64::MAX);
        if self.held_until - now > lease_ms / 2 {
            return Ok(true);
        }
        let fresh = self.held_until == 0 || self.held_until <= now;
        if !offsets::take_lease(&self.db, self.key(), now, now + lease_ms).await? {
            if self.held_until != 0 {
                tracing::info!(topic = %self.name, partition = self.partition, "lease taken by another consumer");
            }
            self.held_until = 0;
            return Ok(false);
        }
        if fresh {
            // Someone else may have moved on while we did not hold it.
            let row = offsets::find(&self.db, &self.name, self.partition).await?;
            self.stored = row.as_ref().map(|r| r.next_offset).unwrap_or(-1);
            self.digest = row.and_then(|r| r.last_digest);
            self.next = self.stored;
            self.verified = false;
            tracing::info!(topic = %self.name, partition = self.partition, offset = self.stored, "consuming partition");
        }
        self.held_until = now + lease_ms;
        Ok(true)
    }

    async fn partition_client(&mut self) -> Result<&PartitionClient, KafkaError> {
        let pc = match self.pc.take() {
            Some(pc) => pc,
            None => {
                kafka::bounded(
                    self.s.kafka.request_timeout,
                    self.client.partition_client(self.name.clone(), self.partition, UnknownTopicHandling::Retry),
                )
                .await?
            }
        };
        Ok(self.pc.insert(pc))
    }

    async fn offset(&mut self, at: OffsetAt) -> Result<i64, KafkaError> {
        let limit = self.s.kafka.request_timeout;
        let pc = self.partition_client().await?;
        kafka::bounded(limit, pc.get_offset(at)).await
    }

    async fn step(&mut self) -> Result<Step, WorkError> {
        if !self.lease().await? {
            return Ok(Step::NotOurs);
        }
        if !self.verified {
            if let Some(step) = self.verify().await? {
                return Ok(step);
            }
            self.verified = true;
        }
        if self.next < 0 {
            self.next = self.offset(OffsetAt::Earliest).await?;
        }
        let limit = self.s.kafka.request_timeout + self.s.fetch_wait;
        let (max_bytes, wait_ms) =
            (self.s.fetch_max_bytes, i32::try_from(self.s.fetch_wait.as_millis()).unwrap_or(i32::MAX));
        let next = self.next;
        // Fetch one record early, the last one applied, to check on every
        // fetch that this is still the log we were reading: rskafka
        // reconnects to a restarted broker without telling us, and a broker
        // that lost its storage numbers a new log from zero.
        let check = self.digest.clone().filter(|_| next > 0 && next == self.stored);
        let from = if check.is_some() { next - 1 } else { next };
        let fetched = {
            let pc = self.partition_client().await?;
            kafka::bounded(limit, pc.fetch_records(from, 1..max_bytes, wait_ms)).await
        };
        let (records, high_watermark) = match fetched {
            Ok(r) => r,
            Err(e) if e.is_offset_out_of_range() => return self.out_of_range().await,
            Err(e) => return Err(e.into()),
        };
        if let Some(expected) = check
            && let Some(r) = records.iter().find(|r| r.offset == next - 1)
            && digest(r.record.value.as_deref()) != expected
        {
            return self.replaced(next).await;
        }
        if high_watermark < next {
            // The log ends before our position: it is not the one we read.
            return self.replaced(next).await;
        }
        let mut batch: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
        // Some brokers repeat records across batches; apply each offset once.
        batch.sort_by_key(|r| r.offset);
        batch.dedup_by_key(|r| r.offset);
        if batch.is_empty() {
            metrics::gauge!(metric_names::CONSUMER_LAG, &self.labels()).set((high_watermark - next).max(0) as f64);
            return Ok(Step::Idle);
        }
        let last = batch.iter().map(|r| r.offset).max().unwrap_or(next);
        let values: Vec<Option<Vec<u8>>> = batch.into_iter().map(|r| r.record.value).collect();
        let digest = values.last().map(|v| digest(v.as_deref()));
        let step = self.commit(values, last + 1, digest).await?;
        metrics::gauge!(metric_names::CONSUMER_LAG, &self.labels()).set((high_watermark - last - 1).max(0) as f64);
        Ok(step)
    }

    /// Our offset is outside the partition's log: its records expired
    /// before we read them, or the log was recreated. Either way, go on
    /// from the earliest record it keeps.
    async fn out_of_range(&mut self) -> Result<Step, WorkError> {
        let earliest = self.offset(OffsetAt::Earliest).await?;
        if self.next < earliest {
            tracing::warn!(topic = %self.name, partition = self.partition, from = self.next, to = earliest,
                "records expired before they were consumed; skipping to the earliest kept");
            metrics::counter!(metric_names::CONSUMER_SKIPPED_TOTAL, "reason" => "expired")
                .increment((earliest - self.next) as u64);
        } else {
            tracing::warn!(topic = %self.name, partition = self.partition, offset = self.next, earliest,
                "the partition's log is behind our offset (was it recreated?); starting from its beginning");
        }
        self.commit(Vec::new(), earliest, None).await
    }

    /// Checks that the log still holds the last applied record where it
    /// was. A broker that lost its storage starts its offsets again from
    /// zero; without this check the consumer would wait for the new log to
    /// pass its old offset and skip everything before it. Returns a step
    /// when it had to reset.
    async fn verify(&mut self) -> Result<Option<Step>, WorkError> {
        let (Some(expected), true) = (self.digest.clone(), self.stored > 0) else {
            return Ok(None);
        };
        let at = self.stored - 1;
        let limit = self.s.kafka.request_timeout;
        let max_bytes = self.s.fetch_max_bytes;
        let fetched = {
            let pc = self.partition_client().await?;
            kafka::bounded(limit, pc.fetch_records(at, 1..max_bytes, 0)).await
        };
        let found = match fetched {
            Ok((records, _)) => records.into_iter().find(|r| r.offset == at).map(|r| digest(r.record.value.as_deref())),
            Err(e) if e.is_offset_out_of_range() => None,
            Err(e) => return Err(e.into()),
        };
        if found.as_deref() == Some(expected.as_str()) {
            return Ok(None);
        }
        Ok(Some(self.replaced(self.stored).await?))
    }

    /// The partition's log is not the one we were reading (the broker lost
    /// or replaced it): start it from its beginning. Records already
    /// applied are skipped by id or event key, so nothing lands twice.
    async fn replaced(&mut self, at: i64) -> Result<Step, WorkError> {
        let earliest = self.offset(OffsetAt::Earliest).await?.max(0);
        tracing::warn!(topic = %self.name, partition = self.partition, offset = at, earliest,
            "the partition's log no longer holds the last record applied (the broker lost or replaced it); consuming it from its beginning");
        metrics::counter!(metric_names::CONSUMER_LOG_RESETS_TOTAL).increment(1);
        self.next = earliest;
        self.commit(Vec::new(), earliest, None).await
    }

    /// Applies the records and moves the offset to `to`, in one
    /// transaction that only commits if the lease and offset are still ours.
    async fn commit(
        &mut self,
        values: Vec<Option<Vec<u8>>>,
        to: i64,
        digest: Option<String>,
    ) -> Result<Step, WorkError> {
        let n = values.len();
        let now = now_millis();
        let lease_ms = i64::try_from(self.s.lease.as_millis()).unwrap_or(i64::MAX);
        let txn = self.db.begin().await?;
        let folded = match self.topic {
            Topic::Chat => {
                store_chat(&txn, decode_all(&values, self.topic, ChatRecord::decode)).await?;
                None
            }
            Topic::UserEvents | Topic::Analytics => {
                let decode = decode_event(self.topic);
                let mut fold = Fold::default();
                for e in decode_all(&values, self.topic, decode) {
                    fold.add(e);
                }
                Some(fold.apply(&txn).await?)
            }
        };
        let advance = Advance { from: self.stored, to, digest: digest.clone(), now, lease_until: now + lease_ms };
        if !offsets::advance(&txn, self.key(), advance).await? {
            txn.rollback().await?;
            tracing::info!(topic = %self.name, partition = self.partition, "lost the partition before committing");
            self.held_until = 0;
            return Ok(Step::NotOurs);
        }
        txn.commit().await?;
        self.stored = to;
        self.next = to;
        self.digest = digest;
        self.held_until = now + lease_ms;
        if let Some(tally) = folded {
            tally.record_metrics();
        }
        metrics::counter!(metric_names::CONSUMER_RECORDS_TOTAL, "topic" => self.topic.label()).increment(n as u64);
        Ok(Step::Progress)
    }
}

fn digest(value: Option<&[u8]>) -> String {
    format!("{:016x}", value.map(kafka::fnv1a).unwrap_or(0))
}

fn decode_event(topic: Topic) -> fn(&[u8]) -> Result<AnalyticsEvent, RecordError> {
    match topic {
        Topic::UserEvents => AnalyticsEvent::decode_user,
        _ => AnalyticsEvent::decode_chat,
    }
}

/// Decodes what it can; a bad record is logged, counted and skipped (its
/// offset still advances, so it cannot block the partition).
fn decode_all<T>(values: &[Option<Vec<u8>>], topic: Topic, decode: fn(&[u8]) -> Result<T, RecordError>) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match v.as_deref().map(decode) {
            Some(Ok(x)) => out.push(x),
            Some(Err(e)) => {
                tracing::warn!(topic = topic.label(), error = %e, "skipping a record that is not ours to read");
                metrics::counter!(metric_names::CONSUMER_SKIPPED_TOTAL, "reason" => "invalid").increment(1);
            }
            None => {
                metrics::counter!(metric_names::CONSUMER_SKIPPED_TOTAL, "reason" => "invalid").increment(1);
            }
        }
    }
    out
}

/// Inserts chat records (a record already stored, by the database
/// fallback or an earlier delivery, is skipped by id). Messages to rooms
/// deleted since are dropped: their rows would have been deleted with the
/// room anyway.
async fn store_chat<C: ConnectionTrait>(db: &C, records: Vec<ChatRecord>) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    let mut rooms: Vec<String> = records.iter().map(|r| r.message.chatroom_id.clone()).collect();
    rooms.sort();
    rooms.dedup();
    let live = chatrooms::existing(db, rooms).await?;
    let (keep, gone): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| live.contains(&r.message.chatroom_id));
    if !gone.is_empty() {
        metrics::counter!(metric_names::CONSUMER_SKIPPED_TOTAL, "reason" => "unknown-room")
            .increment(gone.len() as u64);
    }
    let rows = keep.into_iter().map(|r| r.message.into()).collect();
    insert_messages(db, rows).await?;
    Ok(())
}
