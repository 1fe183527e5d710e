//! Accounts.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};

use super::errors::is_unique_violation;
use crate::entity::user;

/// Accounts there are; sign-up as the first admin is open only while it is zero.
pub async fn count<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    user::Entity::find().count(db).await
}

/// One account by id.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A username folded for uniqueness: compatibility forms (full-width,
/// ligatures) to their plain letters, then lowercase, so `Ada`, `ADA` and
/// `Ａｄａ` are one name. Confusables across scripts (Cyrillic `а`) are not
/// folded; the character rules at sign-up keep names to visible
/// characters.
pub fn username_key(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    username.nfkc().collect::<String>().to_lowercase()
}

/// One account by its (unique) username, for sign-in.
pub async fn find_by_username<C: ConnectionTrait>(db: &C, username: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find().filter(user::Column::Username.eq(username)).one(db).await
}

/// The given users that exist (in no particular order).
pub async fn by_ids<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find().filter(user::Column::Id.is_in(ids)).all(db).await
}

/// Inserts an account; `Ok(false)` when its username, or one that differs
/// only in case or width, is taken (the unique indexes decide, so two
/// racing sign-ups cannot both get the name). The folded key is made here,
/// whatever the caller set.
pub async fn insert<C: ConnectionTrait>(db: &C, mut u: user::Model) -> Result<bool, DbErr> {
    u.username_key = Some(username_key(&u.username));
    match user::Entity::insert(user::ActiveModel::from(u)).exec_without_returning(db).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The user's avatar, if they chose one (and exist).
pub async fn avatar_of<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<Option<String>, DbErr> {
    Ok(find(db, user_id).await?.and_then(|u| u.avatar_id))
}

/// Sets the user's avatar (a catalogue one, dropping any upload); returns
/// whether the user exists.
pub async fn set_avatar<C: ConnectionTrait>(db: &C, user_id: &str, avatar_id: &str) -> Result<bool, DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::AvatarId, Expr::value(avatar_id.to_owned()))
        .col_expr(user::Column::AvatarMediaId, Expr::value(Option::<String>::None))
        .filter(user::Column::Id.eq(user_id.to_owned()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Sets the user's avatar to one of their image uploads (dropping any
/// catalogue one); returns whether the user exists.
pub async fn set_avatar_media<C: ConnectionTrait>(db: &C, user_id: &str, media_id: &str) -> Result<bool, DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::AvatarMediaId, Expr::value(media_id.to_owned()))
        .col_expr(user::Column::AvatarId, Expr::value(Option::<String>::None))
        .filter(user::Column::Id.eq(user_id.to_owned()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}
