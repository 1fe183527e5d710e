//! Proximity settings: a space's nearby radius, and elements that mark a
//! private area (everyone standing on one is near everyone else on it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Spaces::Table)
                .add_column(ColumnDef::new(Spaces::ProximityRadius).integer().not_null().default(3))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Elements::Table)
                .add_column(ColumnDef::new(Elements::PrivateArea).boolean().not_null().default(false))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Elements::Table).drop_column(Elements::PrivateArea).take()).await?;
        m.alter_table(Table::alter().table(Spaces::Table).drop_column(Spaces::ProximityRadius).take()).await
    }
}

#[derive(DeriveIden)]
enum Spaces {
    Table,
    ProximityRadius,
}
#[derive(DeriveIden)]
enum Elements {
    Table,
    PrivateArea,
}
