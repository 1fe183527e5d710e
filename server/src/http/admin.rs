//! What only admins make: elements, avatars and maps.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use metaverse_actors::Grid;
use metaverse_schema::{
    entity::{avatar, element, map, map_element},
    now_millis,
    store::{
        catalog,
        maps::{self, NewMap},
        media,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::{
    body::Json,
    error::{ApiError, ErrorBody},
    extract::AdminUser,
    input,
    space::{IdResponse, check_fits, new_id},
};
use crate::state::AppState;

/// Most default elements one map may hold.
const MAX_MAP_ELEMENTS: usize = 20_000;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateElementRequest {
    /// An image URL; or give `mediaId` instead.
    #[serde(default, alias = "imageurl")]
    #[validate(
        length(min = 1, max = 2048, message = "must be 1 to 2048 characters"),
        custom(function = "input::image_url")
    )]
    pub image_url: Option<String>,
    /// An image upload (`POST /api/v1/media`) to show instead of `imageUrl`.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub width: i32,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub height: i32,
    #[serde(rename = "static", deserialize_with = "input::boolean")]
    #[schema(value_type = bool)]
    pub is_static: bool,
    /// People standing on it are near each other (and only each other).
    #[serde(default, alias = "privatearea")]
    pub private_area: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateElementRequest {
    /// An image URL; or give `mediaId` instead.
    #[serde(default, alias = "imageurl")]
    #[validate(
        length(min = 1, max = 2048, message = "must be 1 to 2048 characters"),
        custom(function = "input::image_url")
    )]
    pub image_url: Option<String>,
    /// An image upload (`POST /api/v1/media`) to show instead of `imageUrl`.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAvatarRequest {
    /// An image URL; or give `mediaId` instead.
    #[serde(default, alias = "imageurl")]
    #[validate(
        length(min = 1, max = 2048, message = "must be 1 to 2048 characters"),
        custom(function = "input::image_url")
    )]
    pub image_url: Option<String>,
    /// An image upload (`POST /api/v1/media`) to show instead of `imageUrl`.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
    #[validate(
        length(min = 1, max = 64, message = "must be 1 to 64 characters"),
        custom(function = "input::display_text")
    )]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvatarCreated {
    pub avatar_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultElement {
    #[serde(alias = "elementid")]
    pub element_id: String,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub x: i32,
    #[serde(deserialize_with = "input::int")]
    #[schema(value_type = i32)]
    pub y: i32,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMapRequest {
    /// An image URL; or give `mediaId` instead.
    #[serde(default)]
    #[validate(
        length(min = 1, max = 2048, message = "must be 1 to 2048 characters"),
        custom(function = "input::image_url")
    )]
    pub thumbnail: Option<String>,
    /// An image upload to show as the thumbnail instead.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
    pub dimensions: String,
    #[validate(
        length(min = 1, max = 64, message = "must be 1 to 64 characters"),
        custom(function = "input::display_text")
    )]
    pub name: String,
    #[serde(default, alias = "defaultelements", alias = "defaultElement", alias = "defaultelement")]
    pub default_elements: Vec<DefaultElement>,
}

/// The image a catalogue entry shows: a URL, or an image upload's URL
/// (which then cannot be deleted while the entry shows it).
async fn image_of(
    state: &AppState,
    url: Option<String>,
    media_id: Option<&str>,
    field: &str,
) -> Result<String, ApiError> {
    match (url, media_id) {
        (Some(_), Some(_)) => Err(ApiError::invalid(field, "give it or mediaId, not both")),
        (Some(u), None) => Ok(u),
        (None, None) => Err(ApiError::invalid(field, "required (or give mediaId)")),
        (None, Some(id)) => {
            let upload = media::find(&state.db, id)
                .await?
                .filter(|m| m.width.is_some())
                .ok_or_else(|| ApiError::invalid("mediaId", "no such image upload"))?;
            Ok(crate::media::url(&upload.id))
        }
    }
}

fn side(field: &str, v: i32, max: i32) -> Result<(), ApiError> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("must be from 1 to {max}, got {v}")))
    }
}

