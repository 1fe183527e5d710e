//! A user's avatar choice, and everyone's at once for clients drawing a space.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use metaverse_schema::store::{catalog, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    body::Json,
    error::{ApiError, ErrorBody},
    extract::AuthUser,
    input,
};
use crate::state::AppState;

/// Most ids one bulk request may ask for.
const MAX_BULK_IDS: usize = 200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRequest {
    #[serde(alias = "avatarid")]
    pub avatar_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BulkQuery {
    /// User ids as `[a,b]` or `a,b`.
    pub ids: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAvatar {
    pub user_id: String,
    pub avatar_id: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResponse {
    pub avatars: Vec<UserAvatar>,
}

/// Who the token belongs to, so a client can show what its role allows
/// (the role as it is now, not as it was when the token was made).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user_id: String,
    pub username: String,
    /// `user` or `admin`.
    pub role: String,
    pub avatar_id: Option<String>,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/user/me", tag = "user", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 403, body = ErrorBody)))]
pub async fn me(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let avatar_id = users::avatar_of(&state.db, &caller.0.user_id).await?;
    let c = caller.0;
    Ok(HttpResponse::Ok().json(Me {
        user_id: c.user_id,
        username: c.username,
        role: c.role.as_str().to_owned(),
        avatar_id,
    }))
}

/// Choose your avatar.
#[utoipa::path(post, path = "/api/v1/user/metadata", tag = "user", request_body = MetadataRequest,
    security(("bearer" = [])),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_metadata(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<MetadataRequest>,
) -> Result<HttpResponse, ApiError> {
    let avatar_id = body.into_inner().avatar_id;
    if !catalog::avatar_exists(&state.db, &avatar_id).await? {
        return Err(ApiError::invalid("avatarId", "no such avatar"));
    }
    if !users::set_avatar(&state.db, &caller.0.user_id, &avatar_id).await? {
        return Err(ApiError::forbidden("account no longer exists"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "avatarId": avatar_id })))
}

/// Avatars of many users at once.
#[utoipa::path(get, path = "/api/v1/user/metadata/bulk", tag = "user", params(BulkQuery),
    responses((status = 200, body = BulkResponse), (status = 400, body = ErrorBody)))]
pub async fn bulk_metadata(state: web::Data<AppState>, query: web::Query<BulkQuery>) -> Result<HttpResponse, ApiError> {
    let ids = input::id_list(&query.ids, MAX_BULK_IDS).map_err(|e| ApiError::invalid("ids", e))?;
    if ids.is_empty() {
        return Ok(HttpResponse::Ok().json(BulkResponse { avatars: vec![] }));
    }
    let users = users::by_ids(&state.db, ids).await?;
    let avatar_ids: Vec<String> = users.iter().filter_map(|u| u.avatar_id.clone()).collect();
    let images: HashMap<String, String> = catalog::avatar_images(&state.db, avatar_ids).await?;
    let avatars = users
        .into_iter()
        .map(|u| UserAvatar {
            image_url: u.avatar_id.as_ref().and_then(|a| images.get(a).cloned()),
            avatar_id: u.avatar_id,
            user_id: u.id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(BulkResponse { avatars }))
}
