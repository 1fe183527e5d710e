//! Binding the public HTTP listener (plain or TLS) and the operator
//! listener, each with its middleware; the servers run once awaited.

use std::{net::SocketAddr, sync::Arc};

use actix_cors::Cors;
use actix_web::{App, HttpServer, middleware::Condition, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::{config::ServeConfig, http, state::AppState};

fn cors(origins: &[String]) -> Cors {
    let any = origins.iter().any(|o| o.trim() == "*");
    let mut cors = Cors::default().allow_any_method().allow_any_header().max_age(3600);
    if any {
        cors = cors.allow_any_origin();
    } else {
        for o in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            cors = cors.allowed_origin(o);
        }
    }
    cors
}

/// Binds the HTTP API with its middleware; the server runs once awaited.
pub fn bind_http(
    cfg: &ServeConfig,
    state: AppState,
    tls: Option<Arc<crate::tls::Certificates>>,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let cors_enabled = cfg.cors_origins.iter().any(|o| !o.trim().is_empty());
    let origins = cfg.cors_origins.clone();
    let body_limit = cfg.max_body_bytes;
    let body_timeout = cfg.limits.http_body_timeout;
    let operator = cfg.admin_on_http_port;
    let token = http::operator::AdminToken(cfg.admin_token.as_deref().map(Arc::from));

    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(token.clone())
            .configure(|c| {
                if operator {
                    http::operator::routes(c);
                }
            })
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(http::body::BodyTimeout(body_timeout))
            .app_data(http::extract::query_config())
            .app_data(http::extract::path_config())
            .configure(http::routes)
            .default_service(web::to(http::not_found))
            .wrap(Condition::new(cors_enabled, cors(&origins)))
            .wrap(http::csp::default_headers())
            .wrap(TracingLogger::<http::request_log::RequestLog>::new())
    })
    .disable_signals()
    .shutdown_timeout(cfg.shutdown_timeout.as_secs().max(1));
    if cfg.http_workers > 0 {
        server = server.workers(cfg.http_workers);
    }
    let bound = match tls {
        // actix adds the HTTP ALPN protocols it serves.
        Some(certs) => server.bind_rustls_0_23(cfg.http_addr, certs.server_config(&[])),
        None => server.bind(cfg.http_addr),
    };
    let server = bound.with_context(|| format!("binding HTTP on {}", cfg.http_addr))?;
    let http_addr = *server.addrs().first().context("no bound address")?;
    let server = server.run();
    Ok((server, http_addr))
}

/// The operator listener (`/metrics`, `/cluster/*`) on `--admin-addr`;
/// `None` when those endpoints are on the HTTP port.
pub fn bind_admin(cfg: &ServeConfig, state: AppState) -> anyhow::Result<Option<(actix_web::dev::Server, SocketAddr)>> {
    if cfg.admin_on_http_port {
        return Ok(None);
    }
    let token = http::operator::AdminToken(cfg.admin_token.as_deref().map(Arc::from));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(token.clone())
            .configure(http::operator::routes)
            .default_service(web::to(http::not_found))
            .wrap(TracingLogger::<http::request_log::RequestLog>::new())
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(cfg.admin_addr)
    .with_context(|| format!("binding the operator listener on {} (--admin-addr)", cfg.admin_addr))?;
    let addr = *server.addrs().first().context("no bound address")?;
    tracing::info!(admin_addr = %addr, "serving /metrics and /cluster/* (operator endpoints)");
    Ok(Some((server.run(), addr)))
}
