//! The one bounded pool for argon2 work: every password and passcode hash
//! or check goes through it, whether it comes from sign-up, sign-in, a
//! chatroom join over HTTP or WebSocket, or creating a room with a
//! passcode. Each argon2id run holds 19 MiB and tens of milliseconds of
//! CPU, so an unbounded number of them is a memory and CPU exhaustion
//! attack (64 concurrent passcode joins once added 714 MiB of RSS and
//! slowed bystanders' sign-ins 40×).
//!
//! The work runs on the pool's own `concurrency` threads, not on tokio's
//! blocking pool: glibc keeps an arena per thread, so argon2 spread over
//! hundreds of blocking threads kept 19 MiB resident on each of them. A
//! few times `concurrency` jobs may wait, for at most `WAIT`; past that
//! the caller is told `Busy` at once (503 `busy` over HTTP, an `error`
//! `busy` over WebSocket), so waiting requests cannot pile up either.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

/// How long a hash may wait for its turn before the caller is told busy.
const WAIT: Duration = Duration::from_secs(10);
/// Waiting hashes allowed per running one.
const QUEUE_PER_THREAD: usize = 8;

/// Too many hashes are running or waiting; retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; retry")]
pub struct Busy;

type Work = Box<dyn FnOnce(bool) + Send>;

/// The bounded argon2 pool; see the module header.
pub struct HashPool {
    queue: mpsc::SyncSender<(Instant, Work)>,
}

impl HashPool {
    /// A pool of `concurrency` threads (0: two per core).
    pub fn new(concurrency: usize) -> Self {
        let n = match concurrency {
            0 => 2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        };
        let (queue, jobs) = mpsc::sync_channel::<(Instant, Work)>(n * QUEUE_PER_THREAD);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..n {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                loop {
                    let next = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((queued_at, work)) = next else { return };
                    // Too late: its caller is told busy instead of waiting on.
                    work(queued_at.elapsed() <= WAIT);
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting an argon2 thread");
            }
        }
        Self { queue }
    }

    /// Runs `f` (argon2 work) on one of the pool's threads.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        let (tx, rx) = oneshot::channel();
        let work: Work = Box::new(move |in_time| {
            if in_time {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                let _ = tx.send(out.ok());
            }
        });
        self.queue.try_send((Instant::now(), work)).map_err(|_| Busy)?;
        rx.await.ok().flatten().ok_or(Busy)
    }

    /// Whether `given` matches the PHC string `phc`, through the pool.
    pub async fn verify(&self, given: String, phc: String) -> Result<bool, Busy> {
        self.run(move || super::password::verify(&given, &phc)).await
    }

    /// The PHC string of `secret`, through the pool.
    pub async fn hash(&self, secret: String) -> Result<Result<String, String>, Busy> {
        self.run(move || super::password::hash(&secret)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_callers_are_told_busy_at_once() {
        let pool = Arc::new(HashPool::new(1));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        // One runs (blocked on the gate) and eight wait: the pool is full.
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = gate.recv();
                })
                .await
            })
        };
        let _ = tokio::task::spawn_blocking(move || started.recv()).await;
        let waiting: Vec<_> = (0..QUEUE_PER_THREAD)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(move || i).await })
            })
            .collect();
        // Fill what the spawned waiters have not taken yet, with jobs that
        // say when they ran.
        let (filler_done, fillers_done) = std::sync::mpsc::channel::<()>();
        let mut fillers = 0;
        loop {
            let done = filler_done.clone();
            let job: Work = Box::new(move |_| {
                let _ = done.send(());
            });
            if pool.queue.try_send((Instant::now(), job)).is_err() {
                break;
            }
            fillers += 1;
        }
        // Only the queued jobs hold senders now: a job dropped unrun ends
        // the wait below too.
        drop(filler_done);
        assert_eq!(pool.run(|| ()).await, Err(Busy), "refused without waiting");
        let _ = release.send(());
        assert_eq!(first.await.ok(), Some(Ok(())));
        for (i, w) in waiting.into_iter().enumerate() {
            let got = w.await.ok();
            assert!(got == Some(Ok(i)) || got == Some(Err(Busy)), "{got:?}");
        }
        // The pool's thread runs the fillers after the waiters: wait for them.
        let _ = tokio::task::spawn_blocking(move || {
            for _ in 0..fillers {
                let _ = fillers_done.recv();
            }
        })
        .await;
        assert_eq!(pool.run(|| 7).await, Ok(7), "room again once they are done");
    }
}
