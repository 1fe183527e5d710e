//! What a session needs from the server: token checks, membership, the
//! space (here or through the cluster) and the chat service.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::LocalBoxFuture;
use metaverse_actors::{
    link,
    session::{
        AuthFailure, Claims, EnterFailure, Entered, JoinFail, JoinSpec, OutgoingChat, Refusal, Refused, Services,
        SpacePort,
    },
    space::{ChatSubscribe, ChatUnsubscribe, Join, JoinRefused, Leave, Move, NearbyChat, Signal},
};
use metaverse_protocol::{ErrorCode, Position, ServerMsg};
use metaverse_schema::entity::chatroom;

use super::{WsContext, admission::Ticket, store};
use crate::{
    auth::session as auth_session,
    chat::{self, ChatError, Outgoing},
    cluster::{
        Cluster, Owner,
        handle::{self, Remote, SpaceHandle},
        relay::RemoteJoin,
        wire::Answer,
    },
};

/// The server's side of every session.
#[derive(Clone)]
pub struct WsServices {
    ctx: Arc<WsContext>,
    /// The socket's admission: a valid token lifts its pre-join limits.
    ticket: Arc<Ticket>,
}

impl WsServices {
    pub fn new(ctx: Arc<WsContext>, ticket: Arc<Ticket>) -> Self {
        Self { ctx, ticket }
    }
}

fn chat_error(e: &ChatError) -> ErrorCode {
    match e {
        ChatError::Invalid(_) => ErrorCode::Invalid,
        ChatError::UnknownRoom => ErrorCode::UnknownChatroom,
        ChatError::Forbidden(_) => ErrorCode::Forbidden,
        ChatError::RateLimited => ErrorCode::RateLimited,
        ChatError::Unavailable => ErrorCode::ChatUnavailable,
        ChatError::Busy => ErrorCode::Busy,
        ChatError::TooManyAttempts(_) => ErrorCode::RateLimited,
        ChatError::Db(_) => ErrorCode::Internal,
    }
}

fn refusal(e: ChatError) -> Refusal {
    Refusal { code: chat_error(&e), message: e.to_string() }
}

fn refused(r: handle::Refused) -> Refused {
    match r {
        handle::Refused::Busy => Refused::Busy,
        handle::Refused::Closed => Refused::Closed,
    }
}

impl SpacePort for SpaceHandle {
    fn move_to(&self, m: Move) -> Result<(), Refused> {
        SpaceHandle::move_to(self, m).map_err(refused)
    }
    fn leave(&self, l: Leave) {
        SpaceHandle::leave(self, l);
    }
    fn signal(&self, s: Signal) -> Result<(), Refused> {
        SpaceHandle::signal(self, s).map_err(refused)
    }
    fn nearby(&self, n: NearbyChat) -> Result<(), Refused> {
        SpaceHandle::nearby(self, n).map_err(refused)
    }
    async fn subscribe(&self, s: ChatSubscribe) -> bool {
        SpaceHandle::subscribe(self, s).await
    }
    fn unsubscribe(&self, session: u64, u: ChatUnsubscribe) {
        SpaceHandle::unsubscribe(self, session, u);
    }
}

impl Services for WsServices {
    type Space = SpaceHandle;
    type Room = chatroom::Model;
    const NEARBY: &'static str = chat::NEARBY;

    async fn authenticate(&self, token: &str) -> Result<Claims, AuthFailure> {
        let state = &self.ctx.state;
        let claims = state.tokens.verify(token).map_err(|_| AuthFailure::Invalid)?;
        match auth_session::current_role(&state.db, &claims.session_id, &claims.user_id).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(AuthFailure::Revoked),
            Err(e) => {
                tracing::error!(error = %e, "checking a session failed");
                return Err(AuthFailure::Unavailable);
            }
        }
        self.ticket.authenticated();
        let expires_in = (claims.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
        Ok(Claims { user_id: claims.user_id, username: claims.username, session_id: claims.session_id, expires_in })
    }

