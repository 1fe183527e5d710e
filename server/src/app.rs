//! Starting and stopping the server: database, demo content, keys, HTTP.

use std::{future::Future, net::SocketAddr, time::Duration};

use actix_web::dev::ServerHandle;
use anyhow::Context;
use metaverse_schema::store::DatabaseConnection;

use crate::{
    auth::{TokenIssuer, key},
    config::{AdminSignup, ServeConfig},
    db, demo, http,
    state::AppState,
    ws,
};
use std::sync::Arc;

use metaverse_actors::{
    Registry, SpaceSettings,
    space::PositionUpdate,
    writers::{
        self,
        chat::{ChatStore, ChatWriterSettings},
        worker::Worker,
    },
};

use crate::{
    auth::hashing::HashPool,
    chat::{ChatLimits, ChatService},
};

/// A bound, running server. Dropping it does not stop it; call `shutdown`.
pub struct Started {
    pub http_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    /// The operator listener, unless its endpoints are on the HTTP port.
    pub admin_addr: Option<SocketAddr>,
    admin: Option<actix_web::dev::Server>,
    ws: ws::WsServer,
    server: actix_web::dev::Server,
    handle: ServerHandle,
    db: DatabaseConnection,
    pipeline: crate::events::Pipeline,
    cluster: Option<Arc<crate::cluster::Cluster>>,
    writers: Writers,
    realtime: crate::realtime::RealtimeThreads,
}

/// What must be drained, in order, after the sockets close: the spaces
/// hand their members' last positions over as they stop, then the
/// positions and chat writers finish what they hold.
///
/// The positions are drained before the HTTP workers stop. A pooled
/// database connection belongs to the runtime that opened it (sqlx), and
/// many are opened by HTTP handlers on the workers' runtimes: once those
/// stop, such a connection fails with "a Tokio context … is being shut
/// down", and the last positions written through it were lost.
struct Writers {
    registry: Arc<Registry>,
    positions: Worker<PositionUpdate>,
    chat: ChatStore,
}

impl Writers {
    /// Waits for the spaces to stop, then for the positions they handed
    /// over to be written.
    async fn drain_positions(&self, deadline: tokio::time::Instant) {
        while self.registry.live() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if self.registry.live() > 0 {
            tracing::warn!(spaces = self.registry.live(), "spaces still running at shutdown");
        }
        self.positions.shutdown(left(deadline)).await;
    }

    /// Everything, positions again (a no-op once done) and then chat.
    async fn drain(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        self.drain_positions(deadline).await;
        self.chat.shutdown(left(deadline)).await;
    }
}

/// What is left until `deadline`, at least a moment.
fn left(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(100))
}

fn warn_if_admin_signup_first(mode: AdminSignup) {
    if mode == AdminSignup::First {
        tracing::warn!(
            "--admin-signup first: whoever signs up first as admin becomes admin, before you if they are quicker; \
             outside a demo, create the admin with `metaverse admin create NAME` and run with --admin-signup closed"
        );
    }
}

