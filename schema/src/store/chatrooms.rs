//! Chatrooms of a space: create (with the creator as first member), read,
//! edit, delete.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};

use crate::entity::{chatroom, chatroom_member};

/// One room, `None` when there is no such room (or it was deleted).
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<chatroom::Model>, DbErr> {
    chatroom::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The rooms of a space, oldest first.
pub async fn in_space<C: ConnectionTrait>(db: &C, space_id: &str) -> Result<Vec<chatroom::Model>, DbErr> {
    chatroom::Entity::find()
        .filter(chatroom::Column::SpaceId.eq(space_id))
        .order_by_asc(chatroom::Column::Id)
        .all(db)
        .await
}

/// Inserts a room with its creator as its first member. Part of a larger
/// transaction (a new space's `general` room); see [`create`] alone.
pub async fn insert_with_creator<C: ConnectionTrait>(txn: &C, room: &chatroom::Model) -> Result<(), DbErr> {
    chatroom::Entity::insert(chatroom::ActiveModel::from(room.clone())).exec_without_returning(txn).await?;
    chatroom_member::Entity::insert(chatroom_member::ActiveModel {
        chatroom_id: Set(room.id.clone()),
        user_id: Set(room.creator_id.clone()),
        joined_at: Set(room.created_at),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// A room and its first member, both or neither.
pub async fn create(db: &DatabaseConnection, room: &chatroom::Model) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    insert_with_creator(&txn, room).await?;
    txn.commit().await
}

/// Members per room, for the given rooms (rooms without members are absent).
pub async fn member_counts<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<HashMap<String, u64>, DbErr> {
    let rows: Vec<(String, i64)> = chatroom_member::Entity::find()
        .select_only()
        .column(chatroom_member::Column::ChatroomId)
        .column_as(chatroom_member::Column::UserId.count(), "n")
        .filter(chatroom_member::Column::ChatroomId.is_in(ids))
        .group_by(chatroom_member::Column::ChatroomId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(id, n)| (id, n.max(0) as u64)).collect())
}

/// A room edit; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct RoomChanges {
    /// The new name.
    pub name: Option<String>,
    /// The new description.
    pub description: Option<String>,
    /// `Some(None)` removes the passcode.
    pub passcode_hash: Option<Option<String>>,
}

/// Applies the changes (nothing is sent when there are none).
pub async fn update<C: ConnectionTrait>(db: &C, id: &str, changes: RoomChanges) -> Result<(), DbErr> {
    if changes.name.is_none() && changes.description.is_none() && changes.passcode_hash.is_none() {
        return Ok(());
    }
    let mut upd = chatroom::Entity::update_many().filter(chatroom::Column::Id.eq(id.to_owned()));
    if let Some(name) = changes.name {
        upd = upd.col_expr(chatroom::Column::Name, Expr::value(name));
    }
    if let Some(d) = changes.description {
        upd = upd.col_expr(chatroom::Column::Description, Expr::value(d));
    }
    if let Some(p) = changes.passcode_hash {
        upd = upd.col_expr(chatroom::Column::PasscodeHash, Expr::value(p));
    }
    upd.exec(db).await?;
    Ok(())
}

/// Deletes a room; its members and history go with it (foreign keys).
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> Result<(), DbErr> {
    chatroom::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Which of `ids` are rooms that still exist.
pub async fn existing<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<HashSet<String>, DbErr> {
    Ok(chatroom::Entity::find()
        .select_only()
        .column(chatroom::Column::Id)
        .filter(chatroom::Column::Id.is_in(ids))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Room names by id, for the given rooms that still exist.
pub async fn names<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> Result<HashMap<String, String>, DbErr> {
    Ok(chatroom::Entity::find()
        .filter(chatroom::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}
