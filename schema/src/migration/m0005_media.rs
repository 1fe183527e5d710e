//! Media uploads: one row per upload (its owner, what the server found in
//! the bytes), the attachment a chat message carries, a user's own picture
//! as avatar, and attachments in the per-minute analytics.
//!
//! Objects are stored under their sha256, so several rows may share one;
//! `sha256` is indexed for the "is it still referred to" check on delete.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Media::Table)
                .col(ColumnDef::new(Media::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Media::OwnerId).string().not_null())
                .col(ColumnDef::new(Media::Sha256).string().not_null())
                .col(ColumnDef::new(Media::ContentType).string().not_null())
                .col(ColumnDef::new(Media::Size).big_integer().not_null())
                .col(ColumnDef::new(Media::Width).integer().null())
                .col(ColumnDef::new(Media::Height).integer().null())
                .col(ColumnDef::new(Media::Thumbnail).boolean().not_null().default(false))
                .col(ColumnDef::new(Media::Purpose).string().not_null())
                .col(ColumnDef::new(Media::Name).string().not_null())
                .col(ColumnDef::new(Media::CreatedAt).big_integer().not_null())
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_media_owner").table(Media::Table).col(Media::OwnerId).col(Media::Id).take(),
        )
        .await?;
        m.create_index(Index::create().name("idx_media_sha256").table(Media::Table).col(Media::Sha256).take()).await?;
        m.alter_table(
            Table::alter().table(Messages::Table).add_column(ColumnDef::new(Messages::Attachment).text().null()).take(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Users::Table).add_column(ColumnDef::new(Users::AvatarMediaId).string().null()).take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AnalyticsSpaceMinutes::Table)
                .add_column(ColumnDef::new(AnalyticsSpaceMinutes::Attachments).big_integer().not_null().default(0))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(AnalyticsSpaceMinutes::Table).drop_column(AnalyticsSpaceMinutes::Attachments).take(),
        )
        .await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::AvatarMediaId).take()).await?;
        m.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::Attachment).take()).await?;
        m.drop_table(Table::drop().table(Media::Table).take()).await
    }
}

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    OwnerId,
    Sha256,
    ContentType,
    Size,
    Width,
    Height,
    Thumbnail,
    Purpose,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Attachment,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    AvatarMediaId,
}

#[derive(DeriveIden)]
enum AnalyticsSpaceMinutes {
    Table,
    Attachments,
}
