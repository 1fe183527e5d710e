//! `rtc-signal`: WebRTC offers, answers and candidates, relayed by the
//! space to a nearby member.

use futures_util::Sink;
use metaverse_protocol::{Codec, ErrorCode, RtcKind};

use super::{Frame, Services, Session, SpacePort};
use crate::space::Signal;

/// Largest `rtc-signal` data, as JSON: an audio+video offer is ~7 KB.
pub const MAX_SIGNAL_BYTES: usize = 16 * 1024;

impl<S: Services> Session<S> {
    pub(super) async fn rtc_signal<W: Sink<Frame> + Unpin>(
        &mut self,
        io: &mut W,
        codec: Codec,
        to: String,
        kind: RtcKind,
        data: serde_json::Value,
    ) {
        let Some(j) = &self.joined else {
            self.error(io, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        if to.is_empty() || to.len() > 64 {
            self.error(io, codec, ErrorCode::Invalid, "to: not a user id").await;
            return;
        }
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_SIGNAL_BYTES {
            let why = format!("data: at most {MAX_SIGNAL_BYTES} bytes (as JSON), got {size}");
            self.error(io, codec, ErrorCode::Invalid, why).await;
            return;
        }
        let signal = Signal { from: j.user.clone(), session_id: self.id, to, kind, data };
        if j.space.signal(signal).is_err() {
            self.error(io, codec, ErrorCode::Busy, "the space is overloaded; signal dropped").await;
        }
    }
}
