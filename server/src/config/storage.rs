//! Where data lives: the database and the data directory.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// Directory for the SQLite file and the generated token key.
    #[arg(long, env = "METAVERSE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database to use instead of `<data-dir>/metaverse.db`: a `sqlite:` or
    /// `postgres:` URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Upper bound of pooled database connections.
    #[arg(long, env = "METAVERSE_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}
