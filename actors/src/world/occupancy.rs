//! Who stands where in a space: the grid plus tile occupancy, and the move
//! and spawn rules docs/PROTOCOL.md states (one orthogonal step onto a
//! free tile; spawn on a free tile, the last one when it is free). Plain
//! data, no actor, so the rules are unit- and property-tested directly.

use std::{collections::HashMap, sync::Arc};

use metaverse_protocol::Position;
use rand::Rng;

use super::grid::{Grid, Rect};

/// A user id, shared cheaply between the world, members and events.
pub type UserId = Arc<str>;

/// Why a move was refused; the label feeds the rejected-moves metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// More than one tile (a diagonal counts as two).
    TooFar,
    /// Off the grid's edge.
    OutOfBounds,
    /// Into a static element.
    Blocked,
    /// Onto a tile someone stands on.
    Occupied,
    /// The mover is not in the world.
    Absent,
}

impl Reject {
    /// A stable label, so the metric's `reason` values do not change when
    /// variants are renamed.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::TooFar => "too-far",
            Reject::OutOfBounds => "out-of-bounds",
            Reject::Blocked => "blocked",
            Reject::Occupied => "occupied",
            Reject::Absent => "absent",
        }
    }
}

/// The one authority on who stands where in a space, so no two users ever
/// share a tile.
#[derive(Debug, Clone)]
pub struct World {
    grid: Grid,
    positions: HashMap<UserId, Position>,
    occupied: HashMap<Position, UserId>,
}

impl World {
    /// Starts empty: users enter only through [`World::spawn`], which
    /// enforces the spawn rules.
    pub fn new(grid: Grid) -> Self {
        Self { grid, positions: HashMap::new(), occupied: HashMap::new() }
    }

    /// Read-only, so static elements change only through [`World::set_static`].
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Users placed, counting suspended members, who keep their tile during
    /// the resume grace.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Pairs with `len`, as clippy expects of a collection.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Where a user stands, for snapshots, view cells and the last position
    /// saved on leave.
    pub fn position(&self, user: &str) -> Option<Position> {
        self.positions.get(user).copied()
    }

    /// Everyone placed, for building a joining user's snapshot of who is in
    /// view.
    pub fn positions(&self) -> impl Iterator<Item = (&UserId, Position)> {
        self.positions.iter().map(|(u, p)| (u, *p))
    }

    /// Free means walkable and nobody on it.
    pub fn is_free(&self, p: Position) -> bool {
        self.grid.is_walkable(p.x, p.y) && !self.occupied.contains_key(&p)
    }

    /// Places a user on `preferred` when it is free, else on a random free
    /// tile. `None` when the space has no free tile. A user already placed
    /// keeps their tile.
    pub fn spawn(&mut self, user: UserId, preferred: Option<Position>, rng: &mut impl Rng) -> Option<Position> {
        if let Some(p) = self.positions.get(&user) {
            return Some(*p);
        }
        let tile = preferred.filter(|p| self.is_free(*p)).or_else(|| self.random_free(rng))?;
        self.place(user, tile);
        Some(tile)
    }

    fn place(&mut self, user: UserId, p: Position) {
        self.occupied.insert(p, user.clone());
        self.positions.insert(user, p);
    }

    /// A few random probes (cheap while the space is mostly empty), then a
    /// scan from a random start, so a nearly full space still finds its
    /// last free tile.
    fn random_free(&self, rng: &mut impl Rng) -> Option<Position> {
        let (w, h) = (self.grid.width(), self.grid.height());
        for _ in 0..32 {
            let p = Position { x: rng.gen_range(0..w), y: rng.gen_range(0..h) };
            if self.is_free(p) {
                return Some(p);
            }
        }
        let total = w as i64 * h as i64;
        let start = rng.gen_range(0..total);
        (0..total)
            .map(|i| (start + i) % total)
            .filter_map(|i| {
                Some(Position { x: i32::try_from(i % i64::from(w)).ok()?, y: i32::try_from(i / i64::from(w)).ok()? })
            })
            .find(|p| self.is_free(*p))
    }

