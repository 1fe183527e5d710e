use clap::Parser;
use metaverse_server::{
    app,
    config::{Cli, Command, ConsumeConfig},
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
                let running = metaverse_actors::events::consumer::Consumer::start(conn.clone(), settings);
                app::shutdown_signal().await;
                tracing::info!("stopping the consumer");
                running.shutdown().await;
                conn.close().await?;
                Ok(())
            })
        }
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
