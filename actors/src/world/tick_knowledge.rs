//! Whatever happens within a tick, a viewer ends it knowing exactly
//! the users in its window: applying what it was sent to what it knew
//! gives the truth. That holds too when its sight changes in the tick
//! (a crowd forms or thins, so it goes from the whole space to a window
//! or back), and for viewers with windows of their own sizes.
use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::world::aoi::{Sight, ViewWindow};

struct Pos<'a>(&'a HashMap<UserId, Position>);
impl Profiles for Pos<'_> {
    fn profile(&self, _: &str) -> (Option<String>, Option<String>) {
        (None, None)
    }
    fn position(&self, user: &str) -> Option<Position> {
        self.0.get(user).copied()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Move(usize, i32),
    Leave(usize),
    Join(usize, i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..6usize, -3..=3i32).prop_map(|(u, d)| Op::Move(u, d)),
        1 => (0..6usize).prop_map(Op::Leave),
        1 => (0..6usize, 0..60i32).prop_map(|(u, x)| Op::Join(u, x)),
    ]
}

/// How a viewer sees: the whole space, or a window of its own size (0:
/// the configured one).
fn sight(aoi: &Aoi, mode: u8, at: Position) -> Sight {
    let asked = |w| Some(ViewWindow { width: w, height: 1 });
    match mode {
        0 => Sight::Whole,
        1 => aoi.sight(at, aoi.reach(None)),
        2 => aoi.sight(at, aoi.reach(asked(1))),
        _ => aoi.sight(at, aoi.reach(asked(20))),
    }
}

fn window(pos: &HashMap<UserId, Position>, aoi: &Aoi, me: &UserId, s: Sight) -> HashSet<String> {
    pos.iter().filter(|(u, p)| *u != me && aoi.sees(s, aoi.cell_of(**p))).map(|(u, _)| u.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    // size: one random tick applied and checked event by event; split, the invariant is harder to see.
    fn every_viewer_ends_the_tick_knowing_its_window(
        start in proptest::collection::vec(proptest::option::of(0..60i32), 6),
        ops in proptest::collection::vec(op(), 0..40),
        batched in any::<bool>(),
        modes in proptest::collection::vec((0..4u8, 0..4u8), 6),
    ) {
        // Positions may share a tile: occupancy is the world's job.
        let mut aoi = Aoi::new(60, 1, ViewWindow { width: 10, height: 10 });
        let names: Vec<UserId> = (0..6).map(|i| UserId::from(format!("u{i}"))).collect();
        let mut pos: HashMap<UserId, Position> = HashMap::new();
        for (u, x) in names.iter().zip(&start) {
            if let Some(x) = x {
                let p = Position { x: *x, y: 0 };
                pos.insert(u.clone(), p);
                aoi.insert(u, aoi.cell_of(p));
            }
        }
        // Each viewer's baseline: where it saw from, its `since`, and
        // what it knew (its window).
        let mode: HashMap<UserId, (u8, u8)> = names.iter().cloned().zip(modes).collect();
        let mut baseline: HashMap<UserId, (Sight, usize, HashSet<String>)> = pos
            .keys()
            .map(|u| {
                let s = sight(&aoi, mode[u].0, pos[u]);
                (u.clone(), (s, 0, window(&pos, &aoi, u, s)))
            })
            .collect();
        let mut log = TickLog::default();
        for op in ops {
            match op {
                Op::Move(i, d) => {
                    let u = &names[i];
                    let Some(&p) = pos.get(u) else { continue };
                    let q = Position { x: (p.x + d).clamp(0, 59), y: 0 };
                    let (f, t) = (aoi.cell_of(p), aoi.cell_of(q));
                    aoi.relocate(u, f, t);
                    log.moved(u, f, t, q);
                    pos.insert(u.clone(), q);
                }
                Op::Leave(i) => {
                    let u = &names[i];
                    let Some(p) = pos.remove(u) else { continue };
                    aoi.remove(u, aoi.cell_of(p));
                    log.left(u, aoi.cell_of(p), p);
                    baseline.remove(u);
                }
                Op::Join(i, x) => {
                    let u = &names[i];
                    if pos.contains_key(u) {
                        continue;
                    }
                    let p = Position { x, y: 0 };
                    aoi.insert(u, aoi.cell_of(p));
                    log.joined(u, aoi.cell_of(p), p);
                    pos.insert(u.clone(), p);
                    let s = sight(&aoi, mode[u].0, p);
                    baseline.insert(u.clone(), (s, log.len(), window(&pos, &aoi, u, s)));
                }
            }
        }
        let dir = Pos(&pos);
        for (me, (start, since, knew)) in &baseline {
            let end = sight(&aoi, mode[me].1, pos[me]);
            let mut picks = Vec::new();
            log.select(&aoi, View { start: *start, end, since: *since, batched, me: Some(me) }, &mut picks);
            let mut known = knew.clone();
            let mut sent = Vec::new();
            for p in &picks {
                let b = log.frame(p.index, p.form, Codec::Json, &dir);
                sent.push(Codec::Json.decode::<ServerMsg>(&b, usize::MAX).unwrap());
            }
            log.window_moved(&aoi, *start, end, me, *since, |u, form| {
                sent.push(match form {
                    Form::Leave => ServerMsg::ViewLeave { user_id: u.to_string() },
                    _ => ServerMsg::ViewEnter { user_id: u.to_string(), x: 0, y: 0, username: None, avatar_id: None },
                });
            });
            for m in sent {
                match m {
                    ServerMsg::UserJoin { user_id, .. } | ServerMsg::ViewEnter { user_id, .. } => {
                        prop_assert!(known.insert(user_id.clone()), "{}: {} entered twice", me, user_id);
                    }
                    ServerMsg::Movement { user_id, .. } => {
                        prop_assert!(user_id == **me || known.contains(&user_id), "{}: a move of unknown {}", me, user_id);
                    }
                    ServerMsg::UserLeft { user_id } | ServerMsg::ViewLeave { user_id } => {
                        prop_assert!(known.remove(&user_id), "{}: {} left unknown", me, user_id);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            prop_assert_eq!(known, window(&pos, &aoi, me, end), "{} ends the tick knowing its window", me);
        }
    }
}
