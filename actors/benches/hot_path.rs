//! The work a space actor does per move and per tick, which bounds how many
//! users one actor (one thread) can carry before its mailbox backs up and
//! moves are refused as busy:
//!
//! - `world`: every `move` frame runs `World::try_move`, accepted or not
//!   (a rejected move costs the same lookups, so a client spamming walls is
//!   not free); every join runs `World::spawn`. The spawn case spawns and
//!   removes the same user so the world stays at 500 users: the number is
//!   the pair, not the spawn alone.
//! - `proximity`: every accepted move re-places the mover in `Proximity`,
//!   incrementally. `relink` is a step that gains or loses a neighbour
//!   (relink and regroup run), `quiet` one that changes nothing (only the
//!   3×3 cell scan runs); real traffic is a mix of the two. The `relink`
//!   step is the first the seeded layout offers, and its cost follows the
//!   groups it touches (printed), not the population: compare `relink`
//!   across sizes only with that in mind.
//! - `fanout`: every tick (20 per second) `Fanout::frames_for` runs for
//!   every member. In `whole` (40×30, everyone sees everyone, all batched
//!   MessagePack) the batch is built and encoded once and shared by all
//!   1000 viewers; in `aoi` (200×200, view 40×30) viewers are spread out,
//!   so selection runs per occupied cell and movers crossing a cell edge
//!   get `view-enter`/`view-leave`. `deliver` offers each viewer's frames to
//!   its `SessionLink` after a member lookup, as `SpaceActor::deliver` does.
//!   One iteration is one whole tick for 1000 viewers. The log is rebuilt
//!   untimed before each iteration, since frames are cached in it.
//!
//! What these leave out: the actor's mailbox and the metrics calls around
//! the flush (the space's own `flush_tick` is private), and waking the
//! session tasks: nobody waits on the receivers here, so `offer` is a bare
//! `try_send`. Queues are drained untimed between iterations so they never
//! fill.
//!
//! `cargo bench -p metaverse-actors --bench hot_path -- --quick`

// Bench setup unwraps: a panic there aborts a run that could not measure anything.
#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, hint::black_box, sync::Arc};

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metaverse_actors::{
    Grid, Rect, SessionLink, SessionPort, SpaceSettings, UserId, ViewWindow, World,
    link::{self, Offer},
    world::{
        aoi::Aoi,
        fanout::{Fanout, Viewer},
        proximity::Proximity,
        tick::{Profiles, TickLog},
    },
};
use metaverse_protocol::{Codec, Position};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

const SEED: u64 = 0x5eed;

fn uid(i: usize) -> UserId {
    Arc::from(format!("0190a1b2-c3d4-7e5f-8a9b-{i:012x}"))
}

fn at(x: i32, y: i32) -> Position {
    Position { x, y }
}

fn neighbours(p: Position) -> [Position; 4] {
    [at(p.x + 1, p.y), at(p.x - 1, p.y), at(p.x, p.y + 1), at(p.x, p.y - 1)]
}

/// `n` users on distinct random free tiles of `world`.
fn populate(world: &mut World, first: usize, n: usize, rng: &mut StdRng) -> Vec<UserId> {
    (first..first + n)
        .map(|i| {
            let u = uid(i);
            world.spawn(u.clone(), None, rng).expect("a free tile");
            u
        })
        .collect()
}

