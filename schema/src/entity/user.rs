use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    /// The username folded (NFKC, lowercase), unique: names that differ
    /// only in case or width are one name. NULL only for accounts that
    /// collided when the column was added.
    pub username_key: Option<String>,
    /// argon2id PHC string; never leaves the server.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    pub email: Option<String>,
    pub avatar_id: Option<String>,
    /// The user's own image upload as avatar, instead of a catalogue one
    /// (at most one of the two is set).
    pub avatar_media_id: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
