//! Spaces and the elements placed in them.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};

use super::chatrooms;
use crate::entity::{chatroom, element, space, space_element, space_member};

/// Rows per insert: SQLite caps bound parameters per statement.
const CHUNK: usize = 500;

/// One space, `None` when there is no such space.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<space::Model>, DbErr> {
    space::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The spaces a user created, oldest first.
pub async fn created_by<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<Vec<space::Model>, DbErr> {
    space::Entity::find().filter(space::Column::CreatorId.eq(user_id)).order_by_asc(space::Column::Id).all(db).await
}

/// How many spaces a user created (for the per-user quota).
pub async fn count_created_by<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<u64, DbErr> {
    space::Entity::find().filter(space::Column::CreatorId.eq(user_id)).count(db).await
}

/// A new space, all or nothing: the space, its creator as first member,
/// its first room (the creator a member of it too) and the elements it
/// starts with (copied from a map).
pub async fn create(
    db: &DatabaseConnection,
    s: space::Model,
    first_room: &chatroom::Model,
    elements: Vec<space_element::Model>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let member = space_member::ActiveModel {
        space_id: Set(s.id.clone()),
        user_id: Set(s.creator_id.clone()),
        last_x: Set(None),
        last_y: Set(None),
        joined_at: Set(s.created_at),
    };
    space::Entity::insert(space::ActiveModel::from(s)).exec_without_returning(&txn).await?;
    space_member::Entity::insert(member).exec_without_returning(&txn).await?;
    chatrooms::insert_with_creator(&txn, first_room).await?;
    let rows: Vec<space_element::ActiveModel> = elements.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        space_element::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
    }
    txn.commit().await
}

/// Deletes a space; what it holds goes with it (foreign keys).
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> Result<(), DbErr> {
    space::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Space names by id, for the given spaces that still exist.
pub async fn names<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<HashMap<String, String>, DbErr> {
    Ok(space::Entity::find()
        .filter(space::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect())
}

/// The elements placed in a space, in placement order.
pub async fn placed<C: ConnectionTrait>(db: &C, space_id: &str) -> Result<Vec<space_element::Model>, DbErr> {
    space_element::Entity::find()
        .filter(space_element::Column::SpaceId.eq(space_id.to_owned()))
        .order_by_asc(space_element::Column::Id)
        .all(db)
        .await
}

/// Placements whose element blocks walking or marks a private area, with
/// that element: what the live space's grid is built from.
pub async fn blocking_placements<C: ConnectionTrait>(
    db: &C,
    space_id: &str,
) -> Result<Vec<(space_element::Model, element::Model)>, DbErr> {
    let placed = space_element::Entity::find().filter(space_element::Column::SpaceId.eq(space_id)).all(db).await?;
    let ids: HashSet<String> = placed.iter().map(|p| p.element_id.clone()).collect();
    let kinds: HashMap<String, element::Model> = element::Entity::find()
        .filter(element::Column::Id.is_in(ids))
        .filter(Condition::any().add(element::Column::IsStatic.eq(true)).add(element::Column::PrivateArea.eq(true)))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    Ok(placed
        .into_iter()
        .filter_map(|p| {
            let e = kinds.get(&p.element_id)?.clone();
            Some((p, e))
        })
        .collect())
}

/// One placed element by its placement id.
pub async fn find_placed<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<space_element::Model>, DbErr> {
    space_element::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Places an element in a space; that it fits inside the space is the
/// caller's check.
pub async fn place<C: ConnectionTrait>(db: &C, placed: space_element::Model) -> Result<(), DbErr> {
    space_element::Entity::insert(space_element::ActiveModel::from(placed)).exec_without_returning(db).await?;
    Ok(())
}

/// Removes a placed element; a missing one is not an error.
pub async fn remove_placed<C: ConnectionTrait>(db: &C, id: &str) -> Result<(), DbErr> {
    space_element::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}
