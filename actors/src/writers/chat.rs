//! The chat writer: makes chat messages durable, off the hot path.
//!
//! Senders hand a message (with its server-made id) to the writer and wait
//! for the ack; only then is the message acknowledged and fanned out. The
//! writer batches (up to `batch_max` messages or `linger`), writes each
//! batch in one idempotent statement (a retry of a batch that did commit
//! inserts nothing), and retries with backoff until the oldest message's
//! deadline. Up to `in_flight` batches are written at once, each in its own
//! transaction, so a batch collects and commits while the one before it is
//! still waiting for its commit; their acks are released in batch order,
//! so a sender's messages (and a room's) are acknowledged in the order
//! they were sent. It runs as a `Worker`: the mailbox is the bounded queue: when it is full, or the
//! deadline passes, the sender is told `chat-unavailable`. Nothing is
//! dropped silently.
//!
//! A failed write may still have committed (the connection died between
//! COMMIT and its answer). Messages answered `chat-unavailable` after such
//! a failure are deleted again in the writer's next transaction, so a
//! message refused to its sender does not stay in history.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use metaverse_schema::{
    ChatMessage,
    entity::message,
    store::{DatabaseConnection, DbBackend},
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, oneshot},
    task::JoinHandle,
};

use super::{
    chat_write::write_batch,
    worker::{Job, Mailbox, Worker},
};
use crate::{
    metric_names,
    pipeline::{ChatLog, record::ChatRecord},
};

/// How the chat writer batches and how long a message may wait.
#[derive(Clone, Debug)]
pub struct ChatWriterSettings {
    /// Messages written in one statement, at most.
    pub batch_max: usize,
    /// How long the writer waits for more messages after the first of a
    /// batch: a little latency for far fewer transactions under load.
    pub linger: Duration,
    /// Messages waiting to be written, at most; more are refused at once.
    pub queue: usize,
    /// How long a message may wait for durability before its sender is told
    /// chat is unavailable.
    pub deadline: Duration,
    /// Batches being written at once, at least one. SQLite takes one: its
    /// single writer lock would only queue a second.
    pub in_flight: usize,
}

impl Default for ChatWriterSettings {
    fn default() -> Self {
        Self {
            batch_max: 256,
            linger: Duration::from_millis(2),
            queue: 10_000,
            deadline: Duration::from_secs(5),
            in_flight: 2,
        }
    }
}

/// Why a message was not made durable; its sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChatWriteError {
    /// The database did not take it in time; it was not written.
    #[error("chat is unavailable: the message could not be made durable")]
    Unavailable,
    /// The database refused this message for good (its room is gone).
    #[error("the message was refused by the database (its room no longer exists)")]
    Rejected,
}

type Ack = oneshot::Sender<Result<(), ChatWriteError>>;

/// One message waiting for durability, with its sender's ack.
pub struct Persist {
    msg: message::Model,
    ack: Ack,
    at: Instant,
}

/// Refused-but-maybe-committed ids kept for deletion, at most.
const MAX_REFUSED: usize = 10_000;

/// The writer's job: batches out of the mailbox, each written by a task of
/// its own, at most `in_flight` at once.
struct ChatJob {
    db: DatabaseConnection,
    settings: ChatWriterSettings,
    /// Ids answered `chat-unavailable` whose write may have committed; the
    /// next write to start deletes them.
    refused: Arc<Mutex<Vec<String>>>,
    in_flight: Arc<Semaphore>,
}

impl Job for ChatJob {
    type Item = Persist;

    async fn run(&mut self, mailbox: &mut Mailbox<Persist>) {
        // The previous batch's "acks sent": each batch waits for it before
        // sending its own.
        let mut turn: Option<oneshot::Receiver<()>> = None;
        let mut running: Vec<JoinHandle<()>> = Vec::new();
        while let Some(batch) = mailbox.batch(self.settings.batch_max, self.settings.linger).await {
            let Ok(slot) = self.in_flight.clone().acquire_owned().await else { break };
            let (done, next_turn) = oneshot::channel();
            let write = BatchWrite {
                db: self.db.clone(),
                deadline: self.settings.deadline,
                refused: self.refused.clone(),
                after: turn.replace(next_turn),
                done,
            };
            running.retain(|h| !h.is_finished());
            running.push(tokio::spawn(write.run(batch, slot)));
        }
        // Shutdown: what was taken from the mailbox is written and acked.
        for h in running {
            if h.await.is_err() {
                tracing::error!("a chat batch write panicked; its senders were told chat is unavailable");
            }
        }
    }
}

/// One batch on its way to the database.
struct BatchWrite {
    db: DatabaseConnection,
    deadline: Duration,
    refused: Arc<Mutex<Vec<String>>>,
    /// Resolves once the batch before this one has sent its acks.
    after: Option<oneshot::Receiver<()>>,
    /// Tells the batch after this one that its turn has come.
    done: oneshot::Sender<()>,
}

