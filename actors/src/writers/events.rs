//! The events writer: the one job that produces to Kafka. Callers never
//! wait for it on the hot path: events are handed over with `try_send`,
//! and only a chat sender awaits its own record's ack (bounded by
//! `chat_wait`, after which it falls back to the database).
//!
//! It batches what arrives within `linger`, groups records by partition
//! (the key is the space id, so a space's records keep their order), and
//! produces each partition's batch in one request (`events_round`). A
//! failed batch goes back to the head of the backlog and is retried with
//! backoff after a reconnect; the backlog is bounded by `backlog` records,
//! past which chat falls back and analytics events are dropped and
//! counted. It runs as a `Worker` named `events`: a panic restarts the job
//! (its in-flight acks are dropped, so their senders fall back).

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rskafka::client::{Client, partition::PartitionClient};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::worker::{Job, Mailbox, Worker};
use crate::{
    metric_names,
    pipeline::{
        ChatLog, NotProduced, Published,
        kafka::{KafkaSettings, Topic},
        record::{ChatFact, ChatRecord, UserEvent},
    },
};

/// One record on its way to Kafka; `ack` is answered once Kafka has it.
pub(super) struct Pending {
    pub(super) topic: Topic,
    pub(super) key: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) ack: Option<oneshot::Sender<()>>,
}

/// The senders' side. Cheap to clone.
#[derive(Clone)]
pub struct EventWriterHandle {
    worker: Arc<Worker<Pending>>,
    /// Records queued or in flight. The mailbox alone cannot bound them:
    /// a batch being retried has left it.
    queued: Arc<AtomicUsize>,
    backlog: usize,
    chat_wait: Duration,
    healthy: Arc<AtomicBool>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

impl EventWriterHandle {
    /// Starts the writer on the current tokio runtime. It connects in the
    /// background, so a broker that is down at start only delays it.
    pub fn start(settings: KafkaSettings) -> Self {
        let backlog = settings.backlog.max(1);
        let chat_wait = settings.chat_wait;
        let queued = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let settings = Arc::new(settings);
        let (q, h) = (queued.clone(), healthy.clone());
        let worker = Worker::start("events", backlog, move || EventsJob::new(settings.clone(), q.clone(), h.clone()));
        Self { worker: Arc::new(worker), queued, backlog, chat_wait, healthy }
    }

    fn offer(&self, p: Pending) -> Result<(), NotProduced> {
        // Reserve a place first, so the bound holds across racing senders.
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.backlog {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(NotProduced::Full);
        }
        metrics::gauge!(metric_names::EVENTS_BACKLOG).increment(1.0);
        self.worker.try_send(p).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            metrics::gauge!(metric_names::EVENTS_BACKLOG).decrement(1.0);
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
            metrics::counter!(metric_names::EVENTS_DROPPED_TOTAL, "topic" => topic.label(), "reason" => why.label())
                .increment(1);
        }
    }

    /// Queues a join or leave for `user-events`, keyed by its space;
    /// dropped and counted if the backlog is full (nobody waits for it).
    pub fn user_event(&self, e: &UserEvent) {
        self.fire(Topic::UserEvents, &e.space_id, json(e));
    }

    /// Queues a message's facts for `chat-analytics`, keyed by its space;
    /// dropped and counted if the backlog is full.
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

    /// Produces what is queued and stops. The job gives up on Kafka after
    /// its request timeout; `within` (and a second of slack for that last
    /// round) bounds the wait here. False when it did not end in time.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.worker.shutdown(within + Duration::from_secs(1)).await
    }
}

impl ChatLog for EventWriterHandle {
    fn publish_chat<'a>(&'a self, record: &'a ChatRecord) -> Published<'a> {
        Box::pin(EventWriterHandle::publish_chat(self, record))
    }
}

/// The producing job: what it holds lives only as long as it does, so a
/// restarted job reconnects from scratch.
pub(super) struct EventsJob {
    pub(super) settings: Arc<KafkaSettings>,
    pub(super) queued: Arc<AtomicUsize>,
    /// Taken from the mailbox, not yet produced.
    pub(super) buffer: VecDeque<Pending>,
    pub(super) client: Option<Client>,
    pub(super) counts: HashMap<Topic, i32>,
    pub(super) partitions: HashMap<(Topic, i32), Arc<PartitionClient>>,
    pub(super) backoff: Duration,
    /// Earliest time of the next produce attempt after a failure.
    pub(super) retry_at: Option<Instant>,
    pub(super) healthy: Arc<AtomicBool>,
}

/// Records per produce round, at most.
pub(super) const BATCH_MAX: usize = 2_000;
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Job for EventsJob {
    type Item = Pending;

    async fn run(&mut self, mailbox: &mut Mailbox<Pending>) {
        loop {
            if self.buffer.is_empty() {
                match mailbox.recv().await {
                    Some(p) => self.buffer.push_back(p),
                    None => break,
                }
            }
            if !self.fill(mailbox).await {
                break;
            }
            self.round().await;
        }
        self.drain_for_shutdown().await;
    }
}

impl EventsJob {
    fn new(settings: Arc<KafkaSettings>, queued: Arc<AtomicUsize>, healthy: Arc<AtomicBool>) -> Self {
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

    /// Lingers to fill the batch, or waits out a retry's backoff (taking
    /// in records meanwhile, which the backlog bounds). False once a
    /// shutdown was asked for and the mailbox is empty.
    async fn fill(&mut self, mailbox: &mut Mailbox<Pending>) -> bool {
        let backing_off = self.retry_at.is_some_and(|t| t > Instant::now());
        let until = self.retry_at.unwrap_or_else(|| Instant::now() + self.settings.linger);
        while backing_off || self.buffer.len() < BATCH_MAX {
            match tokio::time::timeout_at(until.into(), mailbox.recv()).await {
                Ok(Some(p)) => self.buffer.push_back(p),
                Ok(None) => return false,
                Err(_) => break,
            }
        }
        true
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
                metrics::counter!(metric_names::EVENTS_DROPPED_TOTAL, "topic" => p.topic.label(), "reason" => "shutdown")
                    .increment(1);
                self.queued.fetch_sub(1, Ordering::AcqRel);
                metrics::gauge!(metric_names::EVENTS_BACKLOG).decrement(1.0);
            }
        }
    }
}
