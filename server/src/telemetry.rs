//! Structured logs with `tracing`: human-readable by default, JSON with
//! `--log-format json`.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogConfig, LogFormat};

pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&cfg.log).map_err(|e| anyhow::anyhow!("--log {:?}: {e}", cfg.log))?;
    let builder = fmt().with_env_filter(filter);
    let result = match cfg.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
