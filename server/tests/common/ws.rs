//! A WebSocket test client speaking either codec.

use std::{collections::VecDeque, time::Duration};

use futures_util::{SinkExt, StreamExt};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, Position, ServerMsg, SpaceSize, UserPosition};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{
        Message,
        client::IntoClientRequest,
        http::HeaderValue,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

use super::TestApp;

/// How long a test waits for an expected message before failing. A bound on
/// failure, not a synchronisation: passing tests never wait it out.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct WsClient {
    pub codec: Codec,
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Whether this client sees the proximity layer: `proximity`, the
    /// server's call hang-ups, and names and avatars in presence. Off by
    /// default, so the core tests read the core protocol alone.
    pub social: bool,
    /// The `batch` field of this client's joins (None: the server decides,
    /// which batches MessagePack). Batches are unpacked into their events.
    pub batch: Option<bool>,
    /// The `view` field of this client's joins (None: the server decides:
    /// the whole space while it is not crowded).
    pub view: Option<metaverse_protocol::ViewSize>,
    /// Whether to show the own `movement` that a batch carries back to the
    /// mover. Off by default: tests read what others did.
    pub own_moves: bool,
    /// Events unpacked from a batch and not read yet.
    pending: VecDeque<ServerMsg>,
    last_codec: Codec,
    /// Who this client is, from its last `space-joined`.
    me: Option<String>,
}

/// Hides the proximity layer from a client that did not ask for it.
fn core_only(m: ServerMsg) -> Option<ServerMsg> {
    match m {
        ServerMsg::Proximity { .. } => None,
        ServerMsg::RtcSignal { kind: metaverse_protocol::RtcKind::Hangup, .. } => None,
        ServerMsg::UserJoin { user_id, x, y, .. } => {
            Some(ServerMsg::UserJoin { user_id, x, y, username: None, avatar_id: None })
        }
        ServerMsg::SpaceJoined { user_id, spawn, mut users, space, resume_token, resumed } => {
            for u in &mut users {
                u.username = None;
                u.avatar_id = None;
            }
            Some(ServerMsg::SpaceJoined { user_id, spawn, users, space, resume_token, resumed })
        }
        other => Some(other),
    }
}

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    Msg(ServerMsg),
    Closed(Option<CloseFrame>),
}

impl WsClient {
    pub async fn connect(url: &str, codec: Codec) -> Self {
        let (stream, _) = connect_async(url).await.expect("websocket connects");
        Self::wrap(codec, stream)
    }

