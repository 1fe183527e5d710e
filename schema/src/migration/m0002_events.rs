//! The event pipeline's tables: consumer offsets (with the lease that keeps
//! one consumer per partition) and the analytics folded from events.
//!
//! Analytics tables have no foreign keys on purpose: events about a space or
//! room deleted since must still fold, and the numbers outlive the rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn key<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().take()
}

fn big<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

fn count<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().default(0).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // size: one table per statement, in dependency order; a released migration is never edited, only added to.
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EventOffsets::Table)
                .col(key(EventOffsets::Topic, 249))
                .col(ColumnDef::new(EventOffsets::Partition).integer().not_null())
                .col(big(EventOffsets::NextOffset))
                .col(ColumnDef::new(EventOffsets::LastDigest).string_len(32).null())
                .col(ColumnDef::new(EventOffsets::Owner).string_len(128).null())
                .col(big(EventOffsets::LeaseUntil))
                .col(big(EventOffsets::UpdatedAt))
                .primary_key(Index::create().col(EventOffsets::Topic).col(EventOffsets::Partition))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AnalyticsSpaceMinutes::Table)
                .col(key(AnalyticsSpaceMinutes::SpaceId, 36))
                .col(big(AnalyticsSpaceMinutes::Minute))
                .col(count(AnalyticsSpaceMinutes::Joins))
                .col(count(AnalyticsSpaceMinutes::Leaves))
                .col(count(AnalyticsSpaceMinutes::Messages))
                .col(count(AnalyticsSpaceMinutes::ActiveUsers))
                .primary_key(Index::create().col(AnalyticsSpaceMinutes::SpaceId).col(AnalyticsSpaceMinutes::Minute))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AnalyticsMinuteUsers::Table)
                .col(key(AnalyticsMinuteUsers::SpaceId, 36))
                .col(big(AnalyticsMinuteUsers::Minute))
                .col(key(AnalyticsMinuteUsers::UserId, 36))
                .primary_key(
                    Index::create()
                        .col(AnalyticsMinuteUsers::SpaceId)
                        .col(AnalyticsMinuteUsers::Minute)
                        .col(AnalyticsMinuteUsers::UserId),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AnalyticsRoomMinutes::Table)
                .col(key(AnalyticsRoomMinutes::ChatroomId, 64))
                .col(big(AnalyticsRoomMinutes::Minute))
                .col(key(AnalyticsRoomMinutes::SpaceId, 36))
                .col(count(AnalyticsRoomMinutes::Messages))
                .primary_key(Index::create().col(AnalyticsRoomMinutes::ChatroomId).col(AnalyticsRoomMinutes::Minute))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AnalyticsSessions::Table)
                .col(ColumnDef::new(AnalyticsSessions::SessionId).string_len(64).not_null().primary_key())
                .col(key(AnalyticsSessions::SpaceId, 36))
                .col(key(AnalyticsSessions::UserId, 36))
                .col(big(AnalyticsSessions::JoinedAt))
                .col(big(AnalyticsSessions::LeftAt))
                .col(big(AnalyticsSessions::DurationMs))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AnalyticsSeen::Table)
                .col(ColumnDef::new(AnalyticsSeen::EventKey).string_len(80).not_null().primary_key())
                .col(big(AnalyticsSeen::At))
                .take(),
        )
        .await?;

        for (name, table, cols) in [
            ("idx_analytics_seen_at", AnalyticsSeen::Table.into_iden(), vec![AnalyticsSeen::At.into_iden()]),
            (
                "idx_analytics_room_minutes_space",
                AnalyticsRoomMinutes::Table.into_iden(),
                vec![AnalyticsRoomMinutes::SpaceId.into_iden(), AnalyticsRoomMinutes::Minute.into_iden()],
            ),
            (
                "idx_analytics_sessions_space_left",
                AnalyticsSessions::Table.into_iden(),
                vec![AnalyticsSessions::SpaceId.into_iden(), AnalyticsSessions::LeftAt.into_iden()],
            ),
            (
                "idx_analytics_sessions_left",
                AnalyticsSessions::Table.into_iden(),
                vec![AnalyticsSessions::LeftAt.into_iden()],
            ),
            (
                "idx_analytics_space_minutes_minute",
                AnalyticsSpaceMinutes::Table.into_iden(),
                vec![AnalyticsSpaceMinutes::Minute.into_iden()],
            ),
        ] {
            let mut idx = Index::create().name(name).table(table).take();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AnalyticsSeen::Table.into_iden(),
            AnalyticsSessions::Table.into_iden(),
            AnalyticsRoomMinutes::Table.into_iden(),
            AnalyticsMinuteUsers::Table.into_iden(),
            AnalyticsSpaceMinutes::Table.into_iden(),
            EventOffsets::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum EventOffsets {
    Table,
    Topic,
    Partition,
    NextOffset,
    LastDigest,
    Owner,
    LeaseUntil,
    UpdatedAt,
}
#[derive(DeriveIden)]
enum AnalyticsSpaceMinutes {
    Table,
    SpaceId,
    Minute,
    Joins,
    Leaves,
    Messages,
    ActiveUsers,
}
#[derive(DeriveIden)]
enum AnalyticsMinuteUsers {
    Table,
    SpaceId,
    Minute,
    UserId,
}
#[derive(DeriveIden)]
enum AnalyticsRoomMinutes {
    Table,
    ChatroomId,
    Minute,
    SpaceId,
    Messages,
}
#[derive(DeriveIden)]
enum AnalyticsSessions {
    Table,
    SessionId,
    SpaceId,
    UserId,
    JoinedAt,
    LeftAt,
    DurationMs,
}
#[derive(DeriveIden)]
enum AnalyticsSeen {
    Table,
    EventKey,
    At,
}
