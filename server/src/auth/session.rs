//! Sign-in sessions and their refresh tokens, in the database.
//!
//! A refresh token is 32 random bytes shown to the client once; only its
//! SHA-256 is stored. Each refresh consumes the token (a conditional
//! update, so two racing refreshes cannot both win) and issues its
//! successor in the same session. Presenting a consumed token again means
//! someone holds a copy: the whole session is revoked, and with it every
//! access token naming it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use metaverse_schema::{
    entity::{refresh_token, user},
    now_millis,
    store::{ConnectionTrait, DatabaseConnection, auth, users},
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{AuthError, Role, TokenIssuer};

/// What a client gets from sign-in and refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn hash_refresh(raw: &str) -> String {
    Sha256::digest(raw.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_refresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh refresh token for the session: the secret for the client and
/// the row to store (which holds only its hash).
fn new_refresh(session_id: &str, user_id: &str, refresh_ttl: std::time::Duration) -> (String, refresh_token::Model) {
    let raw = new_refresh_secret();
    let now = now_millis();
    let row = refresh_token::Model {
        id: new_id(),
        session_id: session_id.to_owned(),
        user_id: user_id.to_owned(),
        token_hash: hash_refresh(&raw),
        expires_at: now.saturating_add(i64::try_from(refresh_ttl.as_millis()).unwrap_or(i64::MAX)),
        used_at: None,
        created_at: now,
    };
    (raw, row)
}

fn pair(
    issuer: &TokenIssuer,
    u: &user::Model,
    session_id: &str,
    refresh_token: String,
) -> Result<TokenPair, AuthError> {
    let role = Role::parse(&u.role).unwrap_or(Role::User);
    let (token, expires_at) = issuer.issue(&u.id, &u.username, role, session_id)?;
    Ok(TokenPair { token, refresh_token, expires_at })
}

/// Starts a session for a user who just proved their password.
pub async fn start(
    db: &DatabaseConnection,
    issuer: &TokenIssuer,
    u: &user::Model,
    refresh_ttl: std::time::Duration,
) -> Result<TokenPair, AuthError> {
    let sid = new_id();
    let at = now_millis();
    let (refresh, row) = new_refresh(&sid, &u.id, refresh_ttl);
    auth::start_session(db, &sid, &u.id, at, row).await?;
    pair(issuer, u, &sid, refresh)
}

/// Exchanges a refresh token for a new pair, rotating it.
pub async fn refresh(
    db: &DatabaseConnection,
    issuer: &TokenIssuer,
    raw: &str,
    refresh_ttl: std::time::Duration,
) -> Result<TokenPair, AuthError> {
    let now = now_millis();
    let stored = auth::find_refresh(db, &hash_refresh(raw)).await?.ok_or(AuthError::InvalidToken)?;
    if !is_active(db, &stored.session_id).await? {
        return Err(AuthError::Revoked);
    }
    if stored.used_at.is_some() {
        revoke(db, &stored.session_id).await?;
        return Err(AuthError::Reused { session_id: stored.session_id });
    }
    if stored.expires_at <= now {
        return Err(AuthError::InvalidToken);
    }
    let u = users::find(db, &stored.user_id).await?.ok_or(AuthError::InvalidToken)?;
    let (next, row) = new_refresh(&stored.session_id, &u.id, refresh_ttl);
    if !auth::rotate_refresh(db, &stored.id, now, row).await? {
        // Another request consumed it between our read and this update.
        revoke(db, &stored.session_id).await?;
        return Err(AuthError::Reused { session_id: stored.session_id });
    }
    pair(issuer, &u, &stored.session_id, next)
}

/// Revokes the session a refresh token belongs to (sign-out with only the
/// refresh token at hand). Unknown tokens are ignored: revocation is
/// idempotent and reveals nothing.
/// Returns the session's id if this call revoked it (not if it was known
/// but already revoked), so only a real change is announced to sockets.
pub async fn revoke_by_refresh(db: &impl ConnectionTrait, raw: &str) -> Result<Option<String>, AuthError> {
    if let Some(stored) = auth::find_refresh(db, &hash_refresh(raw)).await?
        && revoke(db, &stored.session_id).await?
    {
        return Ok(Some(stored.session_id));
    }
    Ok(None)
}

/// Revokes a sign-in session; true when it was active until now.
pub async fn revoke(db: &impl ConnectionTrait, session_id: &str) -> Result<bool, AuthError> {
    Ok(auth::revoke_session(db, session_id, now_millis()).await?)
}

/// Whether the session exists and is not revoked.
pub async fn is_active(db: &impl ConnectionTrait, session_id: &str) -> Result<bool, AuthError> {
    Ok(auth::session_active(db, session_id).await?)
}

/// The caller's current role when the token's sign-in session is active and
/// belongs to the token's user; `None` otherwise (revoked, or a `sid` that
/// is someone else's).
pub async fn current_role(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
) -> Result<Option<Role>, AuthError> {
    Ok(auth::session_role(db, session_id, user_id).await?.as_deref().and_then(Role::parse))
}
