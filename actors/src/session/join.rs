//! `join`: check the token, record the membership, then enter the space
//! wherever it runs (the services decide: here, or through another node).

use std::{collections::HashMap, sync::Arc};

use futures_util::Sink;
use metaverse_protocol::{Codec, ErrorCode, ViewSize};

use super::{AuthFailure, Claims, EnterFailure, Frame, JoinFail, JoinSpec, Joined, Services, Session, Step};
use crate::{CloseReason, UserId, world::ViewWindow};

/// What a `join` asks for besides the space and the token.
pub(super) struct JoinAsk {
    /// Resume this presence when its grace has not run out.
    pub resume_token: Option<String>,
    /// Batched frames or not; absent: the codec's default.
    pub batch: Option<bool>,
    /// The client's own window; absent: the server decides.
    pub view: Option<ViewSize>,
}

/// Longest space id looked up; longer ones cannot exist.
const MAX_SPACE_ID: usize = 64;

impl<S: Services> Session<S> {
    pub(super) async fn join<W: Sink<Frame> + Unpin>(
        &mut self,
        io: &mut W,
        codec: Codec,
        space_id: String,
        token: String,
        ask: JoinAsk,
    ) -> Step {
        if ask.view.is_some_and(|v| !v.is_valid()) {
            let why = format!("view width and height must be 1 to {}", ViewSize::MAX);
            self.error(io, codec, ErrorCode::Invalid, why).await;
            return Step::Continue;
        }
        let claims = match self.services.authenticate(&token).await {
            Ok(c) => c,
            Err(AuthFailure::Invalid) => return self.auth_failed(io, codec, "invalid or expired token").await,
            Err(AuthFailure::Revoked) => return self.auth_failed(io, codec, "token was revoked").await,
            Err(AuthFailure::Unavailable) => {
                self.error(io, codec, ErrorCode::Internal, "could not check the token; try again").await;
                return Step::Continue;
            }
        };
        self.guard.signed_in();
        // Joining while in a space leaves that space first.
        self.leave_space();
        let Some(spec) = self.spec(io, codec, space_id, &claims, ask).await else {
            return Step::Continue;
        };
        match self.services.join(&spec).await {
            Ok(entered) => {
                self.checked_at = tokio::time::Instant::now();
                self.auth = Some((claims.session_id, self.checked_at + claims.expires_in));
                self.joined = Some(Joined {
                    space: entered.space,
                    space_id: spec.space_id,
                    user: spec.user,
                    username: spec.username,
                    codec: spec.events,
                    port: entered.port,
                    tx: entered.tx,
                    rooms: HashMap::new(),
                });
            }
            Err(JoinFail::Full) => self.error(io, codec, ErrorCode::Busy, "the space has no free tile").await,
            Err(JoinFail::Unknown) => self.error(io, codec, ErrorCode::UnknownSpace, "no such space").await,
            Err(JoinFail::Moving(after)) => {
                let why = format!("the space is moving between nodes; join again in {} ms", after.as_millis());
                self.error(io, codec, ErrorCode::SpaceMoving, why).await;
            }
            Err(JoinFail::RateLimited(after)) => {
                let why = format!("you opened too many spaces lately; join again in {} ms", after.as_millis());
                self.error(io, codec, ErrorCode::RateLimited, why).await;
            }
            Err(JoinFail::Internal(why)) => self.error(io, codec, ErrorCode::Internal, why).await,
        }
        Step::Continue
    }

    /// Records the membership and gathers what the space needs; `None`
    /// when the client was already told why not.
    async fn spec<W: Sink<Frame> + Unpin>(
        &mut self,
        io: &mut W,
        codec: Codec,
        space_id: String,
        claims: &Claims,
        ask: JoinAsk,
    ) -> Option<JoinSpec> {
        if space_id.len() > MAX_SPACE_ID {
            self.error(io, codec, ErrorCode::UnknownSpace, "no such space").await;
            return None;
        }
        let preferred = match self.services.enter(&space_id, &claims.user_id).await {
            Ok(p) => p,
            Err(EnterFailure::UnknownSpace) => {
                self.error(io, codec, ErrorCode::UnknownSpace, "no such space").await;
                return None;
            }
            Err(EnterFailure::Internal) => {
                self.error(io, codec, ErrorCode::Internal, "could not join; try again").await;
                return None;
            }
        };
        let avatar_id = self.services.avatar_of(&claims.user_id).await;
        let user: UserId = Arc::from(claims.user_id.as_str());
        let events = self.negotiated.unwrap_or(codec);
        Some(JoinSpec {
            session_id: self.id,
            space_id,
            user,
            preferred,
            resume_token: ask.resume_token,
            username: claims.username.clone(),
            avatar_id,
            events,
            batched: ask.batch.unwrap_or(events == Codec::MsgPack),
            view: ask.view.map(|v| ViewWindow { width: v.width, height: v.height }),
        })
    }

    async fn auth_failed<W: Sink<Frame> + Unpin>(&mut self, io: &mut W, codec: Codec, why: &str) -> Step {
        if self.guard.sign_in_failed() {
            return Step::Close(CloseReason::AUTH_FAILED);
        }
        self.error(io, codec, ErrorCode::Unauthorized, why).await;
        Step::Continue
    }
}