fn bench_world(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut grid = Grid::new(100, 100);
    // A wall down the middle, as static elements make.
    grid.block(Rect { x: 50, y: 10, width: 1, height: 80 });
    let mut base = World::new(grid);
    let (mover, neighbour, placeholder) = (uid(1_000_000), uid(1_000_001), uid(1_000_002));
    let (home, away, taken, wall) = (at(49, 50), at(48, 50), at(49, 51), at(50, 50));
    // `away` is held free while the crowd spawns, so the accepted move has
    // a free tile; `taken` and `wall` are the two refusals.
    base.spawn(mover.clone(), Some(home), &mut rng);
    base.spawn(neighbour, Some(taken), &mut rng);
    base.spawn(placeholder.clone(), Some(away), &mut rng);
    populate(&mut base, 0, 498, &mut rng);
    base.remove(&placeholder);
    assert_eq!(base.len(), 500);

    let mut group = c.benchmark_group("world");
    let mut w = base.clone();
    let mut there = false;
    group.bench_function("try_move/accepted", |b| {
        b.iter(|| {
            let to = if there { home } else { away };
            there = !there;
            w.try_move(black_box(&mover), black_box(to)).unwrap()
        });
    });
    let mut w = base.clone();
    group.bench_function("try_move/rejected_occupied", |b| {
        b.iter(|| w.try_move(black_box(&mover), black_box(taken)).unwrap_err());
    });
    group.bench_function("try_move/rejected_wall", |b| {
        b.iter(|| w.try_move(black_box(&mover), black_box(wall)).unwrap_err());
    });
    let newcomer = uid(2_000_000);
    group.bench_function("spawn_remove/random_tile", |b| {
        b.iter(|| {
            let p = w.spawn(black_box(newcomer.clone()), None, &mut rng).unwrap();
            w.remove(&newcomer);
            p
        });
    });
    let free = at(10, 95);
    assert!(w.is_free(free));
    group.bench_function("spawn_remove/preferred_tile", |b| {
        b.iter(|| {
            let p = w.spawn(black_box(newcomer.clone()), black_box(Some(free)), &mut rng).unwrap();
            w.remove(&newcomer);
            p
        });
    });
    group.finish();
}

/// A user of `prox` and a free neighbouring tile such that stepping there
/// changes its nearby set (`relink`) or does not.
fn pick_step(world: &World, prox: &mut Proximity, users: &[UserId], relink: bool) -> (UserId, Position, Position) {
    for u in users {
        let from = world.position(u).unwrap();
        for to in neighbours(from).into_iter().filter(|p| world.is_free(*p)) {
            let changed = !prox.place(u, to).changed.is_empty();
            let back = !prox.place(u, from).changed.is_empty();
            assert_eq!(changed, back);
            if changed == relink {
                return (u.clone(), from, to);
            }
        }
    }
    panic!("no step with relink={relink}");
}

fn bench_proximity(c: &mut Criterion) {
    let mut group = c.benchmark_group("proximity");
    for (users, side) in [(500, 100), (1000, 200)] {
        let mut rng = StdRng::seed_from_u64(SEED);
        let mut world = World::new(Grid::new(side, side));
        let ids = populate(&mut world, 0, users, &mut rng);
        let mut prox = Proximity::new(3, vec![]);
        for u in &ids {
            prox.place(u, world.position(u).unwrap());
        }
        for (name, relink) in [("relink", true), ("quiet", false)] {
            let (u, from, to) = pick_step(&world, &mut prox, &ids, relink);
            let size = |prox: &Proximity| {
                prox.group(&u).map_or(1, |g| ids.iter().filter(|v| prox.group(v) == Some(g)).count())
            };
            let home = size(&prox);
            prox.place(&u, to);
            let away = size(&prox);
            prox.place(&u, from);
            eprintln!("proximity/{users}u/{name}: the mover's group holds {home} users, {away} after the step");
            let mut there = false;
            group.bench_function(BenchmarkId::new(format!("place/{users}u_{side}x{side}_r3"), name), |b| {
                b.iter(|| {
                    let p = if there { from } else { to };
                    there = !there;
                    prox.place(black_box(&u), black_box(p))
                });
            });
            prox.place(&u, from);
        }
    }
    group.finish();
}

/// Usernames and positions, as the space's directory gives them.
struct Directory(HashMap<UserId, (String, Position)>);

impl Profiles for Directory {
    fn profile(&self, user: &str) -> (Option<String>, Option<String>) {
        (self.0.get(user).map(|(name, _)| name.clone()), None)
    }

    fn position(&self, user: &str) -> Option<Position> {
        self.0.get(user).map(|(_, p)| *p)
    }
}

/// One tick of a space: `users` standing on a `width`×`height` map, of
/// whom `movers` (distinct) took one step each.
struct Tick {
    aoi: Aoi,
    dir: Directory,
    users: Vec<UserId>,
    before: Vec<Position>,
    after: Vec<Position>,
    moves: Vec<(usize, Position, Position)>,
}

