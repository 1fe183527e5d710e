//! Liveness and readiness, outside `/api/v1` for load balancers.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers (and, in cluster mode, Redis, and the node is not
/// draining); 503 when not. Kafka's state is reported but does not fail
/// readiness: chat falls back to the database while Kafka is away, so the
/// node still serves.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200), (status = 503)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let kafka = state.kafka.as_ref().map(
        |k| serde_json::json!({ "status": if k.is_healthy() { "ok" } else { "degraded" }, "backlog": k.backlog() }),
    );
    let cluster = state.cluster.as_ref().map(|c| {
        serde_json::json!({
            "node": c.node,
            "redis": if c.redis_healthy() { "ok" } else { "unreachable" },
            "draining": c.is_draining(),
        })
    });
    if let Some(c) = &state.cluster
        && (c.is_draining() || !c.redis_healthy())
    {
        let status = if c.is_draining() { "draining" } else { "unavailable" };
        return HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": status, "cluster": cluster }));
    }
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok()
            .json(serde_json::json!({ "status": "ready", "database": "ok", "kafka": kafka, "cluster": cluster })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
