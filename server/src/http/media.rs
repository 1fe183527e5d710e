//! `/api/v1/media`: upload (multipart), list, serve and delete files.
//! What is accepted and how it is checked is `media::inspect`; this file
//! is the HTTP side: the multipart body, its bounds, and how bytes are
//! served (types, caching, ranges, downloads).

use actix_multipart::Multipart;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use futures_util::{StreamExt, TryStreamExt};
use metaverse_schema::{chat_message::rfc3339_millis, entity::media, store::media as rows};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    error::{ApiError, ErrorBody},
    extract::AuthUser,
};
use crate::{
    auth::Role,
    media::{MediaError, NewUpload, PURPOSES, clean_name, storage::StoreError},
    state::AppState,
};

/// An upload as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaView {
    pub id: String,
    /// Where the bytes are served (no token needed).
    pub url: String,
    /// A PNG of at most 256 px a side, for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Found in the bytes, never taken from the request.
    pub content_type: String,
    /// Bytes as stored (images are encoded again, so this may differ from the upload).
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Hex SHA-256 of the stored bytes (also the `ETag`).
    pub sha256: String,
    /// `avatar`, `element`, `map` or `chat`.
    pub purpose: String,
    /// The uploaded file's name, cleaned.
    pub name: String,
    pub created_at: String,
}

impl From<media::Model> for MediaView {
    fn from(m: media::Model) -> Self {
        let a = crate::media::attachment(&m);
        Self {
            url: a.url,
            thumbnail_url: a.thumbnail_url,
            size: a.size,
            width: a.width,
            height: a.height,
            id: m.id,
            content_type: m.content_type,
            sha256: m.sha256,
            purpose: m.purpose,
            name: m.name,
            created_at: rfc3339_millis(m.created_at),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        use crate::media::inspect::Refused;
        let message = e.to_string();
        match e {
            MediaError::Refused(Refused::Unsupported(_)) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", message)
            }
            MediaError::Refused(Refused::Invalid(_)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-media", message)
            }
            MediaError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", message),
            MediaError::OverQuota(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota-exceeded", message),
            MediaError::RateLimited(wait) => ApiError::too_many(wait, message),
            MediaError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message),
            MediaError::NotFound | MediaError::Store(StoreError::NotFound) => ApiError::not_found("no such upload"),
            MediaError::Forbidden(why) => ApiError::forbidden(why),
            MediaError::InUse => ApiError::new(StatusCode::CONFLICT, "in-use", message),
            MediaError::Store(StoreError::Failed(e)) => {
                tracing::warn!(error = %e, "media store failed");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the media store is unavailable; retry")
            }
            MediaError::Db(e) => e.into(),
        }
    }
}

/// Multipart overhead allowed above `--media-max-bytes` (boundaries,
/// part headers, the `purpose` part).
const ENVELOPE: u64 = 16 * 1024;
/// Parts a request may have: `file`, `purpose`, and nothing much else.
const MAX_PARTS: usize = 4;

/// What the multipart body held.
struct Form {
    file: Option<(Option<String>, Vec<u8>)>,
    purpose: Option<String>,
}

/// Reads the multipart body: one `file` part of at most `max` bytes and an
/// optional short `purpose` part. Anything else is a 400.
async fn read_form(mut parts: Multipart, max: u64) -> Result<Form, ApiError> {
    let bad = |m: String| ApiError::bad_request("validation", m);
    let mut form = Form { file: None, purpose: None };
    let mut seen = 0;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|e| bad(format!("multipart body: {e}")))?;
        seen += 1;
        if seen > MAX_PARTS {
            return Err(bad(format!("multipart body: at most {MAX_PARTS} parts")));
        }
        let name = part.name().unwrap_or_default().to_owned();
        let limit = match name.as_str() {
            "file" if form.file.is_none() => max,
            "purpose" if form.purpose.is_none() => 32,
            "file" | "purpose" => return Err(bad(format!("multipart body: one {name:?} part only"))),
            other => return Err(bad(format!("multipart body: unknown part {other:?} (send `file` and `purpose`)"))),
        };
        let filename = part.content_disposition().and_then(|d| d.get_filename()).map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = part.try_next().await.map_err(|e| bad(format!("multipart body: {e}")))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(if name == "file" {
                    MediaError::TooLarge(max).into()
                } else {
                    ApiError::invalid("purpose", format!("must be one of {PURPOSES:?}"))
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => form.file = Some((filename, bytes)),
            _ => form.purpose = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
        }
    }
    Ok(form)
}

