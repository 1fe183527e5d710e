//! The SpaceActor: the single authority for one live space. It owns the
//! world (grid, occupancy) and the members, validates every move, and fans
//! events out. World events (joins, moves, leaves) wait in the tick log and
//! go out once per tick, selected per area of interest (`tick`, `aoi`);
//! replies, proximity, signals and chat go at once. Each event is encoded
//! at most once per codec and the same bytes are queued to every recipient.
//! Nothing here awaits I/O; the last position of a departing user goes to a
//! bounded channel that a writer drains off this path.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use actix::prelude::*;
use bytes::Bytes;
use metaverse_protocol::{Codec, ErrorCode, Position, RtcKind, ServerMsg, SpaceSize, UserPosition};
use rand::{SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;

use crate::{
    Grid, Rect, UserId, World,
    aoi::{Aoi, Cell},
    fanout::{Fanout, Viewer},
    link::{CloseReason, Offer, SessionLink},
    proximity::{Proximity, Update},
    registry::Registry,
    settings::SpaceSettings,
    tick::{Profiles, TALLY_TYPES, TickLog, codec_slot, encode},
};

/// What a space is made of, loaded from the database before it starts.
#[derive(Clone, Debug)]
pub struct SpaceInit {
    pub space_id: String,
    pub width: i32,
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
    pub space_id: Arc<str>,
    pub user_id: UserId,
    pub position: Position,
}

struct Member {
    session_id: u64,
    codec: Codec,
    batched: bool,
    /// The cell the session saw from at the last tick (or its snapshot).
    view: Cell,
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
    grace: Option<SpawnHandle>,
    /// The visit (join to leave, across resumes), for analytics.
    visit: String,
    joined_at: i64,
    username: Option<Arc<str>>,
    avatar_id: Option<Arc<str>>,
}

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
    log: TickLog,
    last_flush: Instant,
    flush: Option<SpawnHandle>,
    /// Some member's outbox holds frames.
    outbox_pending: bool,
}

/// Leavers remembered in memory at most; past it the map starts afresh.
const RECENT_LIMIT: usize = 10_000;

/// Enter the space. On success the space has already queued `space-joined`
/// (and, on resume, the missed events) to the link.
#[derive(Message)]
#[rtype(result = "Result<(), JoinRefused>")]
pub struct Join {
    pub user: UserId,
    pub link: SessionLink,
    /// The tile to spawn on if it is free (the user's last position).
    pub preferred: Option<Position>,
    pub resume_token: Option<String>,
    /// Shown to the others with the user's presence.
    pub username: Option<String>,
    pub avatar_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefused {
    /// No free tile.
    Full,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Move {
    pub user: UserId,
    pub session_id: u64,
    pub to: Position,
}

/// The session leaves (`dropped: false`, an explicit `leave`) or its socket
/// went away (`dropped: true`: the presence is held for the grace period).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub user: UserId,
    pub session_id: u64,
    pub dropped: bool,
    /// Frames the session had queued but not written (oldest first); they
    /// head the replay of a resume.
    pub unsent: Vec<Bytes>,
}

/// The space's static elements (and private areas) changed over HTTP,
/// as read at `tick`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStatic {
    pub tick: u64,
    pub rects: Vec<Rect>,
    pub areas: Vec<Rect>,
}

/// A WebRTC signal to relay to a nearby member.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Signal {
    pub from: UserId,
    pub session_id: u64,
    pub to: String,
    pub kind: RtcKind,
    pub data: serde_json::Value,
}

/// A nearby chat message (`chatroomId: "nearby"`): to the sender and
/// whoever is near them now. Not stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NearbyChat {
    pub from: UserId,
    pub session_id: u64,
    pub msg: ServerMsg,
}

/// Close every session with this reason and stop. Each member first gets
/// `notice`, or an `error` naming the reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSpace {
    pub reason: CloseReason,
    pub notice: Option<ServerMsg>,
}

impl CloseSpace {
    pub fn new(reason: CloseReason) -> Self {
        Self { reason, notice: None }
    }
}

/// Who is here now (presence), as `(user id, username, position)`.
#[derive(Message)]
#[rtype(result = "Vec<Present>")]
pub struct Members;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Present {
    pub user_id: String,
    pub username: Option<String>,
    pub x: i32,
    pub y: i32,
    /// The socket is gone and the resume grace runs.
    pub suspended: bool,
}

