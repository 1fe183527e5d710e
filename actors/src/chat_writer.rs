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

use std::time::{Duration, Instant};

use actix::prelude::*;
use metaverse_schema::{entity::message, sea_orm::DatabaseConnection, store::insert_messages};
use tokio::sync::oneshot;

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
#[error("chat is unavailable: the message could not be made durable")]
pub struct ChatUnavailable;

type Ack = oneshot::Sender<Result<(), ChatUnavailable>>;

#[derive(Message)]
#[rtype(result = "()")]
struct Persist {
    msg: message::Model,
    ack: Ack,
    at: Instant,
}

pub struct ChatWriter {
    db: DatabaseConnection,
    settings: ChatWriterSettings,
    batch: Vec<(message::Model, Ack, Instant)>,
    timer: Option<SpawnHandle>,
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
        let batch: Vec<_> = self.batch.drain(..n).collect();
        let deadline = batch.iter().map(|b| b.2).min().unwrap_or_else(Instant::now) + self.settings.deadline;
        let rows: Vec<message::Model> = batch.iter().map(|b| b.0.clone()).collect();
        let db = self.db.clone();
        metrics::histogram!("metaverse_chat_batch_size").record(n as f64);
        let write = async move {
            let started = Instant::now();
            let mut backoff = Duration::from_millis(10);
            loop {
                match insert_messages(&db, rows.clone()).await {
                    Ok(_) => {
                        metrics::histogram!("metaverse_chat_write_seconds").record(started.elapsed().as_secs_f64());
                        return Ok(());
                    }
                    Err(e) => {
                        metrics::counter!("metaverse_chat_write_retries_total").increment(1);
                        let now = Instant::now();
                        if now + backoff >= deadline {
                            tracing::warn!(error = %e, "chat batch not durable before its deadline");
                            return Err(ChatUnavailable);
                        }
                        tracing::debug!(error = %e, ?backoff, "chat batch write failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        };
        ctx.wait(write.into_actor(self).map(move |result, act, ctx| {
            metrics::gauge!("metaverse_chat_queue").decrement(batch.len() as f64);
            for (_, ack, _) in batch {
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

/// The senders' handle.
#[derive(Clone)]
pub struct ChatStore {
    addr: Addr<ChatWriter>,
    deadline: Duration,
}

impl ChatStore {
    /// Starts a supervised writer on the current actix system.
    pub fn start(db: DatabaseConnection, settings: ChatWriterSettings) -> Self {
        let deadline = settings.deadline;
        let addr = Supervisor::start(move |_| ChatWriter { db, settings, batch: Vec::new(), timer: None });
        Self { addr, deadline }
    }

    /// Resolves once the message is durable, or with `ChatUnavailable` when
    /// the queue is full or the deadline passes. Never blocks the caller's
    /// thread.
    pub async fn persist(&self, msg: message::Model) -> Result<(), ChatUnavailable> {
        let (ack, rx) = oneshot::channel();
        self.addr.try_send(Persist { msg, ack, at: Instant::now() }).map_err(|_| {
            metrics::counter!("metaverse_chat_refused_total").increment(1);
            ChatUnavailable
        })?;
        metrics::gauge!("metaverse_chat_queue").increment(1.0);
        // The writer answers by the deadline; the extra second covers a
        // write that was in flight when the deadline passed.
        match tokio::time::timeout(self.deadline + Duration::from_secs(1), rx).await {
            Ok(Ok(result)) => result,
            _ => Err(ChatUnavailable),
        }
    }
}
