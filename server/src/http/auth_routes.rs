//! Sign-up, sign-in, token refresh and sign-out.

use actix_web::{HttpResponse, web};
use metaverse_schema::{entity::user, now_millis, store::users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::{
    body::Json,
    error::{ApiError, ErrorBody},
    extract::AuthUser,
    input,
};
use crate::{
    auth::{AuthError, Role, password, session},
    config::AdminSignup,
    state::AppState,
};

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SignupRequest {
    /// 3 to 64 printable characters, no whitespace.
    #[validate(custom(function = "input::username"))]
    pub username: String,
    /// 8 to 128 characters.
    #[validate(length(min = 8, max = 128, message = "must be 8 to 128 characters"))]
    pub password: String,
    /// `user` (default) or `admin`, case-insensitive.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[validate(email(message = "must be an email address"), length(max = 254))]
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupResponse {
    pub user_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SigninRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// PASETO v4.local access token; send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
    /// When `token` expires (RFC 3339).
    pub expires_at: String,
}

impl From<session::TokenPair> for TokenResponse {
    fn from(p: session::TokenPair) -> Self {
        Self {
            token: p.token,
            refresh_token: p.refresh_token,
            expires_at: p.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    #[serde(alias = "refreshtoken")]
    pub refresh_token: String,
}

/// Runs argon2 work through the server's one bounded pool.
async fn hashing<T: Send + 'static>(state: &AppState, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    state.hashes.run(f).await.map_err(ApiError::from)
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 200, body = SignupResponse), (status = 400, body = ErrorBody),
        (status = 503, description = "the password hashing pool is busy; retry", body = ErrorBody)))]
pub async fn signup(state: web::Data<AppState>, body: Json<SignupRequest>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let role = match body.kind.as_deref() {
        None | Some("") => Role::User,
        Some(t) => Role::parse(t).ok_or_else(|| ApiError::invalid("type", "must be user or admin"))?,
    };
    let pw = body.password.clone();
    let hash = hashing(&state, move || password::hash(&pw)).await?.map_err(ApiError::internal)?;

    // Under `first`, hold the lock from the emptiness check to the insert.
    let _guard = match (role, state.admin_signup) {
        (Role::Admin, AdminSignup::Closed) => {
            return Err(ApiError::invalid("type", "admin sign-up is closed on this server"));
        }
        (Role::Admin, AdminSignup::First) => {
            let guard = state.first_admin_lock.lock().await;
            if users::count(&state.db).await? > 0 {
                return Err(ApiError::invalid("type", "only the first account may sign up as admin"));
            }
            Some(guard)
        }
        _ => None,
    };

    let id = uuid::Uuid::now_v7().to_string();
    let account = user::Model {
        id: id.clone(),
        username: body.username,
        username_key: None,
        password_hash: hash,
        role: role.as_str().to_owned(),
        email: body.email,
        avatar_id: None,
        created_at: now_millis(),
        avatar_media_id: None,
    };
    if users::insert(&state.db, account).await? {
        Ok(HttpResponse::Ok().json(SignupResponse { user_id: id }))
    } else {
        Err(ApiError::bad_request("username-taken", "username: already taken"))
    }
}

/// Sign in with username and password.
#[utoipa::path(post, path = "/api/v1/signin", tag = "auth", request_body = SigninRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "the password hashing pool is busy; retry", body = ErrorBody)))]
pub async fn signin(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: Json<SigninRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.username.is_empty() || body.username.len() > 256 || body.password.len() > 1024 {
        return Err(ApiError::invalid("username", "missing or too long"));
    }
    // Guessing is limited per account and per client address, before any
    // argon2 work; unknown names count exactly like known ones.
    let guards = &state.chat.guards;
    let account = body.username.to_lowercase();
    let address = req.peer_addr().map(|a| a.ip());
    guards.accounts.check(&account)?;
    if let Some(ip) = &address {
        guards.addresses.check(ip)?;
    }
    let found = users::find_by_username(&state.db, &body.username).await?;
    let pw = body.password;
    let ok_user = match found {
        Some(u) => {
            let phc = u.password_hash.clone();
            hashing(&state, move || password::verify(&pw, &phc)).await?.then_some(u)
        }
        None => {
            hashing(&state, move || password::verify_dummy(&pw)).await?;
            None
        }
    };
    let Some(u) = ok_user else {
        guards.accounts.failed(&account);
        if let Some(ip) = &address {
            guards.addresses.failed(ip);
        }
        return Err(ApiError::forbidden("wrong username or password"));
    };
    let pair = session::start(&state.db, &state.tokens, &u, state.refresh_ttl).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(pair)))
}

/// Exchange a refresh token for a new token pair. The old refresh token
/// stops working; presenting it again revokes the session.
#[utoipa::path(post, path = "/api/v1/token/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 403, body = ErrorBody)))]
pub async fn refresh(
    state: web::Data<AppState>,
    crate::http::body::RawBody(body): crate::http::body::RawBody,
) -> Result<HttpResponse, ApiError> {
    // The public API answers 403 here, for a malformed body too.
    let raw = crate::http::body::decode::<RefreshRequest>(&body)
        .map_err(|_| ApiError::forbidden("invalid refresh token"))?
        .refresh_token;
    if raw.len() > 256 {
        return Err(ApiError::forbidden("invalid refresh token"));
    }
    match session::refresh(&state.db, &state.tokens, &raw, state.refresh_ttl).await {
        Ok(pair) => Ok(HttpResponse::Ok().json(TokenResponse::from(pair))),
        Err(e) => {
            if let AuthError::Reused { session_id } = &e {
                state.revoke_sockets(session_id.clone());
            }
            Err(e.into())
        }
    }
}

/// Revoke the session a refresh token belongs to, with its access tokens.
#[utoipa::path(post, path = "/api/v1/token/revoke", tag = "auth", request_body = RefreshRequest,
    responses((status = 200), (status = 400, description = "the body is not a JSON object with `refreshToken`", body = ErrorBody)))]
pub async fn revoke(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let raw = body.into_inner().refresh_token;
    if raw.len() <= 256
        && let Some(sid) = session::revoke_by_refresh(&state.db, &raw).await?
    {
        state.revoke_sockets(sid);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// Sign out: revoke the caller's session (its access and refresh tokens).
#[utoipa::path(post, path = "/api/v1/signout", tag = "auth", security(("bearer" = [])),
    responses((status = 200), (status = 403, body = ErrorBody)))]
pub async fn signout(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    if session::revoke(&state.db, &user.0.session_id).await? {
        state.revoke_sockets(user.0.session_id);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
