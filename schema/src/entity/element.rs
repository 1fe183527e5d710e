//! A placeable thing. A static element blocks every tile it covers
//! (`width` × `height` from its top-left corner); others are walkable.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "elements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub image_url: String,
    pub width: i32,
    pub height: i32,
    pub is_static: bool,
    /// Standing on it puts you in a private area with everyone else on it.
    pub private_area: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
