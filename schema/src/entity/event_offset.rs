//! Where a consumer is in one Kafka partition. Written in the same
//! transaction as the rows the records produced, so a crash can neither
//! lose nor repeat a record; `owner`/`lease_until` keep one consumer per
//! partition active.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_offsets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub partition: i32,
    /// The offset of the next record to apply; -1 before the first.
    pub next_offset: i64,
    /// A digest of the record at `next_offset - 1`: if the broker's log no
    /// longer holds that record there, the log was replaced (a broker that
    /// lost its storage) and consuming restarts from its beginning.
    pub last_digest: Option<String>,
    pub owner: Option<String>,
    pub lease_until: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
