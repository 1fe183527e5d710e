//! The EventWriter: the one task that produces to Kafka. Callers never
//! wait for it on the hot path: events are handed over with `try_send`,
//! and only a chat sender awaits its own record's ack (bounded by
//! `chat_wait`, after which it falls back to the database).
//!
//! It batches what arrives within `linger`, groups records by partition
//! (the key is the space id, so a space's records keep their order), and
//! produces each partition's batch in one request. A failed batch goes
//! back to the head of the backlog and is retried with backoff after a
//! reconnect; the backlog is bounded by `backlog` records, past which chat
//! falls back and analytics events are dropped and counted. A panic inside
//! restarts it (its in-flight acks are dropped, so their senders fall back).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use rskafka::{
    chrono::Utc,
    client::{
        Client,
        partition::{PartitionClient, UnknownTopicHandling},
    },
    record::Record,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    kafka::{self, KafkaError, KafkaSettings, Topic},
    record::{ChatFact, ChatRecord, UserEvent},
};

/// Why a record did not reach Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotProduced {
    /// The backlog is full.
    Full,
    /// Not acknowledged within the wait.
    Timeout,
    /// The writer is gone (stopping or restarting).
    Gone,
}

impl NotProduced {
    pub fn label(self) -> &'static str {
        match self {
            NotProduced::Full => "backlog-full",
            NotProduced::Timeout => "timeout",
            NotProduced::Gone => "writer-gone",
        }
    }
}

struct Pending {
    topic: Topic,
    key: Vec<u8>,
    value: Vec<u8>,
    ack: Option<oneshot::Sender<()>>,
}

/// The senders' side. Cheap to clone.
#[derive(Clone)]
pub struct EventWriterHandle {
    tx: mpsc::Sender<Pending>,
    queued: Arc<AtomicUsize>,
    backlog: usize,
    chat_wait: Duration,
    stop: Arc<watch::Sender<bool>>,
    done: Arc<tokio::sync::Notify>,
    finished: Arc<AtomicBool>,
    healthy: Arc<AtomicBool>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

impl EventWriterHandle {
    /// Starts the writer task on the current tokio runtime. It connects in
    /// the background, so a broker that is down at start only delays it.
    pub fn start(settings: KafkaSettings) -> Self {
        let backlog = settings.backlog.max(1);
        let (tx, rx) = mpsc::channel(backlog);
        let queued = Arc::new(AtomicUsize::new(0));
        let (stop, stop_rx) = watch::channel(false);
        let done = Arc::new(tokio::sync::Notify::new());
        let finished = Arc::new(AtomicBool::new(false));
        let healthy = Arc::new(AtomicBool::new(true));
        let handle = Self {
            healthy: healthy.clone(),
            tx,
            queued: queued.clone(),
            backlog,
            chat_wait: settings.chat_wait,
            stop: Arc::new(stop),
            done: done.clone(),
            finished: finished.clone(),
        };
        tokio::spawn(supervise(settings, rx, queued, healthy, stop_rx, done, finished));
        handle
    }

