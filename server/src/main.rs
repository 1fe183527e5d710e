use clap::Parser;
use metaverse_server::{
    admin, app,
    cluster::status,
    config::{Cli, ClusterOp, Command, ConsumeConfig},
    db, telemetry,
};

fn main() -> anyhow::Result<()> {
    keep_big_allocations_off_the_heap();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(cfg)) => serve(*cfg),
        Some(Command::Consume(c)) => {
            let ConsumeConfig { db: db_cfg, log, kafka, consumer } = *c;
            telemetry::init(&log)?;
            let kafka = metaverse_server::events::kafka_settings(&kafka)?
                .ok_or_else(|| anyhow::anyhow!("`consume` needs --kafka-brokers (or KAFKA_BROKERS)"))?;
            let settings = metaverse_server::events::consumer_settings(kafka, &consumer)?;
            actix_rt::System::new().block_on(async move {
                let conn = db::connect(&db_cfg).await?;
                db::migrate(&conn).await?;
                metaverse_server::metrics::install();
                let running = metaverse_actors::pipeline::consumer::Consumer::start(conn.clone(), settings);
                app::shutdown_signal().await;
                tracing::info!("stopping the consumer");
                running.shutdown().await;
                conn.close().await?;
                Ok(())
            })
        }
        Some(Command::Cluster { op, redis }) => {
            let url = redis.redis_url.ok_or_else(|| anyhow::anyhow!("`cluster` needs --redis-url (or REDIS_URL)"))?;
            tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async move {
                let client = metaverse_server::cluster::connect(&url, std::time::Duration::from_secs(5)).await?;
                let prefix = &redis.redis_prefix;
                match op {
                    ClusterOp::Status { json } => {
                        let nodes = status::read_nodes(&client, prefix).await?;
                        if json {
                            println!("{}", serde_json::to_string_pretty(&nodes)?);
                        } else {
                            print!("{}", status::render(&nodes));
                        }
                    }
                    ClusterOp::Drain { node, wait } => {
                        let wait = (!wait.is_zero()).then_some(wait);
                        println!("{}", status::drain(&client, prefix, &node, wait).await?);
                    }
                }
                Ok(())
            })
        }
        Some(Command::Admin { op }) => admin::run(op),
        Some(Command::Migrate { db: db_cfg, log }) => {
            telemetry::init(&log)?;
            actix_rt::System::new().block_on(async move {
                let conn = db::connect(&db_cfg).await?;
                db::migrate(&conn).await?;
                tracing::info!("migrations applied");
                conn.close().await?;
                Ok(())
            })
        }
    }
}

fn serve(cfg: metaverse_server::config::ServeConfig) -> anyhow::Result<()> {
    telemetry::init(&cfg.log)?;
    actix_rt::System::new().block_on(async move {
        let started = app::start(&cfg).await?;
        started.serve_until(app::shutdown_signal()).await
    })
}

/// Each argon2 hash allocates 19 MiB. glibc raises its mmap threshold after
/// such a block is freed, so later ones came from per-thread heaps and were
/// never given back: 80 sign-ins left a 1.2 GB RSS. A fixed 1 MiB threshold
/// keeps big blocks mmapped, returned to the kernel on free.
fn keep_big_allocations_off_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
