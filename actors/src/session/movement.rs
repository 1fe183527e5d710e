//! `move`: a step request for the space to check against its world.

use futures_util::Sink;
use metaverse_protocol::{Codec, ErrorCode, Position};

use super::{Frame, Refused, Services, Session, SpacePort};
use crate::space::Move;

impl<S: Services> Session<S> {
    pub(super) async fn move_to<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, x: i32, y: i32) {
        let Some(j) = &self.joined else {
            self.error(io, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let m = Move { user: j.user.clone(), session_id: self.id, to: Position { x, y } };
        match j.space.move_to(m) {
            Ok(()) => {}
            Err(Refused::Busy) => {
                // Name the move, so a client with several in flight knows
                // which one to resend.
                let why = format!("the space is overloaded; move to ({x}, {y}) dropped");
                self.error(io, codec, ErrorCode::Busy, why).await;
            }
            Err(Refused::Closed) => {
                self.joined = None;
                self.error(io, codec, ErrorCode::SpaceClosed, "the space closed; join again").await;
            }
        }
    }
}
