//! Database connection and migrations.

use anyhow::Context;
use metaverse_schema::{
    Migrator, MigratorTrait,
    store::{DatabaseConnection, connect},
};

use crate::config::DbConfig;

/// The URL to connect to: `DATABASE_URL` when given, else the SQLite file
/// in the data directory (created if missing).
pub fn database_url(cfg: &DbConfig) -> anyhow::Result<String> {
    if let Some(url) = &cfg.database_url {
        let url = url.trim();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!("DATABASE_URL must be a sqlite: or postgres:// URL");
        }
        return Ok(url.to_owned());
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("metaverse.db");
    create_owner_only(&path)?;
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

/// Creates the empty database file readable by its owner only, before
/// SQLite would create it with the umask's mode (often world-readable:
/// password hashes and chat history inside). SQLite gives its WAL and
/// shared-memory files the database file's mode.
fn create_owner_only(path: &std::path::Path) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

pub async fn connect(cfg: &DbConfig) -> anyhow::Result<DatabaseConnection> {
    let url = database_url(cfg)?;
    connect::open(&url, cfg.db_max_connections)
        .await
        .with_context(|| format!("connecting to the database ({})", redact(&url)))
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_sqlite_file_is_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cfg = DbConfig { data_dir: dir.path().to_path_buf(), database_url: None, db_max_connections: 2 };
        let conn = connect(&cfg).await.unwrap();
        migrate(&conn).await.unwrap();
        conn.close().await.unwrap();
        for name in ["metaverse.db", "metaverse.db-wal"] {
            let Ok(meta) = std::fs::metadata(dir.path().join(name)) else { continue };
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name} is readable by others");
        }
        let db_file = std::fs::metadata(dir.path().join("metaverse.db")).unwrap();
        assert!(db_file.len() > 0, "migrations wrote into the file that was created");
    }
}
