//! What the real-time side reads and writes in the database, all off the
//! SpaceActor's path: loading a space before its actor starts, membership
//! and last position at join, and the writer that saves positions on leave.

use std::collections::HashSet;

use metaverse_actors::{
    Rect,
    space::{PositionUpdate, SpaceInit},
};
use metaverse_protocol::Position;
use metaverse_schema::{
    entity::{element, space, space_element, space_member, user},
    now_millis,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};
use tokio::sync::mpsc;

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
    let placed = space_element::Entity::find().filter(space_element::Column::SpaceId.eq(space_id)).all(db).await?;
    let ids: HashSet<String> = placed.iter().map(|p| p.element_id.clone()).collect();
    let kinds: std::collections::HashMap<String, element::Model> = element::Entity::find()
        .filter(element::Column::Id.is_in(ids))
        .filter(Condition::any().add(element::Column::IsStatic.eq(true)).add(element::Column::PrivateArea.eq(true)))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let (mut statics, mut areas) = (Vec::new(), Vec::new());
    for p in &placed {
        let Some(e) = kinds.get(&p.element_id) else { continue };
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
    let Some(s) = space::Entity::find_by_id(space_id.to_owned()).one(db).await? else {
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
    Ok(user::Entity::find_by_id(user_id.to_owned()).one(db).await?.and_then(|u| u.avatar_id))
}

/// Records the user as a member of the space (first join) and returns
/// where they last stood, if anywhere.
pub async fn enter(db: &DatabaseConnection, space_id: &str, user_id: &str) -> Result<Option<Position>, DbErr> {
    let existing = space_member::Entity::find_by_id((space_id.to_owned(), user_id.to_owned())).one(db).await?;
    match existing {
        Some(m) => Ok(m.last_x.zip(m.last_y).map(|(x, y)| Position { x, y })),
        None => {
            let row = space_member::ActiveModel {
                space_id: Set(space_id.to_owned()),
                user_id: Set(user_id.to_owned()),
                last_x: Set(None),
                last_y: Set(None),
                joined_at: Set(now_millis()),
            };
            space_member::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([space_member::Column::SpaceId, space_member::Column::UserId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .map(|_| None)
                .or_else(|e| if matches!(e, DbErr::RecordNotInserted) { Ok(None) } else { Err(e) })
        }
    }
}

async fn save_position(db: &DatabaseConnection, u: &PositionUpdate) -> Result<(), DbErr> {
    let row = space_member::ActiveModel {
        space_id: Set(u.space_id.to_string()),
        user_id: Set(u.user_id.to_string()),
        last_x: Set(Some(u.position.x)),
        last_y: Set(Some(u.position.y)),
        joined_at: Set(now_millis()),
    };
    space_member::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([space_member::Column::SpaceId, space_member::Column::UserId])
                .update_columns([space_member::Column::LastX, space_member::Column::LastY])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Starts the task that saves last positions; spaces send to the returned
/// channel with `try_send` and never wait for it.
pub fn spawn_position_writer(db: DatabaseConnection, capacity: usize) -> mpsc::Sender<PositionUpdate> {
    let (tx, mut rx) = mpsc::channel::<PositionUpdate>(capacity);
    actix_rt::spawn(async move {
        while let Some(update) = rx.recv().await {
            if let Err(e) = save_position(&db, &update).await {
                // A deleted space or user makes the row impossible; anything
                // else is worth a warning, not a retry (positions are a hint).
                tracing::warn!(error = %e, space = %update.space_id, "saving a last position failed");
            }
        }
    });
    tx
}
