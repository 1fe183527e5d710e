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
    aoi::{Aoi, Cell, Sight},
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
    /// The entry in the log, whose cached frames every viewer picking it
    /// shares.
    pub index: usize,
    /// How this viewer learns of it: one entry can be `movement` to one viewer
    /// and `view-enter` to another.
    pub form: Form,
}

/// Holds a tick's world events until the flush, so each is encoded once and
/// selected per viewer cell.
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
    /// Lets the flush skip a tick in which nothing happened.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A place in the log: where a joiner's knowledge starts and where a queued
    /// direct message goes among the events.
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

    /// Someone left from `at`; their move chain ends, so moves after a rejoin
    /// never supersede ones before it.
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

    /// Empties the log after a flush, keeping its allocations for the next
    /// tick.
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
        let sees_all = |s: Sight| s == Sight::Whole;
        let candidates: Vec<usize> = if aoi.is_whole() || sees_all(view.start) || sees_all(view.end) {
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
        start: Sight,
        end: Sight,
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
    /// What the viewer saw at its last tick (or snapshot), to judge what it
    /// already knew.
    pub start: Sight,
    /// What it sees now, to judge what it must learn.
    pub end: Sight,
    /// Entries before this predate the viewer's snapshot, which already
    /// showed them.
    pub since: usize,
    /// Batched viewers skip overwritten moves and get their own moves back as
    /// confirmation.
    pub batched: bool,
    /// The viewer, whose own join and leave are never sent; `None` for a
    /// selection a whole cell shares.
    pub me: Option<&'a str>,
}

/// Shared by the log and the fan-out, which both announce users coming into
/// view and must build the message alike.
pub fn enter_msg(user: &str, at: Position, profiles: &dyn Profiles) -> ServerMsg {
    let (username, avatar_id) = profiles.profile(user);
    ServerMsg::ViewEnter { user_id: user.to_owned(), x: at.x, y: at.y, username, avatar_id }
}

/// A codec's index in per-codec caches, so each message is encoded at most
/// once per codec.
pub fn codec_slot(codec: Codec) -> usize {
    match codec {
        Codec::MsgPack => 0,
        Codec::Json => 1,
    }
}

/// Encodes without a `Result`: a server message that fails to encode is a bug,
/// logged and sent empty rather than stopping the tick.
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
#[path = "tick_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tick_knowledge.rs"]
mod knowledge;
