//! The client's end of an in-memory socket.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use metaverse_protocol::{ClientMsg, Codec};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::session::Frame;

/// The session's end: frames in from the peer, frames out to it. A
/// stalled writer never becomes ready, like a client that stopped reading.
pub(super) struct Io {
    incoming: mpsc::UnboundedReceiver<Result<Frame, String>>,
    outgoing: mpsc::UnboundedSender<Frame>,
    stalled: Arc<AtomicBool>,
}

pub(super) struct Peer {
    tx: mpsc::UnboundedSender<Result<Frame, String>>,
    rx: mpsc::UnboundedReceiver<Frame>,
    pub(super) stalled: Arc<AtomicBool>,
}

pub(super) fn pipe() -> (Io, Peer) {
    let (tx, incoming) = mpsc::unbounded_channel();
    let (outgoing, rx) = mpsc::unbounded_channel();
    let stalled = Arc::new(AtomicBool::new(false));
    (Io { incoming, outgoing, stalled: stalled.clone() }, Peer { tx, rx, stalled })
}

impl Stream for Io {
    type Item = Result<Frame, String>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx)
    }
}

impl Io {
    fn ready(&self) -> Poll<Result<(), String>> {
        if self.stalled.load(Ordering::SeqCst) { Poll::Pending } else { Poll::Ready(Ok(())) }
    }
}

impl Sink<Frame> for Io {
    type Error = String;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.ready()
    }
    fn start_send(self: Pin<&mut Self>, frame: Frame) -> Result<(), String> {
        self.outgoing.send(frame).map_err(|_| "peer gone".to_owned())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.ready()
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(Ok(()))
    }
}

impl Peer {
    pub(super) fn send_frame(&self, frame: Frame) {
        self.tx.send(Ok(frame)).expect("session gone");
    }

    pub(super) fn send(&self, msg: &ClientMsg) {
        let json = Codec::Json.encode(msg).unwrap();
        self.send_frame(Frame::Text(String::from_utf8(json).unwrap().into()));
    }

    pub(super) fn send_text(&self, text: &str) {
        self.send_frame(Frame::Text(text.to_owned().into()));
    }

    pub(super) fn join(&self, space: &str, token: &str, resume_token: Option<&str>) {
        let resume_token = resume_token.map(str::to_owned);
        self.send(&ClientMsg::Join {
            space_id: space.into(),
            token: token.into(),
            resume_token,
            batch: None,
            view: None,
        });
    }

    /// The next frame other than a ping; `None` once the session dropped
    /// its end.
    pub(super) async fn frame(&mut self) -> Option<Frame> {
        loop {
            match self.rx.recv().await? {
                Frame::Ping(_) => continue,
                other => return Some(other),
            }
        }
    }

    /// The next message, as JSON (MessagePack frames are decoded too).
    pub(super) async fn msg(&mut self) -> Value {
        match self.frame().await {
            Some(Frame::Text(t)) => serde_json::from_slice(t.as_bytes()).unwrap(),
            Some(Frame::Binary(b)) => Codec::MsgPack.decode(&b, usize::MAX).unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next message must be an `error` with this code.
    pub(super) async fn error(&mut self, code: &str) -> String {
        let m = self.msg().await;
        assert_eq!((m["type"].as_str(), m["payload"]["code"].as_str()), (Some("error"), Some(code)), "{m}");
        m["payload"]["message"].as_str().unwrap().to_owned()
    }

    /// The next frame must be a close; returns its code.
    pub(super) async fn closed(&mut self) -> u16 {
        match self.frame().await {
            Some(Frame::Close(code, _)) => code,
            other => panic!("expected a close, got {other:?}"),
        }
    }

    /// Counts pings until the next other frame, which it returns.
    pub(super) async fn pings_then(&mut self) -> (usize, Option<Frame>) {
        let mut pings = 0;
        loop {
            match self.rx.recv().await {
                Some(Frame::Ping(_)) => pings += 1,
                other => return (pings, other),
            }
        }
    }

    pub(super) fn raw(bytes: &'static [u8]) -> Frame {
        Frame::Binary(Bytes::from_static(bytes))
    }
}
