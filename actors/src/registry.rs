//! Finds the live SpaceActor of a space, starting it on first join.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use actix::{Actor, Addr};
use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::{
    Rect,
    events::EventSink,
    link::CloseReason,
    settings::SpaceSettings,
    space::{CloseSpace, PositionUpdate, SetStatic, SpaceActor, SpaceInit},
};

pub struct Registry {
    spaces: DashMap<Arc<str>, (u64, Addr<SpaceActor>)>,
    generation: AtomicU64,
    /// Orders reads of static elements, so an older read never overwrites a
    /// newer one in a live space.
    statics_clock: AtomicU64,
    /// The clock of each space's latest element edit.
    edited: DashMap<Arc<str>, u64>,
    settings: Arc<SpaceSettings>,
    positions: mpsc::Sender<PositionUpdate>,
    /// Where spaces report joins and leaves (analytics).
    pub(crate) events: EventSink,
}

impl Registry {
    pub fn new(settings: SpaceSettings, positions: mpsc::Sender<PositionUpdate>, events: EventSink) -> Arc<Self> {
        Arc::new(Self {
            spaces: DashMap::new(),
            generation: AtomicU64::new(1),
            statics_clock: AtomicU64::new(1),
            edited: DashMap::new(),
            settings: Arc::new(settings),
            positions,
            events,
        })
    }

    pub fn settings(&self) -> &SpaceSettings {
        &self.settings
    }

    /// The live actor of a space, if it runs and still accepts messages.
    pub fn get(&self, space_id: &str) -> Option<Addr<SpaceActor>> {
        self.spaces.get(space_id).map(|e| e.1.clone()).filter(|a| a.connected())
    }

    /// The live actor, or a new one made from `init`. Must run inside an
    /// actix system. Two racing callers get the same actor.
    pub fn get_or_start(self: &Arc<Self>, init: SpaceInit) -> Addr<SpaceActor> {
        let key: Arc<str> = Arc::from(init.space_id.as_str());
        let mut entry = self.spaces.entry(key).or_insert_with(|| self.spawn(init.clone()));
        if !entry.1.connected() {
            *entry = self.spawn(init);
        }
        entry.1.clone()
    }

    fn spawn(self: &Arc<Self>, init: SpaceInit) -> (u64, Addr<SpaceActor>) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let actor = SpaceActor::new(init, generation, self.settings.clone(), self.clone(), self.positions.clone());
        (generation, actor.start())
    }

    /// Called by a stopping actor; leaves a newer actor of the space alone.
    pub(crate) fn forget(&self, space_id: &str, generation: u64) {
        self.spaces.remove_if(space_id, |_, (g, _)| *g == generation);
    }

    pub fn live(&self) -> usize {
        self.spaces.len()
    }

    /// Takes a tick before reading a space's static elements; pass it with
    /// what was read to `set_static` or in `SpaceInit::statics_version`.
    pub fn statics_tick(&self) -> u64 {
        self.statics_clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Records that a space's elements changed (committed) at `tick`.
    pub fn mark_edited(&self, space_id: &str, tick: u64) {
        self.edited.entry(Arc::from(space_id)).and_modify(|t| *t = (*t).max(tick)).or_insert(tick);
    }

    /// Whether an edit newer than `tick` happened, so what was read at
    /// `tick` may be stale.
    pub fn edited_since(&self, space_id: &str, tick: u64) -> bool {
        self.edited.get(space_id).is_some_and(|t| *t > tick)
    }

    /// Tells a live space its static elements and private areas, as read
    /// at `tick`.
    pub fn set_static(&self, space_id: &str, tick: u64, rects: Vec<Rect>, areas: Vec<Rect>) {
        if let Some(addr) = self.get(space_id) {
            addr.do_send(SetStatic { tick, rects, areas });
        }
    }

    /// Hands a durable chat message to the live space, if any, for fan-out.
    pub fn deliver_chat(&self, space_id: &str, room: &str, msg: metaverse_protocol::ServerMsg) {
        if let Some(addr) = self.get(space_id) {
            addr.do_send(crate::space::ChatDeliver { room: Arc::from(room), msg });
        }
    }

    /// Closes one live space (e.g. it was deleted).
    pub fn close(&self, space_id: &str, reason: CloseReason) {
        if let Some(addr) = self.get(space_id) {
            addr.do_send(CloseSpace(reason));
        }
    }

    /// Closes every live space (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        for e in self.spaces.iter() {
            e.1.do_send(CloseSpace(reason));
        }
    }
}
