//! Maps: templates a space is copied from.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use crate::entity::{map, map_element};

/// Rows per insert: SQLite caps bound parameters per statement.
const CHUNK: usize = 500;

/// A map with the elements it places.
#[derive(Clone, Debug)]
pub struct NewMap {
    /// The map's own row.
    pub map: map::Model,
    /// The placements, each naming this map's id.
    pub elements: Vec<map_element::Model>,
}

/// Every map, by id (oldest first).
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<map::Model>, DbErr> {
    map::Entity::find().order_by_asc(map::Column::Id).all(db).await
}

/// One map, `None` when there is no such map.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<map::Model>, DbErr> {
    map::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The elements a map places (in no particular order).
pub async fn elements<C: ConnectionTrait>(db: &C, map_id: &str) -> Result<Vec<map_element::Model>, DbErr> {
    map_element::Entity::find().filter(map_element::Column::MapId.eq(map_id.to_owned())).all(db).await
}

/// Inserts a map and its elements; part of a transaction (see [`create`]).
pub async fn insert<C: ConnectionTrait>(txn: &C, m: NewMap) -> Result<(), DbErr> {
    map::Entity::insert(map::ActiveModel::from(m.map)).exec_without_returning(txn).await?;
    let rows: Vec<map_element::ActiveModel> = m.elements.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        map_element::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// A map and its elements, all or nothing.
pub async fn create(db: &DatabaseConnection, m: NewMap) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    insert(&txn, m).await?;
    txn.commit().await
}
