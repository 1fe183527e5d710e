//! The incremental proximity update agrees with a from-scratch computation
//! after any sequence of moves, joins and leaves.

use std::collections::{BTreeMap, BTreeSet};

use metaverse_actors::{Rect, UserId, world::proximity::Proximity};
use metaverse_protocol::Position;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Place(u8, i32, i32),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 0i32..16, 0i32..16).prop_map(|(u, x, y)| Op::Place(u, x, y)),
        1 => (0u8..8).prop_map(Op::Remove),
    ]
}

const AREA: Rect = Rect { x: 10, y: 10, width: 4, height: 4 };

fn inside(p: Position) -> bool {
    p.x >= AREA.x && p.y >= AREA.y && p.x < AREA.x + AREA.width && p.y < AREA.y + AREA.height
}

fn brute_near(at: &BTreeMap<String, Position>, radius: i32, u: &str) -> Vec<String> {
    let p = at[u];
    at.iter()
        .filter(|(v, q)| {
            *v != u
                && match (inside(p), inside(**q)) {
                    (true, true) => true,
                    (false, false) => radius > 0 && (q.x - p.x).abs() <= radius && (q.y - p.y).abs() <= radius,
                    _ => false,
                }
        })
        .map(|(v, _)| v.clone())
        .collect()
}

fn brute_groups(at: &BTreeMap<String, Position>, radius: i32) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for start in at.keys() {
        if !seen.insert(start.clone()) {
            continue;
        }
        let mut component = vec![start.clone()];
        let mut i = 0;
        while i < component.len() {
            for w in brute_near(at, radius, &component[i]) {
                if seen.insert(w.clone()) {
                    component.push(w);
                }
            }
            i += 1;
        }
        let id = if component.len() > 1 { component.iter().min().cloned() } else { None };
        for v in component {
            out.insert(v, id.clone());
        }
    }
    out
}

proptest! {
    #[test]
    fn incremental_matches_from_scratch(radius in 0i32..4, ops in prop::collection::vec(op(), 1..60)) {
        let mut p = Proximity::new(radius, vec![AREA]);
        let mut at: BTreeMap<String, Position> = BTreeMap::new();
        for op in ops {
            let before = brute_groups(&at, radius);
            let near_before: BTreeMap<String, Vec<String>> =
                at.keys().map(|u| (u.clone(), brute_near(&at, radius, u))).collect();
            let update = match op {
                Op::Place(u, x, y) => {
                    let name = format!("u{u}");
                    at.insert(name.clone(), Position { x, y });
                    p.place(&UserId::from(name.as_str()), Position { x, y })
                }
                Op::Remove(u) => {
                    let name = format!("u{u}");
                    at.remove(&name);
                    p.remove(&UserId::from(name.as_str()))
                }
            };
            let groups = brute_groups(&at, radius);
            for u in at.keys() {
                prop_assert_eq!(p.nearby(u), brute_near(&at, radius, u));
                prop_assert_eq!(p.group(u).map(str::to_owned), groups[u].clone());
            }
            // Exactly those whose nearby set or group changed are told.
            let expected: Vec<String> = at
                .keys()
                .filter(|u| {
                    near_before.get(*u).cloned().unwrap_or_default() != brute_near(&at, radius, u)
                        || before.get(*u).cloned().flatten() != groups[*u]
                })
                .cloned()
                .collect();
            let changed: Vec<String> = update.changed.iter().map(|u| u.to_string()).collect();
            prop_assert_eq!(changed, expected);
            // Every pair that shared a group and no longer does is reported.
            for (a, ga) in &before {
                for (b, gb) in &before {
                    if a < b && ga.is_some() && ga == gb {
                        let still = at.contains_key(a) && at.contains_key(b) && groups.get(a).cloned().flatten().is_some() && groups.get(a) == groups.get(b);
                        let reported = update.parted.iter().any(|(x, y)| (&**x, &**y) == (a.as_str(), b.as_str()));
                        prop_assert_eq!(!still, reported, "pair {} {}", a, b);
                    }
                }
            }
        }
    }
}
