use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chatroom_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chatroom_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub joined_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