    fn wrap(codec: Codec, stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            codec,
            stream,
            social: false,
            batch: None,
            view: None,
            own_moves: false,
            pending: VecDeque::new(),
            last_codec: codec,
            me: None,
        }
    }

    /// Queues what a frame held for reading: a batch's events one by one,
    /// less what this client does not show.
    fn accept(&mut self, msg: ServerMsg) {
        let events = match msg {
            ServerMsg::Batch { events } => events,
            other => vec![other],
        };
        for m in events {
            if let ServerMsg::SpaceJoined { user_id, .. } = &m {
                self.me = Some(user_id.clone());
            }
            if !self.own_moves && matches!(&m, ServerMsg::Movement { user_id, .. } if Some(user_id) == self.me.as_ref())
            {
                continue;
            }
            if let Some(m) = if self.social { Some(m) } else { core_only(m) } {
                self.pending.push_back(m);
            }
        }
    }

    /// The next whole frame as sent (a batch stays a batch), with no
    /// filtering; panics on close.
    pub async fn recv_frame(&mut self) -> ServerMsg {
        assert!(self.pending.is_empty(), "unread events of an earlier batch");
        loop {
            let item =
                tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("timed out waiting for the server");
            match item {
                Some(Ok(Message::Binary(b))) => return Codec::MsgPack.decode(&b, usize::MAX).expect("frame decodes"),
                Some(Ok(Message::Text(t))) => {
                    return Codec::Json.decode(t.as_bytes(), usize::MAX).expect("frame decodes");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// Connects with extra request headers (Origin, subprotocols).
    pub async fn connect_with(
        url: &str,
        codec: Codec,
        headers: &[(&'static str, &str)],
    ) -> Result<(Self, Option<String>), String> {
        Self::connect_tls(url, codec, headers, None).await
    }

    /// [`connect_with`](Self::connect_with), trusting only `roots` for a
    /// `wss://` URL.
    pub async fn connect_tls(
        url: &str,
        codec: Codec,
        headers: &[(&'static str, &str)],
        roots: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<(Self, Option<String>), String> {
        let mut req = url.into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(*k, HeaderValue::from_str(v).unwrap());
        }
        let connector = roots.map(tokio_tungstenite::Connector::Rustls);
        match tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector).await {
            Ok((stream, resp)) => {
                let proto =
                    resp.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
                Ok((Self::wrap(codec, stream), proto))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        let bytes = self.codec.encode(msg).unwrap();
        self.send_raw(bytes).await;
    }

    /// Sends bytes as a frame of this client's codec (binary or text).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let frame = match self.codec {
            Codec::MsgPack => Message::Binary(bytes.into()),
            Codec::Json => Message::Text(String::from_utf8(bytes).expect("json is utf-8").into()),
        };
        self.stream.send(frame).await.expect("send");
    }

    /// Sends `msg` encoded in `codec`, whatever this client's codec.
    pub async fn send_as(&mut self, codec: Codec, msg: &ClientMsg) {
        let bytes = codec.encode(msg).unwrap();
        let frame = match codec {
            Codec::MsgPack => Message::Binary(bytes.into()),
            Codec::Json => Message::Text(String::from_utf8(bytes).unwrap().into()),
        };
        self.stream.send(frame).await.expect("send");
    }

    /// The next message in whichever codec it came (binary: MessagePack,
    /// text: JSON), skipping pings and pongs; panics on close.
    pub async fn recv_any(&mut self) -> (Codec, ServerMsg) {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return (self.last_codec, m);
            }
            let item =
                tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("timed out waiting for the server");
            let (codec, bytes) = match item {
                Some(Ok(Message::Binary(b))) => (Codec::MsgPack, b.to_vec()),
                Some(Ok(Message::Text(t))) => (Codec::Json, t.as_bytes().to_vec()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            };
            let msg = codec.decode(&bytes, usize::MAX).expect("server frame decodes");
            self.last_codec = codec;
            self.accept(msg);
        }
    }

    /// The next message or close, skipping pings and pongs.
    pub async fn next(&mut self) -> Received {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Received::Msg(m);
            }
            let item =
                tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("timed out waiting for the server");
            match item {
                None => return Received::Closed(None),
                Some(Err(e)) => panic!("socket error: {e}"),
                Some(Ok(Message::Close(frame))) => return Received::Closed(frame),
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(self.codec, Codec::MsgPack, "binary frame to a JSON client");
                    // Batches may exceed one client frame's limit.
                    let msg = Codec::MsgPack.decode(&b, usize::MAX).expect("server frame decodes");
                    self.accept(msg);
                }
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(self.codec, Codec::Json, "text frame to a MessagePack client");
                    let msg = Codec::Json.decode(t.as_bytes(), usize::MAX).expect("server frame decodes");
                    self.accept(msg);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message; panics on close.
    pub async fn recv(&mut self) -> ServerMsg {
        match self.next().await {
            Received::Msg(m) => m,
            Received::Closed(f) => panic!("socket closed: {f:?}"),
        }
    }

    /// Receives until `pick` accepts a message, failing on close or after
    /// `PATIENCE`. Returns the skipped messages too, for assertions.
    pub async fn recv_until<T>(&mut self, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> (T, Vec<ServerMsg>) {
        let mut skipped = Vec::new();
        loop {
            let m = self.recv().await;
            if let Some(t) = pick(&m) {
                return (t, skipped);
            }
            skipped.push(m);
        }
    }

    /// The close frame the server sends next, skipping messages.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            if let Received::Closed(f) = self.next().await {
                return f;
            }
        }
    }

    /// Closes from the client side with 1000 (a departure: the others see
    /// `user-left` at once) and reads until the server has let go of the
    /// socket (the stream ends), so whatever the server does when a socket
    /// goes has been started. Returns the close frame the server answered
    /// with, `None` when it answered none.
    pub async fn close_and_wait(self) -> Option<CloseFrame> {
        self.close_with(CloseCode::Normal).await
    }

    /// Closes as a client about to come back does (4000, as the browser
    /// client before it reconnects): the presence is held for a resume.
    pub async fn close_to_resume(self) -> Option<CloseFrame> {
        self.close_with(CloseCode::from(4000)).await
    }

    /// Closes with `code`, then reads until the server lets go.
    pub async fn close_with(mut self, code: CloseCode) -> Option<CloseFrame> {
        let bye = CloseFrame { code, reason: "done".into() };
        let _ = self.stream.close(Some(bye)).await;
        let mut reply = None;
        loop {
            let item = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("timed out waiting for the server to let go");
            match item {
                None | Some(Err(_)) => return reply,
                Some(Ok(Message::Close(frame))) => {
                    // A close without a code reads as 1005 (no status).
                    reply = Some(frame.unwrap_or(CloseFrame { code: CloseCode::Status, reason: "".into() }));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn join(&mut self, space_id: &str, token: &str) -> ServerMsg {
        let batch = self.batch;
        self.send(&ClientMsg::Join {
            space_id: space_id.into(),
            token: token.into(),
            resume_token: None,
            batch,
            view: self.view,
        })
        .await;
        self.recv().await
    }

    /// Joins (resuming when `resume_token` is given) and expects
    /// `space-joined` as the next message.
    pub async fn join_ok(&mut self, space_id: &str, token: &str, resume_token: Option<&str>) -> Joined {
        self.send(&ClientMsg::Join {
            space_id: space_id.into(),
            token: token.into(),
            resume_token: resume_token.map(str::to_owned),
            batch: self.batch,
            view: self.view,
        })
        .await;
        Joined::from(self.recv().await)
    }

    /// The next message must be `error` with `code`; returns its message.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMsg::Error { code: got, message } => {
                assert_eq!(got, code, "error code (message: {message:?})");
                assert!(!message.is_empty(), "an error says why");
                message
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// A heartbeat round trip: the socket is open and answers. Only for a
    /// client with no space events pending.
    pub async fn heartbeat(&mut self) {
        self.send(&ClientMsg::Heartbeat {}).await;
        assert_eq!(self.recv().await, ServerMsg::Heartbeat {}, "heartbeat reply");
    }

    /// The close code the server sends next, skipping messages.
    pub async fn expect_close_code(&mut self) -> u16 {
        let frame = self.expect_close().await.expect("a close frame with a code");
        u16::from(frame.code)
    }

    /// Sends a move and expects `movement-rejected` at `at` (the mover's
    /// unchanged tile) as the next message.
    pub async fn move_rejected(&mut self, to: (i32, i32), at: Position) {
        self.send(&ClientMsg::Move { x: to.0, y: to.1 }).await;
        assert_eq!(
            self.recv().await,
            ServerMsg::MovementRejected { x: at.x, y: at.y },
            "move to {to:?} from {at:?} must be rejected"
        );
    }

    /// Confirms the mover stands on `at`: a move two tiles away is always
    /// rejected, and the rejection names the current tile.
    pub async fn assert_at(&mut self, at: Position) {
        self.assert_at_because(at, "a move there was refused?").await;
    }

    /// [`assert_at`](Self::assert_at), saying `why` on failure.
    pub async fn assert_at_because(&mut self, at: Position, why: &str) {
        self.send(&ClientMsg::Move { x: at.x + 2, y: at.y }).await;
        match self.recv().await {
            ServerMsg::MovementRejected { x, y } => {
                assert_eq!(Position { x, y }, at, "the mover should stand on {at:?} ({why})");
            }
            other => panic!("expected movement-rejected, got {other:?}"),
        }
    }

    /// Walks from `from` to `to` one tile at a time around `blocked` tiles
    /// in a `w`×`h` grid, then confirms the arrival. Returns the tiles
    /// stepped on, for observers to check their `movement` events.
    pub async fn walk(
        &mut self,
        from: Position,
        to: Position,
        (w, h): (i32, i32),
        blocked: &[Position],
    ) -> Vec<Position> {
        let path = path(from, to, (w, h), blocked);
        for p in &path {
            self.send(&ClientMsg::Move { x: p.x, y: p.y }).await;
        }
        self.assert_at(to).await;
        path
    }

    /// The next messages must be `movement` of `user` along `path`, in
    /// order, ending at its last tile. A batched client gets moves that a
    /// later move overwrote in the same tick coalesced, so steps may be
    /// skipped, never reordered.
    pub async fn expect_walk(&mut self, user: &str, path: &[Position]) {
        let Some(last) = path.last() else { return };
        let mut next = 0;
        loop {
            let got = self.recv().await;
            let at = match &got {
                ServerMsg::Movement { user_id, x, y } if user_id == user => Position { x: *x, y: *y },
                other => panic!("expected {user}'s walk along {path:?}, got {other:?}"),
            };
            let Some(i) = path[next..].iter().position(|p| *p == at) else {
                panic!("{user} reached {at:?}, not on the rest of the walk {:?}", &path[next..])
            };
            if !self.batch.unwrap_or(self.codec == Codec::MsgPack) {
                assert_eq!(i, 0, "an unbatched client gets every step");
            }
            next += i + 1;
            if at == *last && next == path.len() {
                return;
            }
        }
    }
}

/// A `space-joined`, unpacked.
#[derive(Debug, Clone)]
pub struct Joined {
    pub user_id: String,
    pub spawn: Position,
    pub users: Vec<UserPosition>,
    pub space: SpaceSize,
    pub resume_token: String,
    pub resumed: bool,
}

impl From<ServerMsg> for Joined {
    fn from(msg: ServerMsg) -> Self {
        match msg {
            ServerMsg::SpaceJoined { user_id, spawn, users, space, resume_token, resumed } => {
                Joined { user_id, spawn, users, space, resume_token, resumed }
            }
            other => panic!("expected space-joined, got {other:?}"),
        }
    }
}

pub fn user_join(user: &str, p: Position) -> ServerMsg {
    ServerMsg::UserJoin { user_id: user.to_owned(), x: p.x, y: p.y, username: None, avatar_id: None }
}

pub fn movement(user: &str, p: Position) -> ServerMsg {
    ServerMsg::Movement { user_id: user.to_owned(), x: p.x, y: p.y }
}

pub fn user_left(user: &str) -> ServerMsg {
    ServerMsg::UserLeft { user_id: user.to_owned() }
}

pub fn at(x: i32, y: i32) -> Position {
    Position { x, y }
}

/// A shortest path (BFS) from `from` to `to`, `from` excluded.
pub fn path(from: Position, to: Position, (w, h): (i32, i32), blocked: &[Position]) -> Vec<Position> {
    use std::collections::{HashMap, VecDeque};
    let mut came: HashMap<Position, Position> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    came.insert(from, from);
    while let Some(p) = queue.pop_front() {
        if p == to {
            break;
        }
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let q = at(p.x + dx, p.y + dy);
            if q.x < 0 || q.y < 0 || q.x >= w || q.y >= h || blocked.contains(&q) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = came.entry(q) {
                e.insert(p);
                queue.push_back(q);
            }
        }
    }
    assert!(came.contains_key(&to), "no path from {from:?} to {to:?}");
    let mut steps = vec![];
    let mut p = to;
    while p != from {
        steps.push(p);
        p = came[&p];
    }
    steps.reverse();
    steps
}

/// A free neighbour of `p` inside a `w`×`h` grid that is not in `avoid`.
/// Spawns are random, so two users in `avoid` can box `p` into a corner;
/// callers that cannot rule that out pick another mover on `None`.
pub fn free_step(p: Position, (w, h): (i32, i32), avoid: &[Position]) -> Option<Position> {
    [(1, 0), (-1, 0), (0, 1), (0, -1)]
        .into_iter()
        .map(|(dx, dy)| at(p.x + dx, p.y + dy))
        .find(|q| q.x >= 0 && q.y >= 0 && q.x < w && q.y < h && !avoid.contains(q))
}

/// [`free_step`] where a boxed-in `p` cannot happen (or is vanishingly rare).
pub fn step(p: Position, grid: (i32, i32), avoid: &[Position]) -> Position {
    free_step(p, grid, avoid).expect("a free neighbour")
}

/// Any JSON value as a frame body in `codec` (for frames the typed
/// messages cannot express: unknown types, wrong payloads, padding).
pub fn encode_value(codec: Codec, value: &Value) -> Vec<u8> {
    match codec {
        Codec::Json => serde_json::to_vec(value).unwrap(),
        Codec::MsgPack => rmp_serde::to_vec_named(value).unwrap(),
    }
}

/// Bytes no decoder of `codec` accepts.
pub fn garbage(codec: Codec) -> Vec<u8> {
    match codec {
        // 0xc1 is the one byte MessagePack never uses.
        Codec::MsgPack => vec![0xc1, 0xc1, 0xc1, 0x00, 0xff],
        Codec::Json => b"{\"type\": \"heartbeat\", payload".to_vec(),
    }
}

/// The other codec, for mixed-codec fan-out.
pub fn other(codec: Codec) -> Codec {
    match codec {
        Codec::MsgPack => Codec::Json,
        Codec::Json => Codec::MsgPack,
    }
}

/// Creates a space; returns its id.
pub async fn create_space(app: &TestApp, token: &str, dims: &str) -> String {
    let (status, body) = app.post("/api/v1/space", Some(token), json!({"name": "room", "dimensions": dims})).await;
    assert!(status.is_success(), "create space {dims}: {body}");
    body["spaceId"].as_str().unwrap().to_owned()
}

/// Alone in the space: join, walk to `tile`, leave; the next join spawns
/// there.
pub async fn seat(app: &TestApp, token: &str, space_id: &str, size: (i32, i32), tile: Position) {
    let mut ws = WsClient::connect(&app.ws, Codec::Json).await;
    let j = ws.join_ok(space_id, token, None).await;
    assert!(j.users.is_empty(), "seating alone: {:?}", j.users);
    ws.walk(j.spawn, tile, size, &[]).await;
    ws.send(&ClientMsg::Leave {}).await;
    ws.heartbeat().await;
}

/// Creates an element (admin); returns its id.
pub async fn create_element(app: &TestApp, admin: &str, w: i32, h: i32, is_static: bool) -> String {
    let (status, body) = app
        .post(
            "/api/v1/admin/element",
            Some(admin),
            json!({"imageUrl": "https://cdn.example/e.png", "width": w, "height": h, "static": is_static}),
        )
        .await;
    assert!(status.is_success(), "create element: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Places an element in a space (creator); returns the placement id.
pub async fn place_element(app: &TestApp, token: &str, space_id: &str, element_id: &str, p: Position) -> String {
    let (status, body) = app
        .post(
            "/api/v1/space/element",
            Some(token),
            json!({"spaceId": space_id, "elementId": element_id, "x": p.x, "y": p.y}),
        )
        .await;
    assert!(status.is_success(), "place element: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The sum of the samples of `name` whose labels contain `label` (all of
/// them when `label` is empty); `None` when the metric is not rendered.
pub fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        if !labels.contains(label) {
            continue;
        }
        let v: f64 = value.trim().parse().expect("a sample value");
        *found.get_or_insert(0.0) += v;
    }
    found
}

pub async fn metrics_text(app: &TestApp) -> String {
    let (status, body) = app.admin_get("/metrics").await;
    assert!(status.is_success());
    match body {
        // Nothing recorded yet in this process.
        Value::Null => String::new(),
        Value::String(text) => text,
        other => panic!("not Prometheus text: {other}"),
    }
}

/// Defines, for each `async fn $name(app: TestApp, codec: Codec)`, a module
/// `$name` with one `#[tokio::test]` per backend and codec. With
/// `@config |cfg| ...;` first, the servers start with that tweak.
#[macro_export]
macro_rules! ws_cases {
    (@config $tweak:expr; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use metaverse_protocol::Codec as C;
                use $crate::common::{Backend as B, TestApp as T};

                async fn run(backend: B, codec: C) {
                    if let Some(app) = T::start_with(backend, $tweak).await {
                        super::$name(app, codec).await;
                    }
                }

                #[tokio::test]
                async fn sqlite_msgpack() {
                    run(B::Sqlite, C::MsgPack).await
                }

                #[tokio::test]
                async fn sqlite_json() {
                    run(B::Sqlite, C::Json).await
                }

                #[tokio::test]
                async fn postgres_msgpack() {
                    run(B::Postgres, C::MsgPack).await
                }

                #[tokio::test]
                async fn postgres_json() {
                    run(B::Postgres, C::Json).await
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $crate::ws_cases!(@config |_| {}; $($name),*);
    };
}