/// Connects, migrates, seeds and binds. Must run inside an actix system.
pub async fn start(cfg: &ServeConfig) -> anyhow::Result<Started> {
    // Before touching the database: a node with a bad key must not
    // migrate a shared one.
    let key = key::for_serve(cfg.token_key.as_deref(), &cfg.db.data_dir, cfg.cluster.redis.redis_url.is_some())?;
    warn_if_admin_signup_first(cfg.admin_signup);
    let db = db::connect(&cfg.db).await?;
    db::migrate(&db).await?;
    if !cfg.no_demo {
        demo::seed_if_empty(&db).await?;
    }
    // Compute the dummy hash now, so the first sign-in with an unknown
    // name costs what every later one does.
    tokio::task::spawn_blocking(|| crate::auth::password::verify_dummy("")).await?;
    let tokens = TokenIssuer::new(&key, cfg.token_ttl).context("token key")?;
    crate::metrics::install();
    let positions = writers::positions::start(db.clone(), 4096);
    let settings = space_settings(cfg);
    let pipeline = crate::events::Pipeline::start(&db, cfg)?;
    let registry = Registry::new(settings, positions.sender(), pipeline.sink.clone());
    let realtime = crate::realtime::RealtimeThreads::start(cfg.realtime_threads);
    registry.run_spaces_on(realtime.arbiters());
    let (chat, chat_writer) = start_chat(&db, cfg, &pipeline, &registry);
    let cluster = start_cluster(cfg, &registry, &db).await?;
    let writers = Writers { registry: registry.clone(), positions, chat: chat_writer };
    let state = AppState::new(db.clone(), tokens, registry, chat, pipeline.kafka.clone(), cluster.clone(), cfg)?;
    if let Some(c) = &cluster {
        let _ = c.revoked.set(state.revoked.clone());
    }
    start_sweeps(&state, cfg);
    let ws_state = state.clone();
    let tls = crate::tls::Certificates::configured(cfg)?;
    let admin = http::listen::bind_admin(cfg, state.clone())?;
    let (server, http_addr) = http::listen::bind_http(cfg, state, tls.clone())?;
    let handle = server.handle();
    tracing::info!(%http_addr, "serving HTTP");
    let ws_port = ws_state.clone();
    let secure = tls.is_some();
    let ws = ws::WsServer::start(cfg, http_addr, ws_state, tls, realtime.clone()).await?;
    let _ = ws_port.ws_port.set(ws.addr.port());
    let _ = ws_port.ws_url.set(public_ws_url(cfg, ws.addr, secure));
    let admin_addr = admin.as_ref().map(|a| a.1);
    let admin = admin.map(|(server, _)| server);
    Ok(Started {
        http_addr,
        ws_addr: ws.addr,
        admin_addr,
        admin,
        server,
        handle,
        db,
        ws,
        pipeline,
        cluster,
        writers,
        realtime,
    })
}

/// Cluster mode, when a Redis URL is configured.
async fn start_cluster(
    cfg: &ServeConfig,
    registry: &Arc<Registry>,
    db: &DatabaseConnection,
) -> anyhow::Result<Option<Arc<crate::cluster::Cluster>>> {
    let Some(url) = &cfg.cluster.redis.redis_url else { return Ok(None) };
    let ws_url = cfg.cluster.ws_url(cfg.ws_addr)?;
    Ok(Some(crate::cluster::Cluster::start(&cfg.cluster, url, ws_url, registry.clone(), db.clone()).await?))
}

/// The tunables of live spaces, from the flags.
fn space_settings(cfg: &ServeConfig) -> SpaceSettings {
    SpaceSettings {
        resume_grace: cfg.resume_grace,
        idle_stop: cfg.space_idle,
        tick: cfg.tick,
        view: cfg.view,
        view_all_up_to: cfg.view_all_up_to as usize,
        walk: metaverse_actors::world::WalkSpeed { per_second: cfg.limits.walk_speed, burst: cfg.limits.walk_burst },
        ..SpaceSettings::default()
    }
}

/// The periodic clean-ups: limiter maps of idle users, and objects no
/// upload refers to.
fn start_sweeps(state: &AppState, cfg: &ServeConfig) {
    let quotas = state.quotas.clone();
    every_minute(move || quotas.forget_idle());
    let media = state.media.clone();
    every_minute(move || media.forget_idle());
    crate::media::sweep_every(state.media.clone(), cfg.media.media_sweep_every);
}

/// Runs `sweep` once a minute for the server's life: the per-key limiter
/// maps (guesses, quotas) forget keys whose budgets are full again, so they
/// stay small.
fn every_minute(sweep: impl Fn() + 'static) {
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            sweep();
        }
    });
}

/// The WebSocket URL `/route` hands out: the advertised one, else the
/// listener's own address. Never the request's `Host`, which the client
/// (or anyone in front of it) chooses.
fn public_ws_url(cfg: &ServeConfig, ws_addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "wss" } else { "ws" };
    match &cfg.cluster.advertised_ws_url {
        Some(url) => url.clone(),
        None if ws_addr.ip().is_unspecified() => format!("{scheme}://localhost:{}", ws_addr.port()),
        None => format!("{scheme}://{ws_addr}"),
    }
}

