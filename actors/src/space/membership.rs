//! Who is in the space: first joins, resumes and takeovers by a newer
//! socket of the same user, leaves, the resume grace of a dropped socket,
//! and the space's own end.

use std::sync::Arc;

use actix::prelude::*;
use metaverse_protocol::{ErrorCode, Position, ServerMsg, SpaceSize};

use super::{CloseSpace, Join, JoinRefused, Leave, Member, Members, PositionUpdate, Present, RECENT_LIMIT, SpaceActor};
use crate::{
    link::{CloseReason, Offer},
    metric_names,
    world::{UserId, tick::encode},
};

impl Handler<Join> for SpaceActor {
    type Result = Result<(), JoinRefused>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        if self.members.contains_key(&msg.user) {
            self.rejoin(msg, ctx);
            return Ok(());
        }
        self.first_join(msg, ctx)
    }
}

impl SpaceActor {
    pub(super) fn size(&self) -> SpaceSize {
        SpaceSize { width: self.world.grid().width(), height: self.world.grid().height() }
    }

    /// Same user again: a resume (right token) or a takeover by a newer
    /// socket. Either way the others see no leave/join. Missed frames are
    /// encoded in the old codec and replayed only into a queue of the same
    /// codec with room for them; otherwise the client gets `resumed: false`
    /// and resyncs from the snapshot.
    pub(super) fn rejoin(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let token = self.new_resume_token();
        let size = self.size();
        let user = msg.user;
        let reach = msg.link.view.map(|w| self.aoi.reach(Some(w)));
        let Some(m) = self.members.get_mut(&user) else { return };
        let resumed = msg.resume_token.as_deref() == Some(m.resume_token.as_str())
            && m.codec == msg.link.codec
            && m.batched == msg.link.batched
            && m.reach == reach
            && m.missed.len() < msg.link.tx.capacity();
        retire_socket(m);
        let missed = std::mem::take(&mut m.missed);
        m.session_id = msg.link.session_id;
        m.codec = msg.link.codec;
        m.batched = msg.link.batched;
        m.resume_token = token.clone();
        m.reach = reach;
        let position = self.world.position(&user).unwrap_or(Position { x: 0, y: 0 });
        let sight = self.sight(reach, position);
        let Some(m) = self.members.get_mut(&user) else { return };
        if !resumed {
            // A fresh snapshot: this tick's earlier events are in it.
            m.outbox.clear();
            m.view = sight;
            m.since = self.log.len();
            self.log.snapshot_taken();
        }
        let users = self.others(&user, sight);
        let joined = ServerMsg::SpaceJoined {
            user_id: user.to_string(),
            spawn: position,
            users,
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
    }

    /// A user who is not in the space: spawn them (on their last tile when
    /// it is free), snapshot, and announce them on the next tick.
    pub(super) fn first_join(&mut self, msg: Join, ctx: &mut Context<Self>) -> Result<(), JoinRefused> {
        let token = self.new_resume_token();
        let user = msg.user.clone();
        let preferred = self.recent.remove(&user).or(msg.preferred);
        let Some(spawn) = self.world.spawn(user.clone(), preferred, &mut self.rng) else {
            if self.members.is_empty() {
                self.schedule_idle_stop(ctx);
            }
            return Err(JoinRefused::Full);
        };
        let cell = self.aoi.cell_of(spawn);
        self.recount(self.members.len() + 1);
        let reach = msg.link.view.map(|w| self.aoi.reach(Some(w)));
        let sight = self.sight(reach, spawn);
        let joined = ServerMsg::SpaceJoined {
            user_id: user.to_string(),
            spawn,
            users: self.others(&user, sight),
            space: self.size(),
            resume_token: token.clone(),
            resumed: false,
        };
        let _ = msg.link.offer(encode(msg.link.codec, &joined));
        self.aoi.insert(&user, cell);
        self.log.joined(&user, cell, spawn);
        self.schedule_flush(ctx);
        let member = Member {
            session_id: msg.link.session_id,
            codec: msg.link.codec,
            batched: msg.link.batched,
            view: sight,
            reach,
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
            stride: crate::world::Stride::new(self.settings.walk, std::time::Instant::now()),
        };
        self.registry.events.joined(&self.id, &user, &member.visit, member.joined_at);
        self.members.insert(user.clone(), member);
        self.registry.count(&self.id, self.generation, self.members.len());
        let update = self.proximity.place(&user, spawn);
        self.announce(update, ctx);
        Ok(())
    }
}

/// Ends a member's old socket (told it was replaced), for the socket that
/// takes its place, and lets a grace held for it lapse.
fn retire_socket(m: &mut super::Member) {
    m.grace = None;
    if let Some(old) = m.link.take() {
        let bye = ServerMsg::error(ErrorCode::SessionReplaced, "another connection of yours joined this space");
        let _ = old.offer(encode(old.codec, &bye));
        old.close(CloseReason::REPLACED);
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

impl SpaceActor {
    /// Holds a dropped member's place for the grace period.
    pub(super) fn suspend(&mut self, user: &UserId, session_id: u64, ctx: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(user) else {
            return;
        };
        if m.session_id != session_id || m.link.is_none() {
            return;
        }
        m.link = None;
        let grace = self.hold_place(user.clone(), ctx);
        if let Some(m) = self.members.get_mut(user) {
            m.grace = Some(grace);
        }
    }

    /// Removes a member for good: `user-left` to the others, exactly once.
    pub(super) fn depart(&mut self, user: &UserId, ctx: &mut Context<Self>) {
        self.depart_all(std::slice::from_ref(user), ctx);
    }

    /// Removes members for good, together: each `user-left` goes out
    /// once, and the members near them hear of their new surroundings once
    /// for the whole batch, not once per leaver.
    pub(super) fn depart_all(&mut self, users: &[UserId], ctx: &mut Context<Self>) {
        let mut changed = Vec::new();
        let mut parted = Vec::new();
        let mut gone = Vec::with_capacity(users.len());
        for user in users {
            let Some(m) = self.members.remove(user) else { continue };
            self.registry.events.left(&self.id, user, &m.visit, m.joined_at, metaverse_schema::now_millis());
            let update = self.proximity.remove(user);
            changed.extend(update.changed);
            parted.extend(update.parted);
            gone.push(user);
        }
        if gone.is_empty() {
            return;
        }
        changed.sort_unstable();
        changed.dedup();
        changed.retain(|u| self.members.contains_key(u));
        // Those who stay hear of their new surroundings (and hang-ups)
        // before the `user-left`s, as clients expect.
        self.announce(crate::world::proximity::Update { changed, parted }, ctx);
        for user in gone {
            self.leave_world(user, ctx);
        }
        self.registry.count(&self.id, self.generation, self.members.len());
        self.recount(self.members.len());
        if self.members.is_empty() {
            self.schedule_idle_stop(ctx);
        }
    }

    /// Takes a departing member off the grid: `user-left` on the next
    /// tick, and the last position kept for the next join.
    fn leave_world(&mut self, user: &UserId, ctx: &mut Context<Self>) {
        let Some(position) = self.world.remove(user) else { return };
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
            metrics::counter!(metric_names::POSITIONS_DROPPED_TOTAL).increment(1);
        }
    }

    pub(super) fn schedule_idle_stop(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        self.idle = Some(ctx.run_later(self.settings.idle_stop, |act, ctx| {
            if act.members.is_empty() {
                ctx.stop();
            }
        }));
    }

    pub(super) fn new_resume_token(&mut self) -> String {
        use rand::Rng;
        let bytes: [u8; 16] = self.rng.r#gen();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl SpaceActor {
    /// The member is here with this very session and its socket is open.
    pub(super) fn is_current(&self, user: &UserId, session_id: u64) -> bool {
        self.members.get(user).is_some_and(|m| m.session_id == session_id && m.link.is_some())
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

    fn handle(&mut self, msg: Members, _: &mut Self::Context) -> Self::Result {
        // `Some(None)`: a viewer who is not here sees nobody.
        let window = msg.viewer.map(|v| {
            let m = self.members.get(v.as_str())?;
            self.world.position(v.as_str()).map(|p| self.sight(m.reach, p))
        });
        let present = self
            .members
            .iter()
            .filter(|(user, _)| match window {
                None => true,
                Some(None) => false,
                Some(Some(sight)) => {
                    self.world.position(user).is_some_and(|p| self.aoi.sees(sight, self.aoi.cell_of(p)))
                }
            })
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
