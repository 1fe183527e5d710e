//! In-memory stand-ins for the server's services and a space.

use std::{cell::RefCell, rc::Rc, time::Duration};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use metaverse_protocol::{ErrorCode, Position, ServerMsg};

use crate::{
    SessionLink, link,
    session::{
        AuthFailure, Claims, EnterFailure, Entered, JoinFail, JoinSpec, OutgoingChat, Refusal, Refused, Services,
        SpacePort,
    },
    space::{ChatSubscribe, ChatUnsubscribe, Leave, Move, NearbyChat, Signal},
};

pub(super) const GOOD_TOKEN: &str = "good";
pub(super) const REVOKED_TOKEN: &str = "revoked";
pub(super) const SIGN_IN: &str = "sign-in-1";

/// What the space was asked to do, in order.
#[derive(Debug, PartialEq)]
pub(super) enum Call {
    Move(Position),
    Leave { dropped: bool, unsent: Vec<Bytes> },
    Signal { to: String },
    Nearby(ServerMsg),
    Subscribe(String),
    Unsubscribe(String),
}

#[derive(Clone, Debug)]
pub(super) struct Room {
    pub(super) id: String,
    pub(super) space: String,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) calls: Vec<Call>,
    pub(super) specs: Vec<JoinSpec>,
    /// The space's ends of the sessions that joined, newest last.
    pub(super) links: Vec<SessionLink>,
    pub(super) join_fails: Option<JoinFail>,
    pub(super) move_refused: Option<Refused>,
    pub(super) subscribe_refused: bool,
    pub(super) expires_in: Option<Duration>,
    pub(super) rooms: Vec<Room>,
    pub(super) history: Vec<ServerMsg>,
    pub(super) sent: Vec<(String, OutgoingChat)>,
    pub(super) send_fails: Option<Refusal>,
    /// Sign-in sessions revoked in the database.
    pub(super) revoked: Vec<String>,
}

#[derive(Clone, Default)]
pub(super) struct Fake(pub(super) Rc<RefCell<State>>);

impl Fake {
    pub(super) fn with(f: impl FnOnce(&mut State)) -> Self {
        let fake = Self::default();
        f(&mut fake.0.borrow_mut());
        fake
    }

    pub(super) fn state(&self) -> std::cell::RefMut<'_, State> {
        self.0.borrow_mut()
    }

    /// Queues a frame to the newest joined session, as its space would.
    pub(super) fn offer(&self, frame: &'static str) {
        let state = self.0.borrow();
        let link = state.links.last().expect("nobody joined");
        assert_eq!(link.offer(Bytes::from_static(frame.as_bytes())), crate::link::Offer::Sent);
    }
}

pub(super) struct FakeSpace(Fake);

impl FakeSpace {
    fn record(&self, call: Call) {
        self.0.state().calls.push(call);
    }
}

impl SpacePort for FakeSpace {
    fn move_to(&self, m: Move) -> Result<(), Refused> {
        if let Some(r) = self.0.state().move_refused {
            return Err(r);
        }
        self.record(Call::Move(m.to));
        Ok(())
    }
    fn leave(&self, l: Leave) {
        self.record(Call::Leave { dropped: l.dropped, unsent: l.unsent });
    }
    fn signal(&self, s: Signal) -> Result<(), Refused> {
        self.record(Call::Signal { to: s.to });
        Ok(())
    }
    fn nearby(&self, n: NearbyChat) -> Result<(), Refused> {
        self.record(Call::Nearby(n.msg));
        Ok(())
    }
    async fn subscribe(&self, s: ChatSubscribe) -> bool {
        self.record(Call::Subscribe(s.room.to_string()));
        !self.0.state().subscribe_refused
    }
    fn unsubscribe(&self, _session: u64, u: ChatUnsubscribe) {
        self.record(Call::Unsubscribe(u.room.to_string()));
    }
}

fn claims(expires_in: Option<Duration>) -> Claims {
    Claims {
        user_id: "u1".into(),
        username: "ann".into(),
        session_id: SIGN_IN.into(),
        expires_in: expires_in.unwrap_or(Duration::from_secs(3600)),
    }
}

