//! Writes whose retry must not duplicate rows.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use crate::entity::message;

/// Inserts messages, skipping any whose id is already stored. Ids are made
/// by the server before the first attempt, so a batch retried after a
/// timeout (that may or may not have committed) lands exactly once.
/// Returns how many rows were new.
pub async fn insert_messages<C: ConnectionTrait>(db: &C, batch: Vec<message::Model>) -> Result<u64, DbErr> {
    if batch.is_empty() {
        return Ok(0);
    }
    let rows = batch.into_iter().map(message::ActiveModel::from);
    let inserted = message::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(message::Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await;
    match inserted {
        Ok(n) => Ok(n),
        // sea-orm reports "nothing inserted" as an error for some backends.
        Err(DbErr::RecordNotInserted) => Ok(0),
        Err(e) => Err(e),
    }
}