    fn offer(&self, p: Pending) -> Result<(), NotProduced> {
        // Reserve a place first, so the bound holds across racing senders.
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.backlog {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(NotProduced::Full);
        }
        metrics::gauge!("metaverse_events_backlog").increment(1.0);
        self.tx.try_send(p).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            metrics::gauge!("metaverse_events_backlog").decrement(1.0);
            match e {
                mpsc::error::TrySendError::Full(_) => NotProduced::Full,
                mpsc::error::TrySendError::Closed(_) => NotProduced::Gone,
            }
        })
    }

    /// Hands a chat message to Kafka and waits (at most `chat_wait`) until
    /// Kafka has it.
    pub async fn publish_chat(&self, record: &ChatRecord) -> Result<(), NotProduced> {
        let (ack, rx) = oneshot::channel();
        let p = Pending {
            topic: Topic::Chat,
            key: record.space_id.as_bytes().to_vec(),
            value: json(record),
            ack: Some(ack),
        };
        self.offer(p)?;
        match tokio::time::timeout(self.chat_wait, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(NotProduced::Gone),
            Err(_) => Err(NotProduced::Timeout),
        }
    }

    fn fire(&self, topic: Topic, key: &str, value: Vec<u8>) {
        let p = Pending { topic, key: key.as_bytes().to_vec(), value, ack: None };
        if let Err(why) = self.offer(p) {
            metrics::counter!("metaverse_events_dropped_total", "topic" => topic.label(), "reason" => why.label())
                .increment(1);
        }
    }

    pub fn user_event(&self, e: &UserEvent) {
        self.fire(Topic::UserEvents, &e.space_id, json(e));
    }

    pub fn chat_fact(&self, f: &ChatFact) {
        self.fire(Topic::Analytics, &f.space_id, json(f));
    }

    /// False while produce attempts fail.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Records waiting (queued or in flight).
    pub fn backlog(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Produces what is queued (for at most `within`) and stops.
    pub async fn shutdown(&self, within: Duration) {
        let _ = self.stop.send(true);
        let notified = self.done.notified();
        if self.finished.load(Ordering::Acquire) {
            return;
        }
        let _ = tokio::time::timeout(within + Duration::from_secs(1), notified).await;
    }
}

async fn supervise(
    settings: KafkaSettings,
    mut rx: mpsc::Receiver<Pending>,
    queued: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
    done: Arc<tokio::sync::Notify>,
    finished: Arc<AtomicBool>,
) {
    let settings = Arc::new(settings);
    loop {
        let mut w = Writer::new(settings.clone(), queued.clone(), healthy.clone());
        match AssertUnwindSafe(w.run(&mut rx, &mut stop)).catch_unwind().await {
            Ok(()) => break,
            Err(_) => {
                // Its acks were dropped with it: those senders fall back.
                tracing::error!("event writer panicked; restarting");
                metrics::counter!("metaverse_events_writer_restarts_total").increment(1);
            }
        }
    }
    finished.store(true, Ordering::Release);
    done.notify_waiters();
}

struct Writer {
    settings: Arc<KafkaSettings>,
    queued: Arc<AtomicUsize>,
    buffer: VecDeque<Pending>,
    client: Option<Client>,
    counts: HashMap<Topic, i32>,
    partitions: HashMap<(Topic, i32), Arc<PartitionClient>>,
    backoff: Duration,
    /// Earliest time of the next produce attempt after a failure.
    retry_at: Option<Instant>,
    healthy: Arc<AtomicBool>,
}