impl Services for Fake {
    type Space = FakeSpace;
    type Room = Room;
    const NEARBY: &'static str = "nearby";

    async fn authenticate(&self, token: &str) -> Result<Claims, AuthFailure> {
        match token {
            GOOD_TOKEN => Ok(claims(self.state().expires_in)),
            REVOKED_TOKEN => Err(AuthFailure::Revoked),
            "db-down" => Err(AuthFailure::Unavailable),
            _ => Err(AuthFailure::Invalid),
        }
    }

    async fn still_active(&self, session_id: &str) -> bool {
        !self.state().revoked.iter().any(|s| s == session_id)
    }

    async fn enter(&self, space_id: &str, _user_id: &str) -> Result<Option<Position>, EnterFailure> {
        match space_id {
            "s1" | "s2" => Ok(Some(Position { x: 1, y: 2 })),
            _ => Err(EnterFailure::UnknownSpace),
        }
    }

    async fn avatar_of(&self, _user_id: &str) -> Option<String> {
        Some("fox".into())
    }

    /// Links like a space would and queues `space-joined`, naming the
    /// resume token it was given.
    async fn join(&self, spec: &JoinSpec) -> Result<Entered<FakeSpace>, JoinFail> {
        let mut state = self.state();
        state.specs.push(spec.clone());
        if let Some(fail) = state.join_fails {
            return Err(fail);
        }
        let (link, port) = link(spec.session_id, spec.events, 8);
        let resume = spec.resume_token.clone().unwrap_or("fresh".into());
        let frame = serde_json::json!({ "type": "space-joined", "payload": { "resumeToken": resume } });
        let bytes = spec.events.encode(&frame).unwrap();
        link.offer(Bytes::from(bytes));
        let tx = link.tx.clone();
        state.links.push(link);
        Ok(Entered { space: FakeSpace(self.clone()), port, tx })
    }

    async fn room(&self, id: &str) -> Result<Room, Refusal> {
        let found = self.state().rooms.iter().find(|r| r.id == id).cloned();
        found.ok_or(Refusal { code: ErrorCode::UnknownChatroom, message: "unknown chatroom".into() })
    }

    fn room_id(room: &Room) -> &str {
        &room.id
    }

    fn room_space(room: &Room) -> &str {
        &room.space
    }

    async fn join_room(&self, _: &Room, _: &str, _: &str, passcode: Option<String>) -> Result<(), Refusal> {
        match passcode.as_deref() {
            Some("wrong") => Err(Refusal { code: ErrorCode::Forbidden, message: "wrong passcode".into() }),
            _ => Ok(()),
        }
    }

    async fn since(&self, _: &Room, _since: &str, _limit: u64) -> Result<Vec<ServerMsg>, Refusal> {
        Ok(self.state().history.clone())
    }

    fn check_meta(
        &self,
        kind: Option<&str>,
        _client_id: Option<&str>,
        _media_id: Option<&str>,
    ) -> Result<&'static str, Refusal> {
        match kind {
            None | Some("text") => Ok("text"),
            Some(_) => Err(Refusal { code: ErrorCode::Invalid, message: "type: unknown".into() }),
        }
    }

    /// Records the message at once (the session's task only awaits the
    /// outcome), so a test can look without waiting for that task.
    fn send(&self, room: Room, out: OutgoingChat) -> LocalBoxFuture<'static, Result<(), Refusal>> {
        let mut state = self.state();
        state.sent.push((room.id, out));
        let outcome = state.send_fails.clone().map_or(Ok(()), Err);
        Box::pin(async move { outcome })
    }

    fn nearby(&self, space_id: &str, out: OutgoingChat) -> Result<ServerMsg, Refusal> {
        Ok(ServerMsg::ChatMessage {
            id: "n1".into(),
            chatroom_id: format!("nearby:{space_id}"),
            user_id: out.user.to_string(),
            username: out.username,
            content: out.content,
            kind: out.kind.into(),
            sent_at: "now".into(),
            client_id: out.client_id,
            attachment: None,
        })
    }
}
