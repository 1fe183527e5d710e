//! Spaces: created blank or copied from a map, and the elements placed in them.

use std::collections::HashMap;

use actix_web::{HttpResponse, http::StatusCode, web};
use metaverse_actors::{Grid, Rect};
use metaverse_schema::{
    entity::{chatroom, element, space, space_element},
    now_millis,
    store::{catalog, maps, spaces},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::{
    body::Json,
    catalog::ElementView,
    error::{ApiError, ErrorBody},
    extract::AuthUser,
    input::{self, format_dimensions},
};
use crate::{auth::Role, state::AppState};

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSpaceRequest {
    #[validate(
        length(min = 1, max = 64, message = "must be 1 to 64 characters"),
        custom(function = "input::display_text")
    )]
    pub name: String,
    /// `"WxH"`; required unless `mapId` is given (then the map's size is used).
    #[serde(default)]
    pub dimensions: Option<String>,
    #[serde(default, alias = "mapid")]
    pub map_id: Option<String>,
    /// Nearby radius in tiles, 0 to 16 (default 3); 0 leaves only private areas.
    #[serde(default)]
    #[validate(range(min = 0, max = 16, message = "must be from 0 to 16"))]
    pub proximity_radius: Option<i32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSpaceResponse {
    pub space_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SpaceSummary {
    pub id: String,
    pub name: String,
    pub dimensions: String,
    pub thumbnail: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SpaceList {
    pub spaces: Vec<SpaceSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct PlacedElement {
    pub id: String,
    pub element: ElementView,
    pub x: i32,
    pub y: i32,
}

#[derive(Serialize, ToSchema)]
pub struct SpaceDetail {
    pub id: String,
    pub name: String,
    pub dimensions: String,
    #[serde(rename = "proximityRadius")]
    pub proximity_radius: i32,
    pub elements: Vec<PlacedElement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddElementRequest {
    #[serde(alias = "elementid")]
    pub element_id: String,
    #[serde(alias = "spaceid")]
    pub space_id: String,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub x: i32,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub y: i32,
}

#[derive(Serialize, ToSchema)]
pub struct IdResponse {
    pub id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteElementRequest {
    pub id: String,
}

/// Checks that an element of `e`'s size fits wholly in a `width`×`height`
/// grid at (x, y).
pub fn check_fits(grid: &Grid, e: &element::Model, x: i32, y: i32, field: &str) -> Result<(), ApiError> {
    if grid.contains_rect(Rect { x, y, width: e.width, height: e.height }) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "a {}x{} element at ({x}, {y}) does not fit in {}x{}",
                e.width,
                e.height,
                grid.width(),
                grid.height()
            ),
        ))
    }
}

/// After an element edit committed: records it, and gives a live space its
/// new collision map.
async fn refresh_live_grid(state: &AppState, space_id: &str) -> Result<(), ApiError> {
    let tick = state.registry.statics_tick();
    state.registry.mark_edited(space_id, tick);
    crate::ws::store::push_statics(&state.db, &state.registry, space_id).await?;
    state.registry.statics_changed_elsewhere(space_id);
    Ok(())
}

pub(super) async fn find_space(state: &AppState, id: &str) -> Result<space::Model, ApiError> {
    spaces::find(&state.db, id).await?.ok_or_else(|| ApiError::invalid("spaceId", "no such space"))
}

fn require_creator(s: &space::Model, caller: &AuthUser) -> Result<(), ApiError> {
    if s.creator_id == caller.0.user_id {
        Ok(())
    } else {
        Err(ApiError::forbidden("only the space's creator may do this"))
    }
}

/// Non-admins own at most `--max-spaces-per-user` spaces: each is rows
/// and, once joined, memory. Two racing creates may both pass the count;
/// the quota is a bound on abuse, not an exact ledger.
async fn within_space_quota(state: &AppState, caller: &AuthUser) -> Result<(), ApiError> {
    let max = state.quotas.max_spaces_per_user;
    if max == 0 || caller.0.role == Role::Admin {
        return Ok(());
    }
    if spaces::count_created_by(&state.db, &caller.0.user_id).await? >= u64::from(max) {
        let why = format!("you own {max} spaces, the most one account may; delete one first");
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota-exceeded", why));
    }
    Ok(())
}

/// Create a space, blank or from a map.
#[utoipa::path(post, path = "/api/v1/space", tag = "space", request_body = CreateSpaceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = CreateSpaceResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "quota-exceeded: the caller owns `--max-spaces-per-user` spaces", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateSpaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    within_space_quota(&state, &caller).await?;
    let size = body
        .dimensions
        .as_deref()
        .map(|d| input::dimensions(d, state.max_side).map_err(|e| ApiError::invalid("dimensions", e)))
        .transpose()?;
    let source = match body.map_id.as_deref() {
        Some(id) => Some(maps::find(&state.db, id).await?.ok_or_else(|| ApiError::invalid("mapId", "no such map"))?),
        None => None,
    };
    let (width, height, thumbnail) = match (&source, size) {
        (Some(m), _) => (m.width, m.height, Some(m.thumbnail.clone())),
        (None, Some((w, h))) => (w, h, None),
        (None, None) => {
            return Err(ApiError::invalid("dimensions", "give dimensions or a mapId"));
        }
    };
    let space_id = new_id();
    let now = now_millis();
    let copies = match &source {
        Some(m) => copy_map_elements(&state, &m.id, &space_id).await?,
        None => vec![],
    };
    let new_space = space::Model {
        id: space_id.clone(),
        name: body.name.trim().to_owned(),
        width,
        height,
        thumbnail,
        creator_id: caller.0.user_id.clone(),
        map_id: source.map(|m| m.id),
        created_at: now,
        proximity_radius: body.proximity_radius.unwrap_or(3),
    };
    // Every space starts with a `general` room, its creator a member.
    let general = chatroom::Model {
        id: new_id(),
        space_id: space_id.clone(),
        name: "general".into(),
        description: None,
        passcode_hash: None,
        creator_id: caller.0.user_id.clone(),
        created_at: now,
    };
    spaces::create(&state.db, new_space, &general, copies).await?;
    Ok(HttpResponse::Ok().json(CreateSpaceResponse { space_id }))
}

