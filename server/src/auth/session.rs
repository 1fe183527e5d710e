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
    entity::{auth_session, refresh_token, user},
    now_millis,
};
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
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

async fn insert_refresh(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
    refresh_ttl: std::time::Duration,
) -> Result<String, AuthError> {
    let raw = new_refresh_secret();
    let now = now_millis();
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        id: Set(new_id()),
        session_id: Set(session_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        token_hash: Set(hash_refresh(&raw)),
        expires_at: Set(now + refresh_ttl.as_millis() as i64),
        used_at: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(raw)
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
    let txn = db.begin().await?;
    auth_session::Entity::insert(auth_session::ActiveModel {
        id: Set(sid.clone()),
        user_id: Set(u.id.clone()),
        created_at: Set(now_millis()),
        revoked_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    let refresh = insert_refresh(&txn, &sid, &u.id, refresh_ttl).await?;
    txn.commit().await?;
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
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_refresh(raw)))
        .one(db)
        .await?
        .ok_or(AuthError::InvalidToken)?;
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
    let u = user::Entity::find_by_id(stored.user_id.clone()).one(db).await?.ok_or(AuthError::InvalidToken)?;
    let txn = db.begin().await?;
    let consumed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id.clone()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if consumed.rows_affected != 1 {
        // Another request consumed it between our read and this update.
        txn.rollback().await?;
        revoke(db, &stored.session_id).await?;
        return Err(AuthError::Reused { session_id: stored.session_id });
    }
    let next = insert_refresh(&txn, &stored.session_id, &u.id, refresh_ttl).await?;
    txn.commit().await?;
    pair(issuer, &u, &stored.session_id, next)
}

/// Revokes the session a refresh token belongs to (sign-out with only the
/// refresh token at hand). Unknown tokens are ignored: revocation is
/// idempotent and reveals nothing.
/// Returns the revoked session's id, if the token was known.
pub async fn revoke_by_refresh(db: &impl ConnectionTrait, raw: &str) -> Result<Option<String>, AuthError> {
    if let Some(stored) =
        refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(hash_refresh(raw))).one(db).await?
    {
        revoke(db, &stored.session_id).await?;
        return Ok(Some(stored.session_id));
    }
    Ok(None)
}

pub async fn revoke(db: &impl ConnectionTrait, session_id: &str) -> Result<(), AuthError> {
    auth_session::Entity::update_many()
        .col_expr(auth_session::Column::RevokedAt, Expr::value(now_millis()))
        .filter(auth_session::Column::Id.eq(session_id))
        .filter(auth_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Whether the session exists and is not revoked.
pub async fn is_active(db: &impl ConnectionTrait, session_id: &str) -> Result<bool, AuthError> {
    Ok(auth_session::Entity::find_by_id(session_id.to_owned()).one(db).await?.is_some_and(|s| s.revoked_at.is_none()))
}
