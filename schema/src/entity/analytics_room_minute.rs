//! Messages per chatroom per minute.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_room_minutes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chatroom_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: i64,
    pub space_id: String,
    pub messages: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
