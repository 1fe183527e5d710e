use clap::Parser;
use metaverse_server::{
    app,
    config::{Cli, Command},
    db, telemetry,
};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(cfg)) => serve(*cfg),
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