/// Subscribe a member to a chatroom's live messages. False when the
/// session is not (or no longer) the member's current one.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ChatSubscribe {
    pub user: UserId,
    pub session_id: u64,
    pub room: Arc<str>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatUnsubscribe {
    pub user: UserId,
    pub room: Arc<str>,
}

/// A durable chat message (or a nearby one) to fan out to a room's
/// subscribers in this space.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatDeliver {
    pub room: Arc<str>,
    pub msg: ServerMsg,
}

/// Encodes lazily, once per codec.
struct Encoded<'a> {
    msg: &'a ServerMsg,
    frames: [Option<Bytes>; 2],
}

impl<'a> Encoded<'a> {
    fn new(msg: &'a ServerMsg) -> Self {
        Self { msg, frames: [None, None] }
    }

    fn get(&mut self, codec: Codec) -> Bytes {
        self.frames[codec_slot(codec)].get_or_insert_with(|| encode(codec, self.msg)).clone()
    }
}

impl SpaceActor {
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
            recent: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    /// Everyone `user` sees from `cell`, for its snapshot.
    fn others(&self, user: &str, cell: Cell) -> Vec<UserPosition> {
        self.world
            .positions()
            .filter(|(u, p)| &***u != user && self.aoi.sees(cell, self.aoi.cell_of(*p)))
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

    fn proximity_of(&self, user: &str) -> ServerMsg {
        ServerMsg::Proximity {
            nearby: self.proximity.nearby(user),
            group: self.proximity.group(user).map(str::to_owned),
            radius: self.proximity.radius(),
        }
    }

    /// Tells everyone whose nearby set or group changed, and hangs up the
    /// calls of pairs that parted.
    fn announce(&mut self, update: Update, ctx: &mut Context<Self>) {
        for user in &update.changed {
            let msg = self.proximity_of(user);
            self.queue_to(user, &msg, ctx);
        }
        for (a, b) in update.parted {
            for (to, from) in [(&a, &b), (&b, &a)] {
                let bye = ServerMsg::RtcSignal {
                    from: from.to_string(),
                    kind: RtcKind::Hangup,
                    data: serde_json::Value::Null,
                };
                self.queue_to(to, &bye, ctx);
            }
        }
    }

    /// Queues `msg` for one member's next tick frame.
    fn queue_to(&mut self, user: &UserId, msg: &ServerMsg, ctx: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(user) else { return };
        m.outbox.push((self.log.len(), encode(m.codec, msg)));
        metrics::counter!("metaverse_ws_messages_out_total", "type" => msg.type_name()).increment(1);
        self.outbox_pending = true;
        self.schedule_flush(ctx);
    }

    /// Queues a frame to one member, or to its missed buffer while it is
    /// suspended. A full queue (slow consumer) or a gone session suspends
    /// the member with this frame buffered, so a resume replays it.
    fn deliver(&mut self, user: &UserId, frame: Bytes, fallout: &mut Vec<(UserId, Fallout)>) {
        let limit = self.settings.replay_limit;
        let Some(m) = self.members.get_mut(user) else { return };
        let frame = match &m.link {
            Some(link) => match link.offer(frame) {
                Offer::Sent => return,
                Offer::Full(frame) => {
                    fallout.push((user.clone(), Fallout::Slow));
                    frame
                }
                Offer::Gone(frame) => {
                    fallout.push((user.clone(), Fallout::Gone));
                    frame
                }
            },
            None => frame,
        };
        if m.missed.len() < limit {
            m.missed.push(frame);
        } else {
            fallout.push((user.clone(), Fallout::Overflowed));
        }
    }

    /// Flushes the tick log at the next tick boundary. An event after a
    /// quiet spell goes at once: the last frame was a tick ago or more.
    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flush.is_some() {
            return;
        }
        let wait = (self.last_flush + self.settings.tick).saturating_duration_since(Instant::now());
        self.flush = Some(ctx.run_later(wait.max(Duration::from_micros(1)), |act, ctx| {
            act.flush = None;
            act.flush_tick(ctx);
        }));
    }