    async fn still_active(&self, session_id: &str) -> bool {
        match auth_session::is_active(&self.ctx.state.db, session_id).await {
            Ok(active) => active,
            Err(e) => {
                tracing::warn!(error = %e, "re-checking a sign-in session failed; keeping the socket");
                true
            }
        }
    }

    async fn enter(&self, space_id: &str, user_id: &str) -> Result<Option<Position>, EnterFailure> {
        let db = &self.ctx.state.db;
        match store::enter(db, space_id, user_id).await {
            Ok(p) => Ok(p),
            Err(_) if !matches!(store::load_space(db, space_id, 0).await, Ok(Some(_))) => {
                Err(EnterFailure::UnknownSpace)
            }
            Err(e) => {
                tracing::error!(error = %e, "recording space membership failed");
                Err(EnterFailure::Internal)
            }
        }
    }

    async fn avatar_of(&self, user_id: &str) -> Option<String> {
        store::avatar_of(&self.ctx.state.db, user_id).await.unwrap_or_default()
    }

    async fn join(&self, spec: &JoinSpec) -> Result<Entered<SpaceHandle>, JoinFail> {
        match self.ctx.state.cluster.clone() {
            None => self.join_here(spec).await,
            Some(c) => self.join_cluster(&c, spec).await,
        }
    }

    async fn room(&self, id: &str) -> Result<chatroom::Model, Refusal> {
        self.ctx.state.chat.room(id).await.map_err(refusal)
    }

    fn room_id(room: &chatroom::Model) -> &str {
        &room.id
    }

    fn room_space(room: &chatroom::Model) -> &str {
        &room.space_id
    }

    async fn join_room(
        &self,
        room: &chatroom::Model,
        user: &str,
        username: &str,
        passcode: Option<String>,
    ) -> Result<(), Refusal> {
        self.ctx.state.chat.join(room, user, username, passcode).await.map(drop).map_err(refusal)
    }

    async fn since(&self, room: &chatroom::Model, since: &str, limit: u64) -> Result<Vec<ServerMsg>, Refusal> {
        let msgs = self.ctx.state.chat.since(&room.id, since, limit).await.map_err(refusal)?;
        Ok(msgs.into_iter().map(ServerMsg::from).collect())
    }

    fn check_meta(
        &self,
        kind: Option<&str>,
        client_id: Option<&str>,
        media_id: Option<&str>,
    ) -> Result<&'static str, Refusal> {
        chat::check_meta(kind, client_id, media_id).map_err(refusal)
    }

    fn send(&self, room: chatroom::Model, out: OutgoingChat) -> LocalBoxFuture<'static, Result<(), Refusal>> {
        let chat = self.ctx.state.chat.clone();
        Box::pin(async move {
            let OutgoingChat { user, username, content, kind, client_id, media_id } = out;
            let out = Outgoing { room: &room, user_id: &user, username: &username, content, kind, client_id, media_id };
            chat.send(out).await.map(drop).map_err(refusal)
        })
    }

    fn nearby(&self, space_id: &str, out: OutgoingChat) -> Result<ServerMsg, Refusal> {
        let OutgoingChat { user, username, content, kind, client_id, media_id: _ } = out;
        self.ctx.state.chat.nearby(space_id, &user, &username, content, kind, client_id).map_err(refusal)
    }
}

