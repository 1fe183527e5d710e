//! Where each member last stood in a space, restored when they come back.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use crate::entity::space_member;

/// Saves a last position, making the user a member if they were not
/// (`at` is their join time then; an existing join time is kept).
pub async fn save_last<C: ConnectionTrait>(
    db: &C,
    space_id: &str,
    user_id: &str,
    (x, y): (i32, i32),
    at: i64,
) -> Result<(), DbErr> {
    let row = space_member::ActiveModel {
        space_id: Set(space_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        last_x: Set(Some(x)),
        last_y: Set(Some(y)),
        joined_at: Set(at),
    };
    space_member::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([space_member::Column::SpaceId, space_member::Column::UserId])
                .update_columns([space_member::Column::LastX, space_member::Column::LastY])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map(|_| ())
}