/// Upload a file (multipart/form-data: `file`, optional `purpose`).
#[utoipa::path(post, path = "/api/v1/media", tag = "media", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`file`: the file; `purpose`: avatar, element, map or chat (default)"),
    responses((status = 201, body = MediaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 408, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn upload(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let media = &state.media;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > media.max_bytes + ENVELOPE) {
        return Err(MediaError::TooLarge(media.max_bytes).into());
    }
    let _slot = media.admit(&caller.0.user_id).await?;
    let parts = Multipart::new(req.headers(), payload);
    let form = tokio::time::timeout(media.upload_timeout, read_form(parts, media.max_bytes))
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "the upload took too long to arrive"))??;
    let (filename, raw) = form.file.ok_or_else(|| ApiError::invalid("file", "a `file` part is required"))?;
    let purpose = form.purpose.filter(|p| !p.is_empty()).unwrap_or_else(|| "chat".to_owned());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid("purpose", format!("must be one of {PURPOSES:?}")));
    }
    let up = NewUpload { owner: caller.0.user_id, purpose, name: clean_name(filename.as_deref()), raw };
    let row = media.upload(up).await?;
    Ok(HttpResponse::Created().json(MediaView::from(row)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// The `nextCursor` of the previous page.
    pub before: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaPage {
    /// Newest first.
    pub media: Vec<MediaView>,
    /// Pass as `before` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The caller's uploads, newest first.
#[utoipa::path(get, path = "/api/v1/media", tag = "media", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = MediaPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 100"));
    }
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    if before.is_some_and(|b| b.len() > 64) {
        return Err(ApiError::invalid("before", "not a cursor of this list"));
    }
    let rows = rows::page(&state.db, &caller.0.user_id, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    let media: Vec<MediaView> =
        rows.into_iter().take(usize::try_from(limit).unwrap_or(100)).map(MediaView::from).collect();
    let next_cursor = more.then(|| media.last().map(|m| m.id.clone())).flatten();
    Ok(HttpResponse::Ok().json(MediaPage { media, next_cursor }))
}

/// Delete one of the caller's uploads (an admin may delete any).
#[utoipa::path(delete, path = "/api/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = caller.0.role == Role::Admin;
    state.media.delete(&caller.0.user_id, admin, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The bytes of an upload. Anyone with the URL may fetch it (as with chat
/// services' file links): ids are UUIDv7, with 74 random bits.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 200, description = "the file"), (status = 206, description = "the requested range"),
        (status = 304), (status = 404, body = ErrorBody), (status = 416)))]
pub async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &path, false).await
}

/// The thumbnail of an image upload (PNG).
#[utoipa::path(get, path = "/api/v1/media/{id}/thumbnail", tag = "media", params(("id" = String, Path)),
    responses((status = 200, description = "a PNG"), (status = 304), (status = 404, body = ErrorBody)))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &path, true).await
}

/// The routes under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/media", web::post().to(upload))
        .route("/media", web::get().to(list))
        .route("/media/{id}", web::get().to(file))
        .route("/media/{id}", web::head().to(file))
        .route("/media/{id}", web::delete().to(delete))
        .route("/media/{id}/thumbnail", web::get().to(thumbnail))
        .route("/media/{id}/thumbnail", web::head().to(thumbnail));
}

#[path = "media_serve.rs"]
mod serve;
use serve::serve;
