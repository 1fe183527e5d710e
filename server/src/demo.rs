//! Demo content for a fresh install: avatars, elements and a "Lobby" map,
//! so a new user can sign up and create a space at once.

use metaverse_schema::{
    entity::{avatar, element, map, map_element},
    now_millis,
    store::{DatabaseConnection, catalog, maps::NewMap},
};

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub const LOBBY_WIDTH: i32 = 40;
pub const LOBBY_HEIGHT: i32 = 30;

/// One placeable kind: name (for the image path), size, and whether it blocks.
struct Kind {
    name: &'static str,
    width: i32,
    height: i32,
    is_static: bool,
}

const KINDS: &[Kind] = &[
    Kind { name: "wall", width: 1, height: 1, is_static: true },
    Kind { name: "table", width: 2, height: 1, is_static: true },
    Kind { name: "plant", width: 1, height: 1, is_static: true },
    Kind { name: "bookshelf", width: 2, height: 1, is_static: true },
    Kind { name: "chair", width: 1, height: 1, is_static: false },
    Kind { name: "rug", width: 3, height: 2, is_static: false },
];

const AVATARS: &[&str] = &["Astro", "Pixel", "Robo", "Fox"];

/// The Lobby's layout as (kind name, x, y): an outer wall, a meeting room
/// in the top-right corner with a doorway, tables with chairs, plants and
/// shelves. Static pieces never cover the walkable middle of the room.
fn lobby_layout() -> Vec<(&'static str, i32, i32)> {
    let (w, h) = (LOBBY_WIDTH, LOBBY_HEIGHT);
    let mut out = Vec::new();
    for x in 0..w {
        out.push(("wall", x, 0));
        out.push(("wall", x, h - 1));
    }
    for y in 1..h - 1 {
        out.push(("wall", 0, y));
        out.push(("wall", w - 1, y));
    }
    // Meeting room: x 28..39, y 1..11, door at (28, 6).
    for y in 1..11 {
        if y != 6 {
            out.push(("wall", 28, y));
        }
    }
    for x in 29..w - 1 {
        out.push(("wall", x, 11));
    }
    out.extend([
        ("table", 32, 4),
        ("table", 34, 4),
        ("chair", 32, 3),
        ("chair", 35, 3),
        ("chair", 32, 5),
        ("chair", 35, 5),
    ]);
    // Café tables in the open area.
    for (tx, ty) in [(6, 6), (14, 6), (6, 16), (14, 16), (22, 20)] {
        out.extend([("table", tx, ty), ("chair", tx - 1, ty), ("chair", tx + 2, ty)]);
    }
    out.extend([("plant", 1, 1), ("plant", 27, 1), ("plant", 1, 28), ("plant", 38, 28)]);
    out.extend([("bookshelf", 3, 1), ("bookshelf", 5, 1), ("bookshelf", 30, 28)]);
    out.push(("rug", 18, 12));
    out
}

/// Seeds the catalogue when it is empty (no avatars, elements or maps).
/// Returns whether it did.
pub async fn seed_if_empty(db: &DatabaseConnection) -> anyhow::Result<bool> {
    if !catalog::is_empty(db).await? {
        return Ok(false);
    }
    let now = now_millis();
    let avatars = AVATARS
        .iter()
        .map(|name| avatar::Model {
            id: id(),
            name: (*name).to_owned(),
            image_url: format!("/assets/avatars/{}.png", name.to_lowercase()),
            created_at: now,
        })
        .collect();
    let mut ids = std::collections::HashMap::new();
    let mut elements = Vec::with_capacity(KINDS.len());
    for k in KINDS {
        let eid = id();
        ids.insert(k.name, eid.clone());
        elements.push(element::Model {
            id: eid,
            image_url: format!("/assets/elements/{}.png", k.name),
            width: k.width,
            height: k.height,
            is_static: k.is_static,
            // The meeting room's rug is a private area.
            private_area: k.name == "rug",
            created_at: now,
        });
    }
    let map_id = id();
    let map = map::Model {
        id: map_id.clone(),
        name: "Lobby".into(),
        width: LOBBY_WIDTH,
        height: LOBBY_HEIGHT,
        thumbnail: "/assets/maps/lobby.png".into(),
        created_at: now,
    };
    let placed = lobby_layout()
        .into_iter()
        .map(|(kind, x, y)| map_element::Model {
            id: id(),
            map_id: map_id.clone(),
            element_id: ids[kind].clone(),
            x,
            y,
        })
        .collect();
    catalog::seed(db, avatars, elements, NewMap { map, elements: placed }).await?;
    tracing::info!("created demo content: {} avatars, {} elements, map \"Lobby\"", AVATARS.len(), KINDS.len());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metaverse_actors::{Grid, Rect};

    #[test]
    fn lobby_fits_and_leaves_room_to_walk() {
        let mut grid = Grid::new(LOBBY_WIDTH, LOBBY_HEIGHT);
        for (name, x, y) in lobby_layout() {
            let k = KINDS.iter().find(|k| k.name == name).expect("known kind");
            let r = Rect { x, y, width: k.width, height: k.height };
            assert!(grid.contains_rect(r), "{name} at ({x},{y}) sticks out");
            if k.is_static {
                grid.block(r);
            }
        }
        let walkable = (0..LOBBY_HEIGHT)
            .flat_map(|y| (0..LOBBY_WIDTH).map(move |x| (x, y)))
            .filter(|&(x, y)| grid.is_walkable(x, y))
            .count();
        assert!(walkable > 800, "only {walkable} walkable tiles");
        assert!(grid.is_walkable(28, 6), "the meeting room door must be open");
    }
}
