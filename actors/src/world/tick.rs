//! One tick's world events (joins, moves, leaves) and who gets which.
//!
//! A space records events here as they happen and sends them once per tick:
//! a batched session gets one `batch` frame, a session that refused
//! batching gets each event as its own frame. A move that a later move of
//! the same user overwrote in the same tick is left out of batches. With an
//! area of interest (`aoi`), what a viewer gets depends on what it saw at
//! the last tick and sees now: `movement` for users it keeps seeing,
//! `view-enter` and `view-leave` for those crossing the window's edge.
//! Every event is encoded at most once per (form, codec), and sessions that
//! see the same cells share one selection and one set of frames.

use std::collections::HashMap;

use bytes::Bytes;
use metaverse_protocol::{Codec, Position, ServerMsg};

use super::{
    UserId,
    aoi::{Aoi, Cell},
    tally::EventType,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Join,
    Left,
    Move,
}

/// The form in which a viewer gets an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The event itself: `user-join`, `user-left` or `movement`.
    Plain,
    /// `view-enter`: the user came into view.
    Enter,
    /// `view-leave`: the user went out of view.
    Leave,
}

struct Entry {
    user: UserId,
    kind: Kind,
    /// Moves: where the user stood when the tick's first move of this chain
    /// began (what a viewer saw at the last tick); others: `to`.
    from: Cell,
    to: Cell,
    at: Position,
    /// A later move of the same user in this tick overwrote it.
    superseded: bool,
    /// The user's entry before this one's chain, in this tick: what a
    /// viewer that got it knows of the user when this chain begins.
    prev: Option<usize>,
    /// Encoded frames by form and codec.
    frames: [[Option<Bytes>; 2]; 3],
}

/// What the encoder needs to know about a user besides the event.
pub trait Profiles {
    /// Username and avatar shown with a user's presence.
    fn profile(&self, user: &str) -> (Option<String>, Option<String>);
    /// Where a user stands now.
    fn position(&self, user: &str) -> Option<Position>;
}

/// One event chosen for a viewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    pub index: usize,
    pub form: Form,
}

#[derive(Default)]
pub struct TickLog {
    entries: Vec<Entry>,
    /// The entry of each user's latest move in the current chain.
    chain: HashMap<UserId, usize>,
    /// Each user's latest entry this tick.
    last: HashMap<UserId, usize>,
    /// Entry indices by the cells they involve, built at selection time.
    by_cell: HashMap<Cell, Vec<usize>>,
    indexed: usize,
}

impl TickLog {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn push(&mut self, user: &UserId, kind: Kind, from: Cell, to: Cell, at: Position, prev: Option<usize>) -> usize {
        let i = self.entries.len();
        self.entries.push(Entry {
            user: user.clone(),
            kind,
            from,
            to,
            at,
            superseded: false,
            prev,
            frames: Default::default(),
        });
        self.last.insert(user.clone(), i);
        i
    }

    /// Someone joined at `at`. A session that joins now got a snapshot, so
    /// moves from here on start new chains: it must not get a move whose
    /// "before" predates its snapshot.
    pub fn joined(&mut self, user: &UserId, cell: Cell, at: Position) {
        self.chain.clear();
        let prev = self.last.get(user).copied();
        self.push(user, Kind::Join, cell, cell, at, prev);
    }

    pub fn left(&mut self, user: &UserId, cell: Cell, at: Position) {
        self.chain.remove(user);
        let prev = self.last.get(user).copied();
        self.push(user, Kind::Left, cell, cell, at, prev);
    }

    /// `user` moved from `from` (a cell) to `at` in cell `to`.
    pub fn moved(&mut self, user: &UserId, from: Cell, to: Cell, at: Position) {
        let (from, prev) = match self.chain.get(user) {
            Some(&latest) => {
                self.entries[latest].superseded = true;
                (self.entries[latest].from, self.entries[latest].prev)
            }
            None => (from, self.last.get(user).copied()),
        };
        let i = self.push(user, Kind::Move, from, to, at, prev);
        self.chain.insert(user.clone(), i);
    }

    /// A snapshot was taken (a join or a fresh resume): chains restart.
    pub fn snapshot_taken(&mut self) {
        self.chain.clear();
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.chain.clear();
        self.last.clear();
        self.by_cell.clear();
        self.indexed = 0;
    }

    fn index(&mut self) {
        for i in self.indexed..self.entries.len() {
            let e = &self.entries[i];
            let (from, to) = (e.from, e.to);
            self.by_cell.entry(from).or_default().push(i);
            if to != from {
                self.by_cell.entry(to).or_default().push(i);
            }
        }
        self.indexed = self.entries.len();
    }