impl WsServices {
    /// Joins the space on this node, starting its actor if needed.
    async fn join_here(&self, spec: &JoinSpec) -> Result<Entered<SpaceHandle>, JoinFail> {
        let state = &self.ctx.state;
        let registry = &self.ctx.registry;
        let space_id = &spec.space_id;
        // The space may stop between lookup and join; one retry with a
        // fresh actor covers that race.
        for _ in 0..2 {
            let space = match registry.get(space_id) {
                Some(a) => a,
                None if let Err(wait) = state.quotas.start_space(&spec.user) => {
                    return Err(JoinFail::RateLimited(wait));
                }
                None => match store::load_space(&state.db, space_id, registry.statics_tick()).await {
                    Ok(Some(init)) => {
                        let tick = init.statics_tick;
                        let addr = registry.get_or_start(init);
                        // An element edit that committed after our read and
                        // found no live space to tell: tell it now.
                        if registry.edited_since(space_id, tick) {
                            let _ = store::push_statics(&state.db, registry, space_id).await;
                        }
                        addr
                    }
                    Ok(None) => return Err(JoinFail::Unknown),
                    Err(e) => {
                        tracing::error!(error = %e, "loading a space failed");
                        return Err(JoinFail::Internal("could not load the space"));
                    }
                },
            };
            let (link, port) = link(spec.session_id, spec.events, self.ctx.limits.queue);
            let link = link.batched(spec.batched).view(spec.view);
            let tx = link.tx.clone();
            let join = Join {
                user: spec.user.clone(),
                link,
                preferred: spec.preferred,
                resume_token: spec.resume_token.clone(),
                username: Some(spec.username.clone()),
                avatar_id: spec.avatar_id.clone(),
            };
            match space.send(join).await {
                Ok(Ok(())) => return Ok(Entered { space: SpaceHandle::Local(space), port, tx }),
                Ok(Err(JoinRefused::Full)) => return Err(JoinFail::Full),
                Err(_) => continue,
            }
        }
        Err(JoinFail::Internal("the space is restarting; try again"))
    }

    /// Cluster mode: joins the space where its lease says, taking the lease
    /// if nobody holds it; waits briefly while it changes hands.
    async fn join_cluster(&self, cluster: &Arc<Cluster>, spec: &JoinSpec) -> Result<Entered<SpaceHandle>, JoinFail> {
        let mut wait = Duration::from_millis(25);
        let give_up = Instant::now() + Duration::from_secs(3);
        loop {
            let retry = match cluster.locate(&spec.space_id).await {
                Err(e) => {
                    tracing::warn!(error = %e, "locating a space failed");
                    return Err(JoinFail::Internal("the cluster is unreachable; try again"));
                }
                Ok(Owner::Here) => match self.join_here(spec).await {
                    // The lease went while joining: look again.
                    Err(JoinFail::Internal(_)) if !cluster.owns(&spec.space_id) => wait,
                    other => return other,
                },
                Ok(Owner::Node { id, .. }) => match self.join_remote(cluster, id, spec).await {
                    Some(entered) => return entered,
                    None => wait,
                },
                Ok(Owner::Moving { retry_after }) => retry_after,
            };
            if Instant::now() + retry > give_up {
                return Err(JoinFail::Moving(retry));
            }
            tokio::time::sleep(retry.min(Duration::from_millis(500))).await;
            wait = (wait * 2).min(Duration::from_millis(400));
        }
    }

    /// Joins through the node that owns the space; `None` when that node
    /// no longer does (look again).
    async fn join_remote(
        &self,
        cluster: &Arc<Cluster>,
        id: String,
        spec: &JoinSpec,
    ) -> Option<Result<Entered<SpaceHandle>, JoinFail>> {
        let req = RemoteJoin {
            session: spec.session_id,
            space: spec.space_id.clone(),
            user: spec.user.to_string(),
            codec: spec.events,
            batched: spec.batched,
            view: spec.view,
            preferred: spec.preferred,
            resume_token: spec.resume_token.clone(),
            username: Some(spec.username.clone()),
            avatar_id: spec.avatar_id.clone(),
            queue: u32::try_from(self.ctx.limits.queue).unwrap_or(u32::MAX),
        };
        Some(match cluster.relay.join(cluster, &id, req).await {
            Ok((port, tx)) => {
                let remote = Remote { cluster: cluster.clone(), owner: id };
                Ok(Entered { space: SpaceHandle::Remote(Arc::new(remote)), port, tx })
            }
            Err(Answer::Full) => Err(JoinFail::Full),
            Err(Answer::Failed { message }) if message == "no such space" => Err(JoinFail::Unknown),
            Err(Answer::NotOwner) => return None,
            Err(other) => {
                tracing::warn!(node = %id, answer = ?other, "joining through another node failed");
                Err(JoinFail::Moving(cluster.leases.ttl))
            }
        })
    }
}
