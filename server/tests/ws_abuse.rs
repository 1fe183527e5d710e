//! What a session does with bad input: undecodable, oversized and unknown
//! frames, messages out of order, failed authentication, floods and silent
//! sockets. Each case runs on both backends and in both codecs.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    TestApp,
    ws::{PATIENCE, WsClient, create_space, encode_value, garbage},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use metaverse_server::config::ServeConfig;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const MAX_FRAME: usize = 1024;

fn small_frames(cfg: &mut ServeConfig) {
    cfg.ws_max_frame = MAX_FRAME;
}

/// Each bad frame gets its `error`, and the socket stays usable.
async fn bad_frames_get_errors_and_the_socket_stays_usable(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let mut ws = WsClient::connect(&app.ws, codec).await;

    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (garbage(codec), ErrorCode::Malformed),
        (encode_value(codec, &json!({"type": "move", "payload": {"x": "left", "y": 0}})), ErrorCode::Malformed),
        (encode_value(codec, &json!({"type": "move"})), ErrorCode::Malformed),
        (encode_value(codec, &json!({"payload": {}})), ErrorCode::Malformed),
        (encode_value(codec, &json!([1, 2, 3])), ErrorCode::Malformed),
        (encode_value(codec, &json!({"type": "dance", "payload": {}})), ErrorCode::UnknownType),
        (encode_value(codec, &json!({"type": "x".repeat(500), "payload": {}})), ErrorCode::UnknownType),
        (
            encode_value(codec, &json!({"type": "heartbeat", "payload": {}, "pad": "p".repeat(2000)})),
            ErrorCode::TooLarge,
        ),
        (vec![b' '; MAX_FRAME + 1], ErrorCode::TooLarge),
    ];
    for (i, (frame, code)) in cases.into_iter().enumerate() {
        assert!(code != ErrorCode::TooLarge || frame.len() > MAX_FRAME, "case {i} is not oversized");
        ws.send_raw(frame).await;
        ws.expect_error(code).await;
        ws.heartbeat().await;
    }

    // A frame just under the limit is decoded.
    let mut padded = json!({"type": "heartbeat", "payload": {}, "pad": ""});
    let base = encode_value(codec, &padded).len();
    padded["pad"] = json!("p".repeat(MAX_FRAME - base - 8));
    let frame = encode_value(codec, &padded);
    assert!(frame.len() <= MAX_FRAME);
    ws.send_raw(frame).await;
    assert_eq!(ws.recv().await, ServerMsg::Heartbeat {});

    // Messages that need a space, before joining one.
    ws.send(&ClientMsg::Move { x: 1, y: 0 }).await;
    ws.expect_error(ErrorCode::NotJoined).await;
    ws.heartbeat().await;
    ws.send(&ClientMsg::ChatJoin { chatroom_id: "room".into(), passcode: None, since: None }).await;
    ws.expect_error(ErrorCode::NotJoined).await;
    ws.heartbeat().await;

    // After all that, joining works; posting to a room not joined is refused.
    ws.join_ok(&space_id, &token, None).await;
    ws.send(&ClientMsg::ChatMessage {
        chatroom_id: "room".into(),
        content: "hi".into(),
        kind: None,
        client_id: None,
        media_id: None,
    })
    .await;
    ws.expect_error(ErrorCode::Forbidden).await;
    ws.heartbeat().await;
}

/// Ten undecodable frames in a row close the socket with 4502; a good
/// frame in between starts the count again.
async fn ten_bad_frames_in_a_row_close_the_socket(app: TestApp, codec: Codec) {
    let mut ws = WsClient::connect(&app.ws, codec).await;
    for _ in 0..2 {
        for _ in 0..9 {
            ws.send_raw(garbage(codec)).await;
            ws.expect_error(ErrorCode::Malformed).await;
        }
        ws.heartbeat().await;
    }
    for _ in 0..10 {
        ws.send_raw(garbage(codec)).await;
    }
    for _ in 0..9 {
        ws.expect_error(ErrorCode::Malformed).await;
    }
    let close = ws.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4502);
    assert!(!close.reason.is_empty(), "the close says why");
}