    /// Sends the tick's world events and queued messages: per member, what
    /// its area of interest selects, as one `batch` (split at
    /// `batch_limit`) or one frame per event (`fanout`).
    fn flush_tick(&mut self, ctx: &mut Context<Self>) {
        self.last_flush = Instant::now();
        if self.log.is_empty() && !self.outbox_pending {
            return;
        }
        let started = Instant::now();
        let mut outboxes: HashMap<UserId, Vec<(usize, Bytes)>> = HashMap::new();
        if std::mem::take(&mut self.outbox_pending) {
            for (user, m) in self.members.iter_mut().filter(|(_, m)| !m.outbox.is_empty()) {
                outboxes.insert(user.clone(), std::mem::take(&mut m.outbox));
            }
        }
        let dir = Directory { members: &self.members, world: &self.world };
        let mut fanout = Fanout::new(&mut self.log, &self.aoi, &dir, self.settings.batch_limit);
        let mut out: Vec<(UserId, Vec<Bytes>)> = Vec::with_capacity(self.members.len());
        let mut moved_on: Vec<(UserId, Cell)> = Vec::new();
        for (user, m) in &self.members {
            let end = dir.world.position(user).map_or(m.view, |p| self.aoi.cell_of(p));
            let viewer = Viewer {
                user,
                codec: m.codec,
                batched: m.batched,
                start: m.view,
                end,
                since: m.since,
                outbox: outboxes.remove(user).unwrap_or_default(),
            };
            let frames = fanout.frames_for(viewer);
            if !frames.is_empty() {
                out.push((user.clone(), frames));
            }
            if m.since != 0 || m.view != end {
                moved_on.push((user.clone(), end));
            }
        }
        let tally = fanout.tally;
        self.log.clear();
        for (user, end) in moved_on {
            if let Some(m) = self.members.get_mut(&user) {
                m.view = end;
                m.since = 0;
            }
        }
        let mut fallout = Vec::new();
        let mut frames = 0u64;
        for (user, list) in out {
            for frame in list {
                frames += 1;
                self.deliver(&user, frame, &mut fallout);
            }
        }
        metrics::counter!("metaverse_ws_tick_frames_total").increment(frames);
        for (name, n) in TALLY_TYPES.iter().zip(tally) {
            if n > 0 {
                metrics::counter!("metaverse_ws_messages_out_total", "type" => *name).increment(n);
            }
        }
        metrics::histogram!("metaverse_fanout_seconds").record(started.elapsed().as_secs_f64());
        self.settle(fallout, ctx);
    }

    /// Queues `msg` to the given members, encoding once per codec.
    fn fan_out(&mut self, msg: &ServerMsg, recipients: Vec<(UserId, Codec)>, ctx: &mut Context<Self>) {
        let started = Instant::now();
        let mut enc = Encoded::new(msg);
        let mut fallout = Vec::new();
        for (user, codec) in &recipients {
            let frame = enc.get(*codec);
            self.deliver(user, frame, &mut fallout);
        }
        metrics::counter!("metaverse_ws_messages_out_total", "type" => msg.type_name())
            .increment(recipients.len() as u64);
        metrics::histogram!("metaverse_fanout_seconds").record(started.elapsed().as_secs_f64());
        self.settle(fallout, ctx);
    }

    /// Sends `msg` to one member only.
    fn send_to(&mut self, user: &UserId, msg: &ServerMsg, ctx: &mut Context<Self>) {
        let Some(codec) = self.members.get(user).map(|m| m.codec) else {
            return;
        };
        let mut fallout = Vec::new();
        self.deliver(user, encode(codec, msg), &mut fallout);
        metrics::counter!("metaverse_ws_messages_out_total", "type" => msg.type_name()).increment(1);
        self.settle(fallout, ctx);
    }

    fn settle(&mut self, fallout: Vec<(UserId, Fallout)>, ctx: &mut Context<Self>) {
        for (user, why) in fallout {
            match why {
                Fallout::Slow | Fallout::Gone => {
                    if matches!(why, Fallout::Slow) {
                        metrics::counter!("metaverse_slow_consumers_closed_total").increment(1);
                    }
                    let session_id = match self.members.get(&user) {
                        Some(m) => {
                            if let Some(link) = &m.link {
                                link.close(CloseReason::SLOW_CONSUMER);
                            }
                            m.session_id
                        }
                        None => continue,
                    };
                    self.suspend(&user, session_id, ctx);
                }
                Fallout::Overflowed => self.depart(&user, ctx),
            }
        }
    }

    /// Holds a dropped member's place for the grace period.
    fn suspend(&mut self, user: &UserId, session_id: u64, ctx: &mut Context<Self>) {
        let grace = self.settings.resume_grace;
        let Some(m) = self.members.get_mut(user) else {
            return;
        };
        if m.session_id != session_id || m.link.is_none() {
            return;
        }
        m.link = None;
        let who = user.clone();
        m.grace = Some(ctx.run_later(grace, move |act, ctx| {
            if act.members.get(&who).is_some_and(|m| m.session_id == session_id && m.link.is_none()) {
                act.depart(&who, ctx);
            }
        }));
    }

