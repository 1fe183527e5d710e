//! Getting frames to members: the per-tick flush of world events and
//! queued messages, direct sends and fan-out, and what happens to a member
//! whose queue is full or gone (`Fallout`).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use actix::prelude::*;
use bytes::Bytes;
use metaverse_protocol::{Codec, Position, ServerMsg};

use super::{Member, SpaceActor};
use crate::{
    link::{CloseReason, Offer},
    metric_names,
    world::{
        UserId, World,
        aoi::Sight,
        fanout::{Fanout, Viewer},
        tick::{Profiles, codec_slot, encode},
    },
};

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
    /// Queues `msg` for one member's next tick frame.
    pub(super) fn queue_to(&mut self, user: &UserId, msg: &ServerMsg, ctx: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(user) else { return };
        m.outbox.push((self.log.len(), encode(m.codec, msg)));
        metrics::counter!(metric_names::WS_MESSAGES_OUT_TOTAL, "type" => msg.type_name()).increment(1);
        self.outbox_pending = true;
        self.schedule_flush(ctx);
    }

    /// Queues a frame to one member, or to its missed buffer while it is
    /// suspended. A full queue (slow consumer) or a gone session suspends
    /// the member with this frame buffered, so a resume replays it.
    pub(super) fn deliver(&mut self, user: &UserId, frame: Bytes, fallout: &mut Vec<(UserId, Fallout)>) {
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
    pub(super) fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
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
    pub(super) fn flush_tick(&mut self, ctx: &mut Context<Self>) {
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
        let mut moved_on: Vec<(UserId, Sight)> = Vec::new();
        for (user, m) in &self.members {
            let end = dir.world.position(user).map_or(m.view, |p| super::sight(&self.aoi, self.crowded, m.reach, p));
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
        metrics::counter!(metric_names::WS_TICK_FRAMES_TOTAL).increment(frames);
        for (kind, n) in tally.nonzero() {
            metrics::counter!(metric_names::WS_MESSAGES_OUT_TOTAL, "type" => kind.name()).increment(n);
        }
        metrics::histogram!(metric_names::FANOUT_SECONDS).record(started.elapsed().as_secs_f64());
        self.settle(fallout, ctx);
    }

    /// Chat to the given members, encoding once per codec. A batched
    /// member that is connected gets it in its next tick frame, with the
    /// world events (a room of 50 at a high message rate costs each member
    /// one frame per tick instead of one per message); any other member
    /// gets it at once.
    pub(super) fn fan_out(&mut self, msg: &ServerMsg, recipients: Vec<(UserId, Codec)>, ctx: &mut Context<Self>) {
        let started = Instant::now();
        let mut enc = Encoded::new(msg);
        let mut fallout = Vec::new();
        let at = self.log.len();
        let mut queued = false;
        for (user, codec) in &recipients {
            let frame = enc.get(*codec);
            match self.members.get_mut(user) {
                Some(m) if m.batched && m.link.is_some() => {
                    m.outbox.push((at, frame));
                    queued = true;
                }
                _ => self.deliver(user, frame, &mut fallout),
            }
        }
        if queued {
            self.outbox_pending = true;
            self.schedule_flush(ctx);
        }
        metrics::counter!(metric_names::WS_MESSAGES_OUT_TOTAL, "type" => msg.type_name())
            .increment(recipients.len() as u64);
        metrics::histogram!(metric_names::FANOUT_SECONDS).record(started.elapsed().as_secs_f64());
        self.settle(fallout, ctx);
    }

    /// Sends `msg` to one member only.
    pub(super) fn send_to(&mut self, user: &UserId, msg: &ServerMsg, ctx: &mut Context<Self>) {
        let Some(codec) = self.members.get(user).map(|m| m.codec) else {
            return;
        };
        let mut fallout = Vec::new();
        self.deliver(user, encode(codec, msg), &mut fallout);
        metrics::counter!(metric_names::WS_MESSAGES_OUT_TOTAL, "type" => msg.type_name()).increment(1);
        self.settle(fallout, ctx);
    }

    pub(super) fn settle(&mut self, fallout: Vec<(UserId, Fallout)>, ctx: &mut Context<Self>) {
        for (user, why) in fallout {
            match why {
                Fallout::Slow | Fallout::Gone => {
                    if matches!(why, Fallout::Slow) {
                        metrics::counter!(metric_names::SLOW_CONSUMERS_CLOSED_TOTAL).increment(1);
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

pub(super) enum Fallout {
    Slow,
    Gone,
    Overflowed,
}
