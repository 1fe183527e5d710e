//! Keys of analytics events already folded, so a record the log holds
//! twice (a producer retry) counts once. Pruned after a day.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_seen")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_key: String,
    /// The event's time, Unix ms (what pruning compares).
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
