//! Chatrooms over HTTP: listing, creating, joining, editing and deleting
//! rooms, and their history and sending.

use std::collections::HashMap;

use actix_web::{HttpResponse, http::StatusCode, web};
use metaverse_schema::{
    entity::chatroom,
    now_millis,
    store::{
        chatrooms::{self, RoomChanges},
        spaces,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{
    body::{Json, decode},
    error::{ApiError, ErrorBody},
    extract::AuthUser,
    input,
    space::find_space,
};
use crate::{
    chat::{ChatError, MessageView, Outgoing, check_meta},
    state::AppState,
};

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Invalid(m) => ApiError::bad_request("validation", m),
            ChatError::UnknownRoom => ApiError::invalid("chatroomId", "no such chatroom"),
            ChatError::Forbidden(m) => ApiError::forbidden(m),
            ChatError::RateLimited => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", e.to_string()),
            ChatError::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "chat-unavailable", e.to_string()),
            ChatError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            ChatError::TooManyAttempts(wait) => ApiError::too_many(wait, e.to_string()),
            ChatError::Db(e) => e.into(),
        }
    }
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ChatroomView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub space_id: String,
    pub creator_id: String,
    pub has_passcode: bool,
    pub member_count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ChatroomList {
    pub chatrooms: Vec<ChatroomView>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatroomResponse {
    pub chatroom: ChatroomView,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatroom {
    #[validate(
        length(min = 1, max = 64, message = "must be 1 to 64 characters"),
        custom(function = "input::display_text")
    )]
    pub name: String,
    #[serde(alias = "roomid", alias = "roomId", alias = "spaceid")]
    pub space_id: String,
    #[validate(length(max = 500, message = "must be at most 500 characters"), custom(function = "input::description"))]
    #[serde(default)]
    pub description: Option<String>,
    /// At least 4 characters: shorter ones fall to guessing in seconds.
    #[validate(length(min = 4, max = 128, message = "must be 4 to 128 characters"))]
    #[serde(default)]
    pub passcode: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct JoinChatroom {
    #[serde(default)]
    pub passcode: Option<String>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
pub struct UpdateChatroom {
    #[validate(
        length(min = 1, max = 64, message = "must be 1 to 64 characters"),
        custom(function = "input::display_text")
    )]
    #[serde(default)]
    pub name: Option<String>,
    #[validate(length(max = 500, message = "must be at most 500 characters"), custom(function = "input::description"))]
    #[serde(default)]
    pub description: Option<String>,
    /// A new passcode; `""` removes it.
    #[validate(custom(function = "new_passcode"))]
    #[serde(default)]
    pub passcode: Option<String>,
}

/// `""` (no passcode) or 4 to 128 characters.
fn new_passcode(p: &str) -> Result<(), validator::ValidationError> {
    match p.chars().count() {
        0 | 4..=128 => Ok(()),
        _ => {
            Err(validator::ValidationError::new("length").with_message("must be 4 to 128 characters, or empty".into()))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// `nextCursor` of the previous page.
    pub before: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    /// The text; with an attachment, an optional caption.
    #[serde(default)]
    pub content: String,
    /// `text` (default), `emoji`, or `image`/`file` with `mediaId`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default, alias = "clientid")]
    pub client_id: Option<String>,
    /// One of the caller's uploads (`POST /api/v1/media`) to attach.
    #[serde(default, alias = "mediaid")]
    pub media_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SentMessage {
    pub message: MessageView,
}

async fn counts(state: &AppState, ids: Vec<String>) -> Result<HashMap<String, u64>, ApiError> {
    Ok(chatrooms::member_counts(&state.db, ids).await?)
}

fn view(r: chatroom::Model, member_count: u64) -> ChatroomView {
    ChatroomView {
        has_passcode: r.passcode_hash.is_some(),
        id: r.id,
        name: r.name,
        description: r.description,
        space_id: r.space_id,
        creator_id: r.creator_id,
        member_count,
    }
}

async fn view_one(state: &AppState, r: chatroom::Model) -> Result<ChatroomView, ApiError> {
    let n = counts(state, vec![r.id.clone()]).await?.get(&r.id).copied().unwrap_or(0);
    Ok(view(r, n))
}

async fn hash_passcode(state: &AppState, p: String) -> Result<String, ApiError> {
    state.hashes.hash(p).await?.map_err(ApiError::internal)
}

/// The rooms of a space.
#[utoipa::path(get, path = "/api/v1/chatroom/space/{spaceId}", tag = "chat", security(("bearer" = [])),
    params(("spaceId" = String, Path)),
    responses((status = 200, body = ChatroomList), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let space_id = find_space(&state, &path).await?.id;
    let rooms = chatrooms::in_space(&state.db, &space_id).await?;
    let n = counts(&state, rooms.iter().map(|r| r.id.clone()).collect()).await?;
    let chatrooms = rooms
        .into_iter()
        .map(|r| {
            let c = n.get(&r.id).copied().unwrap_or(0);
            view(r, c)
        })
        .collect();
    Ok(HttpResponse::Ok().json(ChatroomList { chatrooms }))
}

/// Create a room in a space you are a member of; you join it.
#[utoipa::path(post, path = "/api/v1/chatroom/create", tag = "chat", request_body = CreateChatroom,
    security(("bearer" = [])),
    responses((status = 201, body = ChatroomResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "the passcode hashing pool is busy; retry", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateChatroom>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    find_space(&state, &body.space_id).await?;
    if !state.chat.in_space(&body.space_id, &caller.0.user_id).await? {
        return Err(ApiError::forbidden("not a member of this space"));
    }
    let passcode_hash = match body.passcode {
        Some(p) => Some(hash_passcode(&state, p).await?),
        None => None,
    };
    let now = now_millis();
    let room = chatroom::Model {
        id: uuid::Uuid::now_v7().to_string(),
        space_id: body.space_id,
        name: body.name.trim().to_owned(),
        description: body.description,
        passcode_hash,
        creator_id: caller.0.user_id.clone(),
        created_at: now,
    };
    chatrooms::create(&state.db, &room).await?;
    Ok(HttpResponse::Created().json(ChatroomResponse { chatroom: view(room, 1) }))
}

/// Join a room (with its passcode, if it has one).
#[utoipa::path(post, path = "/api/v1/chatroom/join/{id}", tag = "chat", request_body(content = JoinChatroom, description = "optional"),
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ChatroomResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "too many wrong passcodes", body = ErrorBody), (status = 503, description = "the passcode hashing pool is busy; retry", body = ErrorBody)))]
pub async fn join(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    crate::http::body::RawBody(body): crate::http::body::RawBody,
) -> Result<HttpResponse, ApiError> {
    let body: JoinChatroom =
        if body.iter().all(u8::is_ascii_whitespace) { JoinChatroom::default() } else { decode(&body)? };
    let room = state.chat.room(&path).await?;
    state.chat.join(&room, &caller.0.user_id, &caller.0.username, body.passcode).await?;
    Ok(HttpResponse::Ok().json(ChatroomResponse { chatroom: view_one(&state, room).await? }))
}

