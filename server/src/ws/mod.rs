//! The WebSocket server (tokio-tungstenite): one session task per socket,
//! talking to SpaceActors through the registry. The session itself lives in
//! `metaverse_actors::session`; this module accepts, upgrades, and adapts.

pub mod adapter;
pub mod admission;
pub mod connection;
pub mod handshake;
pub mod on_http;
pub mod prelude;
pub mod services;
pub mod store;

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::Context;
use metaverse_actors::Registry;
use tokio::{net::TcpListener, sync::watch};

use crate::{config::ServeConfig, realtime::RealtimeThreads, state::AppState};
use admission::{Admission, AdmissionCaps};
use handshake::OriginPolicy;

/// Per-connection limits, from the configuration.
#[derive(Clone, Debug)]
pub struct WsLimits {
    pub max_frame: usize,
    pub idle_timeout: Duration,
    pub join_timeout: Duration,
    pub rate: NonZeroU32,
    pub burst: NonZeroU32,
    pub queue: usize,
}

/// The configured cap, or one derived from the open-file limit.
fn connection_cap(configured: u32) -> u32 {
    if configured > 0 {
        return configured;
    }
    match admission::open_file_limit() {
        Some(nofile) => admission::connection_cap(nofile),
        None => 1024,
    }
}

/// The address's admission, or `None` (counted) when it holds its caps.
fn admit(ctx: &WsContext, peer: SocketAddr) -> Option<admission::Ticket> {
    match ctx.admission.admit(peer.ip()) {
        Ok(t) => Some(t),
        Err(admission::Refusal::PerIp) => {
            refused("per-ip");
            None
        }
        Err(admission::Refusal::Unauthenticated) => {
            refused("unauthenticated-per-ip");
            None
        }
    }
}

/// Counts a connection dropped at accept, by why.
fn refused(reason: &'static str) {
    metrics::counter!(metaverse_actors::metric_names::WS_REFUSED_TOTAL, "reason" => reason).increment(1);
}

impl WsLimits {
    fn from_config(cfg: &ServeConfig) -> Self {
        Self {
            max_frame: cfg.ws_max_frame.max(64),
            idle_timeout: cfg.ws_idle_timeout,
            join_timeout: cfg.ws_join_timeout,
            rate: NonZeroU32::new(cfg.ws_rate).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(cfg.ws_burst).unwrap_or(NonZeroU32::MIN),
            queue: cfg.ws_queue as usize,
        }
    }
}

/// What every session shares.
pub struct WsContext {
    pub state: AppState,
    pub registry: Arc<Registry>,
    pub limits: WsLimits,
    pub origins: OriginPolicy,
    pub next_session: AtomicU64,
    /// Per-address socket caps, and the pre-join byte budget.
    pub admission: Arc<Admission>,
    /// Flips to true on shutdown; sessions close with 4000.
    pub shutdown: watch::Receiver<bool>,
    /// One per open socket, on either listener, up to the connection cap.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Set with `--tls-cert`: the WebSocket port speaks `wss://`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

pub struct WsServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    ctx: Arc<WsContext>,
    /// The connection cap: all of the permits are free once every socket
    /// has closed.
    cap: u32,
}

/// Accepts until shutdown; each connection the caps admit gets its own
/// task, on the real-time threads in turn (the main thread when there are
/// none).
async fn accept(listener: TcpListener, ctx: Arc<WsContext>, threads: RealtimeThreads) {
    let mut stop = ctx.shutdown.clone();
    let mut dealt = 0usize;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over the cap the connection is dropped at once:
                    // refusing is cheaper than serving badly.
                    let Ok(permit) = ctx.permits.clone().try_acquire_owned() else {
                        refused("cap");
                        continue;
                    };
                    let Some(ticket) = admit(&ctx, peer) else { continue };
                    let _ = stream.set_nodelay(true);
                    let ctx = ctx.clone();
                    dealt = dealt.wrapping_add(1);
                    threads.serve_socket(dealt, stream, move |stream| async move {
                        connection::accepted(stream, peer, ticket, ctx).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

impl WsServer {
    /// Binds the listener and starts accepting on the current actix system.
    pub async fn start(
        cfg: &ServeConfig,
        http_addr: SocketAddr,
        state: AppState,
        tls: Option<Arc<crate::tls::Certificates>>,
        threads: RealtimeThreads,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(cfg.ws_addr).await.with_context(|| format!("binding WebSocket on {}", cfg.ws_addr))?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let cap = connection_cap(cfg.ws_max_connections);
        let tls = tls.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c.server_config(&[b"http/1.1"]))));
        let ctx = Arc::new(WsContext {
            permits: Arc::new(tokio::sync::Semaphore::new(cap as usize)),
            registry: state.registry.clone(),
            state,
            limits: WsLimits::from_config(cfg),
            origins: OriginPolicy::new(&cfg.allowed_origins, http_addr, tls.is_some()),
            tls,
            // Random high bits: in cluster mode session ids travel to other
            // nodes' spaces and must not collide with theirs.
            next_session: AtomicU64::new((u64::from(rand::random::<u32>()) << 32) | 1),
            shutdown: shutdown_rx,
            admission: Admission::new(AdmissionCaps {
                per_ip: cfg.limits.ws_max_per_ip,
                unauthenticated_per_ip: cfg.limits.ws_max_unauthenticated_per_ip,
            }),
        });
        let _ = ctx.state.ws.set(Arc::downgrade(&ctx));
        actix_rt::spawn(accept(listener, ctx.clone(), threads));
        tracing::info!(ws_addr = %addr, max_connections = cap, "serving WebSocket");
        Ok(Self { addr, shutdown: shutdown_tx, ctx, cap })
    }

    /// Waits until every socket (of either listener) has closed, at most
    /// `within`: the sessions run on other threads, and must write their
    /// last frames (a `reconnect`, the close code) and finish the close
    /// handshake before the process exits, or clients see a reset instead.
    pub async fn closed(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.ctx.permits.acquire_many(self.cap)).await;
    }

    /// Stops accepting, tells every session to close (4000), and stops the
    /// live spaces.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.ctx.registry.close_all(metaverse_actors::CloseReason::SHUTDOWN);
    }
}