    /// The events a viewer gets, in order: it saw from `start` at the last
    /// tick (or its snapshot), sees from `end` now, and knows nothing of
    /// entries before `since`. `me` is the viewer, whose own moves come
    /// back to it only in batches (they confirm its position) and whose
    /// own join and leave never do.
    pub fn select(&mut self, aoi: &Aoi, view: View<'_>, out: &mut Vec<Pick>) {
        out.clear();
        let candidates: Vec<usize> = if aoi.is_whole() {
            (view.since..self.entries.len()).collect()
        } else {
            self.index();
            let mut c: Vec<usize> = aoi
                .visible(view.start)
                .chain(if view.start != view.end { Some(aoi.visible(view.end)) } else { None }.into_iter().flatten())
                .filter_map(|cell| self.by_cell.get(&cell))
                .flatten()
                .copied()
                .filter(|&i| i >= view.since)
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        // Without an area of interest a plain session gets every move;
        // with one, overwritten moves would need a per-step view to place.
        let skip_superseded = view.batched || !aoi.is_whole();
        for index in candidates {
            let e = &self.entries[index];
            let mine = view.me.is_some_and(|me| *me == *e.user);
            let form = match e.kind {
                Kind::Join if mine => None,
                Kind::Join => aoi.sees(view.end, e.to).then_some(Form::Plain),
                Kind::Left if mine => None,
                Kind::Left => self.knew(aoi, &view, e).then_some(Form::Plain),
                Kind::Move if e.superseded && skip_superseded => None,
                Kind::Move if mine => view.batched.then_some(Form::Plain),
                Kind::Move => match (self.knew(aoi, &view, e), aoi.sees(view.end, e.to)) {
                    (true, true) => Some(Form::Plain),
                    (false, true) => Some(Form::Enter),
                    (true, false) => Some(Form::Leave),
                    (false, false) => None,
                },
            };
            if let Some(form) = form {
                out.push(Pick { index, form });
            }
        }
    }

    /// Whether the viewer knew the user of `e` when its chain began: from
    /// what it got of the user's previous entry this tick, if it got that
    /// one (which was judged from where the viewer stands now); otherwise
    /// from what it saw at its baseline (the last tick or its snapshot),
    /// where the chain began.
    fn knew(&self, aoi: &Aoi, view: &View<'_>, e: &Entry) -> bool {
        match e.prev {
            Some(p) if p >= view.since => {
                let prev = &self.entries[p];
                prev.kind != Kind::Left && aoi.sees(view.end, prev.to)
            }
            _ => aoi.sees(view.start, e.from),
        }
    }

    /// Users who, for this viewer, stood still while its window moved from
    /// `start` to `end` (no entry of theirs at or after `since`): those now
    /// in view enter it, those out of it leave.
    pub fn window_moved(
        &self,
        aoi: &Aoi,
        start: Cell,
        end: Cell,
        me: &str,
        since: usize,
        mut f: impl FnMut(&UserId, Form),
    ) {
        if start == end {
            return;
        }
        for (from, to, form) in [(start, end, Form::Enter), (end, start, Form::Leave)] {
            for cell in aoi.visible(to).filter(|&c| !aoi.sees(from, c)) {
                for user in aoi.occupants(cell) {
                    let moved = self.last.get(user).is_some_and(|&i| i >= since);
                    if &**user != me && !moved {
                        f(user, form);
                    }
                }
            }
        }
    }

    /// The frame of entry `index` in `form`, encoded on first use.
    pub fn frame(&mut self, index: usize, form: Form, codec: Codec, profiles: &dyn Profiles) -> Bytes {
        let e = &mut self.entries[index];
        let slot = &mut e.frames[form as usize][codec_slot(codec)];
        if let Some(b) = slot {
            return b.clone();
        }
        let msg = match (e.kind, form) {
            (Kind::Join, Form::Plain) => {
                let (username, avatar_id) = profiles.profile(&e.user);
                ServerMsg::UserJoin { user_id: e.user.to_string(), x: e.at.x, y: e.at.y, username, avatar_id }
            }
            (Kind::Left, _) => ServerMsg::UserLeft { user_id: e.user.to_string() },
            (Kind::Move, Form::Plain) => ServerMsg::Movement { user_id: e.user.to_string(), x: e.at.x, y: e.at.y },
            (_, Form::Enter) => enter_msg(&e.user, e.at, profiles),
            (_, Form::Leave) => ServerMsg::ViewLeave { user_id: e.user.to_string() },
        };
        let b = encode(codec, &msg);
        *slot = Some(b.clone());
        b
    }

    /// What a pick counts as in a `Tally`.
    pub fn event_type(&self, pick: Pick) -> EventType {
        match (self.entries[pick.index].kind, pick.form) {
            (Kind::Join, Form::Plain) => EventType::UserJoin,
            (Kind::Left, _) => EventType::UserLeft,
            (Kind::Move, Form::Plain) => EventType::Movement,
            (_, Form::Enter) => EventType::ViewEnter,
            (_, Form::Leave) => EventType::ViewLeave,
        }
    }

    /// Who the entry is about (for skipping a plain session's own moves).
    pub fn author(&self, index: usize) -> &UserId {
        &self.entries[index].user
    }
}

/// What a viewer knew and sees; see `TickLog::select`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub start: Cell,
    pub end: Cell,
    pub since: usize,
    pub batched: bool,
    pub me: Option<&'a str>,
}

