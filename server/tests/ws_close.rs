//! Close codes that reach the client: when the server closes a socket whose
//! client is still writing, the client still reads every reply sent before
//! the close and then the close frame with its code, never a reset (which
//! a client sees as 1006). Each case runs on both backends and codecs.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    TestApp,
    ws::{PATIENCE, WsClient, create_space, garbage},
};
use futures_util::{SinkExt, StreamExt};
use metaverse_protocol::{ClientMsg, Codec, ServerMsg};
use metaverse_server::config::ServeConfig;
use tokio_tungstenite::tungstenite::Message;

/// Joins (a socket that never authenticates is cut off after 16 KiB
/// instead), sends all of `frames` without reading, then reads until the
/// close: returns the messages before it and the close code. Fails on a
/// reset.
async fn write_then_read(app: &TestApp, codec: Codec, frames: Vec<Vec<u8>>) -> (Vec<ServerMsg>, u16) {
    let (_, token) = app.user("ada").await;
    let space_id = create_space(app, &token, "5x5").await;
    let mut ws = WsClient::connect(&app.ws, codec).await;
    ws.join_ok(&space_id, &token, None).await;
    for f in frames {
        let msg = match codec {
            Codec::MsgPack => Message::Binary(f.into()),
            Codec::Json => Message::Text(String::from_utf8(f).unwrap().into()),
        };
        // The server may have closed already: a write error is fine here,
        // what matters is what can still be read.
        if ws.stream.feed(msg).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let mut before = Vec::new();
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.stream.next()).await.expect("no close arrived");
        match next {
            Some(Ok(Message::Close(Some(c)))) => return (before, u16::from(c.code)),
            Some(Ok(Message::Binary(b))) => before.push(Codec::MsgPack.decode(&b, usize::MAX).unwrap()),
            Some(Ok(Message::Text(t))) => before.push(Codec::Json.decode(t.as_bytes(), usize::MAX).unwrap()),
            Some(Ok(_)) => {}
            other => panic!("the connection ended without our close frame: {other:?}"),
        }
    }
}

/// A hundred undecodable frames of 2 KiB back to back: nine `error`s, then
/// 4502 on the tenth, while most of the rest sits unread in the kernel
/// (more than the server's read buffer takes at once).
async fn bad_frames_get_their_errors_then_4502(app: TestApp, codec: Codec) {
    let frames = (0..100)
        .map(|_| {
            let mut f = garbage(codec);
            f.resize(2048, b' ');
            f
        })
        .collect();
    let (before, code) = write_then_read(&app, codec, frames).await;
    assert_eq!(code, 4502);
    assert_eq!(before.len(), 9, "{before:?}");
    assert!(before.iter().all(|m| matches!(m, ServerMsg::Error { .. })), "{before:?}");
}

fn slow_rate(cfg: &mut ServeConfig) {
    cfg.ws_rate = 5;
    cfg.ws_burst = 10;
}

/// A heartbeat flood (5,000 back to back): the replies within the rate, the
/// warnings, then 4003, with the rest of the flood unread.
async fn a_flood_gets_its_replies_then_4003(app: TestApp, codec: Codec) {
    let beat = codec.encode(&ClientMsg::Heartbeat {}).unwrap();
    let frames = (0..5000).map(|_| beat.clone()).collect();
    let (before, code) = write_then_read(&app, codec, frames).await;
    assert_eq!(code, 4003);
    let beats = before.iter().filter(|m| matches!(m, ServerMsg::Heartbeat {})).count();
    let warnings = before.iter().filter(|m| matches!(m, ServerMsg::Error { .. })).count();
    // The burst (less the join) is answered, then the warnings, 2 × burst.
    assert!((5..=10).contains(&beats) && warnings == 20, "{before:?}");
}

ws_cases!(bad_frames_get_their_errors_then_4502);
ws_cases!(@config slow_rate; a_flood_gets_its_replies_then_4003);
