//! A user's avatar choice, and everyone's at once for clients drawing a space.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use metaverse_schema::store::{catalog, media, users};
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
    /// A catalogue avatar (`GET /avatars`).
    #[serde(default, alias = "avatarid")]
    pub avatar_id: Option<String>,
    /// Or one of the caller's own image uploads.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
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
    /// The avatar's image: the catalogue avatar's, or the user's own upload.
    pub image_url: Option<String>,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/user/me", tag = "user", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 403, body = ErrorBody)))]
pub async fn me(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let u = users::find(&state.db, &caller.0.user_id)
        .await?
        .ok_or_else(|| ApiError::forbidden("account no longer exists"))?;
    let image_url = match (&u.avatar_media_id, &u.avatar_id) {
        (Some(m), _) => Some(crate::media::url(m)),
        (None, Some(a)) => catalog::avatar_images(&state.db, vec![a.clone()]).await?.remove(a),
        (None, None) => None,
    };
    let c = caller.0;
    let role = c.role.as_str().to_owned();
    Ok(HttpResponse::Ok().json(Me {
        user_id: c.user_id,
        username: c.username,
        role,
        avatar_id: u.avatar_id,
        image_url,
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
    let (db, user) = (&state.db, &caller.0.user_id);
    let set = match body.into_inner() {
        MetadataRequest { avatar_id: Some(avatar_id), media_id: None } => {
            if !catalog::avatar_exists(db, &avatar_id).await? {
                return Err(ApiError::invalid("avatarId", "no such avatar"));
            }
            users::set_avatar(db, user, &avatar_id).await?.then(|| serde_json::json!({ "avatarId": avatar_id }))
        }
        MetadataRequest { avatar_id: None, media_id: Some(media_id) } => {
            let upload = media::find(db, &media_id)
                .await?
                .filter(|m| m.owner_id == *user && m.width.is_some())
                .ok_or_else(|| ApiError::invalid("mediaId", "not one of your image uploads"))?;
            let image_url = crate::media::url(&upload.id);
            users::set_avatar_media(db, user, &upload.id)
                .await?
                .then(|| serde_json::json!({ "avatarId": null, "mediaId": upload.id, "imageUrl": image_url }))
        }
        _ => return Err(ApiError::invalid("avatarId", "give avatarId or mediaId (one of them)")),
    };
    let body = set.ok_or_else(|| ApiError::forbidden("account no longer exists"))?;
    Ok(HttpResponse::Ok().json(body))
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
            // An upload as avatar cannot be deleted while shown: no lookup.
            image_url: match &u.avatar_media_id {
                Some(m) => Some(crate::media::url(m)),
                None => u.avatar_id.as_ref().and_then(|a| images.get(a).cloned()),
            },
            avatar_id: u.avatar_id,
            user_id: u.id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(BulkResponse { avatars }))
}