/// The chat writer and the chat service on top of it, with the sweep that
/// forgets idle rate-limit buckets. The writer is also returned, to be
/// drained at shutdown.
fn start_chat(
    db: &DatabaseConnection,
    cfg: &ServeConfig,
    pipeline: &crate::events::Pipeline,
    registry: &Arc<Registry>,
) -> (Arc<ChatService>, ChatStore) {
    let mut store = ChatStore::start(
        db.clone(),
        ChatWriterSettings {
            queue: cfg.chat_queue as usize,
            deadline: cfg.chat_deadline,
            ..ChatWriterSettings::default()
        },
    );
    if let Some(kafka) = &pipeline.kafka {
        store = store.with_kafka(kafka.clone());
    }
    let nz = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
    let chat_writer = store.clone();
    let limits =
        ChatLimits { rate: nz(cfg.chat_rate), burst: nz(cfg.chat_burst), max_len: cfg.chat_max_length as usize };
    let hashes = Arc::new(HashPool::new(cfg.max_concurrent_hashes));
    let chat = Arc::new(ChatService::new(db.clone(), store, pipeline.sink.clone(), registry.clone(), limits, hashes));
    let sweeper = chat.clone();
    every_minute(move || sweeper.forget_idle());
    (chat, chat_writer)
}

impl Started {
    /// Serves until `shutdown` resolves, then lets in-flight requests
    /// finish and closes the database.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()> + 'static) -> anyhow::Result<()> {
        let handle = self.handle.clone();
        let ws = self.ws;
        let cluster = self.cluster;
        let writers = Arc::new(self.writers);
        let draining = writers.clone();
        let admin = self.admin.map(|server| {
            let handle = server.handle();
            actix_rt::spawn(server);
            handle
        });
        // The stop request must run beside the server future, which is
        // what drives the stop to completion.
        let stopper = actix_rt::spawn(async move {
            shutdown.await;
            if let Some(c) = &cluster {
                // Hand the spaces over first, so a rolling restart needs no
                // manual drain and clients find them on another node.
                c.drain().await;
                if !c.drained(std::time::Duration::from_secs(10)).await {
                    tracing::warn!("some spaces were not handed over in time; their leases lapse by themselves");
                }
            }
            tracing::info!("shutting down: closing sockets, finishing in-flight requests");
            ws.shutdown();
            ws.closed(metaverse_actors::session::CLOSE_DRAIN + Duration::from_secs(1)).await;
            draining.drain_positions(tokio::time::Instant::now() + Duration::from_secs(5)).await;
            if let Some(admin) = admin {
                admin.stop(true).await;
            }
            handle.stop(true).await;
        });
        let result = self.server.await.context("HTTP server");
        stopper.abort();
        // Sockets are closed and requests done: nothing produces any more.
        writers.drain(Duration::from_secs(5)).await;
        self.pipeline.shutdown(std::time::Duration::from_secs(5)).await;
        let closed = self.db.close().await.context("closing the database");
        // Last: pooled connections opened by sessions belong to these
        // threads' runtimes, and the writers above may still use them.
        self.realtime.stop();
        closed?;
        tracing::info!("stopped");
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A server on its own thread and actix system, for tests and embedding.
pub struct Spawned {
    pub http_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    /// The operator listener, unless `--admin-on-http-port`.
    pub admin_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

pub fn spawn(cfg: ServeConfig) -> anyhow::Result<Spawned> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("metaverse-server".into()).spawn(move || {
        actix_rt::System::new().block_on(async move {
            let started = match start(&cfg).await {
                Ok(s) => s,
                Err(e) => {
                    let msg = format!("{e:#}");
                    let _ = ready_tx.send(Err(e));
                    anyhow::bail!(msg);
                }
            };
            let _ = ready_tx.send(Ok((started.http_addr, started.ws_addr, started.admin_addr)));
            started
                .serve_until(async {
                    let _ = stop_rx.await;
                })
                .await
        })
    })?;
    let (http_addr, ws_addr, admin_addr) = ready_rx.recv().context("server thread died while starting")??;
    Ok(Spawned { http_addr, ws_addr, admin_addr, stop: Some(stop_tx), thread: Some(thread) })
}

impl Spawned {
    /// Stops the server gracefully and waits for it.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
