//! The SpaceActor: the single authority for one live space. It owns the
//! world (grid, occupancy) and the members, validates every move, and fans
//! events out. World events (joins, moves, leaves) wait in the tick log and
//! go out once per tick, selected per area of interest (`tick`, `aoi`);
//! replies, proximity, signals and chat go at once. Each event is encoded
//! at most once per codec and the same bytes are queued to every recipient.
//! Nothing here awaits I/O; the last position of a departing user goes to a
//! bounded channel that a writer drains off this path.
//!
//! The actor is split by concern: `messages` (what it answers),
//! `membership` (join, resume, takeover, leave, the resume grace),
//! `movement` (steps, statics, proximity announcements), `delivery` (the
//! per-tick flush and direct sends, slow consumers) and `relay` (chat and
//! WebRTC signals between members).

mod delivery;
mod grace;
mod membership;
mod messages;
mod movement;
mod relay;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Instant,
};

use actix::prelude::*;
use bytes::Bytes;
use metaverse_protocol::{Codec, Position, ServerMsg, UserPosition};
use rand::{SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;

pub use messages::{
    ChatDeliver, ChatSubscribe, ChatUnsubscribe, CloseSpace, Join, JoinRefused, Leave, Members, Move, NearbyChat,
    Present, SetStatic, Signal,
};

use crate::{
    link::{CloseReason, SessionLink},
    metric_names,
    registry::Registry,
    settings::SpaceSettings,
    world::{
        Grid, Rect, UserId, World,
        aoi::{Aoi, Reach, Sight},
        proximity::Proximity,
        tick::TickLog,
    },
};

/// What a space is made of, loaded from the database before it starts.
#[derive(Clone, Debug)]
pub struct SpaceInit {
    /// The registry's key, and the space id every event and saved position
    /// carries.
    pub space_id: String,
    /// Map width in tiles, fixed for the actor's life: the grid and view
    /// cells are sized once.
    pub width: i32,
    /// Map height in tiles, fixed for the actor's life: the grid and view
    /// cells are sized once.
    pub height: i32,
    /// Tiles covered by static elements.
    pub statics: Vec<Rect>,
    /// `Registry::statics_tick` taken before `statics` was read.
    pub statics_tick: u64,
    /// Private areas: everyone inside one is near everyone else in it.
    pub areas: Vec<Rect>,
    /// Nearby radius in tiles (Chebyshev); 0 leaves only private areas.
    pub proximity_radius: i32,
}

/// Where a user stood when they left, for the next join's spawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionUpdate {
    /// A last position is kept per space, since a user may visit several.
    pub space_id: Arc<str>,
    /// Whose spawn hint this is.
    pub user_id: UserId,
    /// The tile preferred at the next join, if it is still free then.
    pub position: Position,
}

/// A member as the space keeps it, across the sockets of one visit.
struct Member {
    session_id: u64,
    codec: Codec,
    batched: bool,
    /// What the session saw at the last tick (or its snapshot).
    view: Sight,
    /// The reach of the window the client asked for; `None`: it sees the
    /// whole space unless the space is crowded.
    reach: Option<Reach>,
    /// Tick log entries before this one predate the session's snapshot.
    since: usize,
    /// Proximity changes and hang-ups for this member, encoded; they follow
    /// the tick's world events that caused them.
    outbox: Vec<(usize, Bytes)>,
    /// `None` while the socket is gone and the grace period runs.
    link: Option<SessionLink>,
    resume_token: String,
    /// Frames missed while suspended, replayed on resume.
    missed: Vec<Bytes>,
    /// The grace held for this member's dropped socket, if any: a queued
    /// grace whose number is not this one has lapsed (a resume, a
    /// takeover or a rejoin came in between).
    grace: Option<u64>,
    /// The visit (join to leave, across resumes), for analytics.
    visit: String,
    joined_at: i64,
    username: Option<Arc<str>>,
    avatar_id: Option<Arc<str>>,
    /// The walking-speed budget, kept across resumes so a reconnect does
    /// not refill it.
    stride: crate::world::Stride,
}