pub fn enter_msg(user: &str, at: Position, profiles: &dyn Profiles) -> ServerMsg {
    let (username, avatar_id) = profiles.profile(user);
    ServerMsg::ViewEnter { user_id: user.to_owned(), x: at.x, y: at.y, username, avatar_id }
}

pub fn codec_slot(codec: Codec) -> usize {
    match codec {
        Codec::MsgPack => 0,
        Codec::Json => 1,
    }
}

pub fn encode(codec: Codec, msg: &ServerMsg) -> Bytes {
    match codec.encode(msg) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            tracing::error!(error = %e, "encoding a server message failed");
            Bytes::new()
        }
    }
}

#[cfg(test)]
mod tests {
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
        let mut log = TickLog::default();
        let ada: UserId = "ada".into();
        log.moved(&ada, c, c, p(1, 0));
        log.moved(&ada, c, c, p(2, 0));
        let mut out = Vec::new();
        let view = View { start: c, end: c, since: 0, batched: true, me: Some("bob") };
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
        let viewer = aoi.cell_of(p(100, 100));
        let (near, far) = (p(84, 100), p(70, 100));
        // Walks out of view, in two steps coalesced into one.
        log.moved(&ada, aoi.cell_of(near), aoi.cell_of(p(78, 100)), p(78, 100));
        log.moved(&ada, aoi.cell_of(p(78, 100)), aoi.cell_of(far), far);
        let mut out = Vec::new();
        let view = View { start: viewer, end: viewer, since: 0, batched: true, me: Some("bob") };
        log.select(&aoi, view, &mut out);
        assert_eq!(decoded(&mut log, &out), [ServerMsg::ViewLeave { user_id: "ada".into() }]);
        // A viewer far away sees nothing of it.
        log.select(&aoi, View { start: aoi.cell_of(p(0, 0)), end: aoi.cell_of(p(0, 0)), ..view }, &mut out);
        assert!(out.is_empty());
        // A viewer who stands near `far` sees her enter.
        let there = aoi.cell_of(p(60, 100));
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
        let (start, end) = (aoi.cell_of(p(60, 100)), aoi.cell_of(p(130, 100)));
        let mut seen = Vec::new();
        log.window_moved(&aoi, start, end, "me", 0, |u, f| seen.push((u.to_string(), f)));
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen, [("east".to_owned(), Form::Enter), ("west".to_owned(), Form::Leave)]);
    }

    #[test]
    fn a_late_joiner_gets_only_what_follows_its_snapshot() {
        let aoi = Aoi::new(20, 20, ViewWindow::default());
        let c = aoi.cell_of(p(0, 0));
        let mut log = TickLog::default();
        let (ada, bob): (UserId, UserId) = ("ada".into(), "bob".into());
        log.moved(&ada, c, c, p(1, 0));
        log.joined(&bob, c, p(5, 5));
        let since = log.len();
        log.moved(&ada, c, c, p(2, 0));
        let mut out = Vec::new();
        log.select(&aoi, View { start: c, end: c, since, batched: true, me: Some("bob") }, &mut out);
        assert_eq!(decoded(&mut log, &out), [ServerMsg::Movement { user_id: "ada".into(), x: 2, y: 0 }]);
        // The older chain is not overwritten by the one after the snapshot.
        log.select(&aoi, View { start: c, end: c, since: 0, batched: true, me: Some("cy") }, &mut out);
        assert_eq!(out.len(), 3);
    }
}

#[cfg(test)]
mod knowledge {
    //! Whatever happens within a tick, a viewer ends it knowing exactly
    //! the users in its window: applying what it was sent to what it knew
    //! gives the truth.
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::world::aoi::ViewWindow;

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

    fn window(pos: &HashMap<UserId, Position>, aoi: &Aoi, me: &UserId) -> HashSet<String> {
        let c = aoi.cell_of(pos[me]);
        pos.iter().filter(|(u, p)| *u != me && aoi.sees(c, aoi.cell_of(**p))).map(|(u, _)| u.to_string()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn every_viewer_ends_the_tick_knowing_its_window(
            start in proptest::collection::vec(proptest::option::of(0..60i32), 6),
            ops in proptest::collection::vec(op(), 0..40),
            batched in any::<bool>(),
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
            let mut baseline: HashMap<UserId, (Cell, usize, HashSet<String>)> =
                pos.keys().map(|u| (u.clone(), (aoi.cell_of(pos[u]), 0, window(&pos, &aoi, u)))).collect();
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
                        baseline.insert(u.clone(), (aoi.cell_of(p), log.len(), window(&pos, &aoi, u)));
                    }
                }
            }
            let dir = Pos(&pos);
            for (me, (start, since, knew)) in &baseline {
                let end = aoi.cell_of(pos[me]);
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
                    })
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
                prop_assert_eq!(known, window(&pos, &aoi, me), "{} ends the tick knowing its window", me);
            }
        }
    }
}
