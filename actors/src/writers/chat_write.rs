//! One chat batch made durable: an atomic insert that also deletes
//! messages refused earlier whose write may have committed, retried with
//! backoff until the oldest message's deadline, and split when a constraint
//! refuses one message so the others still land.

use std::time::{Duration, Instant};

use metaverse_schema::{
    entity::message,
    store::{DatabaseConnection, DbErr, errors::is_constraint_violation, messages::insert_replacing},
};

use super::chat::ChatWriteError;
use crate::metric_names;

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
pub(super) async fn write_batch(
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
                metrics::counter!(metric_names::CHAT_WRITE_RETRIES_TOTAL).increment(1);
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
    metrics::histogram!(metric_names::CHAT_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
    if failed_once {
        refused.extend(results.iter().zip(&rows).filter(|(r, _)| r.is_none()).map(|(_, m)| m.id.clone()));
    }
    (results.into_iter().map(|r| r.unwrap_or(Err(ChatWriteError::Unavailable))).collect(), refused)
}
