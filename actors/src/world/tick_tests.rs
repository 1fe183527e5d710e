//! The tick log's selection and encoding, case by case.

use super::*;
use crate::world::aoi::ViewWindow;

struct NoProfiles;
impl Profiles for NoProfiles {
    fn profile(&self, _: &str) -> (Option<String>, Option<String>) {
        (None, None)
    }
    fn position(&self, _: &str) -> Option<Position> {
        None
    }
}

fn p(x: i32, y: i32) -> Position {
    Position { x, y }
}

/// What a viewer at `at` sees with the configured window.
fn at(aoi: &Aoi, at: Position) -> Sight {
    aoi.sight(at, aoi.reach(None))
}

fn decoded(log: &mut TickLog, picks: &[Pick]) -> Vec<ServerMsg> {
    picks
        .iter()
        .map(|pk| {
            let b = log.frame(pk.index, pk.form, Codec::Json, &NoProfiles);
            Codec::Json.decode(&b, usize::MAX).unwrap()
        })
        .collect()
}

#[test]
fn batches_coalesce_moves_but_plain_sessions_get_each() {
    let aoi = Aoi::new(20, 20, ViewWindow::default());
    let c = aoi.cell_of(p(0, 0));
    let v = at(&aoi, p(0, 0));
    let mut log = TickLog::default();
    let ada: UserId = "ada".into();
    log.moved(&ada, c, c, p(1, 0));
    log.moved(&ada, c, c, p(2, 0));
    let mut out = Vec::new();
    let view = View { start: v, end: v, since: 0, batched: true, me: Some("bob") };
    log.select(&aoi, view, &mut out);
    assert_eq!(decoded(&mut log, &out), [ServerMsg::Movement { user_id: "ada".into(), x: 2, y: 0 }]);
    log.select(&aoi, View { batched: false, ..view }, &mut out);
    assert_eq!(out.len(), 2);
    // Ada's own batch confirms her position; her plain stream does not echo.
    log.select(&aoi, View { me: Some("ada"), ..view }, &mut out);
    assert_eq!(out.len(), 1);
    log.select(&aoi, View { me: Some("ada"), batched: false, ..view }, &mut out);
    assert!(out.is_empty());
}

#[test]
fn crossing_the_window_edge_enters_and_leaves() {
    let aoi = Aoi::new(200, 200, ViewWindow::default());
    let mut log = TickLog::default();
    let ada: UserId = "ada".into();
    let viewer = at(&aoi, p(100, 100));
    let (near, far) = (p(84, 100), p(70, 100));
    // Walks out of view, in two steps coalesced into one.
    log.moved(&ada, aoi.cell_of(near), aoi.cell_of(p(78, 100)), p(78, 100));
    log.moved(&ada, aoi.cell_of(p(78, 100)), aoi.cell_of(far), far);
    let mut out = Vec::new();
    let view = View { start: viewer, end: viewer, since: 0, batched: true, me: Some("bob") };
    log.select(&aoi, view, &mut out);
    assert_eq!(decoded(&mut log, &out), [ServerMsg::ViewLeave { user_id: "ada".into() }]);
    // A viewer far away sees nothing of it.
    log.select(&aoi, View { start: at(&aoi, p(0, 0)), end: at(&aoi, p(0, 0)), ..view }, &mut out);
    assert!(out.is_empty());
    // A viewer who stands near `far` sees her enter.
    let there = at(&aoi, p(60, 100));
    log.select(&aoi, View { start: there, end: there, ..view }, &mut out);
    assert_eq!(
        decoded(&mut log, &out),
        [ServerMsg::ViewEnter { user_id: "ada".into(), x: 70, y: 100, username: None, avatar_id: None }]
    );
}

#[test]
fn a_moving_window_reveals_and_hides_those_standing_still() {
    let mut aoi = Aoi::new(200, 200, ViewWindow::default());
    let log = TickLog::default();
    let (west, east): (UserId, UserId) = ("west".into(), "east".into());
    aoi.insert(&west, aoi.cell_of(p(60, 100)));
    aoi.insert(&east, aoi.cell_of(p(140, 100)));
    let (start, end) = (at(&aoi, p(60, 100)), at(&aoi, p(130, 100)));
    let mut seen = Vec::new();
    log.window_moved(&aoi, start, end, "me", 0, |u, f| seen.push((u.to_string(), f)));
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, [("east".to_owned(), Form::Enter), ("west".to_owned(), Form::Leave)]);
}

#[test]
fn a_crowd_hides_the_far_ones_and_its_end_shows_them_again() {
    let mut aoi = Aoi::new(200, 200, ViewWindow::default());
    let log = TickLog::default();
    let (near, far): (UserId, UserId) = ("near".into(), "far".into());
    aoi.insert(&near, aoi.cell_of(p(105, 100)));
    aoi.insert(&far, aoi.cell_of(p(10, 10)));
    let window = at(&aoi, p(100, 100));
    let mut seen = Vec::new();
    log.window_moved(&aoi, Sight::Whole, window, "me", 0, |u, f| seen.push((u.to_string(), f)));
    assert_eq!(seen, [("far".to_owned(), Form::Leave)]);
    seen.clear();
    log.window_moved(&aoi, window, Sight::Whole, "me", 0, |u, f| seen.push((u.to_string(), f)));
    assert_eq!(seen, [("far".to_owned(), Form::Enter)]);
}

#[test]
fn a_late_joiner_gets_only_what_follows_its_snapshot() {
    let aoi = Aoi::new(20, 20, ViewWindow::default());
    let c = aoi.cell_of(p(0, 0));
    let v = at(&aoi, p(0, 0));
    let mut log = TickLog::default();
    let (ada, bob): (UserId, UserId) = ("ada".into(), "bob".into());
    log.moved(&ada, c, c, p(1, 0));
    log.joined(&bob, c, p(5, 5));
    let since = log.len();
    log.moved(&ada, c, c, p(2, 0));
    let mut out = Vec::new();
    log.select(&aoi, View { start: v, end: v, since, batched: true, me: Some("bob") }, &mut out);
    assert_eq!(decoded(&mut log, &out), [ServerMsg::Movement { user_id: "ada".into(), x: 2, y: 0 }]);
    // The older chain is not overwritten by the one after the snapshot.
    log.select(&aoi, View { start: v, end: v, since: 0, batched: true, me: Some("cy") }, &mut out);
    assert_eq!(out.len(), 3);
}