    /// Removes a member for good: `user-left` to the others, exactly once.
    fn depart(&mut self, user: &UserId, ctx: &mut Context<Self>) {
        let Some(m) = self.members.remove(user) else {
            return;
        };
        if let Some(h) = m.grace {
            ctx.cancel_future(h);
        }
        self.registry.events.left(&self.id, user, &m.visit, m.joined_at, metaverse_schema::now_millis());
        let update = self.proximity.remove(user);
        self.announce(update, ctx);
        if let Some(position) = self.world.remove(user) {
            let cell = self.aoi.cell_of(position);
            self.aoi.remove(user, cell);
            self.log.left(user, cell, position);
            self.schedule_flush(ctx);
            if self.recent.len() >= RECENT_LIMIT {
                self.recent.clear();
            }
            self.recent.insert(user.clone(), position);
            let update = PositionUpdate { space_id: self.id.clone(), user_id: user.clone(), position };
            if self.positions.try_send(update).is_err() {
                metrics::counter!("metaverse_positions_dropped_total").increment(1);
            }
        }
        self.registry.count(&self.id, self.generation, self.members.len());
        if self.members.is_empty() {
            self.schedule_idle_stop(ctx);
        }
    }

    fn schedule_idle_stop(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        self.idle = Some(ctx.run_later(self.settings.idle_stop, |act, ctx| {
            if act.members.is_empty() {
                ctx.stop();
            }
        }));
    }

    fn new_resume_token(&mut self) -> String {
        use rand::Rng;
        let bytes: [u8; 16] = self.rng.r#gen();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Usernames, avatars and positions for the tick log's encoder.
struct Directory<'a> {
    members: &'a HashMap<UserId, Member>,
    world: &'a World,
}

impl Profiles for Directory<'_> {
    fn profile(&self, user: &str) -> (Option<String>, Option<String>) {
        match self.members.get(user) {
            Some(m) => (m.username.as_deref().map(str::to_owned), m.avatar_id.as_deref().map(str::to_owned)),
            None => (None, None),
        }
    }

    fn position(&self, user: &str) -> Option<Position> {
        self.world.position(user)
    }
}

enum Fallout {
    Slow,
    Gone,
    Overflowed,
}

impl Actor for SpaceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.mailbox);
        metrics::gauge!("metaverse_live_spaces").increment(1.0);
        // A space started for a join that then failed must not live forever.
        self.schedule_idle_stop(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!("metaverse_live_spaces").decrement(1.0);
        self.registry.forget(&self.id, self.generation);
        for m in self.members.values() {
            if let Some(link) = &m.link {
                link.close(CloseReason::SHUTDOWN);
            }
        }
    }
}

impl Handler<Join> for SpaceActor {
    type Result = Result<(), JoinRefused>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        let token = self.new_resume_token();
        let size = SpaceSize { width: self.world.grid().width(), height: self.world.grid().height() };
        let user = msg.user.clone();

        if let Some(m) = self.members.get_mut(&user) {
            // Same user again: a resume (right token) or a takeover by a
            // newer socket. Either way the others see no leave/join.
            // Missed frames are encoded in the old codec and replayed only
            // into a queue of the same codec with room for them; otherwise
            // the client gets `resumed: false` and resyncs from the snapshot.
            let resumed = msg.resume_token.as_deref() == Some(m.resume_token.as_str())
                && m.codec == msg.link.codec
                && m.batched == msg.link.batched
                && m.missed.len() < msg.link.tx.capacity();
            if let Some(old) = m.link.take() {
                let bye = ServerMsg::error(ErrorCode::SessionReplaced, "another connection of yours joined this space");
                let _ = old.offer(encode(old.codec, &bye));
                old.close(CloseReason::REPLACED);
            }
            if let Some(h) = m.grace.take() {
                ctx.cancel_future(h);
            }
            let missed = std::mem::take(&mut m.missed);
            m.session_id = msg.link.session_id;
            m.codec = msg.link.codec;
            m.batched = msg.link.batched;
            m.resume_token = token.clone();
            let position = self.world.position(&user).unwrap_or(Position { x: 0, y: 0 });
            let cell = self.aoi.cell_of(position);
            if !resumed {
                // A fresh snapshot: this tick's earlier events are in it.
                m.outbox.clear();
                m.view = cell;
                m.since = self.log.len();
                self.log.snapshot_taken();
            }
            let joined = ServerMsg::SpaceJoined {
                user_id: user.to_string(),
                spawn: position,
                users: self.others(&user, cell),
                space: size,
                resume_token: token,
                resumed,
            };
            let link = msg.link;
            let _ = link.offer(encode(link.codec, &joined));
            if resumed {
                for frame in missed {
                    if link.offer(frame) != Offer::Sent {
                        break;
                    }
                }
            }
            if let Some(m) = self.members.get_mut(&user) {
                m.link = Some(link);
            }
            // The new socket learns its surroundings afresh.
            if !resumed && self.proximity.group(&user).is_some() {
                let msg = self.proximity_of(&user);
                self.send_to(&user, &msg, ctx);
            }
            return Ok(());
        }

