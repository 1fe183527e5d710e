//! One task per socket: decode and check client frames, forward them to the
//! space, and write the space's frames out, several per flush.
//!
//! This is DESIGN.md's SessionActor written as a task with one `select!`
//! loop rather than an actix actor: the socket, the outbound queue and the
//! timers are all futures, and a loop over them gives backpressure and
//! ordering without another mailbox.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metaverse_actors::{
    CloseReason, SessionPort, UserId, link,
    space::{ChatSubscribe, ChatUnsubscribe, Join, JoinRefused, Leave, Move, NearbyChat, Signal},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, Position, RtcKind, ServerMsg};
use metaverse_schema::entity::chatroom;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message, Utf8Bytes,
        protocol::{CloseFrame, WebSocketConfig, frame::coding::CloseCode},
    },
};

use super::{WsContext, handshake, store};
use crate::{
    auth::session as auth_session,
    chat::{ChatError, NEARBY, Outgoing, check_meta},
    cluster::{
        Cluster, Owner,
        handle::{Refused, Remote, SpaceHandle},
        relay::RemoteJoin,
        wire::Answer,
    },
};

/// Largest `rtc-signal` data, as JSON: an audio+video offer is ~7 KB.
const MAX_SIGNAL_BYTES: usize = 16 * 1024;

/// A connection must finish its upgrade within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages replayed by `chat-join` with `since`, at most.
const MAX_REPLAY: u64 = 500;

fn chat_error(e: &ChatError) -> ErrorCode {
    match e {
        ChatError::Invalid(_) => ErrorCode::Invalid,
        ChatError::UnknownRoom => ErrorCode::UnknownChatroom,
        ChatError::Forbidden(_) => ErrorCode::Forbidden,
        ChatError::RateLimited => ErrorCode::RateLimited,
        ChatError::Unavailable => ErrorCode::ChatUnavailable,
        ChatError::Db(_) => ErrorCode::Internal,
    }
}

/// Consecutive undecodable frames before the socket is closed.
const MAX_BAD_FRAMES: u32 = 10;
/// Failed `join` authentications before the socket is closed.
const MAX_AUTH_FAILURES: u32 = 5;
/// Frames written per flush at most, so one busy socket cannot starve the
/// read side.
const MAX_BATCH: usize = 256;

type Ws = WebSocketStream<TcpStream>;

struct Joined {
    space: SpaceHandle,
    space_id: String,
    user: UserId,
    username: String,
    codec: Codec,
    port: SessionPort,
    /// Our own queue, for answers that arrive later (chat acks and errors).
    tx: tokio::sync::mpsc::Sender<Bytes>,
    /// Chatrooms this socket subscribed to in the space.
    rooms: HashMap<String, chatroom::Model>,
}

struct Session {
    id: u64,
    /// The sign-in session and expiry of the token that joined, so a
    /// revocation or expiry closes the socket too.
    auth: Option<(String, tokio::time::Instant)>,
    revoked: tokio::sync::broadcast::Receiver<String>,
    ctx: Arc<WsContext>,
    /// The codec the subprotocol named, if any: space events use it even
    /// when a frame arrives in the other encoding.
    negotiated: Option<Codec>,
    joined: Option<Joined>,
    limiter: DefaultDirectRateLimiter,
    rate_strikes: u32,
    last_strike: Instant,
    bad_frames: u32,
    auth_failures: u32,
}

enum Step {
    Continue,
    Close(CloseReason),
    /// The client sent a close frame; tungstenite queued the reply.
    PeerClosed,
}