async fn managed_room(state: &AppState, caller: &AuthUser, id: &str) -> Result<chatroom::Model, ApiError> {
    let room = state.chat.room(id).await?;
    if room.creator_id == caller.0.user_id {
        return Ok(room);
    }
    let space_creator =
        spaces::find(&state.db, &room.space_id).await?.is_some_and(|s| s.creator_id == caller.0.user_id);
    if space_creator {
        Ok(room)
    } else {
        Err(ApiError::forbidden("only the room's or the space's creator may do this"))
    }
}

/// Rename a room, change its description or passcode.
#[utoipa::path(put, path = "/api/v1/chatroom/update/{id}", tag = "chat", request_body = UpdateChatroom,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ChatroomResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "the passcode hashing pool is busy; retry", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    body: Json<UpdateChatroom>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let room = managed_room(&state, &caller, &path).await?;
    let passcode_hash = match body.passcode {
        Some(p) if p.is_empty() => Some(None),
        Some(p) => Some(Some(hash_passcode(&state, p).await?)),
        None => None,
    };
    let changes =
        RoomChanges { name: body.name.map(|n| n.trim().to_owned()), description: body.description, passcode_hash };
    chatrooms::update(&state.db, &room.id, changes).await?;
    let room = state.chat.room(&room.id).await?;
    Ok(HttpResponse::Ok().json(ChatroomResponse { chatroom: view_one(&state, room).await? }))
}

/// Delete a room with its history.
#[utoipa::path(delete, path = "/api/v1/chatroom/delete/{id}", tag = "chat", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room = managed_room(&state, &caller, &path).await?;
    chatrooms::delete(&state.db, &room.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

async fn require_member(state: &AppState, caller: &AuthUser, id: &str) -> Result<chatroom::Model, ApiError> {
    let room = state.chat.room(id).await?;
    if !state.chat.is_member(&room.id, &caller.0.user_id).await? {
        return Err(ApiError::forbidden("not a member of this chatroom"));
    }
    Ok(room)
}

/// History, newest first.
#[utoipa::path(get, path = "/api/v1/chatroom/{id}/messages", tag = "chat", params(("id" = String, Path), HistoryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn messages(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = match query.limit.as_deref() {
        None | Some("") => 50,
        Some(l) => l
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 100"))?,
    };
    let room = require_member(&state, &caller, &path).await?;
    let (messages, next_cursor) =
        state.chat.history(&room.id, query.before.as_deref().filter(|b| !b.is_empty()), limit).await?;
    Ok(HttpResponse::Ok().json(HistoryPage { messages, next_cursor }))
}

/// Post a message; it is durable before this answers, and delivered live.
#[utoipa::path(post, path = "/api/v1/chatroom/{id}/send", tag = "chat", request_body = SendMessage,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = SentMessage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn send(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind = check_meta(body.kind.as_deref(), body.client_id.as_deref(), body.media_id.as_deref())?;
    let room = require_member(&state, &caller, &path).await?;
    let message = state
        .chat
        .send(Outgoing {
            room: &room,
            user_id: &caller.0.user_id,
            username: &caller.0.username,
            content: body.content,
            kind,
            client_id: body.client_id,
            media_id: body.media_id,
        })
        .await?;
    Ok(HttpResponse::Created().json(SentMessage { message }))
}
