//! The ChatWriter: makes chat messages durable, off the hot path.
//!
//! Senders hand a message (with its server-made id) to the writer and wait
//! for the ack; only then is the message acknowledged and fanned out. The
//! writer batches (up to `batch_max` messages or `linger`), writes each
//! batch in one idempotent statement (a retry of a batch that did commit
//! inserts nothing), and retries with backoff until the oldest message's
//! deadline. The mailbox is the bounded queue: when it is full, or the
//! deadline passes, the sender is told `chat-unavailable`. Nothing is
//! dropped silently.
//!
//! A failed write may still have committed (the connection died between
//! COMMIT and its answer). Messages answered `chat-unavailable` after such
//! a failure are deleted again in the writer's next transaction, so a
//! message refused to its sender does not stay in history.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use metaverse_schema::{
    ChatMessage,
    entity::message,
    store::{DatabaseConnection, DbErr, errors::is_constraint_violation, messages::insert_replacing},
};
use tokio::sync::oneshot;

use crate::events::{record::ChatRecord, writer::EventWriterHandle};

#[derive(Clone, Debug)]
pub struct ChatWriterSettings {
    pub batch_max: usize,
    pub linger: Duration,
    /// Messages waiting to be written, at most; more are refused at once.
    pub queue: usize,
    /// How long a message may wait for durability before its sender is told
    /// chat is unavailable.
    pub deadline: Duration,
}

impl Default for ChatWriterSettings {
    fn default() -> Self {
        Self { batch_max: 256, linger: Duration::from_millis(2), queue: 10_000, deadline: Duration::from_secs(5) }
    }
}

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

/// Constraint violations are about the rows, not the database's health:
/// retrying them would only hold up everyone else's messages.
fn is_permanent(e: &DbErr) -> bool {
    is_constraint_violation(e)
}

/// One insert, bounded by the deadline: a stalled connection must not keep
/// the writer (and so every room) waiting past it.
async fn attempt(
    db: &DatabaseConnection,
    rows: Vec<message::Model>,
    refused: &[String],
    deadline: Instant,
) -> Result<(), Option<DbErr>> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, insert_atomically(db, rows, refused)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Some(e)),
        Err(_) => Err(None),
    }
}

/// All of a batch or none of it: a message answered `chat-unavailable`
/// must not be in history.
/// `refused` are ids answered `chat-unavailable` whose write may have
/// committed anyway: they are deleted in the same transaction.
async fn insert_atomically(
    db: &DatabaseConnection,
    rows: Vec<message::Model>,
    refused: &[String],
) -> Result<u64, DbErr> {
    let done = insert_replacing(db, rows, refused).await?;
    if done.deleted > 0 {
        tracing::warn!(n = done.deleted, "deleted messages whose failed write had committed after all");
    }
    Ok(done.inserted)
}