pub async fn run(stream: TcpStream, peer: SocketAddr, ctx: Arc<WsContext>) {
    // Tungstenite's own limit is a hard stop (it drops the connection); ours,
    // checked per frame, answers with `error`. The hard one sits well above.
    let hard_limit = ctx.limits.max_frame.saturating_mul(16).max(1 << 20);
    // The read buffer is allocated up front per socket; tungstenite's
    // default (128 KiB) made an idle socket cost ~127 KiB of RSS. Frames
    // here are small, and a larger one still reads (the buffer grows).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit))
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(4 << 20);
    let mut negotiated = None;
    let origins = ctx.origins.clone();
    #[allow(clippy::result_large_err)] // tungstenite's Callback contract
    let callback = |req: &handshake::Request, resp: handshake::Response| {
        handshake::check(&origins, req, resp).map(|(resp, codec)| {
            negotiated = codec;
            resp
        })
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "WebSocket handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "WebSocket handshake timed out");
            return;
        }
    };
    let session = Session {
        id: ctx.next_session.fetch_add(1, Ordering::Relaxed),
        auth: None,
        revoked: ctx.state.revoked.subscribe(),
        negotiated,
        limiter: RateLimiter::direct(Quota::per_second(ctx.limits.rate).allow_burst(ctx.limits.burst)),
        ctx,
        joined: None,
        rate_strikes: 0,
        last_strike: Instant::now(),
        bad_frames: 0,
        auth_failures: 0,
    };
    let cluster = session.ctx.state.cluster.clone();
    metrics::gauge!("metaverse_ws_sessions").increment(1.0);
    if let Some(c) = &cluster {
        c.sessions.fetch_add(1, Ordering::Relaxed);
    }
    session.serve(ws).await;
    if let Some(c) = &cluster {
        c.sessions.fetch_sub(1, Ordering::Relaxed);
    }
    metrics::gauge!("metaverse_ws_sessions").decrement(1.0);
}

/// Wraps an encoded frame. JSON frames reaching a session were all made by
/// `Codec::Json.encode` (serde_json writes UTF-8 only), so they are not
/// re-validated per recipient; debug builds still check.
fn to_message(codec: Codec, frame: Bytes) -> Option<Message> {
    match codec {
        Codec::MsgPack => Some(Message::Binary(frame)),
        Codec::Json => {
            debug_assert!(std::str::from_utf8(&frame).is_ok());
            // SAFETY: see above; every JSON frame comes from serde_json.
            Some(Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(frame) }))
        }
    }
}

/// Longest a single socket write may block. A client that stops reading
/// fills its TCP buffer; without this bound the session would wait forever
/// and never see its timers or close signals.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one write with the timeout; `false` when it failed or timed out
/// (the socket is then given up).
async fn timed<F: std::future::Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>>(f: F) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, f).await, Ok(Ok(())))
}

async fn close(ws: &mut Ws, reason: CloseReason) {
    let frame = CloseFrame { code: CloseCode::from(reason.code), reason: reason.reason.into() };
    let _ = timed(ws.send(Message::Close(Some(frame)))).await;
}

