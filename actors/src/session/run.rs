//! The session's loop: one `select!` over the socket, the space's queue and
//! close signal, shutdown, revocation, token expiry and the ping timer.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use metaverse_protocol::Codec;
use tokio::{
    sync::broadcast,
    time::{Instant, MissedTickBehavior},
};

use super::{
    Frame, Services, Session, Step,
    output::{close, timed},
};
use crate::{
    CloseReason,
    queue::{CloseRx, FrameRx},
};

/// Longest wait for the peer's close frame after ours.
pub const CLOSE_DRAIN: Duration = Duration::from_secs(2);

enum Event<E> {
    Close(CloseReason),
    SpaceClosed(CloseReason),
    Frame(Option<(Codec, Bytes)>),
    Incoming(Option<Result<Frame, E>>),
    Tick,
    /// Something that needs no action (another session's revocation).
    Nothing,
    /// Revocations were missed (the broadcast lagged): ask the database.
    Recheck,
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
        let end = loop {
            let event = self.next_event(&mut io, &mut ping).await;
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
                Event::Tick => {
                    if last_seen.elapsed() > idle {
                        Step::Close(CloseReason::IDLE)
                    } else {
                        self.write(io.send(Frame::Ping(Bytes::new()))).await;
                        Step::Continue
                    }
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

    async fn next_event<I, E>(&mut self, io: &mut I, ping: &mut tokio::time::Interval) -> Event<E>
    where
        I: Stream<Item = Result<Frame, E>> + Unpin,
    {
        let (close_rx, frame_rx) = match self.joined.as_mut() {
            Some(j) => (Some(&mut j.port.close), Some((&mut j.port.rx, j.codec))),
            None => (None, None),
        };
        let expiry = self.auth.as_ref().map(|a| a.1);
        let join_by = if self.auth.is_none() { Some(self.join_by) } else { None };
        tokio::select! {
            biased;
            // A space's own reason (e.g. `reconnect` elsewhere during a
            // drain) beats the shutdown that may follow it at once.
            reason = wait_closed(close_rx) => Event::SpaceClosed(reason),
            _ = self.shutdown.changed() => Event::Close(CloseReason::SHUTDOWN),
            _ = until(expiry) => Event::Close(CloseReason::TOKEN_EXPIRED),
            _ = until(join_by) => Event::Close(CloseReason::JOIN_TIMEOUT),
            sid = self.revoked.recv() => match sid {
                Ok(sid) if self.auth.as_ref().is_some_and(|a| a.0 == sid) => Event::Close(CloseReason::REVOKED),
                // Missed revocations may include ours: lagging must not
                // mean "nothing revoked".
                Err(broadcast::error::RecvError::Lagged(_)) => Event::Recheck,
                _ => Event::Nothing,
            },
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
            Event::Recheck => match self.auth.as_ref().map(|a| a.0.clone()) {
                Some(sid) if !Box::pin(self.services.still_active(&sid)).await => Step::Close(CloseReason::REVOKED),
                _ => Step::Continue,
            },
            Event::Nothing | Event::Tick | Event::Incoming(_) => Step::Continue,
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

/// Resolves at `at`; never when there is none.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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
