//! The position writer: saves where each departing member stood, so the
//! next join spawns them there. Spaces hand updates over with `try_send`
//! and never wait; a full mailbox drops the update and counts it
//! (positions are a hint, not data anyone was promised). At shutdown the
//! spaces hand over everyone still inside, and the writer drains them all
//! before the database closes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use metaverse_schema::{
    now_millis,
    store::{DatabaseConnection, positions},
};

use super::worker::{Job, Mailbox, Worker};
use crate::{space::PositionUpdate, world::UserId};

/// Updates written per round; a user who left twice in one round is
/// written once, at the later position.
const BATCH: usize = 256;
const LINGER: Duration = Duration::from_millis(20);

struct PositionJob {
    db: DatabaseConnection,
}

impl Job for PositionJob {
    type Item = PositionUpdate;

    async fn run(&mut self, mailbox: &mut Mailbox<PositionUpdate>) {
        while let Some(batch) = mailbox.batch(BATCH, LINGER).await {
            let mut last: HashMap<(Arc<str>, UserId), PositionUpdate> = HashMap::with_capacity(batch.len());
            for u in batch {
                last.insert((u.space_id.clone(), u.user_id.clone()), u);
            }
            for u in last.into_values() {
                let at = (u.position.x, u.position.y);
                if let Err(e) = positions::save_last(&self.db, &u.space_id, &u.user_id, at, now_millis()).await {
                    // A deleted space or user makes the row impossible;
                    // anything else is worth a warning, not a retry.
                    tracing::warn!(error = %e, space = %u.space_id, "saving a last position failed");
                }
            }
        }
    }
}

/// Starts the writer on the current tokio runtime with room for
/// `capacity` updates; give `sender()` to the registry.
pub fn start(db: DatabaseConnection, capacity: usize) -> Worker<PositionUpdate> {
    Worker::start("positions", capacity, move || PositionJob { db: db.clone() })
}
