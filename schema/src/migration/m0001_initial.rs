use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().primary_key().take()
}

fn text_id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().take()
}

fn millis<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

fn fk<F: IntoIden, T: IntoIden, C: IntoIden>(from_col: F, to_table: T, to_col: C) -> ForeignKeyCreateStatement {
    ForeignKey::create().from_col(from_col).to_tbl(to_table).to_col(to_col).on_delete(ForeignKeyAction::Cascade).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // size: one table per statement, in dependency order; a released migration is never edited, only added to.
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Avatars::Table)
                .col(id(Avatars::Id))
                .col(ColumnDef::new(Avatars::Name).string_len(64).not_null())
                .col(ColumnDef::new(Avatars::ImageUrl).text().not_null())
                .col(millis(Avatars::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id))
                .col(ColumnDef::new(Users::Username).string_len(64).not_null().unique_key())
                .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                .col(ColumnDef::new(Users::Email).string_len(254).null())
                .col(ColumnDef::new(Users::AvatarId).string_len(36).null())
                .col(millis(Users::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from_col(Users::AvatarId)
                        .to_tbl(Avatars::Table)
                        .to_col(Avatars::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthSessions::Table)
                .col(id(AuthSessions::Id))
                .col(text_id(AuthSessions::UserId))
                .col(millis(AuthSessions::CreatedAt))
                .col(ColumnDef::new(AuthSessions::RevokedAt).big_integer().null())
                .foreign_key(&mut fk(AuthSessions::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(id(RefreshTokens::Id))
                .col(text_id(RefreshTokens::SessionId))
                .col(text_id(RefreshTokens::UserId))
                .col(ColumnDef::new(RefreshTokens::TokenHash).string_len(64).not_null().unique_key())
                .col(millis(RefreshTokens::ExpiresAt))
                .col(ColumnDef::new(RefreshTokens::UsedAt).big_integer().null())
                .col(millis(RefreshTokens::CreatedAt))
                .foreign_key(&mut fk(RefreshTokens::SessionId, AuthSessions::Table, AuthSessions::Id))
                .foreign_key(&mut fk(RefreshTokens::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Elements::Table)
                .col(id(Elements::Id))
                .col(ColumnDef::new(Elements::ImageUrl).text().not_null())
                .col(ColumnDef::new(Elements::Width).integer().not_null())
                .col(ColumnDef::new(Elements::Height).integer().not_null())
                .col(ColumnDef::new(Elements::IsStatic).boolean().not_null())
                .col(millis(Elements::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Maps::Table)
                .col(id(Maps::Id))
                .col(ColumnDef::new(Maps::Name).string_len(64).not_null())
                .col(ColumnDef::new(Maps::Width).integer().not_null())
                .col(ColumnDef::new(Maps::Height).integer().not_null())
                .col(ColumnDef::new(Maps::Thumbnail).text().not_null())
                .col(millis(Maps::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MapElements::Table)
                .col(id(MapElements::Id))
                .col(text_id(MapElements::MapId))
                .col(text_id(MapElements::ElementId))
                .col(ColumnDef::new(MapElements::X).integer().not_null())
                .col(ColumnDef::new(MapElements::Y).integer().not_null())
                .foreign_key(&mut fk(MapElements::MapId, Maps::Table, Maps::Id))
                .foreign_key(&mut fk(MapElements::ElementId, Elements::Table, Elements::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Spaces::Table)
                .col(id(Spaces::Id))
                .col(ColumnDef::new(Spaces::Name).string_len(64).not_null())
                .col(ColumnDef::new(Spaces::Width).integer().not_null())
                .col(ColumnDef::new(Spaces::Height).integer().not_null())
                .col(ColumnDef::new(Spaces::Thumbnail).text().null())
                .col(text_id(Spaces::CreatorId))
                .col(ColumnDef::new(Spaces::MapId).string_len(36).null())
                .col(millis(Spaces::CreatedAt))
                .foreign_key(&mut fk(Spaces::CreatorId, Users::Table, Users::Id))
                .foreign_key(
                    ForeignKey::create()
                        .from_col(Spaces::MapId)
                        .to_tbl(Maps::Table)
                        .to_col(Maps::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SpaceElements::Table)
                .col(id(SpaceElements::Id))
                .col(text_id(SpaceElements::SpaceId))
                .col(text_id(SpaceElements::ElementId))
                .col(ColumnDef::new(SpaceElements::X).integer().not_null())
                .col(ColumnDef::new(SpaceElements::Y).integer().not_null())
                .foreign_key(&mut fk(SpaceElements::SpaceId, Spaces::Table, Spaces::Id))
                .foreign_key(&mut fk(SpaceElements::ElementId, Elements::Table, Elements::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SpaceMembers::Table)
                .col(text_id(SpaceMembers::SpaceId))
                .col(text_id(SpaceMembers::UserId))
                .col(ColumnDef::new(SpaceMembers::LastX).integer().null())
                .col(ColumnDef::new(SpaceMembers::LastY).integer().null())
                .col(millis(SpaceMembers::JoinedAt))
                .primary_key(Index::create().col(SpaceMembers::SpaceId).col(SpaceMembers::UserId))
                .foreign_key(&mut fk(SpaceMembers::SpaceId, Spaces::Table, Spaces::Id))
                .foreign_key(&mut fk(SpaceMembers::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Chatrooms::Table)
                .col(id(Chatrooms::Id))
                .col(text_id(Chatrooms::SpaceId))
                .col(ColumnDef::new(Chatrooms::Name).string_len(64).not_null())
                .col(ColumnDef::new(Chatrooms::Description).text().null())
                .col(ColumnDef::new(Chatrooms::PasscodeHash).text().null())
                .col(text_id(Chatrooms::CreatorId))
                .col(millis(Chatrooms::CreatedAt))
                .foreign_key(&mut fk(Chatrooms::SpaceId, Spaces::Table, Spaces::Id))
                .foreign_key(&mut fk(Chatrooms::CreatorId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ChatroomMembers::Table)
                .col(text_id(ChatroomMembers::ChatroomId))
                .col(text_id(ChatroomMembers::UserId))
                .col(millis(ChatroomMembers::JoinedAt))
                .primary_key(Index::create().col(ChatroomMembers::ChatroomId).col(ChatroomMembers::UserId))
                .foreign_key(&mut fk(ChatroomMembers::ChatroomId, Chatrooms::Table, Chatrooms::Id))
                .foreign_key(&mut fk(ChatroomMembers::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(id(Messages::Id))
                .col(text_id(Messages::ChatroomId))
                .col(text_id(Messages::UserId))
                .col(ColumnDef::new(Messages::Username).string_len(64).not_null())
                .col(ColumnDef::new(Messages::Content).text().not_null())
                .col(ColumnDef::new(Messages::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Messages::ClientId).string_len(64).null())
                .col(millis(Messages::SentAt))
                .foreign_key(&mut fk(Messages::ChatroomId, Chatrooms::Table, Chatrooms::Id))
                .take(),
        )
        .await?;

        for (name, table, cols) in [
            (
                "idx_refresh_tokens_session",
                RefreshTokens::Table.into_iden(),
                vec![RefreshTokens::SessionId.into_iden()],
            ),
            ("idx_map_elements_map", MapElements::Table.into_iden(), vec![MapElements::MapId.into_iden()]),
            ("idx_spaces_creator", Spaces::Table.into_iden(), vec![Spaces::CreatorId.into_iden()]),
            ("idx_space_elements_space", SpaceElements::Table.into_iden(), vec![SpaceElements::SpaceId.into_iden()]),
            ("idx_chatrooms_space", Chatrooms::Table.into_iden(), vec![Chatrooms::SpaceId.into_iden()]),
            // History pages walk (chatroom, id) backwards; ids are UUIDv7,
            // so id order is time order.
            (
                "idx_messages_room_id",
                Messages::Table.into_iden(),
                vec![Messages::ChatroomId.into_iden(), Messages::Id.into_iden()],
            ),
        ] {
            let mut index = Index::create().name(name).table(table).take();
            for col in cols {
                index.col(col);
            }
            m.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Messages::Table.into_iden(),
            ChatroomMembers::Table.into_iden(),
            Chatrooms::Table.into_iden(),
            SpaceMembers::Table.into_iden(),
            SpaceElements::Table.into_iden(),
            Spaces::Table.into_iden(),
            MapElements::Table.into_iden(),
            Maps::Table.into_iden(),
            Elements::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthSessions::Table.into_iden(),
            Users::Table.into_iden(),
            Avatars::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Email,
    AvatarId,
    CreatedAt,
}
#[derive(DeriveIden)]
enum AuthSessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    RevokedAt,
}
#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Avatars {
    Table,
    Id,
    Name,
    ImageUrl,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Elements {
    Table,
    Id,
    ImageUrl,
    Width,
    Height,
    IsStatic,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Maps {
    Table,
    Id,
    Name,
    Width,
    Height,
    Thumbnail,
    CreatedAt,
}
#[derive(DeriveIden)]
enum MapElements {
    Table,
    Id,
    MapId,
    ElementId,
    X,
    Y,
}
#[derive(DeriveIden)]
enum Spaces {
    Table,
    Id,
    Name,
    Width,
    Height,
    Thumbnail,
    CreatorId,
    MapId,
    CreatedAt,
}
#[derive(DeriveIden)]
enum SpaceElements {
    Table,
    Id,
    SpaceId,
    ElementId,
    X,
    Y,
}
#[derive(DeriveIden)]
enum SpaceMembers {
    Table,
    SpaceId,
    UserId,
    LastX,
    LastY,
    JoinedAt,
}
#[derive(DeriveIden)]
enum Chatrooms {
    Table,
    Id,
    SpaceId,
    Name,
    Description,
    PasscodeHash,
    CreatorId,
    CreatedAt,
}
#[derive(DeriveIden)]
enum ChatroomMembers {
    Table,
    ChatroomId,
    UserId,
    JoinedAt,
}
#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatroomId,
    UserId,
    Username,
    Content,
    Kind,
    ClientId,
    SentAt,
}
