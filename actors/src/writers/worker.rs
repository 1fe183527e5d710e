//! One lifecycle for every writer off the hot path: a bounded mailbox, a
//! task that restarts its job after a panic, and a shutdown that lets the
//! job drain what was queued before it returns.
//!
//! Senders only ever `try_send` (or await room, for callers that may wait),
//! so a stuck database fills the mailbox and refuses, rather than growing
//! memory or stalling a space. A panic in a job loses at most the batch it
//! held; the items still queued go to the restarted job.

use crate::metric_names;
use std::{future::Future, panic::AssertUnwindSafe, sync::Mutex, time::Duration};

use futures_util::FutureExt;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

/// The work a writer does with what arrives in its mailbox.
pub trait Job: Send + 'static {
    /// What senders hand over.
    type Item: Send + 'static;

    /// Runs until `mailbox.recv()` (or `batch`) returns `None`: the
    /// senders are gone, or a shutdown asked for it and the queue is
    /// drained. Returning early ends the worker.
    fn run(&mut self, mailbox: &mut Mailbox<Self::Item>) -> impl Future<Output = ()> + Send;
}

/// A job's view of its queue.
pub struct Mailbox<T> {
    rx: mpsc::Receiver<T>,
    stop: watch::Receiver<bool>,
}

impl<T> Mailbox<T> {
    /// The next item; `None` once the senders are gone, or once a shutdown
    /// was asked for and nothing is left.
    pub async fn recv(&mut self) -> Option<T> {
        if *self.stop.borrow() {
            return self.rx.try_recv().ok();
        }
        tokio::select! {
            biased;
            item = self.rx.recv() => item,
            _ = self.stop.wait_for(|&stop| stop) => self.rx.try_recv().ok(),
        }
    }

