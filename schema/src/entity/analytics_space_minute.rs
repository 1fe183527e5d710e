//! Per space per minute (`minute` is the minute's start, Unix ms).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_space_minutes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub space_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: i64,
    pub joins: i64,
    pub leaves: i64,
    pub messages: i64,
    /// Of those messages, the ones with an attachment.
    pub attachments: i64,
    /// Distinct users present in the minute (see `analytics_minute_users`).
    pub active_users: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
