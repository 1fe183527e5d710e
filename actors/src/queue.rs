//! The queue from a space (or the cluster relay) to one session: encoded
//! frames, bounded, and beside them the reason the space closed the
//! session, which must reach it even when the frames do not fit.
//!
//! One small allocation per session. tokio's bounded channel allocates its
//! first block of 32 slots up front and its `watch` carries eight notifiers,
//! about 1.9 KiB between them for every idle socket; this is about 0.3 KiB.
//! One writer (the space) and one reader (the session) meet under a mutex
//! held for a push or a pop, never across an await.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, MutexGuard},
    task::{Poll, Waker},
};

use bytes::Bytes;

use crate::link::CloseReason;

/// Room kept in an empty queue; a burst that grew it past `4 × KEEP` gives
/// the rest back once drained, so an idle session holds little, while a
/// session that takes a few frames every tick does not reallocate each
/// time.
const KEEP: usize = 4;

struct State {
    frames: VecDeque<Bytes>,
    /// Frame senders alive; when the last goes, the reader sees the end.
    senders: usize,
    /// The reader closed or dropped its end: offers come back.
    reading: bool,
    reason: Option<CloseReason>,
    frame_waker: Option<Waker>,
    close_waker: Option<Waker>,
}

struct Shared {
    capacity: usize,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole, so a panic
        // elsewhere while it was held left nothing half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a frame was not queued; the frame comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue is full: the session does not keep up.
    Full(Bytes),
    /// The session's end is closed or gone.
    Closed(Bytes),
}

/// Queues frames for the session. Clones share the queue.
pub struct FrameTx(Arc<Shared>);

/// The session's end of the frames.
pub struct FrameRx(Arc<Shared>);

/// Sets the reason the session must close.
pub struct CloseTx(Arc<Shared>);

/// The session's end of the close reason.
pub struct CloseRx(Arc<Shared>);

/// A queue of at most `capacity` frames (at least one).
pub fn queue(capacity: usize) -> (FrameTx, CloseTx, FrameRx, CloseRx) {
    let state = State {
        frames: VecDeque::new(),
        senders: 1,
        reading: true,
        reason: None,
        frame_waker: None,
        close_waker: None,
    };
    let shared = Arc::new(Shared { capacity: capacity.max(1), state: Mutex::new(state) });
    (FrameTx(shared.clone()), CloseTx(shared.clone()), FrameRx(shared.clone()), CloseRx(shared))
}

