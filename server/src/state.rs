//! What every request handler shares.

use std::sync::Arc;

use metaverse_schema::store::DatabaseConnection;

use crate::{
    auth::TokenIssuer,
    config::{AdminSignup, ServeConfig},
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: DatabaseConnection,
    /// Live spaces, so HTTP changes reach them.
    pub registry: Arc<metaverse_actors::Registry>,
    pub chat: Arc<crate::chat::ChatService>,
    /// The Kafka writer, when Kafka is configured (for readiness).
    pub kafka: Option<metaverse_actors::writers::events::EventWriterHandle>,
    pub tokens: TokenIssuer,
    pub admin_signup: AdminSignup,
    pub refresh_ttl: std::time::Duration,
    pub max_side: i32,
    /// Serialises admin sign-ups under `--admin-signup first`, so two racing
    /// first sign-ups cannot both become admin on this node.
    pub first_admin_lock: tokio::sync::Mutex<()>,
    /// Bounds concurrent argon2 work (19 MiB each), so a flood of sign-ins
    /// queues instead of exhausting memory.
    /// The one argon2 pool (shared with the chat service's passcode checks).
    pub hashes: Arc<crate::auth::hashing::HashPool>,
    /// Revoked sign-in sessions, so open WebSockets of that session close.
    pub revoked: tokio::sync::broadcast::Sender<String>,
    /// ICE servers for `/api/v1/rtc/config`.
    pub ice: crate::http::rtc::IceConfig,
    /// The WebSocket listener's port, once bound (the web client is told).
    pub ws_port: std::sync::OnceLock<u16>,
    /// The WebSocket URL `/route` hands out on a single node, once bound.
    pub ws_url: std::sync::OnceLock<String>,
    /// The WebSocket core, for `/ws` on the HTTP port; set once it runs
    /// (weak: the core holds this state).
    pub ws: std::sync::OnceLock<std::sync::Weak<crate::ws::WsContext>>,
    /// Cluster mode (`--redis-url`): leases, routing and relay.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Per-user quotas: spaces owned, spaces woken.
    pub quotas: Arc<crate::quota::Quotas>,
    /// Uploads and their store.
    pub media: crate::media::Media,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The WebSocket core, once it runs and until it stops.
    pub fn ws_context(&self) -> Option<std::sync::Arc<crate::ws::WsContext>> {
        self.ws.get().and_then(std::sync::Weak::upgrade)
    }

    /// Closes the sign-in session's sockets, on every node.
    pub fn revoke_sockets(&self, session_id: String) {
        if let Some(c) = self.cluster.clone() {
            let sid = session_id.clone();
            actix_rt::spawn(async move { c.announce_revoked(&sid).await });
        }
        let _ = self.revoked.send(session_id);
    }

    pub fn new(
        db: DatabaseConnection,
        tokens: TokenIssuer,
        registry: Arc<metaverse_actors::Registry>,
        chat: Arc<crate::chat::ChatService>,
        kafka: Option<metaverse_actors::writers::events::EventWriterHandle>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
        cfg: &ServeConfig,
    ) -> anyhow::Result<Self> {
        let ice = crate::http::rtc::IceConfig::new(&cfg.ice_servers, cfg.turn_secret.clone(), cfg.turn_ttl.as_secs())
            .map_err(anyhow::Error::msg)?;
        let hashes = chat.hashes.clone();
        let objects = crate::media::storage::Objects::configured(cfg)?;
        tracing::info!(store = %objects.describe, "media uploads");
        let media = Arc::new(crate::media::MediaService::new(db.clone(), objects, &cfg.media));
        Ok(Self(Arc::new(Inner {
            media,
            ice,
            ws_port: std::sync::OnceLock::new(),
            ws_url: std::sync::OnceLock::new(),
            ws: std::sync::OnceLock::new(),
            cluster,
            db,
            registry,
            chat,
            kafka,
            tokens,
            admin_signup: cfg.admin_signup,
            refresh_ttl: cfg.refresh_ttl,
            max_side: cfg.max_space_side,
            first_admin_lock: tokio::sync::Mutex::new(()),
            hashes,
            quotas: Arc::new(crate::quota::Quotas::new(&cfg.limits)),
            revoked: tokio::sync::broadcast::channel(1024).0,
        })))
    }
}
