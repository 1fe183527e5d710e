//! Reads behind the analytics reports. Ranges are `[from, to)` in Unix
//! milliseconds of whole minutes. Sums are cast to BIGINT because
//! PostgreSQL's SUM of a bigint is a numeric, which sea-orm will not read
//! as an `i64`.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use crate::entity::{
    analytics_minute_user as mu, analytics_room_minute as rm, analytics_session as sess, analytics_space_minute as sm,
};

/// Distinct users present in the range, in one space or everywhere.
pub async fn distinct_users<C: ConnectionTrait>(
    db: &C,
    space_id: Option<&str>,
    from: i64,
    to: i64,
) -> Result<i64, DbErr> {
    let mut q = mu::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(DISTINCT user_id)"), "n")
        .filter(mu::Column::Minute.gte(from))
        .filter(mu::Column::Minute.lt(to));
    if let Some(id) = space_id {
        q = q.filter(mu::Column::SpaceId.eq(id));
    }
    Ok(q.into_tuple::<i64>().one(db).await?.unwrap_or(0))
}

/// Visits that ended in the range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionTotals {
    /// Visits.
    pub count: i64,
    /// Their summed length, for the average.
    pub total_ms: i64,
    /// The longest of them.
    pub longest_ms: i64,
}

/// Visits that ended in the range (by `left_at`), in one space or everywhere.
pub async fn session_totals<C: ConnectionTrait>(
    db: &C,
    space_id: Option<&str>,
    from: i64,
    to: i64,
) -> Result<SessionTotals, DbErr> {
    let mut q = sess::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(Expr::cust("CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT)"), "total")
        .column_as(Expr::cust("CAST(COALESCE(MAX(duration_ms), 0) AS BIGINT)"), "longest")
        .filter(sess::Column::LeftAt.gte(from))
        .filter(sess::Column::LeftAt.lt(to));
    if let Some(id) = space_id {
        q = q.filter(sess::Column::SpaceId.eq(id));
    }
    let (count, total_ms, longest_ms) = q.into_tuple::<(i64, i64, i64)>().one(db).await?.unwrap_or((0, 0, 0));
    Ok(SessionTotals { count, total_ms, longest_ms })
}

/// A space's minutes in the range, oldest first.
pub async fn space_minutes<C: ConnectionTrait>(
    db: &C,
    space_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<sm::Model>, DbErr> {
    sm::Entity::find()
        .filter(sm::Column::SpaceId.eq(space_id))
        .filter(sm::Column::Minute.gte(from))
        .filter(sm::Column::Minute.lt(to))
        .order_by_asc(sm::Column::Minute)
        .all(db)
        .await
}

/// Messages per room of a space in the range, by room id (unordered).
pub async fn room_messages<C: ConnectionTrait>(
    db: &C,
    space_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, i64)>, DbErr> {
    rm::Entity::find()
        .select_only()
        .column(rm::Column::ChatroomId)
        .column_as(Expr::cust("CAST(SUM(messages) AS BIGINT)"), "n")
        .filter(rm::Column::SpaceId.eq(space_id))
        .filter(rm::Column::Minute.gte(from))
        .filter(rm::Column::Minute.lt(to))
        .group_by(rm::Column::ChatroomId)
        .into_tuple()
        .all(db)
        .await
}

/// One space's sums over a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceTotals {
    /// The space summed.
    pub space_id: String,
    /// Visits begun in the range.
    pub joins: i64,
    /// Visits ended in the range.
    pub leaves: i64,
    /// Chat messages counted (`text`, `emoji`, `image` and `file`).
    pub messages: i64,
    /// Of those, the messages with an attachment.
    pub attachments: i64,
    /// The most users present in any one minute.
    pub peak_active_users: i64,
}

type SpaceTotalsRow = (String, i64, i64, i64, i64, i64);

/// Sums per space over the range (unordered; spaces without rows absent).
pub async fn per_space<C: ConnectionTrait>(db: &C, from: i64, to: i64) -> Result<Vec<SpaceTotals>, DbErr> {
    let rows: Vec<SpaceTotalsRow> = sm::Entity::find()
        .select_only()
        .column(sm::Column::SpaceId)
        .column_as(Expr::cust("CAST(SUM(joins) AS BIGINT)"), "joins")
        .column_as(Expr::cust("CAST(SUM(leaves) AS BIGINT)"), "leaves")
        .column_as(Expr::cust("CAST(SUM(messages) AS BIGINT)"), "messages")
        .column_as(Expr::cust("CAST(SUM(attachments) AS BIGINT)"), "attachments")
        .column_as(Expr::cust("CAST(MAX(active_users) AS BIGINT)"), "peak")
        .filter(sm::Column::Minute.gte(from))
        .filter(sm::Column::Minute.lt(to))
        .group_by(sm::Column::SpaceId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(space_id, joins, leaves, messages, attachments, peak_active_users)| SpaceTotals {
            space_id,
            joins,
            leaves,
            messages,
            attachments,
            peak_active_users,
        })
        .collect())
}

/// Distinct users present per space over the range.
pub async fn distinct_users_per_space<C: ConnectionTrait>(
    db: &C,
    from: i64,
    to: i64,
) -> Result<HashMap<String, i64>, DbErr> {
    Ok(mu::Entity::find()
        .select_only()
        .column(mu::Column::SpaceId)
        .column_as(Expr::cust("COUNT(DISTINCT user_id)"), "n")
        .filter(mu::Column::Minute.gte(from))
        .filter(mu::Column::Minute.lt(to))
        .group_by(mu::Column::SpaceId)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}