    /// Applies a move by those rules; on refusal the mover stays
    /// where they were.
    pub fn try_move(&mut self, user: &str, to: Position) -> Result<Position, Reject> {
        let (key, from) = match self.positions.get_key_value(user) {
            Some((k, p)) => (k.clone(), *p),
            None => return Err(Reject::Absent),
        };
        let steps = (to.x as i64 - from.x as i64).abs() + (to.y as i64 - from.y as i64).abs();
        if steps != 1 {
            return Err(Reject::TooFar);
        }
        if !self.grid.contains(to.x, to.y) {
            return Err(Reject::OutOfBounds);
        }
        if !self.grid.is_walkable(to.x, to.y) {
            return Err(Reject::Blocked);
        }
        if self.occupied.contains_key(&to) {
            return Err(Reject::Occupied);
        }
        self.occupied.remove(&from);
        self.place(key, to);
        Ok(to)
    }

    /// Frees the user's tile on leave; returns it so the last position can be
    /// saved.
    pub fn remove(&mut self, user: &str) -> Option<Position> {
        let p = self.positions.remove(user)?;
        self.occupied.remove(&p);
        Some(p)
    }

    /// Replaces the static elements. People already standing on a tile that
    /// became blocked stay there (they can step off; nobody can step on).
    pub fn set_static(&mut self, rects: &[Rect]) {
        let mut grid = Grid::new(self.grid.width(), self.grid.height());
        for r in rects {
            grid.block(*r);
        }
        self.grid = grid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn world() -> World {
        let mut g = Grid::new(5, 5);
        g.block(Rect { x: 2, y: 2, width: 1, height: 1 });
        World::new(g)
    }

    fn id(s: &str) -> UserId {
        Arc::from(s)
    }

    fn at(x: i32, y: i32) -> Position {
        Position { x, y }
    }

    #[test]
    fn moves_follow_the_rules() {
        let mut w = world();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(w.spawn(id("a"), Some(at(1, 2)), &mut rng), Some(at(1, 2)));
        assert_eq!(w.spawn(id("b"), Some(at(0, 2)), &mut rng), Some(at(0, 2)));
        assert_eq!(w.try_move("a", at(2, 2)), Err(Reject::Blocked));
        assert_eq!(w.try_move("a", at(0, 2)), Err(Reject::Occupied));
        assert_eq!(w.try_move("a", at(3, 2)), Err(Reject::TooFar));
        assert_eq!(w.try_move("a", at(2, 3)), Err(Reject::TooFar), "diagonal counts as two");
        assert_eq!(w.try_move("a", at(1, 2)), Err(Reject::TooFar), "standing still is no step");
        assert_eq!(w.try_move("b", at(-1, 2)), Err(Reject::OutOfBounds));
        assert_eq!(w.try_move("zed", at(0, 0)), Err(Reject::Absent));
        assert_eq!(w.try_move("a", at(1, 1)), Ok(at(1, 1)));
        assert!(w.is_free(at(1, 2)), "the old tile is released");
        assert_eq!(w.position("a"), Some(at(1, 1)));
    }

    #[test]
    fn spawn_avoids_blocked_and_taken_tiles_and_reports_full() {
        let mut g = Grid::new(2, 2);
        g.block(Rect { x: 0, y: 0, width: 1, height: 1 });
        let mut w = World::new(g);
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for name in ["a", "b", "c"] {
            let p = w.spawn(id(name), Some(at(0, 0)), &mut rng).expect("a free tile");
            assert_ne!(p, at(0, 0));
            assert!(seen.insert(p));
        }
        assert_eq!(w.spawn(id("d"), None, &mut rng), None);
        assert!(w.remove("b").is_some());
        assert!(w.spawn(id("d"), None, &mut rng).is_some());
    }

    #[test]
    fn new_static_elements_change_the_rules() {
        let mut w = world();
        let mut rng = StdRng::seed_from_u64(3);
        w.spawn(id("a"), Some(at(0, 0)), &mut rng);
        w.set_static(&[Rect { x: 1, y: 0, width: 1, height: 1 }]);
        assert_eq!(w.try_move("a", at(1, 0)), Err(Reject::Blocked));
        assert!(w.grid().is_walkable(2, 2), "the old element is gone");
    }
}
