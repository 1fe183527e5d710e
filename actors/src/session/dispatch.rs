//! One client frame: limits, decoding, then the command's handler.

use futures_util::Sink;
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};

use super::{Draft, Frame, Services, Session, Step, join::JoinAsk, limits::Admit};
use crate::CloseReason;

/// RFC 6455 close codes that end a session for good.
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;

impl<S: Services> Session<S> {
    pub(super) async fn on_frame<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, frame: Frame) -> Step {
        let (codec, bytes) = match frame {
            Frame::Binary(b) => (Codec::MsgPack, b),
            Frame::Text(t) => (Codec::Json, t.into_bytes()),
            Frame::Close(code, _) => {
                // 1000 (normal) and 1001 (going away: a closed tab) mean
                // the client is done: a departure, as `leave`. Any other
                // close (or none: a dropped connection) keeps the presence
                // for a resume, as Discord's gateway does.
                if matches!(code, CLOSE_NORMAL | CLOSE_GOING_AWAY) {
                    self.leave_space();
                }
                return Step::PeerClosed;
            }
            // Control frames count against the same rate: each ping makes
            // the transport write a pong, so a ping flood is a flood.
            Frame::Ping(_) | Frame::Pong(_) => {
                return match self.guard.admit() {
                    Admit::Close => Step::Close(CloseReason::RATE_LIMITED),
                    Admit::Pass | Admit::Warn => Step::Continue,
                };
            }
        };
        match self.guard.admit() {
            Admit::Pass => {}
            Admit::Warn => {
                self.error(io, codec, ErrorCode::RateLimited, "too many messages; slow down").await;
                return Step::Continue;
            }
            Admit::Close => return Step::Close(CloseReason::RATE_LIMITED),
        }
        let msg = match codec.decode_client(&bytes, self.limits.max_frame) {
            Ok(m) => {
                self.guard.decoded();
                m
            }
            Err(e) => {
                if self.guard.undecodable() {
                    return Step::Close(CloseReason::PROTOCOL);
                }
                self.error(io, codec, e.code(), e.to_string()).await;
                return Step::Continue;
            }
        };
        metrics::counter!(crate::metric_names::WS_MESSAGES_IN_TOTAL, "type" => msg.type_name()).increment(1);
        self.route(io, codec, msg).await
    }

    /// The rare commands that wait on the database (join, chat, the
    /// sign-in re-check) run boxed: an async fn's future is as large as its
    /// largest await, and every idle socket would otherwise carry theirs
    /// (about 20 KiB) while it waits for its next move.
    async fn route<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, msg: ClientMsg) -> Step {
        let speaks_for_user = matches!(msg, ClientMsg::ChatMessage { .. } | ClientMsg::RtcSignal { .. });
        if speaks_for_user && !Box::pin(self.still_signed_in()).await {
            return Step::Close(CloseReason::REVOKED);
        }
        match msg {
            ClientMsg::Heartbeat {} => self.reply(io, codec, &ServerMsg::Heartbeat {}).await,
            ClientMsg::Join { space_id, token, resume_token, batch, view } => {
                let ask = JoinAsk { resume_token, batch, view };
                return Box::pin(self.join(io, codec, space_id, token, ask)).await;
            }
            ClientMsg::Move { x, y } => self.move_to(io, codec, x, y).await,
            ClientMsg::Leave {} => Box::pin(self.leave(io, codec)).await,
            ClientMsg::ChatJoin { chatroom_id, passcode, since } => {
                Box::pin(self.chat_join(io, codec, chatroom_id, passcode, since)).await;
            }
            ClientMsg::ChatLeave { chatroom_id } => Box::pin(self.chat_leave(io, codec, chatroom_id)).await,
            ClientMsg::ChatMessage { chatroom_id, content, kind, client_id, media_id } => {
                let draft = Draft { content, kind, client_id, media_id };
                if chatroom_id == S::NEARBY {
                    Box::pin(self.nearby_message(io, codec, draft)).await;
                } else {
                    Box::pin(self.chat_message(io, codec, chatroom_id, draft)).await;
                }
            }
            ClientMsg::RtcSignal { to, kind, data } => Box::pin(self.rtc_signal(io, codec, to, kind, data)).await,
        }
        Step::Continue
    }
}
