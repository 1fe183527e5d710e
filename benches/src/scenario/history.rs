//! After a chat run: every acknowledged message must be in its room's
//! history (`GET /chatroom/:id/messages`, newest first, paged).

use std::{collections::HashSet, time::Instant};

use tokio::task::JoinSet;

use crate::{report::HistoryCheck, setup::Api};

/// One room to check: its id, a member's token, the acked message ids.
pub struct RoomCheck {
    pub room: String,
    pub token: String,
    pub acked: Vec<String>,
    /// Other messages that may sit between ours (join notices, …).
    pub slack: usize,
}

pub async fn check(api: &Api, rooms: Vec<RoomCheck>) -> anyhow::Result<HistoryCheck> {
    let started = Instant::now();
    let mut out = HistoryCheck { rooms: rooms.len(), ..Default::default() };
    let mut tasks = JoinSet::new();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    for r in rooms.into_iter().filter(|r| !r.acked.is_empty()) {
        let (api, limit) = (api.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let acked = r.acked.len();
            let mut want: HashSet<String> = r.acked.into_iter().collect();
            // Newest first. Ours are the latest, but messages still in
            // flight at the end (sent, acknowledged after the harness
            // stopped reading) were stored after them: allow pages for as
            // many again as we sent.
            let max_pages = (2 * want.len() + r.slack) / 100 + 3;
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            while !want.is_empty() && pages < max_pages {
                let (ids, next) = api.history_page(&r.token, &r.room, cursor.as_deref()).await?;
                pages += 1;
                for id in ids {
                    want.remove(&id);
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            Ok::<_, anyhow::Error>((acked, want.len(), pages))
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (acked, missing, pages) = done??;
        out.acked += acked;
        out.missing += missing;
        out.found += acked - missing;
        out.pages += pages;
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
