//! The session's loop: one `select!` over the socket, the space's queue and
//! close signal, shutdown, revocation, token expiry and the ping timer.

use std::{
    future::Future,
    pin::{Pin, pin},
    time::Duration,
};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use metaverse_protocol::Codec;
use tokio::{
    sync::broadcast::error::RecvError,
    time::{Instant, MissedTickBehavior},
};

use super::{
    Frame, Services, Session, Step,
    output::{close, timed},
    outside::{self, Signal},
};
use crate::{
    CloseReason,
    queue::{CloseRx, FrameRx},
};

/// Longest wait for the peer's close frame after ours.
pub const CLOSE_DRAIN: Duration = Duration::from_secs(2);

enum Event<E> {
    Close(CloseReason),
    /// A sign-in was revoked somewhere (or revocations were missed), with
    /// the receivers to wait for the next.
    Revoked(outside::Receivers, Result<String, RecvError>),
    SpaceClosed(CloseReason),
    Frame(Option<(Codec, Bytes)>),
    Incoming(Option<Result<Frame, E>>),
    Tick,
}

/// How the loop ended: closed by us with a reason, or the peer is gone.
enum End {
    Close(CloseReason),
    Gone,
}

impl<S: Services> Session<S> {
    pub(super) async fn run<I, E>(mut self, mut io: I)
    where
        I: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin,
        E: std::fmt::Display,
    {
        let idle = self.limits.idle_timeout;
        let mut ping = tokio::time::interval((idle / 3).max(Duration::from_millis(100)));
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_seen = Instant::now();
        let Some(receivers) = self.outside.take() else { return self.drop_out() };
        let mut outside = pin!(outside::next(receivers, true));
        let mut deadline = pin!(tokio::time::sleep_until(self.join_by));
        let end = loop {
            let why = self.arm(deadline.as_mut());
            let waits = Waits { outside: outside.as_mut(), deadline: (deadline.as_mut(), why) };
            let event = self.next_event(&mut io, &mut ping, waits).await;
            let step = match event {
                Event::Incoming(Some(Ok(frame))) => {
                    last_seen = Instant::now();
                    self.on_frame(&mut io, frame).await
                }
                Event::Incoming(Some(Err(e))) => {
                    tracing::debug!(session = self.id, error = %e, "socket error");
                    break End::Gone;
                }
                Event::Incoming(None) => break End::Gone,
                Event::Tick if last_seen.elapsed() > idle => Step::Close(CloseReason::IDLE),
                Event::Tick => {
                    self.write(io.send(Frame::Ping(Bytes::new()))).await;
                    Step::Continue
                }
                Event::Revoked(receivers, got) => {
                    outside.set(outside::next(receivers, outside::still_open(&got)));
                    self.on_revoked(got).await
                }
                other => self.on_event(&mut io, other).await,
            };
            if self.broken.get() {
                break End::Gone;
            }
            match step {
                Step::Continue => {}
                Step::Close(reason) => break End::Close(reason),
                Step::PeerClosed => {
                    // Sends the close reply the transport queued.
                    let _ = timed(io.flush()).await;
                    break End::Gone;
                }
            }
        };
        if let End::Close(reason) = end {
            // Once per socket: boxed, so the loop's future does not carry it.
            Box::pin(async {
                close(&mut io, reason).await;
                drain(&mut io).await;
            })
            .await;
        }
        self.drop_out();
    }

