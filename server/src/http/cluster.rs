//! Where a space is served (`route`), who is in it (`presence`), and this
//! node's own view of its leases (`/cluster/node`, for operators and the
//! cluster tests). Without cluster mode the answers name this node.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::{error::ApiError, extract::AuthUser, space::find_space};
use crate::{cluster::Owner, state::AppState};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    space_id: String,
    /// The node serving the space now; `null` when none does (the node the
    /// client reaches takes it).
    node_id: Option<String>,
    /// The WebSocket URL to dial.
    url: String,
}

/// The WebSocket URL of this node: the advertised one in cluster mode,
/// else `--advertised-ws-url` or the listener's address (never the
/// request's `Host`, which a client could set to send others elsewhere).
fn own_url(state: &AppState) -> String {
    if let Some(c) = &state.cluster {
        return c.ws_url.clone();
    }
    state.ws_url.get().cloned().unwrap_or_default()
}

/// Which node serves a space, so clients dial it directly.
#[utoipa::path(get, path = "/api/v1/space/{spaceId}/route", tag = "space",
    responses((status = 200, body = Route), (status = 400, description = "no such space"), (status = 503)))]
pub async fn route(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let s = find_space(&state, &path).await?;
    let (node_id, url) = match &state.cluster {
        Some(c) => c.route(&s.id).await.map_err(unavailable)?,
        None => (Some("local".to_owned()), own_url(&state)),
    };
    Ok(HttpResponse::Ok().json(Route { space_id: s.id, node_id, url }))
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "cluster lookup failed");
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "cluster-unavailable",
        "the cluster cannot be reached; try again",
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Presence {
    space_id: String,
    node_id: Option<String>,
    users: Vec<metaverse_actors::space::Present>,
}

/// Who is in a space now (`{spaceId, nodeId, users: [{userId, username,
/// x, y, suspended}]}`), answered by the space's node from any node. Only
/// for the space's members (and its creator): live positions, private
/// areas included, are not for every signed-in stranger. In a space larger
/// than the view window it lists what the caller's socket sees (the users
/// in its window), and nobody while the caller is not in the space.
#[utoipa::path(get, path = "/api/v1/space/{spaceId}/presence", tag = "space", security(("bearer" = [])),
    responses((status = 200), (status = 400, description = "no such space"), (status = 403), (status = 503)))]
pub async fn presence(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = find_space(&state, &path).await?;
    if !state.chat.in_space(&s.id, &caller.0.user_id).await? {
        return Err(ApiError::forbidden("not a member of this space"));
    }
    if let Some(addr) = state.registry.get(&s.id) {
        let viewer = Some(caller.0.user_id.clone());
        let users = addr.send(metaverse_actors::space::Members { viewer }).await.unwrap_or_default();
        let node_id = state.cluster.as_ref().map(|c| c.node.clone()).or(Some("local".into()));
        return Ok(HttpResponse::Ok().json(Presence { space_id: s.id, node_id, users }));
    }
    let Some(c) = &state.cluster else {
        return Ok(HttpResponse::Ok().json(Presence { space_id: s.id, node_id: None, users: Vec::new() }));
    };
    let (node_id, users) = match c.locate_only(&s.id).await.map_err(unavailable)? {
        Owner::Node { id, .. } => {
            let viewer = Some(caller.0.user_id.clone());
            let users = c.relay.presence(c, &id, s.id.clone(), viewer).await.ok_or_else(|| unavailable("no answer"))?;
            (Some(id), users)
        }
        _ => (None, Vec::new()),
    };
    Ok(HttpResponse::Ok().json(Presence { space_id: s.id, node_id, users }))
}

/// This node's view: its identity, the spaces it owns, and the leases it
/// held lately with when each began and ended (wall-clock milliseconds).
pub async fn node(state: web::Data<AppState>, _: super::operator::Operator) -> HttpResponse {
    match &state.cluster {
        Some(c) => HttpResponse::Ok().json(serde_json::json!({
            "cluster": true,
            "info": c.info(),
            "tenures": c.tenures(),
            "redis": if c.redis_healthy() { "ok" } else { "unreachable" },
        })),
        None => HttpResponse::Ok().json(serde_json::json!({ "cluster": false })),
    }
}
