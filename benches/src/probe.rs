//! `probe`: HTTP requests to one path (a GET, a JSON POST, or a multipart
//! upload), one after another or `--concurrency` at once; latency
//! percentiles and throughput.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{cli::ProbeArgs, stats};

/// What each request sends.
enum Body {
    None,
    Json(serde_json::Value),
    File { name: String, bytes: Vec<u8> },
}

impl Body {
    fn request(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        match self {
            Body::None => client.get(url),
            Body::Json(b) => client.post(url).json(b),
            Body::File { name, bytes } => {
                let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone());
                client.post(url).multipart(reqwest::multipart::Form::new().part("file", part))
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Body::File { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }
}

pub async fn run(base: &str, args: ProbeArgs) -> anyhow::Result<()> {
    let body = match (&args.json, &args.upload) {
        (Some(j), _) => Body::Json(serde_json::from_str(j)?),
        (None, Some(path)) => Body::File {
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes: std::fs::read(path)?,
        },
        (None, None) => Body::None,
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let url = format!("{}{}", base.trim_end_matches('/'), args.path);
    let shared = Arc::new((client, url.clone(), body, args.token.clone()));
    let per_worker = args.requests.div_ceil(args.concurrency);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let shared = shared.clone();
            let n = per_worker.min(args.requests.saturating_sub(w * per_worker));
            tokio::spawn(async move { worker(&shared.0, &shared.1, &shared.2, shared.3.as_deref(), n).await })
        })
        .collect();
    let (mut samples, mut errors) = (Vec::new(), 0u32);
    for w in workers {
        let (s, e) = w.await?;
        samples.extend(s);
        errors += e;
    }
    let elapsed = started.elapsed();
    let ok = samples.len();
    let s = stats::Summary::of(&mut samples);
    let method = if matches!(shared.2, Body::None) { "GET" } else { "POST" };
    println!(
        "{method} {url}: {} requests in {elapsed:.2?} ({} at once), {errors} errors",
        args.requests, args.concurrency
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    #[allow(clippy::cast_precision_loss)] // display only
    let (rate, mbps) = (ok as f64 / secs, (ok * shared.2.bytes()) as f64 / secs / 1_048_576.0);
    if shared.2.bytes() > 0 {
        println!("throughput: {rate:.1} requests/s, {mbps:.2} MiB/s of uploaded bytes");
    } else {
        println!("throughput: {rate:.1} requests/s");
    }
    println!("{s}");
    Ok(())
}

async fn worker(client: &reqwest::Client, url: &str, body: &Body, token: Option<&str>, n: u32) -> (Vec<Duration>, u32) {
    let (mut samples, mut errors) = (Vec::with_capacity(n as usize), 0);
    for _ in 0..n {
        let mut req = body.request(client, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let t = Instant::now();
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                samples.push(t.elapsed());
            }
            Ok(r) => {
                errors += 1;
                if errors == 1 {
                    eprintln!("first error: {} {}", r.status(), r.text().await.unwrap_or_default());
                }
            }
            Err(_) => errors += 1,
        }
    }
    (samples, errors)
}
