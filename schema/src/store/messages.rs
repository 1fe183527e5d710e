//! Chat history: idempotent batch inserts (a retry must not duplicate
//! rows) and the two reads clients page through.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::OnConflict,
};

use super::errors::nothing_inserted_is_zero;
use crate::{ChatMessage, entity::message};

/// Inserts messages, skipping any whose id is already stored. Ids are made
/// by the server before the first attempt, so a batch retried after a
/// timeout (that may or may not have committed) lands exactly once.
/// Returns how many rows were new.
///
/// Rows go in statements of about `STATEMENT_BYTES` each. sqlx does not set
/// TCP_NODELAY, so a statement bigger than the socket's first send buffer
/// (16 KiB) is written in two parts and the second waits for PostgreSQL's
/// delayed ACK: a 200-row statement took 50 ms over TCP and 5 ms over a
/// Unix socket; five 40-row statements in one transaction take 6–9 ms over
/// TCP. Callers that need the whole batch atomic run this in a transaction.
pub async fn insert_messages<C: ConnectionTrait>(db: &C, batch: Vec<message::Model>) -> Result<u64, DbErr> {
    let mut inserted = 0;
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for row in batch {
        let size = row_bytes(&row);
        if !chunk.is_empty() && bytes + size > STATEMENT_BYTES {
            inserted += insert_statement(db, std::mem::take(&mut chunk)).await?;
            bytes = 0;
        }
        bytes += size;
        chunk.push(row);
    }
    if !chunk.is_empty() {
        inserted += insert_statement(db, chunk).await?;
    }
    Ok(inserted)
}

/// Bound parameters of one insert, at most (see `insert_messages`).
const STATEMENT_BYTES: usize = 8 * 1024;

/// A row's share of the statement: its values and their length headers.
fn row_bytes(m: &message::Model) -> usize {
    let text = m.id.len() + m.chatroom_id.len() + m.user_id.len() + m.username.len() + m.content.len() + m.kind.len();
    text + m.client_id.as_ref().map_or(0, String::len) + 8 + 8 * 4
}

async fn insert_statement<C: ConnectionTrait>(db: &C, batch: Vec<message::Model>) -> Result<u64, DbErr> {
    let rows = batch.into_iter().map(message::ActiveModel::from);
    let inserted = message::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(message::Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await;
    nothing_inserted_is_zero(inserted)
}

/// What [`insert_replacing`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replaced {
    /// Rows written; messages already stored (by an earlier try) are not counted.
    pub inserted: u64,
    /// Rows of `refused` that had been committed after all.
    pub deleted: u64,
}

/// Inserts a batch all-or-nothing (`insert_messages` may split it into
/// several statements) and, in the same transaction, deletes `refused`:
/// messages whose sender was told they failed but whose write may have
/// committed anyway, so they must not stay in history.
pub async fn insert_replacing(
    db: &DatabaseConnection,
    rows: Vec<message::Model>,
    refused: &[String],
) -> Result<Replaced, DbErr> {
    let txn = db.begin().await?;
    let mut deleted = 0;
    if !refused.is_empty() {
        deleted = message::Entity::delete_many()
            .filter(message::Column::Id.is_in(refused.iter().cloned()))
            .exec(&txn)
            .await?
            .rows_affected;
    }
    let inserted = insert_messages(&txn, rows).await?;
    txn.commit().await?;
    Ok(Replaced { inserted, deleted })
}

/// One page of a room's history, newest first, older than the message
/// `before` when given. Returns at most `limit` messages and whether older
/// ones remain (one extra row is read to know).
pub async fn history_page<C: ConnectionTrait>(
    db: &C,
    room_id: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<(Vec<ChatMessage>, bool), DbErr> {
    let mut q = message::Entity::find().filter(message::Column::ChatroomId.eq(room_id));
    if let Some(id) = before {
        q = q.filter(message::Column::Id.lt(id));
    }
    let mut rows = q.order_by_desc(message::Column::Id).limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows.into_iter().map(ChatMessage::from).collect(), more))
}

/// Messages after the message `after` (oldest first), at most `limit`: what
/// a reconnecting client missed. Ids are UUIDv7, so id order is time order.
pub async fn since<C: ConnectionTrait>(
    db: &C,
    room_id: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<ChatMessage>, DbErr> {
    let rows = message::Entity::find()
        .filter(message::Column::ChatroomId.eq(room_id))
        .filter(message::Column::Id.gt(after))
        .order_by_asc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(ChatMessage::from).collect())
}
