//! Writing to the socket: replies, batches of the space's frames, and the
//! bound on how long any one write may block.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use metaverse_protocol::{Codec, ErrorCode, ServerMsg};

use super::{Frame, Services, Session, Step, frame::encoded};
use crate::CloseReason;

/// Frames written per flush at most, so one busy socket cannot starve the
/// read side.
pub const MAX_BATCH: usize = 256;

/// Longest a single socket write may block. A client that stops reading
/// fills its TCP buffer; without this bound the session would wait forever
/// and never see its timers or close signals.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one write with the timeout; `false` when it failed or timed out
/// (the socket is then given up).
pub(super) async fn timed<E>(f: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, f).await, Ok(Ok(())))
}

pub(super) async fn close<W: Sink<Frame> + Unpin>(io: &mut W, reason: CloseReason) {
    let _ = timed(io.send(Frame::Close(reason.code, reason.reason.into()))).await;
}

impl<S: Services> Session<S> {
    /// Writes `first` and whatever else is queued, then flushes once.
    pub(super) async fn write_batch<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, first: Bytes) -> Step {
        let mut pending = Some(first);
        let mut n = 0;
        while let Some(frame) = pending.take() {
            if !self.write(io.feed(encoded(codec, frame))).await {
                return Step::Continue;
            }
            n += 1;
            if n < MAX_BATCH {
                pending = self.joined.as_mut().and_then(|j| j.port.rx.try_recv());
            }
        }
        self.write(io.flush()).await;
        Step::Continue
    }

    /// Every write but the final close goes through here: under the write
    /// timeout, and none at all once one has failed.
    pub(super) async fn write<E>(&self, f: impl Future<Output = Result<(), E>>) -> bool {
        if self.broken.get() {
            return false;
        }
        let ok = timed(f).await;
        if !ok {
            self.broken.set(true);
        }
        ok
    }

    pub(super) async fn reply<W: Sink<Frame> + Unpin>(&self, io: &mut W, codec: Codec, msg: &ServerMsg) {
        metrics::counter!(crate::metric_names::WS_MESSAGES_OUT_TOTAL, "type" => msg.type_name()).increment(1);
        if let Ok(b) = codec.encode(msg) {
            self.write(io.send(encoded(codec, Bytes::from(b)))).await;
        }
    }

    pub(super) async fn error<W: Sink<Frame> + Unpin>(
        &self,
        io: &mut W,
        codec: Codec,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        self.reply(io, codec, &ServerMsg::error(code, message)).await;
    }

    pub(super) async fn refused<W: Sink<Frame> + Unpin>(&self, io: &mut W, codec: Codec, r: super::Refusal) {
        self.error(io, codec, r.code, r.message).await;
    }
}
