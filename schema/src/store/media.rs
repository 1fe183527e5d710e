//! Uploads: rows per upload, objects per distinct bytes (`sha256`).

use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use crate::entity::{avatar, element, map, media, user};

pub async fn insert<C: ConnectionTrait>(db: &C, m: media::Model) -> Result<(), DbErr> {
    media::Entity::insert(media::ActiveModel::from(m)).exec_without_returning(db).await?;
    Ok(())
}

/// The upload `id`. Ids come from clients (paths, `mediaId` fields); one
/// that no upload can have (empty, or longer than any id made) is `None`
/// without a query.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<media::Model>, DbErr> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    media::Entity::find_by_id(id.to_owned()).one(db).await
}

/// What `owner` stores: uploads and bytes (shared objects count for each
/// upload, so deduplication never lets one user exceed a quota).
pub async fn usage<C: ConnectionTrait>(db: &C, owner: &str) -> Result<(u64, u64), DbErr> {
    let row: Option<(i64, Option<i64>)> = media::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "n")
        .column_as(Expr::cust("CAST(SUM(size) AS BIGINT)"), "bytes")
        .filter(media::Column::OwnerId.eq(owner))
        .into_tuple()
        .one(db)
        .await?;
    let (n, bytes) = row.unwrap_or((0, None));
    Ok((u64::try_from(n).unwrap_or(0), u64::try_from(bytes.unwrap_or(0)).unwrap_or(0)))
}

/// A page of `owner`'s uploads, newest first (ids are UUIDv7), older than
/// `before` when given.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<media::Model>, DbErr> {
    let mut q = media::Entity::find().filter(media::Column::OwnerId.eq(owner));
    if let Some(b) = before {
        q = q.filter(media::Column::Id.lt(b));
    }
    q.order_by_desc(media::Column::Id).limit(limit).all(db).await
}

/// Removes an upload's row; `true` when it existed.
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    Ok(media::Entity::delete_by_id(id.to_owned()).exec(db).await?.rows_affected > 0)
}

/// Whether any upload still has these bytes.
pub async fn sha_in_use<C: ConnectionTrait>(db: &C, sha256: &str) -> Result<bool, DbErr> {
    Ok(media::Entity::find().filter(media::Column::Sha256.eq(sha256)).count(db).await? > 0)
}

/// Of `shas`, the ones some upload still has.
pub async fn shas_in_use<C: ConnectionTrait>(db: &C, shas: Vec<String>) -> Result<HashSet<String>, DbErr> {
    let rows: Vec<String> = media::Entity::find()
        .select_only()
        .column(media::Column::Sha256)
        .filter(media::Column::Sha256.is_in(shas))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Whether a user shows upload `id` as their avatar.
pub async fn used_as_avatar<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    Ok(user::Entity::find().filter(user::Column::AvatarMediaId.eq(id)).count(db).await? > 0)
}

/// Whether the catalogue shows `url` (an avatar's or element's image, a
/// map's thumbnail): such an upload may not be deleted under it.
pub async fn used_by_catalog<C: ConnectionTrait>(db: &C, url: &str) -> Result<bool, DbErr> {
    let avatars = avatar::Entity::find().filter(avatar::Column::ImageUrl.eq(url)).count(db).await?;
    let elements = element::Entity::find().filter(element::Column::ImageUrl.eq(url)).count(db).await?;
    let maps = map::Entity::find().filter(map::Column::Thumbnail.eq(url)).count(db).await?;
    Ok(avatars + elements + maps > 0)
}