/// Writes `rows` before `deadline`, retrying transient failures with
/// backoff. A batch that hits a constraint is split, so the one bad
/// message is refused alone. Returns one result per row, in order.
/// Also returns the ids refused after a failed attempt (in doubt), and
/// whether `refused` (earlier ones) were dealt with.
async fn write_batch(
    db: DatabaseConnection,
    rows: Vec<message::Model>,
    mut refused: Vec<String>,
    deadline: Instant,
) -> (Vec<Result<(), ChatWriteError>>, Vec<String>) {
    let started = Instant::now();
    let mut failed_once = false;
    let mut results: Vec<Option<Result<(), ChatWriteError>>> = vec![None; rows.len()];
    let mut pending: Vec<usize> = (0..rows.len()).collect();
    let mut backoff = Duration::from_millis(10);
    while !pending.is_empty() {
        let batch: Vec<message::Model> = pending.iter().map(|&i| rows[i].clone()).collect();
        match attempt(&db, batch, &refused, deadline).await {
            Ok(()) => {
                for &i in &pending {
                    results[i] = Some(Ok(()));
                }
                pending.clear();
                refused.clear();
            }
            Err(Some(e)) if is_permanent(&e) => {
                // Find the culprits one by one; the rest go on.
                let mut still = Vec::new();
                for &i in &pending {
                    match attempt(&db, vec![rows[i].clone()], &refused, deadline).await {
                        Ok(()) => {
                            results[i] = Some(Ok(()));
                            refused.clear();
                        }
                        Err(Some(e)) if is_permanent(&e) => results[i] = Some(Err(ChatWriteError::Rejected)),
                        Err(_) => still.push(i),
                    }
                }
                pending = still;
            }
            Err(e) => {
                failed_once = true;
                metrics::counter!("metaverse_chat_write_retries_total").increment(1);
                if Instant::now() + backoff >= deadline {
                    tracing::warn!(error = ?e, "chat batch not durable before its deadline");
                    break;
                }
                tracing::debug!(error = ?e, ?backoff, "chat batch write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    metrics::histogram!("metaverse_chat_write_seconds").record(started.elapsed().as_secs_f64());
    if failed_once {
        refused.extend(results.iter().zip(&rows).filter(|(r, _)| r.is_none()).map(|(_, m)| m.id.clone()));
    }
    (results.into_iter().map(|r| r.unwrap_or(Err(ChatWriteError::Unavailable))).collect(), refused)
}

#[derive(Message)]
#[rtype(result = "()")]
struct Persist {
    msg: message::Model,
    ack: Ack,
    at: Instant,
}

/// Refused-but-maybe-committed ids kept for deletion, at most.
const MAX_REFUSED: usize = 10_000;

pub struct ChatWriter {
    db: DatabaseConnection,
    settings: ChatWriterSettings,
    batch: Vec<(message::Model, Ack, Instant)>,
    timer: Option<SpawnHandle>,
    /// Ids answered `chat-unavailable` whose write may have committed; the
    /// next write deletes them.
    refused: Vec<String>,
}

impl ChatWriter {
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.batch.len() >= self.settings.batch_max {
            self.flush(ctx);
        } else if self.timer.is_none() {
            self.timer = Some(ctx.run_later(self.settings.linger, |act, ctx| {
                act.timer = None;
                act.flush(ctx);
            }));
        }
    }

    /// Writes the current batch. `ctx.wait` holds the mailbox while the
    /// write (and its retries) run, so the next batch collects meanwhile.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len().min(self.settings.batch_max);
        // A message whose sender has already been told it failed must not
        // be written afterwards.
        let now = Instant::now();
        let deadline_of = |at: Instant| at + self.settings.deadline;
        let (expired, batch): (Vec<_>, Vec<_>) = self.batch.drain(..n).partition(|b| deadline_of(b.2) <= now);
        metrics::gauge!("metaverse_chat_queue").decrement(expired.len() as f64);
        for (_, ack, _) in expired {
            let _ = ack.send(Err(ChatWriteError::Unavailable));
        }
        if batch.is_empty() {
            if !self.batch.is_empty() {
                self.schedule(ctx);
            }
            return;
        }
        let deadline = batch.iter().map(|b| deadline_of(b.2)).min().unwrap_or(now);
        let rows: Vec<message::Model> = batch.iter().map(|b| b.0.clone()).collect();
        metrics::histogram!("metaverse_chat_batch_size").record(batch.len() as f64);
        let write = write_batch(self.db.clone(), rows, std::mem::take(&mut self.refused), deadline);
        ctx.wait(write.into_actor(self).map(move |(results, refused), act, ctx| {
            act.refused = refused;
            // Bounded: during a long outage the oldest doubts are given up.
            if act.refused.len() > MAX_REFUSED {
                let over = act.refused.len() - MAX_REFUSED;
                tracing::warn!(over, "too many messages in doubt; some refused ones may stay in history");
                act.refused.drain(..over);
            }
            metrics::gauge!("metaverse_chat_queue").decrement(batch.len() as f64);
            for ((_, ack, _), result) in batch.into_iter().zip(results) {
                let _ = ack.send(result);
            }
            if !act.batch.is_empty() {
                act.schedule(ctx);
            }
        }));
    }
}

impl Actor for ChatWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.queue);
    }
}

/// Restarted by its supervisor if it ever stops; the queue it held is
/// answered `chat-unavailable` by the dropped acks.
impl Supervised for ChatWriter {
    fn restarting(&mut self, _: &mut Self::Context) {
        tracing::warn!("chat writer restarting");
        self.batch.clear();
    }
}

impl Handler<Persist> for ChatWriter {
    type Result = ();

    fn handle(&mut self, msg: Persist, ctx: &mut Self::Context) {
        self.batch.push((msg.msg, msg.ack, msg.at));
        self.schedule(ctx);
    }
}

/// The senders' handle. With Kafka, a message is durable once Kafka has
/// it (the consumer stores it); when Kafka does not take it in time, or its
/// backlog is full, it is written straight to the database instead, and a
/// metric and a log line say so. A message that reaches both lands once:
/// inserts skip ids already stored.
#[derive(Clone)]
pub struct ChatStore {
    addr: Addr<ChatWriter>,
    deadline: Duration,
    kafka: Option<EventWriterHandle>,
    falling_back: Arc<AtomicBool>,
}

impl ChatStore {
    /// Starts a supervised writer on the current actix system.
    pub fn start(db: DatabaseConnection, settings: ChatWriterSettings) -> Self {
        let deadline = settings.deadline;
        let addr = Supervisor::start(move |_| ChatWriter {
            db,
            settings,
            batch: Vec::new(),
            timer: None,
            refused: Vec::new(),
        });
        Self { addr, deadline, kafka: None, falling_back: Arc::new(AtomicBool::new(false)) }
    }

    /// Makes Kafka the durable log, with the database as the fallback.
    pub fn with_kafka(mut self, kafka: EventWriterHandle) -> Self {
        self.kafka = Some(kafka);
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
                metrics::counter!("metaverse_chat_fallback_total", "reason" => why.label()).increment(1);
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
        self.addr.try_send(Persist { msg, ack, at: Instant::now() }).map_err(|_| {
            metrics::counter!("metaverse_chat_refused_total").increment(1);
            ChatWriteError::Unavailable
        })?;
        metrics::gauge!("metaverse_chat_queue").increment(1.0);
        // The writer answers by the deadline (each attempt is bounded by
        // it); this outer bound only guards against a writer that died.
        match tokio::time::timeout(self.deadline + Duration::from_secs(5), rx).await {
            Ok(Ok(result)) => result,
            _ => Err(ChatWriteError::Unavailable),
        }
    }
}
