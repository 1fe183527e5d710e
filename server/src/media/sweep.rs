//! Removing objects no upload refers to. An upload stores its bytes before
//! it records its row, and a delete removes its row before its bytes, so a
//! crash between the two steps leaves an object without a row, never a row
//! without an object. The sweep finds those, old enough that no upload in
//! progress can still be about to record them.

use std::{sync::Arc, time::Duration};

use metaverse_schema::store::media as rows;

use super::{MediaError, MediaService};

impl MediaService {
    /// Deletes objects older than `age` whose bytes no upload has; returns
    /// how many.
    pub async fn sweep(&self, age: Duration) -> Result<usize, MediaError> {
        let stored = self.objects.older_than(age).await?;
        let mut removed = 0;
        for chunk in stored.chunks(500) {
            let used = rows::shas_in_use(&self.db, chunk.to_vec()).await?;
            for sha in chunk.iter().filter(|s| !used.contains(*s)) {
                let _stripe = self.stripe(sha).lock().await;
                if !rows::sha_in_use(&self.db, sha).await? {
                    self.objects.delete(sha).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Sweeps every `period` for the server's life, touching objects older
/// than one period.
pub fn sweep_every(media: Arc<MediaService>, period: Duration) {
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(period);
        every.tick().await;
        loop {
            every.tick().await;
            match media.sweep(period).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "media sweep removed orphaned objects"),
                Err(e) => tracing::warn!(error = %e, "media sweep failed"),
            }
        }
    });
}
