//! Who has been in a space, and where they last stood (the real-time core
//! reuses it as the spawn tile when it is still free).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "space_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub space_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub last_x: Option<i32>,
    pub last_y: Option<i32>,
    pub joined_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