/// Create an element.
#[utoipa::path(post, path = "/api/v1/admin/element", tag = "admin", request_body = CreateElementRequest,
    security(("bearer" = [])),
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_element(
    state: web::Data<AppState>,
    _admin: AdminUser,
    body: Json<CreateElementRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    side("width", body.width, state.max_side)?;
    side("height", body.height, state.max_side)?;
    let image_url = image_of(&state, body.image_url, body.media_id.as_deref(), "imageUrl").await?;
    let id = new_id();
    let e = element::Model {
        id: id.clone(),
        image_url,
        width: body.width,
        height: body.height,
        is_static: body.is_static,
        private_area: body.private_area,
        created_at: now_millis(),
    };
    catalog::insert_element(&state.db, e).await?;
    Ok(HttpResponse::Ok().json(IdResponse { id }))
}

/// Change an element's image.
#[utoipa::path(put, path = "/api/v1/admin/element/{elementId}", tag = "admin", request_body = UpdateElementRequest,
    params(("elementId" = String, Path)), security(("bearer" = [])),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_element(
    state: web::Data<AppState>,
    _admin: AdminUser,
    path: web::Path<String>,
    body: Json<UpdateElementRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let image_url = image_of(&state, body.image_url, body.media_id.as_deref(), "imageUrl").await?;
    if !catalog::set_element_image(&state.db, &path, image_url).await? {
        return Err(ApiError::invalid("elementId", "no such element"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// Create an avatar.
#[utoipa::path(post, path = "/api/v1/admin/avatar", tag = "admin", request_body = CreateAvatarRequest,
    security(("bearer" = [])),
    responses((status = 200, body = AvatarCreated), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_avatar(
    state: web::Data<AppState>,
    _admin: AdminUser,
    body: Json<CreateAvatarRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let image_url = image_of(&state, body.image_url, body.media_id.as_deref(), "imageUrl").await?;
    let avatar_id = new_id();
    let a =
        avatar::Model { id: avatar_id.clone(), name: body.name.trim().to_owned(), image_url, created_at: now_millis() };
    catalog::insert_avatar(&state.db, a).await?;
    Ok(HttpResponse::Ok().json(AvatarCreated { avatar_id }))
}

/// Create a map with its default elements.
#[utoipa::path(post, path = "/api/v1/admin/map", tag = "admin", request_body = CreateMapRequest,
    security(("bearer" = [])),
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_map(
    state: web::Data<AppState>,
    _admin: AdminUser,
    body: Json<CreateMapRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let (width, height) =
        input::dimensions(&body.dimensions, state.max_side).map_err(|e| ApiError::invalid("dimensions", e))?;
    let thumbnail = image_of(&state, body.thumbnail, body.media_id.as_deref(), "thumbnail").await?;
    if body.default_elements.len() > MAX_MAP_ELEMENTS {
        return Err(ApiError::invalid("defaultElements", format!("at most {MAX_MAP_ELEMENTS} elements")));
    }
    let mut ids: Vec<String> = body.default_elements.iter().map(|d| d.element_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let kinds: HashMap<String, element::Model> = catalog::elements_by_id(&state.db, ids).await?;
    let grid = Grid::new(width, height);
    let map_id = new_id();
    let mut rows = Vec::with_capacity(body.default_elements.len());
    for (i, d) in body.default_elements.into_iter().enumerate() {
        let field = format!("defaultElements[{i}]");
        let e = kinds
            .get(&d.element_id)
            .ok_or_else(|| ApiError::invalid(&format!("{field}.elementId"), "no such element"))?;
        check_fits(&grid, e, d.x, d.y, &field)?;
        rows.push(map_element::Model {
            id: new_id(),
            map_id: map_id.clone(),
            element_id: d.element_id,
            x: d.x,
            y: d.y,
        });
    }
    let map = map::Model {
        id: map_id.clone(),
        name: body.name.trim().to_owned(),
        width,
        height,
        thumbnail,
        created_at: now_millis(),
    };
    maps::create(&state.db, NewMap { map, elements: rows }).await?;
    Ok(HttpResponse::Ok().json(IdResponse { id: map_id }))
}