/// Five failed authentications close the socket with 4501; a good join in
/// between starts the count again.
async fn repeated_auth_failures_close_the_socket(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "4x4").await;
    let bad_join = ClientMsg::Join {
        space_id: space_id.clone(),
        token: "garbage".into(),
        resume_token: None,
        batch: None,
        view: None,
    };
    let mut ws = WsClient::connect(&app.ws, codec).await;
    for _ in 0..4 {
        ws.send(&bad_join).await;
        ws.expect_error(ErrorCode::Unauthorized).await;
    }
    ws.join_ok(&space_id, &token, None).await;
    for _ in 0..4 {
        ws.send(&bad_join).await;
        ws.expect_error(ErrorCode::Unauthorized).await;
    }
    ws.send(&bad_join).await;
    assert_eq!(ws.expect_close_code().await, 4501);
}

const BURST: u32 = 5;

/// Rate 1/s and a burst of 5. (With a burst of 3 a flood of 10 would
/// already close the socket: it closes when more than twice the burst is
/// refused, docs/PROTOCOL.md "Close codes".)
fn slow_rate(cfg: &mut ServeConfig) {
    cfg.ws_rate = 1;
    cfg.ws_burst = BURST;
}

async fn a_burst_over_the_rate_is_refused_but_the_socket_stays(app: TestApp, codec: Codec) {
    let mut ws = WsClient::connect(&app.ws, codec).await;
    for _ in 0..10 {
        ws.send(&ClientMsg::Heartbeat {}).await;
    }
    let (mut answered, mut limited) = (0, 0);
    for i in 0..10 {
        match ws.recv().await {
            ServerMsg::Heartbeat {} => answered += 1,
            ServerMsg::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            other => panic!("reply {i}: {other:?}"),
        }
    }
    assert!(answered >= BURST, "the burst is honoured: {answered} answered");
    assert!(limited >= 1, "nothing rate-limited out of 10");
    // Still open: the next frame is answered (a heartbeat if a token came
    // back meanwhile, else another rate-limited error), not closed.
    ws.send(&ClientMsg::Heartbeat {}).await;
    match ws.next().await {
        common::ws::Received::Msg(ServerMsg::Heartbeat {})
        | common::ws::Received::Msg(ServerMsg::Error { code: ErrorCode::RateLimited, .. }) => {}
        other => panic!("after the burst: {other:?}"),
    }
}

async fn sustained_flooding_closes_with_4003(app: TestApp, codec: Codec) {
    let mut ws = WsClient::connect(&app.ws, codec).await;
    let mut limited = 0;
    // One frame per reply, so the server has read everything it was sent
    // when it closes (no reset racing the close frame).
    for i in 0..100 {
        ws.send(&ClientMsg::Heartbeat {}).await;
        match ws.next().await {
            common::ws::Received::Msg(ServerMsg::Heartbeat {}) => {}
            common::ws::Received::Msg(ServerMsg::Error { code: ErrorCode::RateLimited, .. }) => limited += 1,
            common::ws::Received::Closed(frame) => {
                let frame = frame.expect("a close frame");
                assert_eq!(u16::from(frame.code), 4003, "after {i} frames");
                assert!(limited >= 1, "closed before any rate-limited error");
                assert!(i as u32 > BURST, "closed within the burst");
                return;
            }
            other => panic!("frame {i}: {other:?}"),
        }
    }
    panic!("100 frames at 1/s were never closed ({limited} rate-limited)");
}

const IDLE: Duration = Duration::from_millis(600);

fn short_idle(cfg: &mut ServeConfig) {
    cfg.ws_idle_timeout = IDLE;
}

/// A WebSocket opened by hand that never answers pings: the frames the
/// server sends are read raw, so nothing pongs.
struct Deaf {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Deaf {
    async fn connect(ws_url: &str) -> Self {
        let host = ws_url.trim_start_matches("ws://");
        let mut tcp = TcpStream::connect(host).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        buf.drain(..end);
        Self { tcp, buf }
    }

