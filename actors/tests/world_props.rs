//! Property tests of `World`: random grids with random static elements,
//! random users and a random interleaving of moves, removals, re-spawns and
//! element changes, checked after every step against the contract's rules
//! and against a simple model of who stands where.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use metaverse_actors::{Grid, Rect, Reject, World};
use metaverse_protocol::Position;
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

/// Users are named `u0`..`u29`; operations pick any of them, present or not.
const MAX_USERS: usize = 30;

fn name(i: usize) -> String {
    format!("u{i}")
}

fn at(x: i32, y: i32) -> Position {
    Position { x, y }
}

#[derive(Clone, Debug)]
enum Op {
    Move { user: usize, dx: i32, dy: i32 },
    Remove { user: usize },
    Spawn { user: usize, preferred: Option<(i32, i32)> },
    SetStatic { rects: Vec<Rect> },
}

#[derive(Clone, Debug)]
struct Scenario {
    width: i32,
    height: i32,
    rects: Vec<Rect>,
    /// Preferred tile of each initial user (`u0`..), if any.
    initial: Vec<Option<(i32, i32)>>,
    ops: Vec<Op>,
    seed: u64,
}

fn rect() -> impl Strategy<Value = Rect> {
    // Partly outside the grid and empty rects too: blocking clips.
    (-3..22i32, -3..22i32, 0..7i32, 0..7i32).prop_map(|(x, y, width, height)| Rect { x, y, width, height })
}

/// A preferred tile: mostly inside a 20x20 area, sometimes just outside.
fn preferred() -> impl Strategy<Value = Option<(i32, i32)>> {
    prop::option::of((-1..21i32, -1..21i32))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..MAX_USERS, -2..=2i32, -2..=2i32)
            .prop_map(|(user, dx, dy)| Op::Move { user, dx, dy }),
        2 => (0..MAX_USERS).prop_map(|user| Op::Remove { user }),
        2 => (0..MAX_USERS, preferred()).prop_map(|(user, preferred)| Op::Spawn { user, preferred }),
        1 => prop::collection::vec(rect(), 0..4).prop_map(|rects| Op::SetStatic { rects }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1..20i32,
        1..20i32,
        prop::collection::vec(rect(), 0..6),
        prop::collection::vec(preferred(), 1..MAX_USERS),
        prop::collection::vec(op(), 0..500),
        any::<u64>(),
    )
        .prop_map(|(width, height, rects, initial, ops, seed)| Scenario {
            width,
            height,
            rects,
            initial,
            ops,
            seed,
        })
}

/// What the test believes: who stands where, and who is standing on a tile
/// that was walkable when they got there but was blocked by `set_static`
/// since (allowed by design).
#[derive(Default)]
struct Model {
    positions: HashMap<String, Position>,
    stranded: HashSet<String>,
}

impl Model {
    fn occupant(&self, p: Position) -> Option<&str> {
        self.positions.iter().find(|(_, q)| **q == p).map(|(u, _)| u.as_str())
    }

    fn is_free(&self, grid: &Grid, p: Position) -> bool {
        grid.is_walkable(p.x, p.y) && self.occupant(p).is_none()
    }

    fn free_tiles(&self, grid: &Grid) -> usize {
        (0..grid.height())
            .flat_map(|y| (0..grid.width()).map(move |x| at(x, y)))
            .filter(|p| self.is_free(grid, *p))
            .count()
    }
}

/// The invariants that hold after every step.
fn check_invariants(world: &World, model: &Model) -> Result<(), TestCaseError> {
    let grid = world.grid();
    let mut seen: HashMap<Position, &str> = HashMap::new();
    let mut count = 0;
    for (user, p) in world.positions() {
        count += 1;
        if let Some(other) = seen.insert(p, user) {
            return Err(TestCaseError::fail(format!("{user} and {other} share tile {p:?}")));
        }
        prop_assert!(grid.contains(p.x, p.y), "{user} outside the grid at {p:?}");
        prop_assert!(
            grid.is_walkable(p.x, p.y) || model.stranded.contains(&**user),
            "{user} stands on a static tile {p:?} it moved or spawned onto"
        );
        prop_assert_eq!(model.positions.get(&**user), Some(&p), "world and model disagree about {}", user);
        prop_assert_eq!(world.position(user), Some(p));
        prop_assert!(!world.is_free(p), "an occupied tile {:?} reads free", p);
    }
    prop_assert_eq!(count, model.positions.len());
    prop_assert_eq!(world.len(), model.positions.len());
    prop_assert_eq!(world.is_empty(), model.positions.is_empty());
    Ok(())
}

