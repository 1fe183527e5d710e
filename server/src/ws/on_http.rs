//! `GET /ws` on the HTTP listener: the same WebSocket sessions as the
//! WebSocket port, so a browser behind one (TLS) origin needs one port.
//!
//! actix-web answers the upgrade with a 101 whose streamed body is
//! what we write, and hands the bytes the client sends after it as the
//! request's payload. [`Upgraded`] joins the two into one byte stream, on
//! which tungstenite then runs exactly as on the WebSocket port: same
//! admission (connection cap, per-address caps, pre-join byte budget),
//! same origin check, same subprotocols.

use std::{
    convert::Infallible,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{StatusCode, header},
    web,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::mpsc,
};
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
use tokio_util::{io::StreamReader, sync::PollSender};

use super::{WsContext, admit, connection, handshake, refused};
use crate::{http::error::ApiError, state::AppState};

/// Chunks the session may have written that the connection has not sent;
/// past it the session's writes wait (and its write timeout runs).
const QUEUED_CHUNKS: usize = 16;

type Incoming = Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>;

/// The client's bytes (the request payload) and ours (the response body)
/// as one stream.
pub struct Upgraded {
    read: StreamReader<Incoming, Bytes>,
    write: PollSender<Bytes>,
}

impl AsyncRead for Upgraded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let gone = || io::Error::from(io::ErrorKind::BrokenPipe);
        ready!(self.write.poll_reserve(cx)).map_err(|_| gone())?;
        self.write.send_item(Bytes::copy_from_slice(data)).map_err(|_| gone())?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A sent chunk is the connection's to write; nothing is held here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.close();
        Poll::Ready(Ok(()))
    }
}

/// The handler: checks the upgrade as the WebSocket port would, answers
/// 101 and runs the session over the upgraded connection.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "ops",
    description = "The WebSocket endpoint on the HTTP origin (same protocol as the WebSocket port).",
    responses(
        (status = 101, description = "switched to WebSocket"),
        (status = 400, description = "not a WebSocket upgrade", body = crate::http::error::ErrorBody),
        (status = 403, description = "origin not allowed", body = crate::http::error::ErrorBody),
        (status = 503, description = "too many connections", body = crate::http::error::ErrorBody),
    )
)]
pub async fn upgrade(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let Some(ctx) = state.ws_context() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "busy", "the real-time core is starting");
    };
    let headers = req.headers();
    let has = |name: header::HeaderName, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY).map(|k| k.as_bytes().to_vec());
    let (true, true, true, Some(key)) = (
        has(header::UPGRADE, "websocket"),
        has(header::CONNECTION, "upgrade"),
        has(header::SEC_WEBSOCKET_VERSION, "13"),
        key,
    ) else {
        return refuse(StatusCode::BAD_REQUEST, "upgrade-required", "expected a WebSocket upgrade (version 13)");
    };
    if let Some(origin) = headers.get(header::ORIGIN)
        && !ctx.origins.allows(origin.to_str().unwrap_or(""))
    {
        return refuse(StatusCode::FORBIDDEN, "forbidden", "origin not allowed");
    }
    let Ok(permit) = ctx.permits.clone().try_acquire_owned() else {
        refused("cap");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many connections");
    };
    let Some(peer) = req.peer_addr() else {
        return refuse(StatusCode::BAD_REQUEST, "bad-request", "no peer address");
    };
    let Some(ticket) = admit(&ctx, peer) else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many connections from your address");
    };
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok());
    let chosen = handshake::choose_subprotocol(offered);
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
    let incoming: Incoming = Box::pin(payload.map_err(io::Error::other));
    let io = Upgraded { read: StreamReader::new(incoming), write: PollSender::new(tx) };
    ticket.upgraded();
    let io = ticket.meter(io);
    let config = connection::socket_config(&ctx.limits);
    let session_ctx: Arc<WsContext> = ctx.clone();
    actix_rt::spawn(async move {
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        connection::serve(ws, chosen.map(|(_, c)| c), ticket, session_ctx).await;
        drop(permit);
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok::<_, Infallible>);
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let mut resp = HttpResponse::SwitchingProtocols();
    resp.upgrade("websocket").insert_header((header::SEC_WEBSOCKET_ACCEPT, accept));
    if let Some((name, _)) = chosen {
        resp.insert_header((header::SEC_WEBSOCKET_PROTOCOL, name));
    }
    resp.streaming(body)
}

fn refuse(status: StatusCode, code: &'static str, why: &str) -> HttpResponse {
    ApiError::new(status, code, why).error_response()
}
