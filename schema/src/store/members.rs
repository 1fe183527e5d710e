//! Who belongs where: members of chatrooms and of spaces.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use super::errors::nothing_inserted_is_zero;
use crate::entity::{chatroom_member, space, space_member};

/// Whether the user joined the room, which chat access is checked against.
pub async fn is_room_member<C: ConnectionTrait>(db: &C, room_id: &str, user_id: &str) -> Result<bool, DbErr> {
    Ok(chatroom_member::Entity::find_by_id((room_id.to_owned(), user_id.to_owned())).one(db).await?.is_some())
}

/// Adds a member; returns whether they were new (two racing joins: one
/// wins, the other is told it was already a member).
pub async fn join_room<C: ConnectionTrait>(db: &C, room_id: &str, user_id: &str, at: i64) -> Result<bool, DbErr> {
    let added = chatroom_member::Entity::insert(chatroom_member::ActiveModel {
        chatroom_id: Set(room_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        joined_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([chatroom_member::Column::ChatroomId, chatroom_member::Column::UserId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await;
    Ok(nothing_inserted_is_zero(added)? > 0)
}

/// Members of a space: its creator and everyone who entered it.
pub async fn in_space<C: ConnectionTrait>(db: &C, space_id: &str, user_id: &str) -> Result<bool, DbErr> {
    if space_member::Entity::find_by_id((space_id.to_owned(), user_id.to_owned())).one(db).await?.is_some() {
        return Ok(true);
    }
    Ok(space::Entity::find_by_id(space_id.to_owned()).one(db).await?.is_some_and(|s| s.creator_id == user_id))
}

/// Records the user as a member of the space (first entry) and returns
/// where they last stood, if anywhere.
pub async fn enter_space<C: ConnectionTrait>(
    db: &C,
    space_id: &str,
    user_id: &str,
    at: i64,
) -> Result<Option<(i32, i32)>, DbErr> {
    let existing = space_member::Entity::find_by_id((space_id.to_owned(), user_id.to_owned())).one(db).await?;
    if let Some(m) = existing {
        return Ok(m.last_x.zip(m.last_y));
    }
    let row = space_member::ActiveModel {
        space_id: Set(space_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        last_x: Set(None),
        last_y: Set(None),
        joined_at: Set(at),
    };
    let inserted = space_member::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([space_member::Column::SpaceId, space_member::Column::UserId]).do_nothing().to_owned(),
        )
        .exec_without_returning(db)
        .await;
    nothing_inserted_is_zero(inserted).map(|_| None)
}
