//! One upload. The bytes live in the object store under `sha256` (shared by
//! every upload of the same bytes); this row is what its owner sees and
//! deletes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    /// Hex of the stored bytes (after re-encoding), the object's name.
    pub sha256: String,
    /// Found in the bytes, never taken from the client.
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Whether a thumbnail object exists (`thumbs/<sha256>.png`).
    pub thumbnail: bool,
    /// `avatar`, `element`, `map` or `chat`.
    pub purpose: String,
    /// The client's file name, cleaned; shown, never used as a path.
    pub name: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
