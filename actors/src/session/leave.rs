//! Leaving a space: on `leave` or a clean close (1000/1001) the presence
//! goes at once, also before joining another; when the socket ends any
//! other way the presence is held for a resume.

use futures_util::Sink;
use metaverse_protocol::{Codec, ErrorCode};

use super::{Frame, Services, Session, SpacePort};
use crate::space::Leave;

impl<S: Services> Session<S> {
    pub(super) async fn leave<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec) {
        if !self.leave_space() {
            self.error(io, codec, ErrorCode::NotJoined, "not in a space").await;
        }
    }

    /// Leaves the current space for good; false when in none.
    pub(super) fn leave_space(&mut self) -> bool {
        let Some(j) = self.joined.take() else {
            return false;
        };
        j.space.leave(Leave { user: j.user, session_id: self.id, dropped: false, unsent: Vec::new() });
        true
    }

    /// The socket went away (or was closed by us): the space holds the
    /// presence for its resume grace period. An explicit `leave` already
    /// left.
    pub(super) fn drop_out(&mut self) {
        let Some(mut j) = self.joined.take() else {
            return;
        };
        // Close the queue first: later frames then come back to the space
        // as refused (and are buffered there); what is already queued goes
        // back with the Leave, so a resume misses nothing.
        j.port.rx.close();
        let mut unsent = Vec::new();
        while let Some(frame) = j.port.rx.try_recv() {
            unsent.push(frame);
        }
        j.space.leave(Leave { user: j.user, session_id: self.id, dropped: true, unsent });
    }
}
