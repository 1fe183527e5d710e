use clap::Parser;
use metaverse_server::{
    app,
    config::{Cli, Command, ConsumeConfig},
    db, telemetry,
};

fn main() -> anyhow::Result<()> {
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
