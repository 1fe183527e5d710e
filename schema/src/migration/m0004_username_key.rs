//! Case-insensitive usernames: `username_key` holds the name folded
//! (NFKC, lowercase) under a unique index, so `Ada` and `ada` (or a
//! full-width `Ａｄａ`) cannot both exist. Existing databases may hold such
//! pairs already: the oldest account of each keeps the key, the others keep
//! a NULL key (still unique for the index) and their names, and sign in as
//! before.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

use crate::store::users::username_key;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_users_username_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Users::Table).add_column(ColumnDef::new(Users::UsernameKey).string().null()).take(),
        )
        .await?;
        let oldest_first = Query::select()
            .columns([Users::Id, Users::Username])
            .from(Users::Table)
            .order_by(Users::CreatedAt, Order::Asc)
            .order_by(Users::Id, Order::Asc)
            .to_owned();
        let rows = m.get_connection().query_all(&oldest_first).await?;
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let key = username_key(&row.try_get::<String>("", "username")?);
            if seen.insert(key.clone()) {
                let update = Query::update()
                    .table(Users::Table)
                    .value(Users::UsernameKey, key)
                    .and_where(Expr::col(Users::Id).eq(id))
                    .to_owned();
                m.exec_stmt(update).await?;
            }
        }
        m.create_index(Index::create().name(INDEX).table(Users::Table).col(Users::UsernameKey).unique().to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Users::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::UsernameKey).take()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    CreatedAt,
    UsernameKey,
}
