//! A chat message. Its id is made by the server before the write (UUIDv7,
//! so ids sort by time), which makes a retried insert a no-op
//! (`ON CONFLICT (id) DO NOTHING`) instead of a duplicate.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub chatroom_id: String,
    pub user_id: String,
    /// The sender's name when sent, so history needs no join.
    pub username: String,
    pub content: String,
    /// `text`, `emoji` or `system`.
    pub kind: String,
    pub client_id: Option<String>,
    pub sent_at: i64,
    /// The attached upload (`image` and `file` messages), as the JSON of
    /// the protocol's `Attachment`: what history shows, fixed at send time.
    pub attachment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
