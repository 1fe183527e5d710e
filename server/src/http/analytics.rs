//! Analytics over HTTP, read from the tables the event fold fills (from
//! Kafka's topics, or in-process without Kafka).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::DateTime;
use metaverse_actors::pipeline::fold::{MINUTE_MS, minute_of};
use metaverse_schema::{
    now_millis,
    store::{
        DatabaseConnection,
        analytics::read::{self, SpaceTotals},
        chatrooms, spaces,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    error::{ApiError, ErrorBody},
    extract::{AdminUser, AuthUser},
};
use crate::{auth::Role, state::AppState};
use metaverse_schema::rfc3339_millis;

/// The longest range one request may cover.
const MAX_RANGE_MS: i64 = 7 * 24 * 60 * MINUTE_MS;
const DEFAULT_RANGE_MS: i64 = 60 * MINUTE_MS;
/// Spaces listed in the overview, at most (busiest first).
const OVERVIEW_SPACES: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
pub struct RangeQuery {
    /// Start (RFC 3339 or Unix milliseconds); default: an hour before `to`.
    pub from: Option<String>,
    /// End, exclusive (RFC 3339 or Unix milliseconds); default: now. At most 7 days after `from`.
    pub to: Option<String>,
}

fn parse_time(field: &str, raw: &str) -> Result<i64, ApiError> {
    let raw = raw.trim();
    if let Ok(ms) = raw.parse::<i64>() {
        if (0..=253_402_300_799_999).contains(&ms) {
            return Ok(ms);
        }
    } else if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    Err(ApiError::invalid(field, "expected an RFC 3339 time or Unix milliseconds"))
}

/// The range as whole minutes: `[from, to)`.
fn range(q: &RangeQuery) -> Result<(i64, i64), ApiError> {
    let to = match &q.to {
        Some(t) => parse_time("to", t)?,
        None => now_millis(),
    };
    let from = match &q.from {
        Some(f) => parse_time("from", f)?,
        None => to - DEFAULT_RANGE_MS,
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    if to - from > MAX_RANGE_MS {
        return Err(ApiError::invalid("to", "the range may cover at most 7 days"));
    }
    // Round `to` up, so the minute it falls in is included.
    Ok((minute_of(from), minute_of(to - 1) + MINUTE_MS))
}

#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub joins: i64,
    pub leaves: i64,
    pub messages: i64,
    /// Messages with an attachment (counted in `messages` too).
    pub attachments: i64,
    /// Distinct users present at any time in the range.
    pub active_users: i64,
    /// The most users present in one minute.
    pub peak_active_users: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinuteView {
    /// The minute's start.
    pub minute: String,
    pub active_users: i64,
    pub joins: i64,
    pub leaves: i64,
    pub messages: i64,
    pub attachments: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomCount {
    pub chatroom_id: String,
    /// `null` when the room was deleted since.
    pub name: Option<String>,
    pub messages: i64,
}

/// Visits that ended in the range.
#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionStats {
    pub count: i64,
    pub average_ms: i64,
    pub max_ms: i64,
    pub total_ms: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpaceAnalytics {
    pub space_id: String,
    pub from: String,
    pub to: String,
    pub totals: Totals,
    /// Only minutes with activity, oldest first.
    pub minutes: Vec<MinuteView>,
    /// Busiest first.
    pub rooms: Vec<RoomCount>,
    pub sessions: SessionStats,
}

// Named apart in the OpenAPI document: components are keyed by bare type
// name, so `space::SpaceSummary` (the list of `/space/all`) replaced it and
// one of the two routes was documented with the other's schema.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SpaceActivity)]
pub struct SpaceSummary {
    pub space_id: String,
    /// `null` when the space was deleted since.
    pub name: Option<String>,
    pub joins: i64,
    pub leaves: i64,
    pub messages: i64,
    pub attachments: i64,
    pub active_users: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub sessions: SessionStats,
    /// The busiest spaces (by messages, then joins), at most 100.
    pub spaces: Vec<SpaceSummary>,
}

/// Distinct users present in the range (in one space, or everywhere).
async fn distinct_users(db: &DatabaseConnection, space_id: Option<&str>, from: i64, to: i64) -> Result<i64, ApiError> {
    Ok(read::distinct_users(db, space_id, from, to).await?)
}

async fn session_stats(
    db: &DatabaseConnection,
    space_id: Option<&str>,
    from: i64,
    to: i64,
) -> Result<SessionStats, ApiError> {
    let t = read::session_totals(db, space_id, from, to).await?;
    let (count, total) = (t.count, t.total_ms);
    Ok(SessionStats {
        count,
        average_ms: if count > 0 { total / count } else { 0 },
        max_ms: t.longest_ms,
        total_ms: total,
    })
}

/// Usage of one space per minute: active users, joins, leaves and messages,
/// message counts per room, and visit lengths. For the space's creator or
/// an admin.
#[utoipa::path(get, path = "/api/v1/analytics/spaces/{spaceId}", tag = "analytics",
    params(("spaceId" = String, Path), RangeQuery), security(("bearer" = [])),
    responses((status = 200, body = SpaceAnalytics), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn space_analytics(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let space_id = path.into_inner();
    let (from, to) = range(&query)?;
    let admin = caller.0.role == Role::Admin;
    let found = if space_id.len() <= 64 { spaces::find(&state.db, &space_id).await? } else { None };
    match &found {
        Some(s) if s.creator_id == caller.0.user_id || admin => {}
        // An admin may read what remains of a deleted space.
        None if admin => {}
        Some(_) => return Err(ApiError::forbidden("only the space's creator or an admin may read its analytics")),
        None => return Err(ApiError::not_found("no such space")),
    }
    let db = &state.db;
    let rows = read::space_minutes(db, &space_id, from, to).await?;
    let mut totals = Totals::default();
    for r in &rows {
        totals.joins += r.joins;
        totals.leaves += r.leaves;
        totals.messages += r.messages;
        totals.attachments += r.attachments;
        totals.peak_active_users = totals.peak_active_users.max(r.active_users);
    }
    totals.active_users = distinct_users(db, Some(&space_id), from, to).await?;
    let minutes = rows
        .into_iter()
        .map(|r| MinuteView {
            minute: rfc3339_millis(r.minute),
            active_users: r.active_users,
            joins: r.joins,
            leaves: r.leaves,
            messages: r.messages,
            attachments: r.attachments,
        })
        .collect();

    let counts = read::room_messages(db, &space_id, from, to).await?;
    let names: HashMap<String, String> = chatrooms::names(db, counts.iter().map(|c| c.0.clone()).collect()).await?;
    let mut rooms: Vec<RoomCount> = counts
        .into_iter()
        .map(|(id, n)| RoomCount { name: names.get(&id).cloned(), chatroom_id: id, messages: n })
        .collect();
    rooms.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.chatroom_id.cmp(&b.chatroom_id)));

    let sessions = session_stats(db, Some(&space_id), from, to).await?;
    Ok(HttpResponse::Ok().json(SpaceAnalytics {
        space_id,
        from: rfc3339_millis(from),
        to: rfc3339_millis(to),
        totals,
        minutes,
        rooms,
        sessions,
    }))
}

/// Usage across all spaces (admin).
#[utoipa::path(get, path = "/api/v1/analytics/overview", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Overview), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn overview(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = range(&query)?;
    let db = &state.db;
    let per_space = read::per_space(db, from, to).await?;
    let active: HashMap<String, i64> = read::distinct_users_per_space(db, from, to).await?;
    let mut totals = Totals::default();
    let mut spaces: Vec<SpaceSummary> = per_space
        .into_iter()
        .map(|SpaceTotals { space_id, joins, leaves, messages, attachments, peak_active_users: peak }| {
            totals.joins += joins;
            totals.leaves += leaves;
            totals.messages += messages;
            totals.attachments += attachments;
            totals.peak_active_users = totals.peak_active_users.max(peak);
            SpaceSummary {
                active_users: active.get(&space_id).copied().unwrap_or(0),
                space_id,
                name: None,
                joins,
                leaves,
                messages,
                attachments,
            }
        })
        .collect();
    spaces.sort_by(|a, b| (b.messages, b.joins).cmp(&(a.messages, a.joins)).then_with(|| a.space_id.cmp(&b.space_id)));
    spaces.truncate(OVERVIEW_SPACES);
    let names: HashMap<String, String> = spaces::names(db, spaces.iter().map(|s| s.space_id.clone()).collect()).await?;
    for s in &mut spaces {
        s.name = names.get(&s.space_id).cloned();
    }
    totals.active_users = distinct_users(db, None, from, to).await?;
    let sessions = session_stats(db, None, from, to).await?;
    Ok(HttpResponse::Ok().json(Overview {
        from: rfc3339_millis(from),
        to: rfc3339_millis(to),
        totals,
        sessions,
        spaces,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery { from: from.map(Into::into), to: to.map(Into::into) }
    }

    #[test]
    fn ranges_are_whole_minutes_and_bounded() {
        assert_eq!(range(&q(Some("61000"), Some("120001"))).unwrap(), (60_000, 180_000));
        assert_eq!(range(&q(Some("1970-01-01T00:01:00Z"), Some("1970-01-01T00:02:00Z"))).unwrap(), (60_000, 120_000));
        assert!(range(&q(Some("5000"), Some("5000"))).is_err(), "empty range");
        assert!(range(&q(Some("0"), Some(&(MAX_RANGE_MS + 1).to_string()))).is_err(), "too long");
        assert!(range(&q(Some("yesterday"), None)).is_err());
        assert!(range(&q(Some("-5"), Some("10"))).is_err());
        assert!(range(&q(None, None)).is_ok());
    }
}
