//! The public catalogue: avatars, elements and maps that admins made.

use actix_web::{HttpResponse, web};
use metaverse_schema::{
    entity::element,
    store::{catalog, maps},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{error::ApiError, input::format_dimensions};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvatarView {
    pub id: String,
    pub image_url: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AvatarList {
    pub avatars: Vec<AvatarView>,
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ElementView {
    pub id: String,
    pub image_url: String,
    pub width: i32,
    pub height: i32,
    /// Static elements block the tiles they cover.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// Standing on it puts you in a private area.
    #[serde(rename = "privateArea")]
    pub private_area: bool,
}

impl From<element::Model> for ElementView {
    fn from(e: element::Model) -> Self {
        Self {
            id: e.id,
            image_url: e.image_url,
            width: e.width,
            height: e.height,
            is_static: e.is_static,
            private_area: e.private_area,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ElementList {
    pub elements: Vec<ElementView>,
}

#[derive(Serialize, ToSchema)]
pub struct MapView {
    pub id: String,
    pub name: String,
    /// `"WxH"` in tiles.
    pub dimensions: String,
    pub thumbnail: String,
}

#[derive(Serialize, ToSchema)]
pub struct MapList {
    pub maps: Vec<MapView>,
}

/// Every avatar.
#[utoipa::path(get, path = "/api/v1/avatars", tag = "catalog", responses((status = 200, body = AvatarList)))]
pub async fn avatars(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let avatars = catalog::avatars(&state.db)
        .await?
        .into_iter()
        .map(|a| AvatarView { id: a.id, image_url: a.image_url, name: a.name })
        .collect();
    Ok(HttpResponse::Ok().json(AvatarList { avatars }))
}

/// Every element.
#[utoipa::path(get, path = "/api/v1/elements", tag = "catalog", responses((status = 200, body = ElementList)))]
pub async fn elements(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let elements = catalog::elements(&state.db).await?.into_iter().map(ElementView::from).collect();
    Ok(HttpResponse::Ok().json(ElementList { elements }))
}

/// Every map a space can be created from.
#[utoipa::path(get, path = "/api/v1/maps", tag = "catalog", responses((status = 200, body = MapList)))]
pub async fn maps(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let maps = maps::all(&state.db)
        .await?
        .into_iter()
        .map(|m| MapView {
            dimensions: format_dimensions(m.width, m.height),
            id: m.id,
            name: m.name,
            thumbnail: m.thumbnail,
        })
        .collect();
    Ok(HttpResponse::Ok().json(MapList { maps }))
}
