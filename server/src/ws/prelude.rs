//! The request head on the WebSocket port, read before tungstenite sees
//! it, so a plain `GET /health` (the old platform's WebSocket health check
//! on this port) gets an answer instead of a failed upgrade, and other
//! plain requests get 426 rather than a dropped connection. The bytes read
//! are handed back in front of the stream (`Rewind`), so the upgrade
//! parses them as if nothing had looked.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// A request head larger than this is refused (the admission budget for
/// the upgrade is the same).
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed at most; a real upgrade sends about ten.
const MAX_HEADERS: usize = 64;

/// What the head asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// A WebSocket upgrade: go on with the handshake.
    Upgrade,
    /// `GET /health` without an upgrade.
    Health,
    /// Anything else without an upgrade.
    Plain,
}

/// Reads until the end of the head; `None` when the peer closed, sent
/// more than [`MAX_HEAD`] or something that is not HTTP.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<(Asked, Bytes)>> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD {
            return Ok(None);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Partial) => {}
            Ok(httparse::Status::Complete(_)) => {
                let upgrade = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("upgrade")
                        && std::str::from_utf8(h.value).is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
                });
                let path = req.path.unwrap_or("/");
                let asked = match (upgrade, req.method, path.split('?').next()) {
                    (true, ..) => Asked::Upgrade,
                    (false, Some("GET" | "HEAD"), Some("/health")) => Asked::Health,
                    _ => Asked::Plain,
                };
                return Ok(Some((asked, buf.freeze())));
            }
            Err(_) => return Ok(None),
        }
    }
}

/// Answers a plain request and closes: 200 for `/health`, 426 otherwise.
pub async fn answer<S: AsyncWrite + Unpin>(stream: &mut S, asked: &Asked) -> io::Result<()> {
    let (status, body) = match asked {
        Asked::Health => ("200 OK", r#"{"status":"ok"}"#),
        _ => (
            "426 Upgrade Required",
            r#"{"error":{"code":"upgrade-required","message":"this port speaks WebSocket; GET /health answers without an upgrade"}}"#,
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A stream with bytes already read put back in front.
pub struct Rewind<S> {
    head: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(head: Bytes, inner: S) -> Self {
        Self { head, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.advance(n);
            if self.head.is_empty() {
                // An empty view still holds the whole head buffer; the
                // socket lives for hours, the buffer is needed no more.
                self.head = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn asked(head: &str) -> Option<Asked> {
        let mut s = head.as_bytes();
        read_head(&mut s).await.expect("reads").map(|(a, _)| a)
    }

    #[tokio::test]
    async fn heads_are_told_apart() {
        let up = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(asked(up).await, Some(Asked::Upgrade));
        assert_eq!(asked("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await, Some(Asked::Health));
        assert_eq!(asked("GET /health?x=1 HTTP/1.0\r\n\r\n").await, Some(Asked::Health));
        assert_eq!(asked("GET / HTTP/1.1\r\n\r\n").await, Some(Asked::Plain));
        assert_eq!(asked("POST /health HTTP/1.1\r\n\r\n").await, Some(Asked::Plain));
        assert_eq!(asked("\x16\x03\x01 not http").await, None);
        assert_eq!(asked("GET / HTTP/1.1\r\nHost: x\r\n").await, None, "the peer closed mid-head");
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(asked(&huge).await, None);
    }

    #[tokio::test]
    async fn rewind_replays_the_head_then_the_rest() {
        let mut s = Rewind::new(Bytes::from_static(b"head|"), &b"rest"[..]);
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("reads");
        assert_eq!(out, "head|rest");
    }
}
