//! Opening a pool with the settings both engines need.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, sqlx::postgres::PgConnectOptions};

use super::nodelay;

/// Connects to `url` (a `sqlite:` or `postgres://` URL) with at most
/// `max_connections`. SQLite is switched to WAL, which lets readers run
/// beside the one writer; the setting is kept in the file, so doing it on
/// one connection is enough.
pub async fn open(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if let Some(pg) = postgres.then(|| url.parse::<PgConnectOptions>().ok()).flatten() {
        // Resolved once here, not at every connection.
        let peers = match pg.get_socket() {
            Some(_) => Vec::new(),
            None => nodelay::server_addrs(pg.get_host(), pg.get_port()),
        };
        // sqlx's hook runs for every new connection (sea-orm's own
        // `after_connect` only once, for the pool).
        opts.map_sqlx_postgres_pool_opts(move |pool| {
            let peers = peers.clone();
            pool.after_connect(move |_, _| {
                nodelay::set_on_sockets_to(&peers);
                Box::pin(async { Ok(()) })
            })
        });
    }
    let db = Database::connect(opts).await?;
    if url.starts_with("sqlite:") {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}
