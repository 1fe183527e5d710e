//! Writes of the analytics fold. Each is idempotent or additive by design;
//! the fold runs them in one transaction together with the `seen` keys that
//! keep a repeated event from counting twice.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    sea_query::{Alias, Expr, ExprTrait, IntoIden, OnConflict},
};

use crate::{
    entity::{analytics_minute_user, analytics_room_minute, analytics_seen, analytics_session, analytics_space_minute},
    store::errors::nothing_inserted_is_zero,
};

/// Rows per insert statement (SQLite allows 32,766 parameters).
const CHUNK: usize = 1_000;
/// Keys per `IN (...)` lookup.
const LOOKUP: usize = 500;

/// Which of `keys` were remembered by an earlier batch.
pub async fn seen_keys<C: ConnectionTrait>(db: &C, keys: &[String]) -> Result<Vec<String>, DbErr> {
    let mut seen = Vec::new();
    for chunk in keys.chunks(LOOKUP) {
        let found: Vec<String> = analytics_seen::Entity::find()
            .select_only()
            .column(analytics_seen::Column::EventKey)
            .filter(analytics_seen::Column::EventKey.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        seen.extend(found);
    }
    Ok(seen)
}

/// Remembers event keys (keys already there are left as they are).
pub async fn remember_keys<C: ConnectionTrait>(db: &C, rows: Vec<analytics_seen::Model>) -> Result<(), DbErr> {
    let rows: Vec<analytics_seen::ActiveModel> = rows.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        let r = analytics_seen::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(analytics_seen::Column::EventKey).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        nothing_inserted_is_zero(r)?;
    }
    Ok(())
}

/// Forgets event keys remembered before `before`; returns how many.
pub async fn forget_keys_before<C: ConnectionTrait>(db: &C, before: i64) -> Result<u64, DbErr> {
    let r = analytics_seen::Entity::delete_many().filter(analytics_seen::Column::At.lt(before)).exec(db).await?;
    Ok(r.rows_affected)
}

/// Adds joins, leaves, messages and attachments to each (space, minute) row, making the
/// row if missing. `active_users` of a new row is taken as given; existing
/// rows keep theirs until [`recount_active`].
pub async fn add_space_minutes<C: ConnectionTrait>(
    db: &C,
    rows: Vec<analytics_space_minute::Model>,
) -> Result<(), DbErr> {
    use analytics_space_minute::{Column as M, Entity};
    let rows: Vec<analytics_space_minute::ActiveModel> = rows.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        let on_conflict = OnConflict::columns([M::SpaceId, M::Minute])
            .value(M::Joins, add(Entity, M::Joins))
            .value(M::Leaves, add(Entity, M::Leaves))
            .value(M::Messages, add(Entity, M::Messages))
            .value(M::Attachments, add(Entity, M::Attachments))
            .to_owned();
        Entity::insert_many(chunk.to_vec()).on_conflict(on_conflict).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Marks users present in minutes (repeats change nothing).
pub async fn mark_present<C: ConnectionTrait>(db: &C, rows: Vec<analytics_minute_user::Model>) -> Result<(), DbErr> {
    use analytics_minute_user::Column as U;
    let rows: Vec<analytics_minute_user::ActiveModel> = rows.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        let r = analytics_minute_user::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::columns([U::SpaceId, U::Minute, U::UserId]).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        nothing_inserted_is_zero(r)?;
    }
    Ok(())
}

/// Recounts `active_users` of a space's minutes `from..=to` from the
/// presence rows.
pub async fn recount_active<C: ConnectionTrait>(db: &C, space_id: &str, from: i64, to: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = recount_sql(backend);
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [space_id.into(), from.into(), to.into()])).await?;
    Ok(())
}

/// Adds message counts to each (room, minute) row, making it if missing.
pub async fn add_room_minutes<C: ConnectionTrait>(
    db: &C,
    rows: Vec<analytics_room_minute::Model>,
) -> Result<(), DbErr> {
    use analytics_room_minute::{Column as R, Entity};
    let rows: Vec<analytics_room_minute::ActiveModel> = rows.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([R::ChatroomId, R::Minute]).value(R::Messages, add(Entity, R::Messages)).to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Records finished visits (a visit already recorded is kept as it is).
pub async fn insert_sessions<C: ConnectionTrait>(db: &C, rows: Vec<analytics_session::Model>) -> Result<(), DbErr> {
    let rows: Vec<analytics_session::ActiveModel> = rows.into_iter().map(Into::into).collect();
    for chunk in rows.chunks(CHUNK) {
        let r = analytics_session::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(analytics_session::Column::SessionId).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        nothing_inserted_is_zero(r)?;
    }
    Ok(())
}

/// `table.col + excluded.col`, the upsert that adds to a counter.
fn add<E: sea_orm::EntityName + 'static, Col: IntoIden + Copy>(table: E, col: Col) -> Expr {
    Expr::col((table, col)).add(Expr::col((Alias::new("excluded"), col)))
}

fn recount_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "UPDATE analytics_space_minutes SET active_users = (SELECT COUNT(*) FROM analytics_minute_users u \
             WHERE u.space_id = analytics_space_minutes.space_id AND u.minute = analytics_space_minutes.minute) \
             WHERE space_id = $1 AND minute >= $2 AND minute <= $3"
        }
        _ => {
            "UPDATE analytics_space_minutes SET active_users = (SELECT COUNT(*) FROM analytics_minute_users u \
             WHERE u.space_id = analytics_space_minutes.space_id AND u.minute = analytics_space_minutes.minute) \
             WHERE space_id = ? AND minute >= ? AND minute <= ?"
        }
    }
}
