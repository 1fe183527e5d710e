//! Kafka consumer positions and the leases that keep one consumer per
//! partition. Every write is conditional on the owner (and, for commits,
//! on the offset it started from), so two consumers that both believe they
//! hold a partition cannot both move it.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr,
    sea_query::OnConflict,
};

use super::errors::nothing_inserted_is_zero;
use crate::entity::event_offset::{self, Column as C};

/// One partition of one topic, as one consumer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Partition<'a> {
    /// The topic's name on the brokers.
    pub topic: &'a str,
    /// The partition number within the topic.
    pub partition: i32,
    /// The consumer's name in the leases.
    pub owner: &'a str,
}

/// Gives the lease up (only if this consumer holds it).
pub async fn release<Db: ConnectionTrait>(db: &Db, p: Partition<'_>) -> Result<(), DbErr> {
    event_offset::Entity::update_many()
        .col_expr(C::Owner, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseUntil, Expr::value(0i64))
        .filter(C::Topic.eq(p.topic))
        .filter(C::Partition.eq(p.partition))
        .filter(C::Owner.eq(p.owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes or renews the lease until `until`: the partition's row is made
/// if missing, then claimed if free, expired (before `now`) or already
/// ours. Returns whether this consumer holds it.
pub async fn take_lease<Db: ConnectionTrait>(db: &Db, p: Partition<'_>, now: i64, until: i64) -> Result<bool, DbErr> {
    let row = event_offset::ActiveModel {
        topic: Set(p.topic.to_owned()),
        partition: Set(p.partition),
        next_offset: Set(-1),
        last_digest: Set(None),
        owner: Set(None),
        lease_until: Set(0),
        updated_at: Set(now),
    };
    let made = event_offset::Entity::insert(row)
        .on_conflict(OnConflict::columns([C::Topic, C::Partition]).do_nothing().to_owned())
        .exec_without_returning(db)
        .await;
    nothing_inserted_is_zero(made)?;
    let taken = event_offset::Entity::update_many()
        .col_expr(C::Owner, Expr::value(p.owner.to_owned()))
        .col_expr(C::LeaseUntil, Expr::value(until))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Topic.eq(p.topic))
        .filter(C::Partition.eq(p.partition))
        .filter(Condition::any().add(C::Owner.is_null()).add(C::Owner.eq(p.owner)).add(C::LeaseUntil.lt(now)))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// The stored position of a partition, if it has one.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    topic: &str,
    partition: i32,
) -> Result<Option<event_offset::Model>, DbErr> {
    event_offset::Entity::find_by_id((topic.to_owned(), partition)).one(db).await
}

/// A move of the stored position, from the offset the consumer read.
#[derive(Clone, Debug)]
pub struct Advance {
    /// The offset the batch was read from: the move only happens if the
    /// row still holds it.
    pub from: i64,
    /// The next offset to read.
    pub to: i64,
    /// Digest of the last record applied, so a log replaced under the same
    /// offsets can be noticed.
    pub digest: Option<String>,
    /// Unix milliseconds, for `updated_at`.
    pub now: i64,
    /// The renewed lease's expiry, Unix milliseconds.
    pub lease_until: i64,
}

/// Moves the position (and renews the lease) if the partition is still
/// ours and still at `a.from`. Run it in the transaction that applied the
/// records: on `Ok(false)` the caller must roll back.
pub async fn advance<Db: ConnectionTrait>(db: &Db, p: Partition<'_>, a: Advance) -> Result<bool, DbErr> {
    let moved = event_offset::Entity::update_many()
        .col_expr(C::NextOffset, Expr::value(a.to))
        .col_expr(C::LastDigest, Expr::value(a.digest))
        .col_expr(C::LeaseUntil, Expr::value(a.lease_until))
        .col_expr(C::UpdatedAt, Expr::value(a.now))
        .filter(C::Topic.eq(p.topic))
        .filter(C::Partition.eq(p.partition))
        .filter(C::Owner.eq(p.owner))
        .filter(C::NextOffset.eq(a.from))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}