/// The rule `try_move` must follow, written independently, with the reason
/// it should give on refusal.
fn expected_move(grid: &Grid, model: &Model, user: &str, to: Position) -> Result<Position, Reject> {
    let Some(from) = model.positions.get(user) else {
        return Err(Reject::Absent);
    };
    let steps = (i64::from(to.x) - i64::from(from.x)).abs() + (i64::from(to.y) - i64::from(from.y)).abs();
    if steps != 1 {
        Err(Reject::TooFar)
    } else if !grid.contains(to.x, to.y) {
        Err(Reject::OutOfBounds)
    } else if !grid.is_walkable(to.x, to.y) {
        Err(Reject::Blocked)
    } else if model.occupant(to).is_some() {
        Err(Reject::Occupied)
    } else {
        Ok(to)
    }
}

fn spawn_and_check(
    world: &mut World,
    model: &mut Model,
    rng: &mut StdRng,
    user: &str,
    preferred: Option<Position>,
) -> Result<(), TestCaseError> {
    let already = model.positions.get(user).copied();
    let free_before = model.free_tiles(world.grid());
    let preferred_free = preferred.is_some_and(|p| model.is_free(world.grid(), p));
    let got = world.spawn(Arc::from(user), preferred, rng);
    if let Some(p) = already {
        prop_assert_eq!(got, Some(p), "a placed user keeps their tile");
        return Ok(());
    }
    match got {
        None => prop_assert_eq!(free_before, 0, "spawn of {} found no tile with {} free", user, free_before),
        Some(p) => {
            prop_assert!(model.is_free(world.grid(), p), "{user} spawned onto {p:?}, which was not free");
            if preferred_free {
                prop_assert_eq!(Some(p), preferred, "a free preferred tile is used");
            }
            model.positions.insert(user.to_owned(), p);
            model.stranded.remove(user);
        }
    }
    Ok(())
}