impl Tick {
    fn new(width: i32, height: i32, users: usize, movers: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(SEED);
        let mut world = World::new(Grid::new(width, height));
        let ids = populate(&mut world, 0, users, &mut rng);
        let before: Vec<Position> = ids.iter().map(|u| world.position(u).unwrap()).collect();
        let mut order: Vec<usize> = (0..users).collect();
        order.shuffle(&mut rng);
        let mut moves = Vec::with_capacity(movers);
        for i in order {
            if moves.len() == movers {
                break;
            }
            let mut steps = neighbours(before[i]);
            steps.shuffle(&mut rng);
            if let Some(to) = steps.into_iter().find(|p| world.try_move(&ids[i], *p).is_ok()) {
                moves.push((i, before[i], to));
            }
        }
        assert_eq!(moves.len(), movers, "enough users with a free neighbour");
        let after: Vec<Position> = ids.iter().map(|u| world.position(u).unwrap()).collect();
        let mut aoi = Aoi::new(width, height, ViewWindow::default());
        for (u, p) in ids.iter().zip(&after) {
            aoi.insert(u, aoi.cell_of(*p));
        }
        let dir =
            Directory(ids.iter().zip(&after).map(|(u, p)| (u.clone(), (format!("user-{}", &u[24..]), *p))).collect());
        Self { aoi, dir, users: ids, before, after, moves }
    }

    /// The tick's log, as the space records it while handling moves.
    fn log(&self) -> TickLog {
        let mut log = TickLog::default();
        for &(i, from, to) in &self.moves {
            log.moved(&self.users[i], self.aoi.cell_of(from), self.aoi.cell_of(to), to);
        }
        log
    }

    /// Every viewer's frames for `log`, in the order the space sends them.
    fn flush(&self, log: &mut TickLog, limit: usize) -> Vec<(UserId, Vec<Bytes>)> {
        let mut fanout = Fanout::new(log, &self.aoi, &self.dir, limit);
        let mut out = Vec::with_capacity(self.users.len());
        for (i, user) in self.users.iter().enumerate() {
            let frames = fanout.frames_for(Viewer {
                user,
                codec: Codec::MsgPack,
                batched: true,
                start: self.aoi.sight(self.before[i], self.aoi.reach(None)),
                end: self.aoi.sight(self.after[i], self.aoi.reach(None)),
                since: 0,
                outbox: Vec::new(),
            });
            if !frames.is_empty() {
                out.push((user.clone(), frames));
            }
        }
        out
    }
}

fn bench_fanout(c: &mut Criterion) {
    let limit = SpaceSettings::default().batch_limit;
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(1000));
    for (space, width, height) in [("whole_40x30", 40, 30), ("aoi_200x200", 200, 200)] {
        for movers in [1, 250] {
            let tick = Tick::new(width, height, 1000, movers);
            assert_eq!(tick.aoi.is_whole(), space.starts_with("whole"));
            group.bench_function(BenchmarkId::new(format!("frames_for/{space}"), format!("{movers}_moves")), |b| {
                b.iter_batched(
                    || tick.log(),
                    |mut log| {
                        let out = tick.flush(&mut log, limit);
                        (log, out)
                    },
                    BatchSize::SmallInput,
                );
            });
            if movers != 250 {
                continue;
            }
            let out = tick.flush(&mut tick.log(), limit);
            let (links, mut ports): (HashMap<UserId, SessionLink>, Vec<SessionPort>) = tick
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let (l, p) = link::link(i as u64, Codec::MsgPack, 64);
                    ((u.clone(), l.batched(true)), p)
                })
                .unzip();
            let frames: usize = out.iter().map(|(_, f)| f.len()).sum();
            eprintln!("fanout/{space}/{movers}_moves: {} of 1000 viewers get {frames} frames", out.len());
            group.bench_function(BenchmarkId::new(format!("deliver/{space}"), format!("{movers}_moves")), |b| {
                b.iter_batched(
                    || {
                        for p in &mut ports {
                            while p.rx.try_recv().is_some() {}
                        }
                        out.clone()
                    },
                    |out| {
                        let mut sent = 0usize;
                        for (user, list) in out {
                            let Some(link) = links.get(&user) else { continue };
                            for frame in list {
                                sent += usize::from(link.offer(frame) == Offer::Sent);
                            }
                        }
                        sent
                    },
                    BatchSize::PerIteration,
                );
            });
            // Every offer went through: the queues never filled.
            for p in &mut ports {
                while p.rx.try_recv().is_some() {}
            }
            let mut sent = 0;
            for (user, list) in &out {
                for frame in list {
                    sent += usize::from(links[user].offer(frame.clone()) == Offer::Sent);
                }
            }
            assert_eq!(sent, frames);
        }
    }
    group.finish();
}

criterion_group!(hot_path, bench_world, bench_proximity, bench_fanout);
criterion_main!(hot_path);
