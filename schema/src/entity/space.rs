use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spaces")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub width: i32,
    pub height: i32,
    pub thumbnail: Option<String>,
    pub creator_id: String,
    /// The map it was copied from, if any (the copy does not follow later
    /// edits of the map).
    pub map_id: Option<String>,
    pub created_at: i64,
    /// Nearby radius in tiles (Chebyshev); 0: only private areas.
    pub proximity_radius: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
