//! metaverse-bench: drives any server that speaks CONTRACT.md.
//!
//! The WebSocket scenarios (`walk`, `connect`, `chat`, `mixed`) come with
//! the real-time core; `probe` measures HTTP round trips of a running
//! server, bounded by count.

mod stats;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "metaverse-bench", version, about = "Load tests for metaverse servers")]
struct Cli {
    /// Base HTTP URL of the server under test (loopback only in this workplace).
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    http: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Sequential GET requests to one path; reports latency percentiles.
    Probe {
        /// Path to request.
        #[arg(long, default_value = "/health")]
        path: String,
        /// Number of requests (bounded: at most 1,000,000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        requests: u32,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::Probe { path, requests } => probe(&cli.http, &path, requests).await,
    }
}

async fn probe(base: &str, path: &str, requests: u32) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let mut samples = Vec::with_capacity(requests as usize);
    let mut errors = 0u32;
    let started = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await?;
                samples.push(t.elapsed());
            }
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed();
    let s = stats::Summary::of(&mut samples);
    println!("GET {url}: {requests} requests in {elapsed:.2?}, {errors} errors");
    println!("{s}");
    Ok(())
}
