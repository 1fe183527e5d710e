//! Analytics without Kafka: the same events, folded in-process. A bounded
//! queue feeds one task that writes a batch every `linger` (or
//! `BATCH_MAX` events) in one transaction, retrying a few times. Events
//! that do not fit the queue, or whose batch keeps failing, are counted as
//! dropped: analytics may lose events under overload, never silently.

use std::time::Duration;

use metaverse_schema::store::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, watch};

use super::{
    fold::{self, Fold},
    record::AnalyticsEvent,
};

const BATCH_MAX: usize = 5_000;
const ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub struct LocalAnalytics {
    tx: mpsc::Sender<AnalyticsEvent>,
    stop: std::sync::Arc<watch::Sender<bool>>,
    task: std::sync::Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl LocalAnalytics {
    /// Starts the folding task on the current tokio runtime.
    pub fn start(db: DatabaseConnection, queue: usize, linger: Duration) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(db, rx, linger, stop_rx));
        Self { tx, stop: std::sync::Arc::new(stop), task: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))) }
    }

    /// Folds what is queued (the leaves of a shutdown included) and stops.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }

    pub fn send(&self, e: AnalyticsEvent) {
        if self.tx.try_send(e).is_err() {
            metrics::counter!("metaverse_events_dropped_total", "topic" => "local-analytics", "reason" => "backlog-full")
                .increment(1);
        }
    }
}

async fn run(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<AnalyticsEvent>,
    linger: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut pruned = tokio::time::Instant::now();
    loop {
        let first = tokio::select! {
            e = rx.recv() => e,
            _ = stop.changed() => None,
        };
        let Some(first) = first else {
            // Stopping: fold whatever is still queued, then end.
            let mut fold = Fold::default();
            while let Ok(e) = rx.try_recv() {
                fold.add(e);
            }
            if !fold.is_empty() {
                write(&db, fold).await;
            }
            return;
        };
        if pruned.elapsed() > Duration::from_secs(600) {
            pruned = tokio::time::Instant::now();
            if let Err(e) = fold::prune_seen(&db, metaverse_schema::now_millis()).await {
                tracing::debug!(error = %e, "pruning analytics keys failed");
            }
        }
        let mut fold = Fold::default();
        fold.add(first);
        let until = tokio::time::Instant::now() + linger;
        while fold.len() < BATCH_MAX && !*stop.borrow() {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(e)) => fold.add(e),
                Ok(None) | Err(_) => break,
            }
        }
        write(&db, fold).await;
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
    metrics::counter!("metaverse_events_dropped_total", "topic" => "local-analytics", "reason" => "write-failed")
        .increment(fold.len() as u64);
}
