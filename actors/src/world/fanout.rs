//! Turns one tick's log into each member's frames.
//!
//! Members with the same sight (cell and reach, or the whole space), with the same codec and batching,
//! and who hold no snapshot from this tick, get the same selection: it is
//! made once, and for batched members packed once, so those members share
//! the bytes. A member's own queued messages (proximity, hang-ups) are
//! merged in at the place in the log where they were queued, so they follow
//! the events that caused them.

use std::collections::HashMap;

use bytes::Bytes;
use metaverse_protocol::{Codec, ServerMsg, batch_frames};

use super::{
    UserId,
    aoi::{Aoi, Sight},
    tally::{EventType, Tally},
    tick::{Form, Pick, Profiles, TickLog, View, encode, enter_msg},
};

/// One member as the tick sees it.
pub struct Viewer<'a> {
    /// Who the frames are for, so a plain session's own moves are left out.
    pub user: &'a UserId,
    /// Selections and frames are shared only among viewers with the same codec.
    pub codec: Codec,
    /// Whether the events are packed into `batch` frames or go one frame each.
    pub batched: bool,
    /// What it saw at the last tick (or its snapshot).
    pub start: Sight,
    /// What it sees now.
    pub end: Sight,
    /// Log entries before this predate its snapshot.
    pub since: usize,
    /// Its own messages, each with the log length when it was queued.
    pub outbox: Vec<(usize, Bytes)>,
}

/// One selected event for one viewer.
#[derive(Clone)]
struct Item {
    /// Place in the log (for merging the outbox in).
    index: usize,
    author: UserId,
    frame: Bytes,
    /// What it counts as in a `Tally`.
    kind: EventType,
}

struct SharedBatch {
    items: Vec<Item>,
    frames: Vec<Bytes>,
    tally: Tally,
}

/// Lives for one flush, caching selections and packed batches per (sight, codec)
/// so viewers who see alike share the bytes.
pub struct Fanout<'a> {
    log: &'a mut TickLog,
    aoi: &'a Aoi,
    profiles: &'a dyn Profiles,
    limit: usize,
    batches: HashMap<(Sight, Codec), SharedBatch>,
    plain: HashMap<(Sight, Codec), Vec<Item>>,
    picks: Vec<Pick>,
    /// Events sent, by type.
    pub tally: Tally,
}

impl<'a> Fanout<'a> {
    /// One per flush, since its caches hold this tick's frames; `limit` is the
    /// batch frame size (`SpaceSettings::batch_limit`).
    pub fn new(log: &'a mut TickLog, aoi: &'a Aoi, profiles: &'a dyn Profiles, limit: usize) -> Self {
        Self {
            log,
            aoi,
            profiles,
            limit,
            batches: HashMap::new(),
            plain: HashMap::new(),
            picks: Vec::new(),
            tally: Tally::default(),
        }
    }

    fn items(&mut self, view: View<'_>, codec: Codec) -> Vec<Item> {
        self.log.select(self.aoi, view, &mut self.picks);
        let log = &mut *self.log;
        self.picks
            .iter()
            .map(|&p| Item {
                index: p.index,
                author: log.author(p.index).clone(),
                frame: log.frame(p.index, p.form, codec, self.profiles),
                kind: log.event_type(p),
            })
            .collect()
    }

    /// The frames `v` gets this tick, in order.
    pub fn frames_for(&mut self, v: Viewer<'_>) -> Vec<Bytes> {
        let Viewer { user, codec, batched, start, end, since, outbox } = v;
        let shared = since == 0 && start == end;
        if shared && batched {
            if !self.batches.contains_key(&(end, codec)) {
                let items = self.items(View { start, end, since: 0, batched: true, me: None }, codec);
                let mut tally = Tally::default();
                items.iter().for_each(|i| tally.add(i.kind));
                let events: Vec<Bytes> = items.iter().map(|i| i.frame.clone()).collect();
                let frames = batch_frames(codec, &events, self.limit);
                self.batches.insert((end, codec), SharedBatch { items, frames, tally });
            }
            let batch = &self.batches[&(end, codec)];
            self.tally.merge(&batch.tally);
            if outbox.is_empty() {
                return batch.frames.clone();
            }
            return batch_frames(codec, &merge(&batch.items, outbox), self.limit);
        }
        let items: Vec<Item> = if shared {
            if !self.plain.contains_key(&(end, codec)) {
                let items = self.items(View { start, end, since: 0, batched: false, me: None }, codec);
                self.plain.insert((end, codec), items);
            }
            // A plain session does not get its own moves back.
            self.plain[&(end, codec)].iter().filter(|i| i.author != *user).cloned().collect()
        } else {
            let mut items = self.items(View { start, end, since, batched, me: Some(user) }, codec);
            self.window_moved(user, start, end, since, codec, &mut items);
            items
        };
        items.iter().for_each(|i| self.tally.add(i.kind));
        let merged = merge(&items, outbox);
        if batched { batch_frames(codec, &merged, self.limit) } else { merged }
    }

    /// `view-enter`/`view-leave` for the users who stood still while the
    /// viewer's window moved.
    fn window_moved(
        &mut self,
        user: &UserId,
        start: Sight,
        end: Sight,
        since: usize,
        codec: Codec,
        items: &mut Vec<Item>,
    ) {
        let index = self.log.len();
        let profiles = self.profiles;
        self.log.window_moved(self.aoi, start, end, user, since, |other, form| {
            let (msg, kind) = match form {
                Form::Leave => (ServerMsg::ViewLeave { user_id: other.to_string() }, EventType::ViewLeave),
                _ => match profiles.position(other) {
                    Some(at) => (enter_msg(other, at, profiles), EventType::ViewEnter),
                    None => return,
                },
            };
            items.push(Item { index, author: other.clone(), frame: encode(codec, &msg), kind });
        });
    }
}

/// The items' frames with the outbox's merged in by log position: a
/// message queued when the log held `p` entries goes before entry `p`.
fn merge(items: &[Item], outbox: Vec<(usize, Bytes)>) -> Vec<Bytes> {
    let mut outbox = outbox.into_iter().peekable();
    let mut out = Vec::with_capacity(items.len() + outbox.len());
    for item in items {
        while let Some((_, frame)) = outbox.next_if(|(p, _)| *p <= item.index) {
            out.push(frame);
        }
        out.push(item.frame.clone());
    }
    out.extend(outbox.map(|(_, f)| f));
    out
}