impl BatchWrite {
    async fn run(self, batch: Vec<Persist>, slot: OwnedSemaphorePermit) {
        // A message whose sender has already been told it failed must not
        // be written afterwards.
        let now = Instant::now();
        let deadline_of = |at: Instant| at + self.deadline;
        let (expired, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|p| deadline_of(p.at) <= now);
        let mut results = Vec::new();
        if !batch.is_empty() {
            let deadline = batch.iter().map(|p| deadline_of(p.at)).min().unwrap_or(now);
            let rows: Vec<message::Model> = batch.iter().map(|p| p.msg.clone()).collect();
            metrics::histogram!(metric_names::CHAT_BATCH_SIZE).record(batch.len() as f64);
            let doubts = std::mem::take(&mut *lock(&self.refused));
            let (written, doubts) = write_batch(self.db, rows, doubts, deadline).await;
            keep_doubts(&self.refused, doubts);
            results = written;
        }
        // The next batch may write while this one waits for its turn.
        drop(slot);
        if let Some(after) = self.after {
            let _ = after.await;
        }
        // Refusals too wait for the batch before: a sender never hears of
        // a later message before an earlier one.
        metrics::gauge!(metric_names::CHAT_QUEUE).decrement(expired.len() as f64);
        for p in expired {
            let _ = p.ack.send(Err(ChatWriteError::Unavailable));
        }
        metrics::gauge!(metric_names::CHAT_QUEUE).decrement(batch.len() as f64);
        for (p, result) in batch.into_iter().zip(results) {
            let _ = p.ack.send(result);
        }
        let _ = self.done.send(());
    }
}

/// The refused ids, even after a panic elsewhere held the lock.
fn lock(refused: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps ids in doubt for the next write, bounded: during a long outage
/// the oldest doubts are given up.
fn keep_doubts(refused: &Mutex<Vec<String>>, doubts: Vec<String>) {
    let mut kept = lock(refused);
    kept.extend(doubts);
    if kept.len() > MAX_REFUSED {
        let over = kept.len() - MAX_REFUSED;
        tracing::warn!(over, "too many messages in doubt; some refused ones may stay in history");
        kept.drain(..over);
    }
}

/// The senders' handle. With Kafka, a message is durable once Kafka has
/// it (the consumer stores it); when Kafka does not take it in time, or its
/// backlog is full, it is written straight to the database instead, and a
/// metric and a log line say so. A message that reaches both lands once:
/// inserts skip ids already stored.
#[derive(Clone)]
pub struct ChatStore {
    worker: Arc<Worker<Persist>>,
    deadline: Duration,
    kafka: Option<Arc<dyn ChatLog>>,
    falling_back: Arc<AtomicBool>,
}

impl ChatStore {
    /// Starts the writer on the current tokio runtime. After a panic it
    /// restarts; the acks of the batch it held are dropped, so those
    /// senders are told `chat-unavailable`.
    pub fn start(db: DatabaseConnection, settings: ChatWriterSettings) -> Self {
        let deadline = settings.deadline;
        let queue = settings.queue;
        let in_flight = match db.get_database_backend() {
            DbBackend::Sqlite => 1,
            _ => settings.in_flight.max(1),
        };
        // One bound for the writer's life: a job made afresh after a panic
        // shares it with the writes the old one left running.
        let in_flight = Arc::new(Semaphore::new(in_flight));
        let worker = Worker::start("chat", queue, move || ChatJob {
            db: db.clone(),
            settings: settings.clone(),
            refused: Arc::default(),
            in_flight: in_flight.clone(),
        });
        Self { worker: Arc::new(worker), deadline, kafka: None, falling_back: Arc::new(AtomicBool::new(false)) }
    }

    /// Writes what is queued, then stops the writer; false when that took
    /// longer than `within` (the rest is answered `chat-unavailable`).
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.worker.shutdown(within).await
    }

    /// Makes Kafka the durable log, with the database as the fallback.
    pub fn with_kafka(mut self, kafka: impl ChatLog) -> Self {
        self.kafka = Some(Arc::new(kafka));
        self
    }

    /// Makes the message durable: in Kafka when configured and taking
    /// records, otherwise in the database.
    pub async fn persist(&self, space_id: &str, msg: ChatMessage) -> Result<(), ChatWriteError> {
        let Some(kafka) = &self.kafka else {
            return self.persist_in_db(msg.into()).await;
        };
        let record = ChatRecord::new(space_id, msg);
        match kafka.publish_chat(&record).await {
            Ok(()) => {
                if self.falling_back.swap(false, Ordering::AcqRel) {
                    tracing::info!("chat is going through Kafka again");
                }
                Ok(())
            }
            Err(why) => {
                metrics::counter!(metric_names::CHAT_FALLBACK_TOTAL, "reason" => why.label()).increment(1);
                if !self.falling_back.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        reason = why.label(),
                        "Kafka did not take a chat message; writing chat straight to the database until it does"
                    );
                }
                self.persist_in_db(record.message.into()).await
            }
        }
    }

    /// Resolves once the message is durable, or with `ChatUnavailable` when
    /// the queue is full or the deadline passes. Never blocks the caller's
    /// thread.
    async fn persist_in_db(&self, msg: message::Model) -> Result<(), ChatWriteError> {
        let (ack, rx) = oneshot::channel();
        self.worker.try_send(Persist { msg, ack, at: Instant::now() }).map_err(|_| {
            metrics::counter!(metric_names::CHAT_REFUSED_TOTAL).increment(1);
            ChatWriteError::Unavailable
        })?;
        metrics::gauge!(metric_names::CHAT_QUEUE).increment(1.0);
        // The writer answers by the deadline (each attempt is bounded by
        // it); this outer bound only guards against a writer that died.
        match tokio::time::timeout(self.deadline + Duration::from_secs(5), rx).await {
            Ok(Ok(result)) => result,
            _ => Err(ChatWriteError::Unavailable),
        }
    }
}