    async fn next_event<I, E, O>(&mut self, io: &mut I, ping: &mut tokio::time::Interval, w: Waits<'_, O>) -> Event<E>
    where
        I: Stream<Item = Result<Frame, E>> + Unpin,
        O: Future<Output = Signal>,
    {
        let (close_rx, frame_rx) = match self.joined.as_mut() {
            Some(j) => (Some(&mut j.port.close), Some((&mut j.port.rx, j.codec))),
            None => (None, None),
        };
        let (deadline, why) = w.deadline;
        tokio::select! {
            biased;
            // A space's own reason (e.g. `reconnect` elsewhere during a
            // drain) beats the shutdown that may follow it at once.
            reason = wait_closed(close_rx) => Event::SpaceClosed(reason),
            signal = w.outside => match signal {
                Signal::Shutdown => Event::Close(CloseReason::SHUTDOWN),
                Signal::Revoked(receivers, got) => Event::Revoked(receivers, got),
            },
            _ = deadline => Event::Close(why),
            // Reading first: inbound is rate-limited, outbound may be a
            // flood, and reading must not starve.
            incoming = io.next() => Event::Incoming(incoming),
            frame = next_frame(frame_rx) => Event::Frame(frame),
            _ = ping.tick() => Event::Tick,
        }
    }

    /// Everything but socket input and the ping timer.
    async fn on_event<W: Sink<Frame> + Unpin, E>(&mut self, io: &mut W, event: Event<E>) -> Step {
        match event {
            Event::Close(reason) => Step::Close(reason),
            Event::SpaceClosed(reason) => {
                // Deliver what the space queued before closing (e.g. the
                // `error` or `reconnect` that says why, after the last
                // tick's batch).
                if let Some(first) = self.joined.as_mut().and_then(|j| j.port.rx.try_recv()) {
                    let codec = self.joined.as_ref().map(|j| j.codec).unwrap_or(Codec::Json);
                    let _ = self.write_batch(io, codec, first).await;
                }
                Step::Close(reason)
            }
            Event::Frame(Some((codec, first))) => self.write_batch(io, codec, first).await,
            // The space dropped our queue (it stopped): we are out of it.
            Event::Frame(None) => {
                self.joined = None;
                Step::Continue
            }
            Event::Revoked(..) | Event::Tick | Event::Incoming(_) => Step::Continue,
        }
    }

    /// Points the sleep at the deadline that applies now; returns its
    /// reason.
    fn arm(&self, mut deadline: Pin<&mut tokio::time::Sleep>) -> CloseReason {
        let (at, why) = outside::deadline(self.auth.as_ref(), self.join_by);
        if deadline.deadline() != at {
            deadline.as_mut().reset(at);
        }
        why
    }

    /// A sign-in was revoked somewhere: ours closes the socket.
    async fn on_revoked(&mut self, got: Result<String, RecvError>) -> Step {
        match got {
            Ok(sid) if self.auth.as_ref().is_some_and(|a| a.0 == sid) => Step::Close(CloseReason::REVOKED),
            // Missed revocations may include ours: lagging must not mean
            // "nothing revoked", so ask the database.
            Err(RecvError::Lagged(_)) => match self.auth.as_ref().map(|a| a.0.clone()) {
                Some(sid) if !Box::pin(self.services.still_active(&sid)).await => Step::Close(CloseReason::REVOKED),
                _ => Step::Continue,
            },
            _ => Step::Continue,
        }
    }
}

/// After our close frame: read and discard until the peer's close (or the
/// stream's end, or [`CLOSE_DRAIN`]), as RFC 6455 §7 asks. Closing the TCP
/// connection with the client's input still unread makes the kernel send
/// a reset, and a client that was still writing then sees 1006 instead of
/// our code and loses the replies queued before it.
async fn drain<I, E>(io: &mut I)
where
    I: Stream<Item = Result<Frame, E>> + Unpin,
{
    let deadline = Instant::now() + CLOSE_DRAIN;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, io.next()).await {
        if matches!(frame, Frame::Close(..)) {
            break;
        }
    }
}

/// What the loop keeps across its turns, lent to one turn's wait.
struct Waits<'a, O> {
    outside: Pin<&'a mut O>,
    /// The join deadline or the token's expiry, with its close reason.
    deadline: (Pin<&'a mut tokio::time::Sleep>, CloseReason),
}

/// Resolves when the space closes this session; never while not joined.
async fn wait_closed(rx: Option<&mut CloseRx>) -> CloseReason {
    match rx {
        Some(rx) => rx.closed().await,
        None => std::future::pending().await,
    }
}

/// The next queued frame with the codec it was encoded in; `None` when the
/// space dropped the queue. Never resolves while not joined.
async fn next_frame(rx: Option<(&mut FrameRx, Codec)>) -> Option<(Codec, Bytes)> {
    match rx {
        Some((rx, codec)) => rx.recv().await.map(|f| (codec, f)),
        None => std::future::pending().await,
    }
}