impl FrameTx {
    /// Queues `frame` without waiting.
    pub fn try_send(&self, frame: Bytes) -> Result<(), TrySendError> {
        let waker = {
            let mut s = self.0.lock();
            if !s.reading {
                return Err(TrySendError::Closed(frame));
            }
            if s.frames.len() >= self.0.capacity {
                return Err(TrySendError::Full(frame));
            }
            s.frames.push_back(frame);
            s.frame_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Frames that fit now.
    pub fn capacity(&self) -> usize {
        self.0.capacity.saturating_sub(self.0.lock().frames.len())
    }
}

impl Clone for FrameTx {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for FrameTx {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.senders -= 1;
            if s.senders == 0 { s.frame_waker.take() } else { None }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl FrameRx {
    /// The next frame; `None` once the queue is empty and every sender is
    /// gone or this end was closed.
    pub async fn recv(&mut self) -> Option<Bytes> {
        poll_fn(|cx| {
            let mut s = self.0.lock();
            match pop(&mut s) {
                Some(f) => Poll::Ready(Some(f)),
                None if s.senders == 0 || !s.reading => Poll::Ready(None),
                None => {
                    if !s.frame_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        s.frame_waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        pop(&mut self.0.lock())
    }

    /// Refuses further frames; those queued can still be taken.
    pub fn close(&mut self) {
        self.0.lock().reading = false;
    }
}

fn pop(s: &mut State) -> Option<Bytes> {
    let f = s.frames.pop_front();
    if s.frames.is_empty() && s.frames.capacity() > 4 * KEEP {
        s.frames.shrink_to(KEEP);
    }
    f
}

impl Drop for FrameRx {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.reading = false;
        s.frames = VecDeque::new();
    }
}

impl CloseTx {
    /// Tells the session to close; the latest reason wins.
    pub fn close(&self, reason: CloseReason) {
        let waker = {
            let mut s = self.0.lock();
            s.reason = Some(reason);
            s.close_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl CloseRx {
    /// The reason, once the space has given one.
    pub fn reason(&self) -> Option<CloseReason> {
        self.0.lock().reason
    }

    /// Resolves with the reason once there is one (never, if none comes).
    pub async fn closed(&mut self) -> CloseReason {
        poll_fn(|cx| {
            let mut s = self.0.lock();
            match s.reason {
                Some(r) => Poll::Ready(r),
                None => {
                    if !s.close_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        s.close_waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn frame(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[tokio::test]
    async fn frames_arrive_in_order_up_to_the_bound() {
        let (tx, _close, mut rx, _) = queue(2);
        assert_eq!(tx.capacity(), 2);
        tx.try_send(frame("a")).unwrap();
        tx.try_send(frame("b")).unwrap();
        assert_eq!(tx.try_send(frame("c")), Err(TrySendError::Full(frame("c"))));
        assert_eq!(tx.capacity(), 0);
        assert_eq!(rx.recv().await, Some(frame("a")));
        assert_eq!(rx.try_recv(), Some(frame("b")));
        assert_eq!(rx.try_recv(), None);
        assert_eq!(tx.capacity(), 2);
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_a_frame_and_by_the_last_sender_going() {
        let (tx, _close, mut rx, _) = queue(4);
        let other = tx.clone();
        let reader = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::task::yield_now().await;
        tx.try_send(frame("x")).unwrap();
        drop(tx);
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "one sender is still there");
        drop(other);
        let got = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert_eq!(got, (Some(frame("x")), None));
    }

    #[tokio::test]
    async fn a_closed_or_dropped_reader_refuses_frames_and_keeps_what_was_queued() {
        let (tx, _close, mut rx, _) = queue(4);
        tx.try_send(frame("kept")).unwrap();
        rx.close();
        assert_eq!(tx.try_send(frame("late")), Err(TrySendError::Closed(frame("late"))));
        assert_eq!(rx.recv().await, Some(frame("kept")));
        assert_eq!(rx.recv().await, None, "closed and drained, though a sender is there");
        drop(rx);
        assert_eq!(tx.try_send(frame("gone")), Err(TrySendError::Closed(frame("gone"))));
    }

    #[tokio::test]
    async fn the_close_reason_reaches_a_session_whose_queue_is_full() {
        let (tx, close, _rx, mut closed) = queue(1);
        tx.try_send(frame("filler")).unwrap();
        let waiter = tokio::spawn(async move { closed.closed().await });
        tokio::task::yield_now().await;
        close.close(CloseReason::SLOW_CONSUMER);
        close.close(CloseReason::REPLACED);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(got == CloseReason::SLOW_CONSUMER || got == CloseReason::REPLACED);
        let (_, close, _, after) = queue(1);
        close.close(CloseReason::MOVED);
        close.close(CloseReason::REPLACED);
        assert_eq!(after.reason(), Some(CloseReason::REPLACED), "the latest reason wins");
    }

    #[tokio::test]
    async fn an_idle_queue_gives_back_what_a_burst_took() {
        let (tx, _close, mut rx, _) = queue(64);
        for _ in 0..64 {
            tx.try_send(frame("burst")).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(rx.0.lock().frames.capacity() <= KEEP);
    }

    /// Frames offered from another thread while the reader waits are all
    /// read, in order, and the end is seen once the sender goes.
    #[test]
    fn a_writer_thread_and_a_reader_task_see_every_frame_in_order() {
        let (tx, _close, mut rx, _) = queue(8);
        let writer = std::thread::spawn(move || {
            let mut n = 0u32;
            while n < 20_000 {
                match tx.try_send(Bytes::from(n.to_be_bytes().to_vec())) {
                    Ok(()) => n += 1,
                    Err(TrySendError::Full(_)) => std::thread::yield_now(),
                    Err(TrySendError::Closed(_)) => panic!("the reader is there"),
                }
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let read = rt.block_on(async {
            let mut next = 0u32;
            while let Some(f) = rx.recv().await {
                assert_eq!(f[..], next.to_be_bytes());
                next += 1;
            }
            next
        });
        writer.join().unwrap();
        assert_eq!(read, 20_000);
    }
}