        let preferred = self.recent.remove(&user).or(msg.preferred);
        let Some(spawn) = self.world.spawn(user.clone(), preferred, &mut self.rng) else {
            if self.members.is_empty() {
                self.schedule_idle_stop(ctx);
            }
            return Err(JoinRefused::Full);
        };
        let cell = self.aoi.cell_of(spawn);
        let joined = ServerMsg::SpaceJoined {
            user_id: user.to_string(),
            spawn,
            users: self.others(&user, cell),
            space: size,
            resume_token: token.clone(),
            resumed: false,
        };
        let _ = msg.link.offer(encode(msg.link.codec, &joined));
        self.aoi.insert(&user, cell);
        self.log.joined(&user, cell, spawn);
        self.schedule_flush(ctx);
        self.members.insert(
            user.clone(),
            Member {
                session_id: msg.link.session_id,
                codec: msg.link.codec,
                batched: msg.link.batched,
                view: cell,
                since: self.log.len(),
                outbox: Vec::new(),
                link: Some(msg.link),
                resume_token: token,
                missed: Vec::new(),
                grace: None,
                visit: uuid::Uuid::now_v7().to_string(),
                joined_at: metaverse_schema::now_millis(),
                username: msg.username.as_deref().map(Arc::from),
                avatar_id: msg.avatar_id.as_deref().map(Arc::from),
            },
        );
        if let Some(m) = self.members.get(&user) {
            self.registry.events.joined(&self.id, &user, &m.visit, m.joined_at);
        }
        self.registry.count(&self.id, self.generation, self.members.len());
        let update = self.proximity.place(&user, spawn);
        self.announce(update, ctx);
        Ok(())
    }
}

impl Handler<Move> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: Move, ctx: &mut Self::Context) {
        if !self.is_current(&msg.user, msg.session_id) {
            return;
        }
        let Some(before) = self.world.position(&msg.user) else { return };
        match self.world.try_move(&msg.user, msg.to) {
            Ok(p) => {
                let (from, to) = (self.aoi.cell_of(before), self.aoi.cell_of(p));
                self.aoi.relocate(&msg.user, from, to);
                self.log.moved(&msg.user, from, to, p);
                self.schedule_flush(ctx);
                let update = self.proximity.place(&msg.user, p);
                self.announce(update, ctx);
            }
            Err(reason) => {
                metrics::counter!("metaverse_moves_rejected_total", "reason" => reason.as_str()).increment(1);
                if let Some(p) = self.world.position(&msg.user) {
                    self.send_to(&msg.user, &ServerMsg::MovementRejected { x: p.x, y: p.y }, ctx);
                }
            }
        }
    }
}

impl Handler<Leave> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) {
        match self.members.get(&msg.user) {
            Some(m) if m.session_id == msg.session_id => {}
            _ => return,
        }
        if msg.dropped {
            let limit = self.settings.replay_limit;
            if let Some(m) = self.members.get_mut(&msg.user)
                && !msg.unsent.is_empty()
            {
                // Older than anything buffered since the queue closed.
                let mut missed = msg.unsent;
                missed.append(&mut m.missed);
                missed.truncate(limit);
                m.missed = missed;
            }
            self.suspend(&msg.user, msg.session_id, ctx);
        } else {
            self.depart(&msg.user, ctx);
        }
    }
}

impl Handler<SetStatic> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: SetStatic, ctx: &mut Self::Context) {
        // Reads can arrive out of order; only a newer one replaces.
        if msg.tick > self.statics_tick {
            self.statics_tick = msg.tick;
            self.world.set_static(&msg.rects);
            let update = self.proximity.set_areas(msg.areas);
            self.announce(update, ctx);
        }
    }
}

