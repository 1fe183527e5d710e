//! metaverse-bench: drives any server that speaks this server's HTTP and
//! WebSocket API (docs/PROTOCOL.md).
//!
//! `probe` measures HTTP round trips; `walk`, `connect`, `chat` and
//! `mixed` drive WebSocket clients (see `--help` of each). Every run is
//! bounded by count and time and connects only to the addresses given.

mod cli;
mod client;
mod limits;
mod metrics;
mod probe;
mod procstat;
mod progress;
mod report;
mod scenario;
mod sendlog;
mod setup;
mod stats;
mod wire;
mod wire_scan;

use std::sync::OnceLock;

use clap::Parser;

use cli::{Cli, Scenario};

static THREADS: OnceLock<usize> = OnceLock::new();

/// Worker threads of the harness's runtime.
pub fn threads() -> usize {
    *THREADS.get().unwrap_or(&1)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.part.is_some() {
        progress::hide();
    }
    let threads =
        cli.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    THREADS.get_or_init(|| threads);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    rt.block_on(run(cli))
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    // The scenario moves out; the global options stay behind.
    let scenario = std::mem::replace(&mut cli.scenario, Scenario::Probe(Default::default()));
    if cli.processes > 1 && matches!(scenario, Scenario::Probe(_) | Scenario::Connect(_)) {
        anyhow::bail!("--processes spreads walk, chat and mixed; probe and connect run in one process");
    }
    match scenario {
        Scenario::Probe(args) => probe::run(&cli.http, args).await,
        Scenario::Walk(args) => scenario::walk::run(&cli, args).await,
        Scenario::Connect(args) => scenario::connect::run(&cli, args).await,
        Scenario::Chat(args) => scenario::chat::run(&cli, args).await,
        Scenario::Mixed(args) => scenario::mixed::run(&cli, args).await,
    }
}