/// A map's placed elements, copied into a new space.
async fn copy_map_elements(
    state: &AppState,
    map_id: &str,
    space_id: &str,
) -> Result<Vec<space_element::Model>, ApiError> {
    Ok(maps::elements(&state.db, map_id)
        .await?
        .into_iter()
        .map(|me| space_element::Model {
            id: new_id(),
            space_id: space_id.to_owned(),
            element_id: me.element_id,
            x: me.x,
            y: me.y,
        })
        .collect())
}

/// Delete one of your spaces.
#[utoipa::path(delete, path = "/api/v1/space/{spaceId}", tag = "space", security(("bearer" = [])),
    params(("spaceId" = String, Path)),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = find_space(&state, &path).await?;
    require_creator(&s, &caller)?;
    spaces::delete(&state.db, &s.id).await?;
    state.registry.close(&s.id, metaverse_actors::CloseReason::SPACE_DELETED);
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// The spaces you created.
#[utoipa::path(get, path = "/api/v1/space/all", tag = "space", security(("bearer" = [])),
    responses((status = 200, body = SpaceList), (status = 403, body = ErrorBody)))]
pub async fn mine(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let spaces = spaces::created_by(&state.db, &caller.0.user_id)
        .await?
        .into_iter()
        .map(|s| SpaceSummary {
            dimensions: format_dimensions(s.width, s.height),
            id: s.id,
            name: s.name,
            thumbnail: s.thumbnail,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SpaceList { spaces }))
}

/// A space with its elements.
#[utoipa::path(get, path = "/api/v1/space/{spaceId}", tag = "space", params(("spaceId" = String, Path)),
    responses((status = 200, body = SpaceDetail), (status = 400, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let s = find_space(&state, &path).await?;
    let placed = spaces::placed(&state.db, &s.id).await?;
    let mut ids: Vec<String> = placed.iter().map(|p| p.element_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let kinds: HashMap<String, ElementView> =
        catalog::elements_by_id(&state.db, ids).await?.into_iter().map(|(id, e)| (id, ElementView::from(e))).collect();
    let elements = placed
        .into_iter()
        .filter_map(|p| {
            let element = kinds.get(&p.element_id)?.clone();
            Some(PlacedElement { id: p.id, element, x: p.x, y: p.y })
        })
        .collect();
    Ok(HttpResponse::Ok().json(SpaceDetail {
        dimensions: format_dimensions(s.width, s.height),
        proximity_radius: s.proximity_radius,
        id: s.id,
        name: s.name,
        elements,
    }))
}

/// Place an element in your space.
#[utoipa::path(post, path = "/api/v1/space/element", tag = "space", request_body = AddElementRequest,
    security(("bearer" = [])),
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_element(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<AddElementRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let s = find_space(&state, &body.space_id).await?;
    require_creator(&s, &caller)?;
    let e = catalog::find_element(&state.db, &body.element_id)
        .await?
        .ok_or_else(|| ApiError::invalid("elementId", "no such element"))?;
    check_fits(&Grid::new(s.width, s.height), &e, body.x, body.y, "x")?;
    let id = new_id();
    let placed =
        space_element::Model { id: id.clone(), space_id: s.id.clone(), element_id: e.id, x: body.x, y: body.y };
    spaces::place(&state.db, placed).await?;
    if e.is_static || e.private_area {
        refresh_live_grid(&state, &s.id).await?;
    }
    Ok(HttpResponse::Ok().json(IdResponse { id }))
}

async fn remove_element(state: &AppState, caller: &AuthUser, id: &str) -> Result<HttpResponse, ApiError> {
    let placed = spaces::find_placed(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::invalid("id", "no such element in any space"))?;
    let s = find_space(state, &placed.space_id).await?;
    require_creator(&s, caller)?;
    spaces::remove_placed(&state.db, &placed.id).await?;
    refresh_live_grid(state, &s.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// Remove a placed element (id in the body).
#[utoipa::path(delete, path = "/api/v1/space/element", tag = "space", request_body = DeleteElementRequest,
    security(("bearer" = [])),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_element_body(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<DeleteElementRequest>,
) -> Result<HttpResponse, ApiError> {
    remove_element(&state, &caller, &body.id).await
}

/// Remove a placed element (id in the path).
#[utoipa::path(delete, path = "/api/v1/space/element/{id}", tag = "space", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_element_path(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove_element(&state, &caller, &path).await
}