    /// Up to `max` items: waits for the first, then takes what arrives
    /// within `linger` of it. A shutdown ends the linger at once: what is
    /// queued is taken, nothing more is waited for.
    pub async fn batch(&mut self, max: usize, linger: Duration) -> Option<Vec<T>> {
        let first = self.recv().await?;
        let mut batch = vec![first];
        let until = Instant::now() + linger;
        while batch.len() < max.max(1) {
            if let Some(item) = self.try_recv() {
                batch.push(item);
                continue;
            }
            if self.is_stopping() {
                break;
            }
            let next = tokio::select! {
                biased;
                next = tokio::time::timeout_at(until, self.rx.recv()) => next,
                // Back to the top: take what is queued, then stop.
                _ = self.stop.wait_for(|&stop| stop) => continue,
            };
            match next {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        Some(batch)
    }

    /// An item that is already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// A shutdown was asked for: finish what is queued and return.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// The senders' end of a running writer.
pub struct Worker<T> {
    name: &'static str,
    tx: mpsc::Sender<T>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts `make()`'s job on the current tokio runtime with a mailbox of
    /// `capacity`. After a panic the job is made afresh and resumes on the
    /// same mailbox; each restart counts in
    /// `metaverse_writer_restarts_total{writer = name}`.
    pub fn start<J, F>(name: &'static str, capacity: usize, mut make: F) -> Self
    where
        J: Job<Item = T>,
        F: FnMut() -> J + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let mut mailbox = Mailbox { rx, stop: stop_rx };
        let task = tokio::spawn(async move {
            loop {
                let mut job = make();
                match AssertUnwindSafe(job.run(&mut mailbox)).catch_unwind().await {
                    Ok(()) => break,
                    Err(_) => {
                        metrics::counter!(metric_names::WRITER_RESTARTS_TOTAL, "writer" => name).increment(1);
                        tracing::error!(writer = name, "writer panicked; restarting it");
                    }
                }
            }
        });
        Self { name, tx, stop, task: Mutex::new(Some(task)) }
    }

    /// A sender for callers that keep their own handle.
    pub fn sender(&self) -> mpsc::Sender<T> {
        self.tx.clone()
    }

    /// Queues `item` if there is room; hands it back if not (or if the
    /// writer has ended).
    pub fn try_send(&self, item: T) -> Result<(), mpsc::error::TrySendError<T>> {
        self.tx.try_send(item)
    }

    /// Items waiting in the mailbox.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Asks the job to drain its mailbox and end, and waits up to `within`
    /// for it. False when it did not end in time (what was left is lost).
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.stop.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        let Some(task) = task else { return true };
        match tokio::time::timeout(within, task).await {
            Ok(_) => true,
            Err(_) => {
                tracing::warn!(writer = self.name, queued = self.queued(), "writer did not drain before shutdown");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// Records every batch it is given; panics on the item 13.
    struct Recorder {
        max: usize,
        linger: Duration,
        seen: mpsc::UnboundedSender<Vec<u32>>,
    }

    impl Job for Recorder {
        type Item = u32;

        async fn run(&mut self, mailbox: &mut Mailbox<u32>) {
            while let Some(batch) = mailbox.batch(self.max, self.linger).await {
                assert!(!batch.contains(&13), "unlucky item");
                let _ = self.seen.send(batch);
            }
        }
    }

    struct Started {
        worker: Worker<u32>,
        seen: mpsc::UnboundedReceiver<Vec<u32>>,
        made: Arc<AtomicUsize>,
    }

    fn start(max: usize, linger: Duration, capacity: usize) -> Started {
        let (tx, seen) = mpsc::unbounded_channel();
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let worker = Worker::start("test", capacity, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Recorder { max, linger, seen: tx.clone() }
        });
        Started { worker, seen, made }
    }

    #[tokio::test(start_paused = true)]
    async fn items_queued_together_arrive_in_one_batch_up_to_its_size() {
        let mut s = start(3, Duration::from_secs(60), 16);
        for i in 0..5 {
            s.worker.try_send(i).expect("room");
        }
        assert_eq!(s.seen.recv().await, Some(vec![0, 1, 2]));
        assert_eq!(s.seen.recv().await, Some(vec![3, 4]));
    }

    #[tokio::test]
    async fn a_panicking_job_is_made_afresh_and_keeps_the_queue() {
        let mut s = start(1, Duration::ZERO, 16);
        for i in [12, 13, 14] {
            s.worker.try_send(i).expect("room");
        }
        assert_eq!(s.seen.recv().await, Some(vec![12]));
        assert_eq!(s.seen.recv().await, Some(vec![14]), "13 was lost with its batch; 14 was not");
        assert_eq!(s.made.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drains_what_was_queued_before_it_returns() {
        let mut s = start(2, Duration::from_secs(60), 16);
        for i in 0..5 {
            s.worker.try_send(i).expect("room");
        }
        assert!(s.worker.shutdown(Duration::from_secs(5)).await);
        let mut all = Vec::new();
        while let Ok(batch) = s.seen.try_recv() {
            all.extend(batch);
        }
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_ends_a_batch_that_is_lingering() {
        let mut s = start(8, Duration::from_secs(60), 16);
        s.worker.try_send(1).expect("room");
        // Let the job take the item and start lingering for more.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert!(s.worker.shutdown(Duration::from_secs(5)).await, "the linger held the shutdown");
        assert_eq!(s.seen.recv().await, Some(vec![1]));
    }

    #[tokio::test]
    async fn a_full_mailbox_refuses_instead_of_growing() {
        let (tx, _seen) = mpsc::unbounded_channel::<Vec<u32>>();
        // A job that never reads.
        struct Stuck(#[allow(dead_code)] mpsc::UnboundedSender<Vec<u32>>);
        impl Job for Stuck {
            type Item = u32;
            async fn run(&mut self, _: &mut Mailbox<u32>) {
                std::future::pending::<()>().await;
            }
        }
        let worker = Worker::start("stuck", 2, move || Stuck(tx.clone()));
        assert!(worker.try_send(1).is_ok());
        assert!(worker.try_send(2).is_ok());
        assert!(matches!(worker.try_send(3), Err(mpsc::error::TrySendError::Full(3))));
        assert_eq!(worker.queued(), 2);
        assert!(!worker.shutdown(Duration::from_millis(10)).await, "a stuck job does not end");
    }
}
