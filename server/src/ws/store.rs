//! What the real-time side reads and writes in the database, all off the
//! SpaceActor's path: loading a space before its actor starts, membership
//! and last position at join. (Positions saved on leave go through
//! `metaverse_actors::writers::positions`.)

use metaverse_actors::{Rect, space::SpaceInit};
use metaverse_protocol::Position;
use metaverse_schema::{
    now_millis,
    store::{DatabaseConnection, DbErr, members, spaces, users},
};

/// Re-reads a space's static elements and hands them to its live actor
/// (called after an element edit commits, and by a join that may have read
/// before one).
pub async fn push_statics(
    db: &DatabaseConnection,
    registry: &metaverse_actors::Registry,
    space_id: &str,
) -> Result<(), DbErr> {
    let tick = registry.statics_tick();
    if registry.get(space_id).is_some() {
        let (rects, areas) = element_rects(db, space_id).await?;
        registry.set_static(space_id, tick, rects, areas);
    }
    Ok(())
}

/// The tiles a space's static elements cover, and its private areas.
pub async fn element_rects(db: &DatabaseConnection, space_id: &str) -> Result<(Vec<Rect>, Vec<Rect>), DbErr> {
    let (mut statics, mut areas) = (Vec::new(), Vec::new());
    for (p, e) in spaces::blocking_placements(db, space_id).await? {
        let r = Rect { x: p.x, y: p.y, width: e.width, height: e.height };
        if e.is_static {
            statics.push(r);
        }
        if e.private_area {
            areas.push(r);
        }
    }
    Ok((statics, areas))
}

/// Loads a space; `statics_tick` must be taken before the call.
pub async fn load_space(
    db: &DatabaseConnection,
    space_id: &str,
    statics_tick: u64,
) -> Result<Option<SpaceInit>, DbErr> {
    let Some(s) = spaces::find(db, space_id).await? else {
        return Ok(None);
    };
    let (statics, areas) = element_rects(db, space_id).await?;
    Ok(Some(SpaceInit {
        space_id: s.id,
        width: s.width,
        height: s.height,
        statics,
        statics_tick,
        areas,
        proximity_radius: s.proximity_radius,
    }))
}

/// The user's avatar, shown with their presence.
pub async fn avatar_of(db: &DatabaseConnection, user_id: &str) -> Result<Option<String>, DbErr> {
    users::avatar_of(db, user_id).await
}

/// Records the user as a member of the space (first join) and returns
/// where they last stood, if anywhere.
pub async fn enter(db: &DatabaseConnection, space_id: &str, user_id: &str) -> Result<Option<Position>, DbErr> {
    let last = members::enter_space(db, space_id, user_id, now_millis()).await?;
    Ok(last.map(|(x, y)| Position { x, y }))
}
