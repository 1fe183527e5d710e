//! Liveness and readiness, outside `/api/v1` for load balancers.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers; 503 when it does not. Kafka's state is reported
/// but does not fail readiness: chat falls back to the database while
/// Kafka is away, so the node still serves.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200), (status = 503)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let kafka = state.kafka.as_ref().map(
        |k| serde_json::json!({ "status": if k.is_healthy() { "ok" } else { "degraded" }, "backlog": k.backlog() }),
    );
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "ok", "kafka": kafka })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