/// Records per produce round, at most.
const BATCH_MAX: usize = 2_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Writer {
    fn new(settings: Arc<KafkaSettings>, queued: Arc<AtomicUsize>, healthy: Arc<AtomicBool>) -> Self {
        // A restarted writer starts with an empty buffer: whatever the
        // panicked one held was lost with it.
        Self {
            settings,
            queued,
            buffer: VecDeque::new(),
            client: None,
            counts: HashMap::new(),
            partitions: HashMap::new(),
            backoff: BACKOFF_MIN,
            retry_at: None,
            healthy,
        }
    }

    async fn run(&mut self, rx: &mut mpsc::Receiver<Pending>, stop: &mut watch::Receiver<bool>) {
        let mut stopping = *stop.borrow();
        let mut open = true;
        loop {
            if stopping || !open {
                while let Ok(p) = rx.try_recv() {
                    self.buffer.push_back(p);
                }
                self.drain_for_shutdown().await;
                return;
            }
            if self.buffer.is_empty() {
                tokio::select! {
                    p = rx.recv() => match p {
                        Some(p) => self.buffer.push_back(p),
                        None => open = false,
                    },
                    _ = stop.changed() => stopping = true,
                }
                continue;
            }
            // Linger to fill the batch, or wait out a retry's backoff
            // (taking in records meanwhile, which the backlog bounds).
            let backing_off = self.retry_at.is_some_and(|t| t > Instant::now());
            let until = self.retry_at.unwrap_or_else(|| Instant::now() + self.settings.linger);
            while backing_off || self.buffer.len() < BATCH_MAX {
                tokio::select! {
                    p = rx.recv() => match p {
                        Some(p) => self.buffer.push_back(p),
                        None => { open = false; break; }
                    },
                    _ = tokio::time::sleep_until(until.into()) => break,
                    _ = stop.changed() => { stopping = true; break; }
                }
            }
            if open && !stopping {
                self.round().await;
            }
        }
    }

    /// On shutdown: keep trying for a while, then give up on the rest.
    async fn drain_for_shutdown(&mut self) {
        let deadline = Instant::now() + self.settings.request_timeout;
        while !self.buffer.is_empty() && Instant::now() < deadline {
            self.retry_at = None;
            self.round().await;
            if !self.buffer.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if !self.buffer.is_empty() {
            tracing::warn!(records = self.buffer.len(), "event writer stopped with records Kafka never took");
            for p in self.buffer.drain(..) {
                metrics::counter!("metaverse_events_dropped_total", "topic" => p.topic.label(), "reason" => "shutdown")
                    .increment(1);
                self.queued.fetch_sub(1, Ordering::AcqRel);
                metrics::gauge!("metaverse_events_backlog").decrement(1.0);
            }
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

    /// One produce round over the head of the buffer.
    async fn round(&mut self) {
        if let Err(e) = self.try_round().await {
            self.fail(e);
        }
    }

    async fn try_round(&mut self) -> Result<(), KafkaError> {
        self.ensure_connected().await?;
        let n = self.buffer.len().min(BATCH_MAX);
        let batch: Vec<Pending> = self.buffer.drain(..n).collect();
        // Group by partition, keeping arrival order inside each group.
        let mut groups: BTreeMap<(Topic, i32), Vec<usize>> = BTreeMap::new();
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
        let now = Utc::now();
        let started = Instant::now();
        let limit = self.settings.request_timeout;
        let compression = self.settings.compression;
        let sends = groups.values().zip(&clients).map(|(idx, client)| {
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
        metrics::histogram!("metaverse_kafka_produce_seconds").record(started.elapsed().as_secs_f64());

        let mut failed: Vec<usize> = Vec::new();
        let mut first_error = None;
        for (idx, result) in groups.values().zip(results) {
            match result {
                Ok(_) => {}
                Err(e) => {
                    failed.extend(idx);
                    first_error.get_or_insert(e);
                }
            }
        }
        failed.sort_unstable();
        let mut batch: Vec<Option<Pending>> = batch.into_iter().map(Some).collect();
        let mut retry = Vec::with_capacity(failed.len());
        for i in failed {
            retry.extend(batch[i].take());
        }
        let produced = batch.into_iter().flatten();
        let mut count = 0usize;
        for p in produced {
            count += 1;
            if let Some(ack) = p.ack {
                let _ = ack.send(());
            }
        }
        self.queued.fetch_sub(count, Ordering::AcqRel);
        metrics::gauge!("metaverse_events_backlog").decrement(count as f64);
        metrics::counter!("metaverse_events_produced_total").increment(count as u64);
        match first_error {
            None => {
                if !self.healthy.swap(true, Ordering::AcqRel) {
                    tracing::info!("Kafka is taking records again");
                }
                self.backoff = BACKOFF_MIN;
                self.retry_at = None;
                Ok(())
            }
            Some(e) => {
                self.requeue(retry);
                Err(e)
            }
        }
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
        metrics::counter!("metaverse_kafka_produce_errors_total").increment(1);
        // Reconnect from scratch: leaders may have moved.
        self.client = None;
        self.partitions.clear();
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}
