//! What every request handler shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

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
    pub tokens: TokenIssuer,
    pub admin_signup: AdminSignup,
    pub refresh_ttl: std::time::Duration,
    pub max_side: i32,
    /// Serialises admin sign-ups under `--admin-signup first`, so two racing
    /// first sign-ups cannot both become admin on this node.
    pub first_admin_lock: tokio::sync::Mutex<()>,
    /// Bounds concurrent argon2 work (19 MiB each), so a flood of sign-ins
    /// queues instead of exhausting memory.
    pub hash_permits: tokio::sync::Semaphore,
    /// Revoked sign-in sessions, so open WebSockets of that session close.
    pub revoked: tokio::sync::broadcast::Sender<String>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        tokens: TokenIssuer,
        registry: Arc<metaverse_actors::Registry>,
        chat: Arc<crate::chat::ChatService>,
        cfg: &ServeConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            registry,
            chat,
            tokens,
            admin_signup: cfg.admin_signup,
            refresh_ttl: cfg.refresh_ttl,
            max_side: cfg.max_space_side,
            first_admin_lock: tokio::sync::Mutex::new(()),
            hash_permits: tokio::sync::Semaphore::new(match cfg.max_concurrent_hashes {
                0 => 2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
                n => n,
            }),
            revoked: tokio::sync::broadcast::channel(1024).0,
        }))
    }
}
