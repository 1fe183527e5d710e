//! Finds the live SpaceActor of a space, starting it on first join.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use actix::{Actor, Addr, dev::ArbiterHandle};
use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::{
    Rect,
    link::CloseReason,
    pipeline::EventSink,
    settings::SpaceSettings,
    space::{CloseSpace, PositionUpdate, SetStatic, SpaceActor, SpaceInit},
};

/// Cluster mode's view of spaces that live on other nodes. Without it,
/// a space that is not live here is not live anywhere.
pub trait Shards: Send + Sync {
    /// A durable chat message for a space that is not live here.
    fn chat(&self, space_id: &str, room: &str, msg: &metaverse_protocol::ServerMsg);
    /// The static elements of a space that is not live here changed.
    fn statics_changed(&self, space_id: &str);
    /// Close a space that is not live here.
    fn close(&self, space_id: &str, reason: CloseReason);
    /// A space stopped here (its actor is gone): release its lease.
    fn stopped(&self, space_id: &str);
}

struct Live {
    generation: u64,
    addr: Addr<SpaceActor>,
    members: usize,
}

/// The one place that knows which spaces run here, so every caller (sessions,
/// HTTP, cluster) reaches the same actor.
pub struct Registry {
    spaces: DashMap<Arc<str>, Live>,
    shards: std::sync::OnceLock<Arc<dyn Shards>>,
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
    /// The threads spaces run on, each space pinned to one for its life
    /// (its messages stay in order); unset: the caller's own arbiter.
    arbiters: std::sync::OnceLock<Vec<ArbiterHandle>>,
}

impl Registry {
    /// Built once at start-up: the writers and sink given here are shared by
    /// every space it starts.
    pub fn new(settings: SpaceSettings, positions: mpsc::Sender<PositionUpdate>, events: EventSink) -> Arc<Self> {
        Arc::new(Self {
            spaces: DashMap::new(),
            shards: std::sync::OnceLock::new(),
            generation: AtomicU64::new(1),
            statics_clock: AtomicU64::new(1),
            edited: DashMap::new(),
            settings: Arc::new(settings),
            positions,
            events,
            arbiters: std::sync::OnceLock::new(),
        })
    }

    /// Runs the spaces started from now on over `arbiters`, in turn; set
    /// once, at start, before the first space.
    pub fn run_spaces_on(&self, arbiters: Vec<ArbiterHandle>) {
        if !arbiters.is_empty() {
            let _ = self.arbiters.set(arbiters);
        }
    }

    /// The tunables every space here runs with, so callers agree with the
    /// spaces on them.
    pub fn settings(&self) -> &SpaceSettings {
        &self.settings
    }

    /// Turns on cluster mode's forwarding; set once, at start.
    pub fn set_shards(&self, shards: Arc<dyn Shards>) {
        let _ = self.shards.set(shards);
    }

    /// The live actor of a space, if it runs and still accepts messages.
    pub fn get(&self, space_id: &str) -> Option<Addr<SpaceActor>> {
        self.spaces.get(space_id).map(|e| e.addr.clone()).filter(|a| a.connected())
    }

    /// The live spaces here with their member counts.
    pub fn list(&self) -> Vec<(Arc<str>, usize)> {
        self.spaces.iter().map(|e| (e.key().clone(), e.members)).collect()
    }

    /// A space's actor reports how many members it has.
    pub(crate) fn count(&self, space_id: &str, generation: u64, members: usize) {
        if let Some(mut e) = self.spaces.get_mut(space_id)
            && e.generation == generation
        {
            e.members = members;
        }
    }

    /// The live actor, or a new one made from `init`. Must run inside an
    /// actix system. Two racing callers get the same actor.
    pub fn get_or_start(self: &Arc<Self>, init: SpaceInit) -> Addr<SpaceActor> {
        let key: Arc<str> = Arc::from(init.space_id.as_str());
        let mut entry = self.spaces.entry(key).or_insert_with(|| self.spawn(init.clone()));
        if !entry.addr.connected() {
            *entry = self.spawn(init);
        }
        entry.addr.clone()
    }

    fn spawn(self: &Arc<Self>, init: SpaceInit) -> Live {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let actor = SpaceActor::new(init, generation, self.settings.clone(), self.clone(), self.positions.clone());
        let addr = match self.arbiters.get() {
            // Spaces are dealt out in the order they start; generations are
            // consecutive, so the threads hold about as many spaces each.
            #[allow(clippy::cast_possible_truncation)] // only the remainder matters
            Some(pool) => SpaceActor::start_in_arbiter(&pool[generation as usize % pool.len()], move |_| actor),
            None => actor.start(),
        };
        Live { generation, addr, members: 0 }
    }

    /// Called by a stopping actor; leaves a newer actor of the space alone.
    pub(crate) fn forget(&self, space_id: &str, generation: u64) {
        if self.spaces.remove_if(space_id, |_, live| live.generation == generation).is_some()
            && let Some(shards) = self.shards.get()
        {
            shards.stopped(space_id);
        }
    }

    /// How many space actors are still registered, so shutdown can wait until
    /// they have all stopped.
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

    /// Tells the space's owner node, when it is not this one, that its
    /// static elements changed (it reads them again itself).
    pub fn statics_changed_elsewhere(&self, space_id: &str) {
        if self.get(space_id).is_none()
            && let Some(shards) = self.shards.get()
        {
            shards.statics_changed(space_id);
        }
    }

    /// Hands a durable chat message to the live space for fan-out, here
    /// or (cluster mode) on its owner node.
    pub fn deliver_chat(&self, space_id: &str, room: &str, msg: metaverse_protocol::ServerMsg) {
        match (self.get(space_id), self.shards.get()) {
            (Some(addr), _) => addr.do_send(crate::space::ChatDeliver { room: Arc::from(room), msg }),
            (None, Some(shards)) => shards.chat(space_id, room, &msg),
            (None, None) => {}
        }
    }

    /// Closes one live space (e.g. it was deleted), here or on its owner.
    pub fn close(&self, space_id: &str, reason: CloseReason) {
        match (self.get(space_id), self.shards.get()) {
            (Some(addr), _) => addr.do_send(CloseSpace::new(reason)),
            (None, Some(shards)) => shards.close(space_id, reason),
            (None, None) => {}
        }
    }

    /// Closes one live space here with a last message to its members
    /// (cluster mode: the space moves to another node).
    pub fn close_with(&self, space_id: &str, reason: CloseReason, notice: metaverse_protocol::ServerMsg) -> bool {
        match self.get(space_id) {
            Some(addr) => {
                addr.do_send(CloseSpace { reason, notice: Some(notice) });
                true
            }
            None => false,
        }
    }

    /// Closes every live space (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        for e in self.spaces.iter() {
            e.addr.do_send(CloseSpace::new(reason));
        }
    }
}