impl Session {
    async fn serve(mut self, mut ws: Ws) {
        let idle = self.ctx.limits.idle_timeout;
        let mut ping = tokio::time::interval((idle / 3).max(Duration::from_millis(100)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = Instant::now();
        let mut shutdown = self.ctx.shutdown.clone();
        let end = loop {
            let event = {
                let (close_rx, frame_rx) = match self.joined.as_mut() {
                    Some(j) => (Some(&mut j.port.close), Some((&mut j.port.rx, j.codec))),
                    None => (None, None),
                };
                let expiry = self.auth.as_ref().map(|a| a.1);
                tokio::select! {
                    biased;
                    // A space's own reason (e.g. `reconnect` elsewhere during
                    // a drain) beats the shutdown that may follow it at once.
                    reason = wait_closed(close_rx) => Event::SpaceClosed(reason),
                    _ = shutdown.changed() => Event::Close(CloseReason::SHUTDOWN),
                    _ = until(expiry) => Event::Close(CloseReason::TOKEN_EXPIRED),
                    sid = self.revoked.recv() => match sid {
                        Ok(sid) if self.auth.as_ref().is_some_and(|a| a.0 == sid) => Event::Close(CloseReason::REVOKED),
                        _ => Event::Nothing,
                    },
                    // Reading first: inbound is rate-limited, outbound may be
                    // a flood, and reading must not starve.
                    incoming = ws.next() => Event::Incoming(incoming),
                    frame = next_frame(frame_rx) => Event::Frame(frame),
                    _ = ping.tick() => Event::Tick,
                }
            };
            let step = match event {
                Event::Close(reason) => Step::Close(reason),
                Event::SpaceClosed(reason) => {
                    // Deliver what the space queued before closing (e.g. the
                    // `error` or `reconnect` that says why, after the last
                    // tick's batch).
                    if let Some(first) = self.joined.as_mut().and_then(|j| j.port.rx.try_recv().ok()) {
                        let codec = self.joined.as_ref().map(|j| j.codec).unwrap_or(Codec::Json);
                        let _ = self.write_batch(&mut ws, codec, first).await;
                    }
                    Step::Close(reason)
                }
                Event::Frame(Some((codec, first))) => self.write_batch(&mut ws, codec, first).await,
                // The space dropped our queue (it stopped): we are out of it.
                Event::Frame(None) => {
                    self.joined = None;
                    Step::Continue
                }
                Event::Incoming(Some(Ok(msg))) => {
                    last_seen = Instant::now();
                    self.on_message(&mut ws, msg).await
                }
                Event::Incoming(Some(Err(e))) => {
                    tracing::debug!(session = self.id, error = %e, "socket error");
                    break None;
                }
                Event::Incoming(None) => break None,
                Event::Nothing => Step::Continue,
                Event::Tick => {
                    if last_seen.elapsed() > idle {
                        Step::Close(CloseReason::IDLE)
                    } else if !timed(ws.send(Message::Ping(Bytes::new()))).await {
                        break None;
                    } else {
                        Step::Continue
                    }
                }
            };
            match step {
                Step::Continue => {}
                Step::Close(reason) => break Some(reason),
                Step::PeerClosed => {
                    // Sends the close reply tungstenite queued.
                    let _ = timed(ws.flush()).await;
                    break None;
                }
            }
        };
        if let Some(reason) = end {
            close(&mut ws, reason).await;
        }
        // A socket that went away (or was closed by us) holds its presence
        // for the resume grace period; an explicit `leave` already left.
        if let Some(mut j) = self.joined.take() {
            // Close the queue first: later frames then come back to the
            // space as refused (and are buffered there); what is already
            // queued goes back with the Leave, so a resume misses nothing.
            j.port.rx.close();
            let mut unsent = Vec::new();
            while let Ok(frame) = j.port.rx.try_recv() {
                unsent.push(frame);
            }
            j.space.leave(Leave { user: j.user, session_id: self.id, dropped: true, unsent });
        }
    }

    /// Writes `first` and whatever else is queued, then flushes once.
    async fn write_batch(&mut self, ws: &mut Ws, codec: Codec, first: Bytes) -> Step {
        let mut pending = Some(first);
        let mut n = 0;
        while let Some(frame) = pending.take() {
            if let Some(msg) = to_message(codec, frame)
                && !timed(ws.feed(msg)).await
            {
                return Step::Close(CloseReason::SHUTDOWN);
            }
            n += 1;
            if n < MAX_BATCH {
                pending = self.joined.as_mut().and_then(|j| j.port.rx.try_recv().ok());
            }
        }
        if !timed(ws.flush()).await {
            return Step::Close(CloseReason::SHUTDOWN);
        }
        Step::Continue
    }

    async fn reply(&self, ws: &mut Ws, codec: Codec, msg: &ServerMsg) {
        metrics::counter!("metaverse_ws_messages_out_total", "type" => msg.type_name()).increment(1);
        if let Some(m) = codec.encode(msg).ok().and_then(|b| to_message(codec, Bytes::from(b))) {
            let _ = timed(ws.send(m)).await;
        }
    }

    async fn error(&self, ws: &mut Ws, codec: Codec, code: ErrorCode, message: impl Into<String>) {
        self.reply(ws, codec, &ServerMsg::error(code, message)).await;
    }

    async fn on_message(&mut self, ws: &mut Ws, msg: Message) -> Step {
        let (codec, bytes) = match msg {
            Message::Binary(b) => (Codec::MsgPack, b),
            Message::Text(t) => (Codec::Json, Bytes::from(t)),
            Message::Close(_) => return Step::PeerClosed,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Step::Continue,
        };
        if self.limiter.check().is_err() {
            if self.last_strike.elapsed() > Duration::from_secs(5) {
                self.rate_strikes = 0;
            }
            self.rate_strikes += 1;
            self.last_strike = Instant::now();
            if self.rate_strikes > 2 * self.ctx.limits.burst.get() {
                return Step::Close(CloseReason::RATE_LIMITED);
            }
            self.error(ws, codec, ErrorCode::RateLimited, "too many messages; slow down").await;
            return Step::Continue;
        }
        let msg = match codec.decode_client(&bytes, self.ctx.limits.max_frame) {
            Ok(m) => {
                self.bad_frames = 0;
                m
            }
            Err(e) => {
                self.bad_frames += 1;
                if self.bad_frames >= MAX_BAD_FRAMES {
                    return Step::Close(CloseReason::PROTOCOL);
                }
                self.error(ws, codec, e.code(), e.to_string()).await;
                return Step::Continue;
            }
        };
        metrics::counter!("metaverse_ws_messages_in_total", "type" => msg.type_name()).increment(1);
        match msg {
            ClientMsg::Heartbeat {} => {
                self.reply(ws, codec, &ServerMsg::Heartbeat {}).await;
                Step::Continue
            }
            ClientMsg::Join { space_id, token, resume_token, batch } => {
                self.join(ws, codec, space_id, token, resume_token, batch).await
            }
            ClientMsg::Move { x, y } => {
                let Some(j) = &self.joined else {
                    self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await;
                    return Step::Continue;
                };
                let m = Move { user: j.user.clone(), session_id: self.id, to: Position { x, y } };
                match j.space.move_to(m) {
                    Ok(()) => {}
                    Err(Refused::Busy) => {
                        // Name the move, so a client with several in flight
                        // knows which one to resend.
                        let why = format!("the space is overloaded; move to ({x}, {y}) dropped");
                        self.error(ws, codec, ErrorCode::Busy, why).await;
                    }
                    Err(Refused::Closed) => {
                        self.joined = None;
                        self.error(ws, codec, ErrorCode::SpaceClosed, "the space closed; join again").await;
                    }
                }
                Step::Continue
            }
            ClientMsg::Leave {} => {
                match self.joined.take() {
                    Some(j) => {
                        j.space.leave(Leave { user: j.user, session_id: self.id, dropped: false, unsent: Vec::new() })
                    }
                    None => self.error(ws, codec, ErrorCode::NotJoined, "not in a space").await,
                }
                Step::Continue
            }
            ClientMsg::ChatJoin { chatroom_id, passcode, since } => {
                self.chat_join(ws, codec, chatroom_id, passcode, since).await;
                Step::Continue
            }
            ClientMsg::ChatLeave { chatroom_id } => {
                match self.joined.as_mut().map(|j| (j.rooms.remove(&chatroom_id), j)) {
                    None => self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await,
                    Some((None, _)) => {
                        self.error(ws, codec, ErrorCode::UnknownChatroom, "you are not in this chatroom").await
                    }
                    Some((Some(_), j)) => {
                        j.space.unsubscribe(
                            self.id,
                            ChatUnsubscribe { user: j.user.clone(), room: Arc::from(chatroom_id.as_str()) },
                        );
                        self.reply(ws, codec, &ServerMsg::ChatLeft { chatroom_id }).await;
                    }
                }
                Step::Continue
            }
            ClientMsg::ChatMessage { chatroom_id, content, kind, client_id } if chatroom_id == NEARBY => {
                self.nearby_message(ws, codec, content, kind, client_id).await;
                Step::Continue
            }
            ClientMsg::ChatMessage { chatroom_id, content, kind, client_id } => {
                self.chat_message(ws, codec, chatroom_id, content, kind, client_id).await;
                Step::Continue
            }
            ClientMsg::RtcSignal { to, kind, data } => {
                self.rtc_signal(ws, codec, to, kind, data).await;
                Step::Continue
            }
        }
    }

    async fn join(
        &mut self,
        ws: &mut Ws,
        codec: Codec,
        space_id: String,
        token: String,
        resume_token: Option<String>,
        batch: Option<bool>,
    ) -> Step {
        let state = &self.ctx.state;
        let claims = match state.tokens.verify(&token) {
            Ok(c) => c,
            Err(_) => {
                return self.auth_failed(ws, codec, "invalid or expired token").await;
            }
        };
        match auth_session::is_active(&state.db, &claims.session_id).await {
            Ok(true) => {}
            Ok(false) => return self.auth_failed(ws, codec, "token was revoked").await,
            Err(e) => {
                tracing::error!(error = %e, "checking a session failed");
                self.error(ws, codec, ErrorCode::Internal, "could not check the token; try again").await;
                return Step::Continue;
            }
        }
        self.auth_failures = 0;
        // Joining while in a space leaves that space first.
        if let Some(j) = self.joined.take() {
            j.space.leave(Leave { user: j.user, session_id: self.id, dropped: false, unsent: Vec::new() });
        }
        if space_id.len() > 64 {
            self.error(ws, codec, ErrorCode::UnknownSpace, "no such space").await;
            return Step::Continue;
        }
        let preferred = match store::enter(&state.db, &space_id, &claims.user_id).await {
            Ok(p) => p,
            Err(_) if !self.space_exists(&space_id).await => {
                self.error(ws, codec, ErrorCode::UnknownSpace, "no such space").await;
                return Step::Continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording space membership failed");
                self.error(ws, codec, ErrorCode::Internal, "could not join; try again").await;
                return Step::Continue;
            }
        };
        // Shown with the presence; a failed read only hides the avatar.
        let avatar_id = store::avatar_of(&state.db, &claims.user_id).await.unwrap_or_default();
        let user: UserId = Arc::from(claims.user_id.as_str());
        let events = self.negotiated.unwrap_or(codec);
        let spec = JoinSpec {
            space_id,
            user,
            preferred,
            resume_token,
            username: claims.username.clone(),
            avatar_id,
            events,
            batched: batch.unwrap_or(events == Codec::MsgPack),
        };
        let joined = match self.ctx.state.cluster.clone() {
            None => self.join_here(&spec).await,
            Some(c) => self.join_cluster(&c, &spec).await,
        };
        match joined {
            Ok((space, port, tx)) => {
                let left = (claims.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
                self.auth = Some((claims.session_id.clone(), tokio::time::Instant::now() + left));
                self.joined = Some(Joined {
                    space,
                    space_id: spec.space_id,
                    user: spec.user,
                    username: spec.username,
                    codec: events,
                    port,
                    tx,
                    rooms: HashMap::new(),
                });
            }
            Err(JoinFail::Full) => self.error(ws, codec, ErrorCode::Busy, "the space has no free tile").await,
            Err(JoinFail::Unknown) => self.error(ws, codec, ErrorCode::UnknownSpace, "no such space").await,
            Err(JoinFail::Moving(after)) => {
                let why = format!("the space is moving between nodes; join again in {} ms", after.as_millis());
                self.error(ws, codec, ErrorCode::SpaceMoving, why).await
            }
            Err(JoinFail::Internal(why)) => self.error(ws, codec, ErrorCode::Internal, why).await,
        }
        Step::Continue
    }

    /// Joins the space on this node, starting its actor if needed.
    async fn join_here(&self, spec: &JoinSpec) -> Result<JoinedParts, JoinFail> {
        let state = &self.ctx.state;
        let space_id = &spec.space_id;
        // The space may stop between lookup and join; one retry with a
        // fresh actor covers that race.
        for _ in 0..2 {
            let space = match self.ctx.registry.get(space_id) {
                Some(a) => a,
                None => match store::load_space(&state.db, space_id, self.ctx.registry.statics_tick()).await {
                    Ok(Some(init)) => {
                        let tick = init.statics_tick;
                        let addr = self.ctx.registry.get_or_start(init);
                        // An element edit that committed after our read and
                        // found no live space to tell: tell it now.
                        if self.ctx.registry.edited_since(space_id, tick) {
                            let _ = store::push_statics(&state.db, &self.ctx.registry, space_id).await;
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
            let (link, port) = link(self.id, spec.events, self.ctx.limits.queue);
            let link = link.batched(spec.batched);
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
                Ok(Ok(())) => return Ok((SpaceHandle::Local(space), port, tx)),
                Ok(Err(JoinRefused::Full)) => return Err(JoinFail::Full),
                Err(_) => continue,
            }
        }
        Err(JoinFail::Internal("the space is restarting; try again"))
    }

    /// Cluster mode: joins the space where its lease says, taking the lease
    /// if nobody holds it; waits briefly while it changes hands.
    async fn join_cluster(&self, cluster: &Arc<Cluster>, spec: &JoinSpec) -> Result<JoinedParts, JoinFail> {
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
                Ok(Owner::Node { id, .. }) => {
                    let req = RemoteJoin {
                        session: self.id,
                        space: spec.space_id.clone(),
                        user: spec.user.to_string(),
                        codec: spec.events,
                        batched: spec.batched,
                        preferred: spec.preferred,
                        resume_token: spec.resume_token.clone(),
                        username: Some(spec.username.clone()),
                        avatar_id: spec.avatar_id.clone(),
                        queue: self.ctx.limits.queue as u32,
                    };
                    match cluster.relay.join(cluster, &id, req).await {
                        Ok((port, tx)) => {
                            let remote = Remote { cluster: cluster.clone(), owner: id };
                            return Ok((SpaceHandle::Remote(Arc::new(remote)), port, tx));
                        }
                        Err(Answer::Full) => return Err(JoinFail::Full),
                        Err(Answer::Failed { message }) if message == "no such space" => return Err(JoinFail::Unknown),
                        Err(Answer::NotOwner) => wait,
                        Err(other) => {
                            tracing::warn!(node = %id, answer = ?other, "joining through another node failed");
                            return Err(JoinFail::Moving(cluster.leases.ttl));
                        }
                    }
                }
                Ok(Owner::Moving { retry_after }) => retry_after,
            };
            if Instant::now() + retry > give_up {
                return Err(JoinFail::Moving(retry));
            }
            tokio::time::sleep(retry.min(Duration::from_millis(500))).await;
            wait = (wait * 2).min(Duration::from_millis(400));
        }
    }

    async fn chat_join(
        &mut self,
        ws: &mut Ws,
        codec: Codec,
        chatroom_id: String,
        passcode: Option<String>,
        since: Option<String>,
    ) {
        let Some(j) = &self.joined else {
            self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let chat = self.ctx.state.chat.clone();
        let room = match chat.room(&chatroom_id).await {
            Ok(r) if r.space_id == j.space_id => r,
            Ok(_) | Err(ChatError::UnknownRoom) => {
                self.error(ws, codec, ErrorCode::UnknownChatroom, "no such chatroom in this space").await;
                return;
            }
            Err(e) => {
                self.error(ws, codec, chat_error(&e), e.to_string()).await;
                return;
            }
        };
        if let Err(e) = chat.join(&room, &j.user, &j.username, passcode).await {
            self.error(ws, codec, chat_error(&e), e.to_string()).await;
            return;
        }
        // Subscribe first, then read what was missed: a message sent in
        // between may arrive twice (clients dedupe by id), never not at all.
        let subscribed = j
            .space
            .subscribe(ChatSubscribe { user: j.user.clone(), session_id: self.id, room: Arc::from(room.id.as_str()) })
            .await;
        if !subscribed {
            self.error(ws, codec, ErrorCode::SpaceClosed, "you are no longer in the space; join again").await;
            return;
        }
        let replay = match since.as_deref() {
            Some(since) => chat.since(&room.id, since, MAX_REPLAY).await,
            None => Ok(Vec::new()),
        };
        if let Some(j) = self.joined.as_mut() {
            j.rooms.insert(room.id.clone(), room);
        }
        self.reply(ws, codec, &ServerMsg::ChatJoined { chatroom_id }).await;
        match replay {
            Ok(msgs) => {
                for m in msgs {
                    self.reply(ws, codec, &ServerMsg::from(m)).await;
                }
            }
            Err(e) => self.error(ws, codec, chat_error(&e), e.to_string()).await,
        }
    }

    /// Checks a chat message, then sends it on its own task: the session
    /// keeps serving while the message becomes durable. Its fan-out (the
    /// sender's copy included) comes through the space; a failure comes
    /// back as `error` on this socket.
    async fn chat_message(
        &mut self,
        ws: &mut Ws,
        codec: Codec,
        chatroom_id: String,
        content: String,
        kind: Option<String>,
        client_id: Option<String>,
    ) {
        let Some(j) = &self.joined else {
            self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let Some(room) = j.rooms.get(&chatroom_id).cloned() else {
            self.error(ws, codec, ErrorCode::Forbidden, "send chat-join for this chatroom first").await;
            return;
        };
        let kind = match check_meta(kind.as_deref(), client_id.as_deref()) {
            Ok(k) => k,
            Err(e) => {
                self.error(ws, codec, chat_error(&e), e.to_string()).await;
                return;
            }
        };
        let chat = self.ctx.state.chat.clone();
        let (user, username, tx, events) = (j.user.clone(), j.username.clone(), j.tx.clone(), j.codec);
        actix_rt::spawn(async move {
            let out = Outgoing { room: &room, user_id: &user, username: &username, content, kind, client_id };
            if let Err(e) = chat.send(out).await {
                let msg = ServerMsg::error(chat_error(&e), e.to_string());
                if let Ok(bytes) = events.encode(&msg) {
                    let _ = tx.try_send(Bytes::from(bytes));
                }
            }
        });
    }

    /// A message to whoever stands near the sender now; not stored.
    async fn nearby_message(
        &mut self,
        ws: &mut Ws,
        codec: Codec,
        content: String,
        kind: Option<String>,
        client_id: Option<String>,
    ) {
        let Some(j) = &self.joined else {
            self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        let checked = check_meta(kind.as_deref(), client_id.as_deref())
            .and_then(|k| self.ctx.state.chat.nearby(&j.space_id, &j.user, &j.username, content, k, client_id));
        let msg = match checked {
            Ok(m) => m,
            Err(e) => {
                self.error(ws, codec, chat_error(&e), e.to_string()).await;
                return;
            }
        };
        let send = NearbyChat { from: j.user.clone(), session_id: self.id, msg };
        if j.space.nearby(send).is_err() {
            self.error(ws, codec, ErrorCode::Busy, "the space is overloaded; message dropped").await;
        }
    }

    async fn rtc_signal(&mut self, ws: &mut Ws, codec: Codec, to: String, kind: RtcKind, data: serde_json::Value) {
        let Some(j) = &self.joined else {
            self.error(ws, codec, ErrorCode::NotJoined, "join a space first").await;
            return;
        };
        if to.is_empty() || to.len() > 64 {
            self.error(ws, codec, ErrorCode::Invalid, "to: not a user id").await;
            return;
        }
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_SIGNAL_BYTES {
            let why = format!("data: at most {MAX_SIGNAL_BYTES} bytes (as JSON), got {size}");
            self.error(ws, codec, ErrorCode::Invalid, why).await;
            return;
        }
        let signal = Signal { from: j.user.clone(), session_id: self.id, to, kind, data };
        if j.space.signal(signal).is_err() {
            self.error(ws, codec, ErrorCode::Busy, "the space is overloaded; signal dropped").await;
        }
    }

    async fn space_exists(&self, space_id: &str) -> bool {
        matches!(store::load_space(&self.ctx.state.db, space_id, 0).await, Ok(Some(_)))
    }

    async fn auth_failed(&mut self, ws: &mut Ws, codec: Codec, why: &str) -> Step {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            return Step::Close(CloseReason::AUTH_FAILED);
        }
        self.error(ws, codec, ErrorCode::Unauthorized, why).await;
        Step::Continue
    }
}

/// What a join needs, wherever the space runs.
struct JoinSpec {
    space_id: String,
    user: UserId,
    preferred: Option<Position>,
    resume_token: Option<String>,
    username: String,
    avatar_id: Option<String>,
    events: Codec,
    batched: bool,
}

type JoinedParts = (SpaceHandle, SessionPort, tokio::sync::mpsc::Sender<Bytes>);

enum JoinFail {
    Full,
    Unknown,
    Moving(Duration),
    Internal(&'static str),
}

enum Event {
    Close(CloseReason),
    SpaceClosed(CloseReason),
    Frame(Option<(Codec, Bytes)>),
    Incoming(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Tick,
    /// Something that needs no action (another session's revocation).
    Nothing,
}

/// Resolves at `at`; never when there is none.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the space closes this session; never while not joined.
async fn wait_closed(rx: Option<&mut tokio::sync::watch::Receiver<Option<CloseReason>>>) -> CloseReason {
    if let Some(rx) = rx {
        loop {
            if let Some(r) = *rx.borrow_and_update() {
                return r;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    }
    std::future::pending().await
}

/// The next queued frame with the codec it was encoded in; `None` when the
/// space dropped the queue. Never resolves while not joined.
async fn next_frame(rx: Option<(&mut tokio::sync::mpsc::Receiver<Bytes>, Codec)>) -> Option<(Codec, Bytes)> {
    match rx {
        Some((rx, codec)) => rx.recv().await.map(|f| (codec, f)),
        None => std::future::pending().await,
    }
}
