//! Liveness and readiness, outside `/api/v1` for load balancers.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers; 503 when it does not.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200), (status = 503)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
