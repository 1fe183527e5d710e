//! The catalogue admins make: avatars and elements (maps are in `maps`).

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::Expr,
};

use super::maps::{self, NewMap};
use crate::entity::{avatar, element, map};

/// Every avatar, by id (ids are UUIDv7, so oldest first).
pub async fn avatars<C: ConnectionTrait>(db: &C) -> Result<Vec<avatar::Model>, DbErr> {
    avatar::Entity::find().order_by_asc(avatar::Column::Id).all(db).await
}

/// Whether an avatar may be chosen: checked before a user points at it.
pub async fn avatar_exists<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    Ok(avatar::Entity::find_by_id(id.to_owned()).one(db).await?.is_some())
}

/// Image URLs by avatar id, for the given avatars that exist.
pub async fn avatar_images<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<HashMap<String, String>, DbErr> {
    Ok(avatar::Entity::find()
        .filter(avatar::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.image_url))
        .collect())
}

/// Adds an avatar to the catalogue.
pub async fn insert_avatar<C: ConnectionTrait>(db: &C, a: avatar::Model) -> Result<(), DbErr> {
    avatar::Entity::insert(avatar::ActiveModel::from(a)).exec_without_returning(db).await?;
    Ok(())
}

/// Every element, by id (oldest first).
pub async fn elements<C: ConnectionTrait>(db: &C) -> Result<Vec<element::Model>, DbErr> {
    element::Entity::find().order_by_asc(element::Column::Id).all(db).await
}

/// One element, `None` when there is no such element.
pub async fn find_element<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<element::Model>, DbErr> {
    element::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The given elements that exist, by id.
pub async fn elements_by_id<C: ConnectionTrait>(
    db: &C,
    ids: Vec<String>,
) -> Result<HashMap<String, element::Model>, DbErr> {
    Ok(element::Entity::find()
        .filter(element::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect())
}

/// Adds an element to the catalogue; part of a transaction in [`seed`].
pub async fn insert_element<C: ConnectionTrait>(db: &C, e: element::Model) -> Result<(), DbErr> {
    element::Entity::insert(element::ActiveModel::from(e)).exec_without_returning(db).await?;
    Ok(())
}

/// Changes an element's image; returns whether the element exists.
pub async fn set_element_image<C: ConnectionTrait>(db: &C, id: &str, image_url: String) -> Result<bool, DbErr> {
    let done = element::Entity::update_many()
        .col_expr(element::Column::ImageUrl, Expr::value(image_url))
        .filter(element::Column::Id.eq(id.to_owned()))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Whether there are no avatars, no elements and no maps (a fresh install).
pub async fn is_empty<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(avatar::Entity::find().count(db).await? == 0
        && element::Entity::find().count(db).await? == 0
        && map::Entity::find().count(db).await? == 0)
}

/// A starter catalogue, all or nothing: avatars (one statement), elements,
/// then a map made of them.
pub async fn seed(
    db: &DatabaseConnection,
    avatars: Vec<avatar::Model>,
    elements: Vec<element::Model>,
    map: NewMap,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    avatar::Entity::insert_many(avatars.into_iter().map(avatar::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    for e in elements {
        insert_element(&txn, e).await?;
    }
    maps::insert(&txn, map).await?;
    txn.commit().await
}
