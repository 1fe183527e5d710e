//! The WebSocket as the session's frame stream and sink: tungstenite
//! messages in, [`Frame`]s out, and back.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use metaverse_actors::session::{Frame, Text};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Error, Message, Utf8Bytes,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

/// A WebSocket speaking [`Frame`]s.
pub struct FrameSocket<S>(pub WebSocketStream<S>);

/// The status a close frame without one reports (RFC 6455, 7.1.5).
const NO_STATUS: u16 = 1005;

pub fn to_frame(msg: Message) -> Frame {
    match msg {
        Message::Binary(b) => Frame::Binary(b),
        // SAFETY: tungstenite's `Utf8Bytes` are valid UTF-8.
        Message::Text(t) => Frame::Text(unsafe { Text::from_utf8_unchecked(Bytes::from(t)) }),
        Message::Ping(b) => Frame::Ping(b),
        Message::Pong(b) => Frame::Pong(b),
        Message::Close(Some(c)) => Frame::Close(c.code.into(), c.reason.to_string()),
        Message::Close(None) => Frame::Close(NO_STATUS, String::new()),
        // Raw frames are never read (tungstenite's contract); were one to
        // arrive it is, like a pong, a sign of life and nothing else.
        Message::Frame(_) => Frame::Pong(Bytes::new()),
    }
}

pub fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Binary(b) => Message::Binary(b),
        // SAFETY: `Text` is UTF-8 by construction; not validating again
        // saves a pass over every JSON frame for every recipient.
        Frame::Text(t) => Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(t.into_bytes()) }),
        Frame::Ping(b) => Message::Ping(b),
        Frame::Pong(b) => Message::Pong(b),
        Frame::Close(code, reason) => {
            Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for FrameSocket<S> {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx).map(|m| m.map(|r| r.map(to_frame)))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Frame> for FrameSocket<S> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.0.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Frame) -> Result<(), Error> {
        self.0.start_send_unpin(to_message(frame))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.0.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.0.poll_close_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_the_round_trip() {
        let frames = [
            Frame::Binary(Bytes::from_static(b"\x81\xa1a")),
            Frame::Text(String::from("{\"type\":\"heartbeat\"}").into()),
            Frame::Ping(Bytes::from_static(b"p")),
            Frame::Pong(Bytes::new()),
            Frame::Close(4003, "rate limit exceeded".into()),
        ];
        for f in frames {
            assert_eq!(to_frame(to_message(f.clone())), f);
        }
    }

    #[test]
    fn a_close_without_status_reads_as_1005() {
        assert_eq!(to_frame(Message::Close(None)), Frame::Close(1005, String::new()));
        let Message::Close(Some(c)) = to_message(Frame::Close(4502, "protocol violation".into())) else {
            panic!("not a close")
        };
        assert_eq!((u16::from(c.code), c.reason.as_str()), (4502, "protocol violation"));
    }
}
