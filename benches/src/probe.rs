//! `probe`: sequential HTTP requests to one path, latency percentiles.

use std::time::{Duration, Instant};

use crate::{cli::ProbeArgs, stats};

pub async fn run(base: &str, args: ProbeArgs) -> anyhow::Result<()> {
    let body = args.json.map(|j| serde_json::from_str::<serde_json::Value>(&j)).transpose()?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let url = format!("{}{}", base.trim_end_matches('/'), args.path);
    let mut samples = Vec::with_capacity(args.requests as usize);
    let mut errors = 0u32;
    let started = Instant::now();
    for _ in 0..args.requests {
        let mut req = match &body {
            Some(b) => client.post(&url).json(b),
            None => client.get(&url),
        };
        if let Some(t) = &args.token {
            req = req.bearer_auth(t);
        }
        let t = Instant::now();
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await?;
                samples.push(t.elapsed());
            }
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed();
    let s = stats::Summary::of(&mut samples);
    let method = if body.is_some() { "POST" } else { "GET" };
    println!("{method} {url}: {} requests in {elapsed:.2?}, {errors} errors", args.requests);
    println!("{s}");
    Ok(())
}