fn run(s: Scenario) -> Result<(), TestCaseError> {
    let mut grid = Grid::new(s.width, s.height);
    for r in &s.rects {
        grid.block(*r);
    }
    let mut world = World::new(grid);
    let mut model = Model::default();
    let mut rng = StdRng::seed_from_u64(s.seed);

    for (i, pref) in s.initial.iter().enumerate() {
        let pref = pref.map(|(x, y)| at(x, y));
        spawn_and_check(&mut world, &mut model, &mut rng, &name(i), pref)?;
        check_invariants(&world, &model)?;
    }

    for op in s.ops {
        match op {
            Op::Move { user, dx, dy } => {
                let user = name(user);
                let before = world.position(&user);
                let to = match before {
                    Some(p) => at(p.x + dx, p.y + dy),
                    None => at(dx, dy),
                };
                let expected = expected_move(world.grid(), &model, &user, to);
                let got = world.try_move(&user, to);
                prop_assert_eq!(got, expected, "move of {} to {:?}", &user, to);
                match got {
                    Ok(p) => {
                        let from = before.expect("a mover was present");
                        prop_assert_eq!(p, to);
                        prop_assert_eq!((p.x - from.x).abs() + (p.y - from.y).abs(), 1);
                        prop_assert!(world.grid().is_walkable(p.x, p.y));
                        // Released: free again unless it was blocked under them.
                        prop_assert_eq!(
                            world.is_free(from),
                            world.grid().is_walkable(from.x, from.y),
                            "the old tile is released"
                        );
                        prop_assert_eq!(world.position(&user), Some(p));
                        model.positions.insert(user.clone(), p);
                        model.stranded.remove(&user);
                    }
                    Err(_) => {
                        prop_assert_eq!(world.position(&user), before, "a refused move stays");
                    }
                }
            }
            Op::Remove { user } => {
                let user = name(user);
                let expected = model.positions.remove(&user);
                model.stranded.remove(&user);
                prop_assert_eq!(world.remove(&user), expected);
                prop_assert_eq!(world.position(&user), None);
                if let Some(p) = expected {
                    prop_assert_eq!(world.is_free(p), world.grid().is_walkable(p.x, p.y));
                }
            }
            Op::Spawn { user, preferred } => {
                let pref = preferred.map(|(x, y)| at(x, y));
                spawn_and_check(&mut world, &mut model, &mut rng, &name(user), pref)?;
            }
            Op::SetStatic { rects } => {
                world.set_static(&rects);
                let mut fresh = Grid::new(s.width, s.height);
                for r in &rects {
                    fresh.block(*r);
                }
                for y in 0..s.height {
                    for x in 0..s.width {
                        prop_assert_eq!(
                            world.grid().is_walkable(x, y),
                            fresh.is_walkable(x, y),
                            "set_static replaces the elements"
                        );
                    }
                }
                for (user, p) in &model.positions {
                    if !fresh.is_walkable(p.x, p.y) {
                        model.stranded.insert(user.clone());
                    }
                }
                // Nobody is moved by it.
                for (user, p) in &model.positions {
                    prop_assert_eq!(world.position(user), Some(*p));
                }
            }
        }
        check_invariants(&world, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Integration tests have no lib.rs for proptest to file regressions
        // next to; a failure prints its minimal input instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn world_keeps_its_invariants(s in scenario()) {
        run(s)?;
    }

    /// `spawn` with a free preferred tile takes exactly that tile; with a
    /// preferred tile that is not free it takes another, free one.
    #[test]
    fn spawn_uses_a_free_preferred_tile(
        width in 1..20i32,
        height in 1..20i32,
        rects in prop::collection::vec(rect(), 0..6),
        others in 0..30usize,
        pick in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let mut grid = Grid::new(width, height);
        for r in &rects {
            grid.block(*r);
        }
        let mut world = World::new(grid);
        let mut rng = StdRng::seed_from_u64(seed);
        for i in 0..others {
            world.spawn(Arc::from(name(i)), None, &mut rng);
        }
        let tiles: Vec<Position> = (0..height)
            .flat_map(|y| (0..width).map(move |x| at(x, y)))
            .collect();
        let free: Vec<Position> = tiles.iter().copied().filter(|p| world.is_free(*p)).collect();
        let taken: Vec<Position> = tiles.iter().copied().filter(|p| !world.is_free(*p)).collect();

        if !free.is_empty() {
            let p = *pick.get(&free);
            prop_assert_eq!(world.spawn(Arc::from("new"), Some(p), &mut rng), Some(p));
            prop_assert_eq!(world.position("new"), Some(p));
            prop_assert!(!world.is_free(p));
            world.remove("new");
        }

        // A preferred tile that is blocked, taken or outside is not used.
        let mut not_free = taken;
        not_free.extend([at(-1, 0), at(0, -1), at(width, 0), at(0, height)]);
        let p = *pick.get(&not_free);
        match world.spawn(Arc::from("other"), Some(p), &mut rng) {
            Some(q) => {
                prop_assert_ne!(q, p);
                prop_assert!(free.contains(&q), "{:?} was not free", q);
            }
            None => prop_assert!(free.is_empty()),
        }
    }
}

/// A full grid refuses spawns until someone leaves, whatever is preferred.
#[test]
fn spawn_returns_none_only_when_full() {
    let mut grid = Grid::new(3, 2);
    grid.block(Rect { x: 1, y: 0, width: 1, height: 2 });
    let mut world = World::new(grid);
    let mut rng = StdRng::seed_from_u64(11);
    for i in 0..4 {
        assert!(world.spawn(Arc::from(name(i)), None, &mut rng).is_some());
    }
    for pref in [None, Some(at(0, 0)), Some(at(1, 0)), Some(at(9, 9))] {
        assert_eq!(world.spawn(Arc::from("late"), pref, &mut rng), None);
    }
    let freed = world.remove("u2").unwrap();
    assert_eq!(world.spawn(Arc::from("late"), None, &mut rng), Some(freed));
}
