//! One accepted connection (TCP, or TLS over it): the request head (a
//! plain `GET /health` is answered here), the WebSocket upgrade, then the
//! session over it until either side closes.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use metaverse_actors::session::{self, SessionLimits, SessionSetup};
use metaverse_protocol::Codec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::WebSocketConfig};

use super::{
    WsContext, WsLimits,
    adapter::FrameSocket,
    admission::Ticket,
    handshake,
    prelude::{self, Asked, Rewind},
    services::WsServices,
};

/// A connection must finish its upgrade (TLS included) within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection of the WebSocket port: TLS first when configured.
///
/// A socket's task keeps, for its whole life, the size of the largest
/// await of its future, so every step that runs once (the TLS and
/// WebSocket handshakes) or only for TLS (whose stream holds its session
/// state inline, about 7 KiB) is boxed: a plain idle socket pays for the
/// session loop only.
pub async fn accepted(stream: tokio::net::TcpStream, peer: SocketAddr, ticket: Ticket, ctx: Arc<WsContext>) {
    match ctx.tls.clone() {
        None => run(stream, peer, ticket, ctx).await,
        Some(tls) => Box::pin(accepted_tls(tls, stream, peer, ticket, ctx)).await,
    }
}

async fn accepted_tls(
    tls: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    ctx: Arc<WsContext>,
) {
    let accepted = Box::pin(tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream))).await;
    if let Ok(Ok(stream)) = accepted {
        run(stream, peer, ticket, ctx).await;
    }
}

/// Serves one connection of the WebSocket port.
pub async fn run<S>(stream: S, peer: SocketAddr, ticket: Ticket, ctx: Arc<WsContext>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let mut stream = ticket.meter(stream);
    let Ok(Ok(Some((asked, head)))) =
        Box::pin(tokio::time::timeout(HANDSHAKE_TIMEOUT, prelude::read_head(&mut stream))).await
    else {
        return;
    };
    if asked != Asked::Upgrade {
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, prelude::answer(&mut stream, &asked)).await;
        return;
    }
    let Some((ws, negotiated)) = Box::pin(upgrade(Rewind::new(head, stream), peer, &ctx)).await else {
        return;
    };
    ticket.upgraded();
    serve(ws, negotiated, ticket, ctx).await;
}

/// The session over an upgraded socket, from either listener, until either
/// side closes.
pub async fn serve<S>(ws: WebSocketStream<S>, negotiated: Option<Codec>, ticket: Ticket, ctx: Arc<WsContext>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.limits;
    let setup = SessionSetup {
        id: ctx.next_session.fetch_add(1, Ordering::Relaxed),
        services: WsServices::new(ctx.clone(), Arc::new(ticket)),
        limits: SessionLimits {
            max_frame: limits.max_frame,
            idle_timeout: limits.idle_timeout,
            join_timeout: limits.join_timeout,
            rate: limits.rate,
            burst: limits.burst,
        },
        negotiated,
        shutdown: ctx.shutdown.clone(),
        revoked: ctx.state.revoked.subscribe(),
    };
    let cluster = ctx.state.cluster.clone();
    metrics::gauge!(metaverse_actors::metric_names::WS_SESSIONS).increment(1.0);
    if let Some(c) = &cluster {
        c.sessions.fetch_add(1, Ordering::Relaxed);
    }
    session::serve(FrameSocket(ws), setup).await;
    if let Some(c) = &cluster {
        c.sessions.fetch_sub(1, Ordering::Relaxed);
    }
    metrics::gauge!(metaverse_actors::metric_names::WS_SESSIONS).decrement(1.0);
}

/// Bytes each socket reads into at a time.
pub const READ_BUFFER: usize = 1024;

/// tungstenite's settings for every socket.
pub fn socket_config(limits: &WsLimits) -> WebSocketConfig {
    // Tungstenite's own limit is a hard stop (it drops the connection); ours,
    // checked per frame, answers with `error`. The hard one sits well above.
    let hard_limit = limits.max_frame.saturating_mul(16).max(1 << 20);
    // The read buffer is allocated up front per socket (tungstenite's
    // default of 128 KiB made an idle socket cost ~127 KiB of RSS), and its
    // free part is zeroed before every read. Client frames are tens of
    // bytes (a move is about 30); a larger one still reads, the buffer
    // grows for it.
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit))
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(4 << 20)
}

/// The upgrade, with the origin check and subprotocol choice; `None` when
/// it failed or took too long.
async fn upgrade<S>(stream: S, peer: SocketAddr, ctx: &WsContext) -> Option<(WebSocketStream<S>, Option<Codec>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = socket_config(&ctx.limits);
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
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => Some((ws, negotiated)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "WebSocket handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "WebSocket handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn returned<A, B, C, D, F: FnOnce(A, B, C, D) -> R, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    fn returned2<A, B, F: FnOnce(A, B) -> R, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    /// What a plain socket's task holds for its life is the session loop
    /// and little more: the handshakes and the TLS stream are boxed.
    /// (Before they were, a plain socket's task was 13 KiB for a 4 KiB
    /// session.)
    #[test]
    fn a_plain_socket_does_not_carry_the_handshakes_or_tls() {
        type Plain = prelude::Rewind<super::super::admission::Metered<tokio::net::TcpStream>>;
        type Tls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
        let session =
            returned2(&session::serve::<FrameSocket<Plain>, tokio_tungstenite::tungstenite::Error, WsServices>);
        let socket = returned(&accepted);
        let tls = returned(&run::<Tls>);
        assert!(socket <= session + 1024, "a socket's task is {socket} bytes for a {session}-byte session");
        assert!(socket * 2 < tls, "a plain socket's task ({socket} bytes) holds the TLS one ({tls})");
    }
}
