//! Analytics without Kafka: the same events, folded in-process. A bounded
//! mailbox feeds one `Worker` (named `analytics`) that writes a batch every
//! `linger` (or `BATCH_MAX` events) in one transaction, retrying a few
//! times. Events that do not fit the queue, or whose batch keeps failing,
//! are counted as dropped: analytics may lose events under overload, never
//! silently. On shutdown it folds what is still queued (the leaves of the
//! sessions a shutdown closes included) before it ends.

use std::{sync::Arc, time::Duration};

use metaverse_schema::store::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::time::Instant;

use super::worker::{Job, Mailbox, Worker};
use crate::{
    metric_names,
    pipeline::{
        fold::{self, Fold},
        record::AnalyticsEvent,
    },
};

const BATCH_MAX: usize = 5_000;
const ATTEMPTS: u32 = 5;
/// How often the keys kept against repeats are pruned, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// The drop counter's topic label for this writer.
const TOPIC: &str = "local-analytics";

/// The senders' side. Cheap to clone.
#[derive(Clone)]
pub struct LocalAnalytics {
    worker: Arc<Worker<AnalyticsEvent>>,
}

impl LocalAnalytics {
    /// Starts the folding writer on the current tokio runtime.
    pub fn start(db: DatabaseConnection, queue: usize, linger: Duration) -> Self {
        let worker =
            Worker::start("analytics", queue, move || AnalyticsJob { db: db.clone(), linger, pruned: Instant::now() });
        Self { worker: Arc::new(worker) }
    }

    /// Folds what is queued (the leaves of a shutdown included) and stops;
    /// false when that took longer than `within`.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.worker.shutdown(within).await
    }

    /// Queues an event without waiting; a full queue drops it and counts
    /// it (`topic` `local-analytics`, `reason` `backlog-full`).
    pub fn send(&self, e: AnalyticsEvent) {
        if self.worker.try_send(e).is_err() {
            metrics::counter!(metric_names::EVENTS_DROPPED_TOTAL, "topic" => TOPIC, "reason" => "backlog-full")
                .increment(1);
        }
    }
}

struct AnalyticsJob {
    db: DatabaseConnection,
    linger: Duration,
    pruned: Instant,
}

impl Job for AnalyticsJob {
    type Item = AnalyticsEvent;

    async fn run(&mut self, mailbox: &mut Mailbox<AnalyticsEvent>) {
        while let Some(events) = mailbox.batch(BATCH_MAX, self.linger).await {
            self.prune_now_and_then().await;
            let mut fold = Fold::default();
            for e in events {
                fold.add(e);
            }
            write(&self.db, fold).await;
        }
    }
}

impl AnalyticsJob {
    async fn prune_now_and_then(&mut self) {
        if self.pruned.elapsed() <= PRUNE_EVERY {
            return;
        }
        self.pruned = Instant::now();
        if let Err(e) = fold::prune_seen(&self.db, metaverse_schema::now_millis()).await {
            tracing::debug!(error = %e, "pruning analytics keys failed");
        }
    }
}

async fn write(db: &DatabaseConnection, fold: Fold) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=ATTEMPTS {
        let result = async {
            let txn = db.begin().await?;
            let tally = fold.apply(&txn).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(tally)
        }
        .await;
        match result {
            Ok(tally) => {
                tally.record_metrics();
                return;
            }
            Err(e) if attempt == ATTEMPTS => {
                tracing::warn!(error = %e, events = fold.len(), "analytics batch dropped after {ATTEMPTS} attempts");
            }
            Err(e) => {
                tracing::debug!(error = %e, "analytics batch failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
    metrics::counter!(metric_names::EVENTS_DROPPED_TOTAL, "topic" => TOPIC, "reason" => "write-failed")
        .increment(fold.len() as u64);
}

#[cfg(test)]
mod tests {
    use metaverse_schema::{Migrator, MigratorTrait, sea_orm::Database, store::analytics::read};

    use super::*;
    use crate::pipeline::{fold::MINUTE_MS, record::test_chat_fact as fact};

    async fn messages_folded(db: &DatabaseConnection) -> i64 {
        let rows = read::space_minutes(db, "s", 0, 10 * MINUTE_MS).await.expect("read analytics");
        rows.iter().map(|r| r.messages).sum()
    }

    /// The events are still queued when the shutdown comes (the writer's
    /// task has not run yet on this single-threaded runtime), and the
    /// linger is far longer than the shutdown may take: only a drain that
    /// stops lingering and folds the queue passes.
    #[tokio::test]
    async fn shutdown_folds_what_is_still_queued() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        Migrator::up(&db, None).await.expect("migrations");
        let analytics = LocalAnalytics::start(db.clone(), 16, Duration::from_secs(3_600));
        for id in ["m1", "m2", "m3"] {
            analytics.send(fact(id));
        }
        assert!(analytics.shutdown(Duration::from_secs(10)).await, "the writer ended in time");
        assert_eq!(messages_folded(&db).await, 3);
    }
}
