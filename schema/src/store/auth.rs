//! Sign-in sessions and their refresh tokens. Tokens are stored as hashes;
//! making and hashing them is the caller's business.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};

use crate::entity::{auth_session, refresh_token, user};

/// A session and its first refresh token, both or neither.
pub async fn start_session(
    db: &DatabaseConnection,
    session_id: &str,
    user_id: &str,
    at: i64,
    first: refresh_token::Model,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    auth_session::Entity::insert(auth_session::ActiveModel {
        id: Set(session_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(at),
        revoked_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    insert_refresh(&txn, first).await?;
    txn.commit().await
}

async fn insert_refresh<C: ConnectionTrait>(db: &C, t: refresh_token::Model) -> Result<(), DbErr> {
    refresh_token::Entity::insert(refresh_token::ActiveModel::from(t)).exec_without_returning(db).await?;
    Ok(())
}

/// The refresh token stored under this hash, used or not: a used one
/// presented again tells the caller the token was replayed.
pub async fn find_refresh<C: ConnectionTrait>(db: &C, token_hash: &str) -> Result<Option<refresh_token::Model>, DbErr> {
    refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(token_hash)).one(db).await
}

/// Consumes refresh token `used_id` and stores its successor, in one
/// transaction. The consume is conditional on the token being unused, so
/// of two racing refreshes one wins; the loser gets `Ok(false)` and nothing
/// is written.
pub async fn rotate_refresh(
    db: &DatabaseConnection,
    used_id: &str,
    at: i64,
    next: refresh_token::Model,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let consumed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(at))
        .filter(refresh_token::Column::Id.eq(used_id.to_owned()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if consumed.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    insert_refresh(&txn, next).await?;
    txn.commit().await?;
    Ok(true)
}

/// Revokes a session (a no-op when it already is).
pub async fn revoke_session<C: ConnectionTrait>(db: &C, session_id: &str, at: i64) -> Result<bool, DbErr> {
    let done = auth_session::Entity::update_many()
        .col_expr(auth_session::Column::RevokedAt, Expr::value(at))
        .filter(auth_session::Column::Id.eq(session_id))
        .filter(auth_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The current role of the user `session_id` belongs to, when that session
/// is active and is `user_id`'s: a token's `sid` must be its own `sub`'s
/// session, and its role claim may be stale (a demoted admin), so callers
/// take the role from here.
pub async fn session_role<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
    user_id: &str,
) -> Result<Option<String>, DbErr> {
    let Some(s) = auth_session::Entity::find_by_id(session_id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    if s.revoked_at.is_some() || s.user_id != user_id {
        return Ok(None);
    }
    Ok(user::Entity::find_by_id(user_id.to_owned()).one(db).await?.map(|u| u.role))
}

/// Whether the session exists and is not revoked.
pub async fn session_active<C: ConnectionTrait>(db: &C, session_id: &str) -> Result<bool, DbErr> {
    Ok(auth_session::Entity::find_by_id(session_id.to_owned()).one(db).await?.is_some_and(|s| s.revoked_at.is_none()))
}
