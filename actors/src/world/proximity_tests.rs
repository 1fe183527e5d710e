//! Nearby sets, groups and private areas, case by case.

use super::*;

fn id(s: &str) -> UserId {
    UserId::from(s)
}

fn pos(x: i32, y: i32) -> Position {
    Position { x, y }
}

#[test]
fn near_is_chebyshev_within_the_radius_and_symmetric() {
    let mut p = Proximity::new(3, vec![]);
    p.place(&id("a"), pos(0, 0));
    let u = p.place(&id("b"), pos(3, 3));
    assert_eq!(u.changed, vec![id("a"), id("b")]);
    assert_eq!(p.nearby("a"), vec!["b"]);
    assert_eq!(p.nearby("b"), vec!["a"]);
    assert_eq!(p.group("a"), Some("a"));
    let u = p.place(&id("b"), pos(4, 3));
    assert_eq!(u.changed, vec![id("a"), id("b")]);
    assert_eq!(u.parted, vec![(id("a"), id("b"))]);
    assert!(p.nearby("a").is_empty());
    assert_eq!(p.group("a"), None);
    // A move that changes nothing reports nothing.
    assert_eq!(p.place(&id("b"), pos(5, 3)), Update::default());
}

#[test]
fn groups_are_connected_components() {
    let mut p = Proximity::new(2, vec![]);
    p.place(&id("c"), pos(0, 0));
    p.place(&id("b"), pos(2, 0));
    p.place(&id("a"), pos(4, 0));
    assert_eq!(p.nearby("c"), vec!["b"]);
    assert_eq!(p.group("a"), Some("a"));
    assert_eq!(p.group("c"), Some("a"), "c reaches a through b");
    assert!(p.connected("a", "c"));
    let u = p.remove(&id("b"));
    assert_eq!(u.changed, vec![id("a"), id("c")]);
    assert_eq!(u.parted.len(), 3, "every pair of a, b, c parted");
    assert_eq!(p.group("a"), None);
    assert!(!p.connected("a", "c"));
}

#[test]
fn private_areas_override_distance() {
    let room = Rect { x: 10, y: 10, width: 10, height: 10 };
    let mut p = Proximity::new(3, vec![room]);
    p.place(&id("in1"), pos(10, 10));
    p.place(&id("in2"), pos(19, 19));
    p.place(&id("out"), pos(9, 10));
    assert_eq!(p.nearby("in1"), vec!["in2"], "same area, far apart");
    assert!(p.nearby("out").is_empty(), "next to the wall, outside");
    let u = p.set_areas(vec![]);
    assert!(u.changed.contains(&id("out")));
    assert_eq!(p.nearby("out"), vec!["in1"]);
    assert!(u.parted.contains(&(id("in1"), id("in2"))));
}

#[test]
fn radius_zero_makes_only_areas_count() {
    let mut p = Proximity::new(0, vec![]);
    p.place(&id("a"), pos(0, 0));
    p.place(&id("b"), pos(1, 0));
    assert!(p.nearby("a").is_empty());
}
