//! Frames from a space's owner to sessions on this node. A session whose
//! queue is full is closed as a slow consumer, as a local one would be.

use bytes::Bytes;
use metaverse_actors::{CloseReason, metric_names::SLOW_CONSUMERS_CLOSED_TOTAL, queue::TrySendError};
use metaverse_protocol::ServerMsg;
use serde_bytes::ByteBuf;

use super::{LocalEnd, Relay, control::reason_of, encode_in};

pub(super) fn on_frames(relay: &Relay, frames: Vec<ByteBuf>, to: Vec<(u64, u32)>) {
    let frames: Vec<Bytes> = frames.into_iter().map(|b| Bytes::from(b.into_vec())).collect();
    for (session, i) in to {
        let Some(frame) = frames.get(i as usize) else { continue };
        let full = match relay.locals.get(&session) {
            Some(end) => matches!(end.tx.try_send(frame.clone()), Err(TrySendError::Full(_))),
            None => false,
        };
        if full && let Some((_, end)) = relay.locals.remove(&session) {
            metrics::counter!(SLOW_CONSUMERS_CLOSED_TOTAL).increment(1);
            end.close.close(CloseReason::SLOW_CONSUMER);
        }
    }
}

/// The owner ended a relayed session; code 0 means without a close.
pub(super) fn on_closed(relay: &Relay, session: u64, code: u16) {
    if let Some((_, end)) = relay.locals.remove(&session)
        && code != 0
    {
        end.close.close(reason_of(code));
    }
}

/// Sends a relayed session a `reconnect` notice and closes it as moved.
pub(super) fn close_end(end: LocalEnd, why: &str, url: Option<String>, retry_after_ms: u64) {
    let notice = ServerMsg::Reconnect { reason: why.to_owned(), url, retry_after_ms };
    if let Some(f) = encode_in(end.codec, &notice) {
        let _ = end.tx.try_send(f);
    }
    end.close.close(CloseReason::MOVED);
}