/// The single authority for one live space; see the module header.
pub struct SpaceActor {
    id: Arc<str>,
    generation: u64,
    world: World,
    members: HashMap<UserId, Member>,
    settings: Arc<SpaceSettings>,
    registry: Arc<Registry>,
    positions: mpsc::Sender<PositionUpdate>,
    rng: StdRng,
    idle: Option<SpawnHandle>,
    /// Where recent leavers stood. The database copy is written
    /// asynchronously; this one answers a quick rejoin without racing it.
    recent: HashMap<UserId, Position>,
    statics_tick: u64,
    /// Chatroom subscriptions of the members here.
    rooms: HashMap<Arc<str>, HashSet<UserId>>,
    proximity: Proximity,
    aoi: Aoi,
    /// More people than `SpaceSettings::view_all_up_to`: clients that asked
    /// for no window get the configured one.
    crowded: bool,
    log: TickLog,
    last_flush: Instant,
    flush: Option<SpawnHandle>,
    /// Some member's outbox holds frames.
    outbox_pending: bool,
    /// Dropped members' held places, oldest first (see `grace.rs`).
    graces: std::collections::VecDeque<grace::Grace>,
    grace_timer: Option<SpawnHandle>,
    /// Numbers graces, so a queued one is matched to the very suspension
    /// that queued it.
    next_grace: u64,
}

/// Leavers remembered in memory at most; past it the map starts afresh.
const RECENT_LIMIT: usize = 10_000;

impl SpaceActor {
    /// A space over `init`; `positions` takes the last position of each
    /// departing member, off the hot path.
    pub fn new(
        init: SpaceInit,
        generation: u64,
        settings: Arc<SpaceSettings>,
        registry: Arc<Registry>,
        positions: mpsc::Sender<PositionUpdate>,
    ) -> Self {
        let mut world = World::new(Grid::new(init.width, init.height));
        world.set_static(&init.statics);
        let statics_tick = init.statics_tick;
        let proximity = Proximity::new(init.proximity_radius, init.areas);
        let aoi = Aoi::new(init.width, init.height, settings.view);
        Self {
            aoi,
            crowded: false,
            log: TickLog::default(),
            last_flush: Instant::now(),
            flush: None,
            outbox_pending: false,
            proximity,
            statics_tick,
            id: Arc::from(init.space_id),
            generation,
            world,
            members: HashMap::new(),
            settings,
            registry,
            positions,
            rng: StdRng::from_entropy(),
            idle: None,
            graces: std::collections::VecDeque::new(),
            grace_timer: None,
            next_grace: 0,
            recent: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    /// Everyone `user` sees with `sight`, for its snapshot.
    pub(super) fn others(&self, user: &str, sight: Sight) -> Vec<UserPosition> {
        self.world
            .positions()
            .filter(|(u, p)| &***u != user && self.aoi.sees(sight, self.aoi.cell_of(*p)))
            .map(|(u, p)| {
                let m = self.members.get(u);
                UserPosition {
                    user_id: u.to_string(),
                    x: p.x,
                    y: p.y,
                    username: m.and_then(|m| m.username.as_deref().map(str::to_owned)),
                    avatar_id: m.and_then(|m| m.avatar_id.as_deref().map(str::to_owned)),
                }
            })
            .collect()
    }

    /// What a member with `reach` (its asked window) sees standing at `at`.
    pub(super) fn sight(&self, reach: Option<Reach>, at: Position) -> Sight {
        sight(&self.aoi, self.crowded, reach, at)
    }

    /// Sets `crowded` for a space about to hold `people`: above the
    /// configured count, and again below nine tenths of it. The change
    /// reaches each member at the next tick as `view-leave`s (or
    /// `view-enter`s) of those outside the window.
    pub(super) fn recount(&mut self, people: usize) {
        let limit = self.settings.view_all_up_to;
        if people > limit {
            self.crowded = true;
        } else if people <= limit - limit / 10 {
            self.crowded = false;
        }
    }

    pub(super) fn proximity_of(&self, user: &str) -> ServerMsg {
        ServerMsg::Proximity {
            nearby: self.proximity.nearby(user),
            group: self.proximity.group(user).map(str::to_owned),
            radius: self.proximity.radius(),
        }
    }
}

/// What a member with `reach` (its asked window) sees standing at `at`, in
/// a space that is `crowded` or not; apart from `SpaceActor` so the flush
/// can call it while it borrows the log.
fn sight(aoi: &Aoi, crowded: bool, reach: Option<Reach>, at: Position) -> Sight {
    match reach {
        Some(r) => aoi.sight(at, r),
        None if crowded => aoi.sight(at, aoi.reach(None)),
        None => Sight::Whole,
    }
}

impl Actor for SpaceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.mailbox);
        metrics::gauge!(metric_names::LIVE_SPACES).increment(1.0);
        // A space started for a join that then failed must not live forever.
        self.schedule_idle_stop(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!(metric_names::LIVE_SPACES).decrement(1.0);
        self.registry.forget(&self.id, self.generation);
        for m in self.members.values() {
            if let Some(link) = &m.link {
                link.close(CloseReason::SHUTDOWN);
            }
        }
    }
}
