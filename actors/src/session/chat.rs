//! Chat over the session: joining and leaving chatrooms of the space,
//! room messages (stored, then fanned out by the space) and nearby ones.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Sink;
use metaverse_protocol::{Codec, ErrorCode, ServerMsg};

use super::{Draft, Frame, OutgoingChat, Refusal, Services, Session, SpacePort, limits::REPLAYS_PER_MINUTE};
use crate::space::{ChatSubscribe, ChatUnsubscribe, NearbyChat};

/// Messages replayed by `chat-join` with `since`, at most.
pub const MAX_REPLAY: u64 = 500;

impl<S: Services> Session<S> {
    pub(super) async fn chat_join<W: Sink<Frame> + Unpin>(
        &mut self,
        io: &mut W,
        codec: Codec,
        chatroom_id: String,
        passcode: Option<String>,
        since: Option<String>,
    ) {
        let Some(j) = &self.joined else {
            self.error(io, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let room = match self.services.room(&chatroom_id).await {
            Ok(r) if S::room_space(&r) == j.space_id => r,
            Ok(_) => return self.no_such_room(io, codec).await,
            Err(e) if e.code == ErrorCode::UnknownChatroom => return self.no_such_room(io, codec).await,
            Err(e) => return self.refused(io, codec, e).await,
        };
        if let Err(e) = self.services.join_room(&room, &j.user, &j.username, passcode).await {
            return self.refused(io, codec, e).await;
        }
        // Subscribe first, then read what was missed: a message sent in
        // between may arrive twice (clients dedupe by id), never not at all.
        let room_id: Arc<str> = Arc::from(S::room_id(&room));
        let subscribed =
            j.space.subscribe(ChatSubscribe { user: j.user.clone(), session_id: self.id, room: room_id.clone() }).await;
        if !subscribed {
            self.error(io, codec, ErrorCode::SpaceClosed, "you are no longer in the space; join again").await;
            return;
        }
        let replay = match since.as_deref() {
            Some(_) if !self.guard.replay() => Err(Refusal {
                code: ErrorCode::RateLimited,
                message: format!(
                    "history replay: at most {REPLAYS_PER_MINUTE} per minute per socket; page older messages over HTTP"
                ),
            }),
            Some(since) => self.services.since(&room, since, MAX_REPLAY).await,
            None => Ok(Vec::new()),
        };
        if let Some(j) = self.joined.as_mut() {
            j.rooms.insert(room_id.to_string(), room);
        }
        self.reply(io, codec, &ServerMsg::ChatJoined { chatroom_id }).await;
        match replay {
            Ok(msgs) => {
                for m in msgs {
                    self.reply(io, codec, &m).await;
                }
            }
            Err(e) => self.refused(io, codec, e).await,
        }
    }

    async fn no_such_room<W: Sink<Frame> + Unpin>(&self, io: &mut W, codec: Codec) {
        self.error(io, codec, ErrorCode::UnknownChatroom, "no such chatroom in this space").await;
    }

    pub(super) async fn chat_leave<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, chatroom_id: String) {
        match self.joined.as_mut().map(|j| (j.rooms.remove(&chatroom_id), j)) {
            None => self.error(io, codec, ErrorCode::NotJoined, "join a space first").await,
            Some((None, _)) => self.error(io, codec, ErrorCode::UnknownChatroom, "you are not in this chatroom").await,
            Some((Some(_), j)) => {
                let leave = ChatUnsubscribe { user: j.user.clone(), room: Arc::from(chatroom_id.as_str()) };
                j.space.unsubscribe(self.id, leave);
                self.reply(io, codec, &ServerMsg::ChatLeft { chatroom_id }).await;
            }
        }
    }

    /// Checks a chat message, then sends it on its own task: the session
    /// keeps serving while the message becomes durable. Its fan-out (the
    /// sender's copy included) comes through the space; a failure comes
    /// back as `error` on this socket.
    pub(super) async fn chat_message<W: Sink<Frame> + Unpin>(
        &mut self,
        io: &mut W,
        codec: Codec,
        chatroom_id: String,
        draft: Draft,
    ) {
        let Some(j) = &self.joined else {
            self.error(io, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let Some(room) = j.rooms.get(&chatroom_id).cloned() else {
            self.error(io, codec, ErrorCode::Forbidden, "send chat-join for this chatroom first").await;
            return;
        };
        let Draft { content, kind, client_id, media_id } = draft;
        let kind = match self.services.check_meta(kind.as_deref(), client_id.as_deref(), media_id.as_deref()) {
            Ok(k) => k,
            Err(e) => return self.refused(io, codec, e).await,
        };
        let out =
            OutgoingChat { user: j.user.clone(), username: j.username.clone(), content, kind, client_id, media_id };
        let send = self.services.send(room, out);
        let (tx, events) = (j.tx.clone(), j.codec);
        tokio::task::spawn_local(async move {
            if let Err(e) = send.await {
                let msg = ServerMsg::error(e.code, e.message);
                if let Ok(bytes) = events.encode(&msg) {
                    let _ = tx.try_send(Bytes::from(bytes));
                }
            }
        });
    }

    /// A message to whoever stands near the sender now; not stored, so it
    /// carries no attachment (checking one would wait on the database).
    pub(super) async fn nearby_message<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, draft: Draft) {
        let Some(j) = &self.joined else {
            self.error(io, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let Draft { content, kind, client_id, media_id } = draft;
        if media_id.is_some() {
            let why = "mediaId: attachments go to chatrooms, not to nearby messages";
            return self.error(io, codec, ErrorCode::Invalid, why).await;
        }
        let checked = self.services.check_meta(kind.as_deref(), client_id.as_deref(), None).and_then(|kind| {
            let out =
                OutgoingChat { user: j.user.clone(), username: j.username.clone(), content, kind, client_id, media_id };
            self.services.nearby(&j.space_id, out)
        });
        let msg = match checked {
            Ok(m) => m,
            Err(e) => return self.refused(io, codec, e).await,
        };
        let send = NearbyChat { from: j.user.clone(), session_id: self.id, msg };
        if j.space.nearby(send).is_err() {
            self.error(io, codec, ErrorCode::Busy, "the space is overloaded; message dropped").await;
        }
    }
}