    async fn fill(&mut self, want: usize) -> bool {
        while self.buf.len() < want {
            let mut chunk = [0u8; 1024];
            match self.tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// The next frame's opcode and payload (server frames are unmasked);
    /// `None` at end of stream.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if !self.fill(2).await {
            return None;
        }
        let opcode = self.buf[0] & 0x0f;
        let (len, header) = match self.buf[1] & 0x7f {
            126 => {
                self.fill(4).await;
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10).await;
                (usize::try_from(u64::from_be_bytes(self.buf[2..10].try_into().unwrap())).unwrap(), 10)
            }
            n => (n as usize, 2),
        };
        if !self.fill(header + len).await {
            return None;
        }
        let payload = self.buf[header..header + len].to_vec();
        self.buf.drain(..header + len);
        Some((opcode, payload))
    }

    /// Reads frames (pings, unanswered) until the close; its code.
    async fn close_code(&mut self) -> u16 {
        let read = async {
            loop {
                match self.frame().await {
                    Some((0x8, payload)) => {
                        assert!(payload.len() >= 2, "a close without a code");
                        return u16::from_be_bytes([payload[0], payload[1]]);
                    }
                    Some(_) => continue,
                    None => panic!("the connection ended without a close frame"),
                }
            }
        };
        tokio::time::timeout(PATIENCE, read).await.expect("the silent socket was never closed")
    }
}

/// A socket that sends nothing, not even a pong, is closed with 4001 after
/// the idle timeout; one that answers pings (tungstenite does, while
/// reading) stays open through the same time.
async fn silent_sockets_are_closed_and_live_ones_kept(app: TestApp, codec: Codec) {
    let started = Instant::now();
    let mut live = WsClient::connect(&app.ws, codec).await;
    let mut deaf = Deaf::connect(&app.ws).await;

    // Keep reading (and so ponging) on the live socket while the deaf one
    // waits for its close.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        use futures_util::StreamExt;
        loop {
            tokio::select! {
                _ = &mut stopped => return live,
                m = live.stream.next() => match m {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_)))
                    | Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(_))) => {}
                    other => panic!("the live socket got {other:?}"),
                },
            }
        }
    });
    let code = deaf.close_code().await;
    let waited = started.elapsed();
    assert_eq!(code, 4001, "idle timeout close code");
    assert!(waited >= IDLE, "closed after {waited:?}, before the idle timeout");
    stop.send(()).unwrap();
    let mut live = reader.await.expect("the live socket stayed open");
    // Past the idle timeout, and still served.
    assert!(started.elapsed() > IDLE);
    live.heartbeat().await;
}

const JOIN_BY: Duration = Duration::from_millis(800);

fn short_join(cfg: &mut ServeConfig) {
    cfg.ws_join_timeout = JOIN_BY;
}

/// A socket that never authenticates is closed with 4007 once the join
/// timeout passes, though it answers pings and sends heartbeats; one that
/// joined in time is kept.
async fn sockets_that_never_join_are_closed_4007(app: TestApp, codec: Codec) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(&app, &token, "5x5").await;
    let mut joined = WsClient::connect(&app.ws, codec).await;
    joined.join_ok(&space_id, &token, None).await;
    let started = Instant::now();
    let mut idler = WsClient::connect(&app.ws, codec).await;
    idler.heartbeat().await;
    assert_eq!(idler.expect_close_code().await, 4007);
    assert!(started.elapsed() >= JOIN_BY, "closed after {:?}", started.elapsed());
    joined.heartbeat().await;
}

ws_cases!(@config small_frames; bad_frames_get_errors_and_the_socket_stays_usable);
ws_cases!(@config short_join; sockets_that_never_join_are_closed_4007);
ws_cases!(ten_bad_frames_in_a_row_close_the_socket, repeated_auth_failures_close_the_socket,);
ws_cases!(@config slow_rate;
    a_burst_over_the_rate_is_refused_but_the_socket_stays,
    sustained_flooding_closes_with_4003,
);
ws_cases!(@config short_idle; silent_sockets_are_closed_and_live_ones_kept);
