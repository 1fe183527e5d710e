//! Close codes that reach the client: when the server closes a socket whose
//! client is still writing, the client still reads every reply sent before
//! the close and then the close frame with its code, never a reset (which
//! a client sees as 1006). Each case runs on both backends and codecs.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    TestApp,
    ws::{PATIENCE, WsClient, garbage},
};
use futures_util::{SinkExt, StreamExt};
use metaverse_protocol::{ClientMsg, Codec, ServerMsg};
use metaverse_server::config::ServeConfig;
use tokio_tungstenite::tungstenite::Message;

/// Sends all of `frames` without reading, then reads until the close:
/// returns the messages before it and the close code. Fails on a reset.
async fn write_then_read(app: &TestApp, codec: Codec, frames: Vec<Vec<u8>>) -> (Vec<ServerMsg>, u16) {
    let mut ws = WsClient::connect(&app.ws, codec).await;
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

/// Twelve undecodable frames back to back: nine `error`s, then 4502 on
/// the tenth, while frames 11 and 12 sit unread.
async fn bad_frames_get_their_errors_then_4502(app: TestApp, codec: Codec) {
    let frames = (0..12).map(|_| garbage(codec)).collect();
    let (before, code) = write_then_read(&app, codec, frames).await;
    assert_eq!(code, 4502);
    assert_eq!(before.len(), 9, "{before:?}");
    assert!(before.iter().all(|m| matches!(m, ServerMsg::Error { .. })), "{before:?}");
}

fn slow_rate(cfg: &mut ServeConfig) {
    cfg.ws_rate = 5;
    cfg.ws_burst = 10;
}

/// A heartbeat flood: the replies within the rate, the warnings, then 4003,
/// with the rest of the flood unread.
async fn a_flood_gets_its_replies_then_4003(app: TestApp, codec: Codec) {
    let beat = codec.encode(&ClientMsg::Heartbeat {}).unwrap();
    let frames = (0..300).map(|_| beat.clone()).collect();
    let (before, code) = write_then_read(&app, codec, frames).await;
    assert_eq!(code, 4003);
    let beats = before.iter().filter(|m| matches!(m, ServerMsg::Heartbeat {})).count();
    assert!(beats >= 10, "the burst was answered: {before:?}");
}

ws_cases!(bad_frames_get_their_errors_then_4502);
ws_cases!(@config slow_rate; a_flood_gets_its_replies_then_4003);