impl Handler<CloseSpace> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: CloseSpace, ctx: &mut Self::Context) {
        let bye = msg.notice.unwrap_or_else(|| ServerMsg::error(ErrorCode::SpaceClosed, msg.reason.reason));
        for m in self.members.values() {
            if let Some(link) = &m.link {
                let _ = link.offer(encode(link.codec, &bye));
                link.close(msg.reason);
            }
        }
        let now = metaverse_schema::now_millis();
        for (user, m) in &self.members {
            self.registry.events.left(&self.id, user, &m.visit, m.joined_at, now);
        }
        let leaving: Vec<UserId> = self.members.keys().cloned().collect();
        for user in leaving {
            if let Some(position) = self.world.remove(&user) {
                let _ = self.positions.try_send(PositionUpdate { space_id: self.id.clone(), user_id: user, position });
            }
        }
        self.members.clear();
        ctx.stop();
    }
}

impl Handler<Members> for SpaceActor {
    type Result = MessageResult<Members>;

    fn handle(&mut self, _: Members, _: &mut Self::Context) -> Self::Result {
        let present = self
            .members
            .iter()
            .map(|(user, m)| {
                let at = self.world.position(user).unwrap_or(Position { x: 0, y: 0 });
                Present {
                    user_id: user.to_string(),
                    username: m.username.as_deref().map(str::to_owned),
                    x: at.x,
                    y: at.y,
                    suspended: m.link.is_none(),
                }
            })
            .collect();
        MessageResult(present)
    }
}

impl Handler<ChatSubscribe> for SpaceActor {
    type Result = bool;

    fn handle(&mut self, msg: ChatSubscribe, _: &mut Self::Context) -> bool {
        let live = self.members.get(&msg.user).is_some_and(|m| m.session_id == msg.session_id);
        if live {
            self.rooms.entry(msg.room).or_default().insert(msg.user);
        }
        live
    }
}

impl Handler<ChatUnsubscribe> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: ChatUnsubscribe, _: &mut Self::Context) {
        if let Some(subs) = self.rooms.get_mut(&msg.room) {
            subs.remove(&msg.user);
            if subs.is_empty() {
                self.rooms.remove(&msg.room);
            }
        }
    }
}

impl Handler<ChatDeliver> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: ChatDeliver, ctx: &mut Self::Context) {
        let Some(subs) = self.rooms.get(&msg.room) else { return };
        let recipients: Vec<(UserId, Codec)> =
            subs.iter().filter_map(|u| self.members.get(u).map(|m| (u.clone(), m.codec))).collect();
        self.fan_out(&msg.msg, recipients, ctx);
    }
}

impl SpaceActor {
    fn is_current(&self, user: &UserId, session_id: u64) -> bool {
        self.members.get(user).is_some_and(|m| m.session_id == session_id && m.link.is_some())
    }
}

impl Handler<Signal> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: Signal, ctx: &mut Self::Context) {
        if !self.is_current(&msg.from, msg.session_id) {
            return;
        }
        let to = self.members.get_key_value(msg.to.as_str()).map(|(k, _)| k.clone());
        match to {
            Some(to) if to != msg.from && self.proximity.connected(&msg.from, &to) => {
                metrics::counter!("metaverse_rtc_signals_total", "result" => "relayed").increment(1);
                let relayed = ServerMsg::RtcSignal { from: msg.from.to_string(), kind: msg.kind, data: msg.data };
                self.send_to(&to, &relayed, ctx);
            }
            _ => {
                metrics::counter!("metaverse_rtc_signals_total", "result" => "not-nearby").increment(1);
                let refused = ServerMsg::error(ErrorCode::NotNearby, format!("{} is not near you", msg.to));
                self.send_to(&msg.from, &refused, ctx);
            }
        }
    }
}

impl Handler<NearbyChat> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: NearbyChat, ctx: &mut Self::Context) {
        if !self.is_current(&msg.from, msg.session_id) {
            return;
        }
        let mut recipients: Vec<(UserId, Codec)> = self
            .proximity
            .nearby_ids(&msg.from)
            .filter_map(|u| self.members.get(u).map(|m| (u.clone(), m.codec)))
            .collect();
        if let Some(m) = self.members.get(&msg.from) {
            recipients.push((msg.from.clone(), m.codec));
        }
        self.fan_out(&msg.msg, recipients, ctx);
    }
}
