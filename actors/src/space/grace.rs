//! Resume graces: a dropped member's place is held for
//! `SpaceSettings::resume_grace`, then the member departs.
//!
//! One queue and one timer per space rather than a timer per member: the
//! grace is the same for everyone, so expiries come in the order members
//! dropped. Thousands of sockets dropping together (a proxy restart, a
//! client release) used to leave thousands of timers in the actor's
//! context, which every later message had to poll past, and then departed
//! them one at a time, telling everyone nearby after each. Now the timer
//! fires a tick after the first expiry and every grace due by then departs
//! in one batch, with one proximity announcement for all of them.

use std::time::Instant;

use actix::{AsyncContext, Context};

use super::SpaceActor;
use crate::UserId;

/// One held place: when its grace ends, whose, and which suspension it
/// belongs to (a member who resumed, was taken over or joined again holds
/// another grace or none, so the entry no longer matches and is skipped).
pub(super) struct Grace {
    pub(super) ends: Instant,
    pub(super) user: UserId,
    pub(super) id: u64,
}

impl SpaceActor {
    /// Starts a member's grace: the member departs when it ends unless a
    /// socket takes its place first.
    /// Returns the grace's number, for the member to keep.
    pub(super) fn hold_place(&mut self, user: UserId, ctx: &mut Context<Self>) -> u64 {
        self.next_grace += 1;
        let id = self.next_grace;
        self.graces.push_back(Grace { ends: Instant::now() + self.settings.resume_grace, user, id });
        if self.grace_timer.is_none() {
            self.arm_grace_timer(ctx);
        }
        id
    }

    /// Wakes a tick after the oldest grace ends, so graces that end within
    /// the same tick depart together (late by at most a tick, like every
    /// other world event).
    fn arm_grace_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(first) = self.graces.front() else {
            self.grace_timer = None;
            return;
        };
        let wait = first.ends.saturating_duration_since(Instant::now()) + self.settings.tick;
        self.grace_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.grace_timer = None;
            act.graces_ended(ctx);
            act.arm_grace_timer(ctx);
        }));
    }

    /// Departs, in one batch, every member whose grace has ended and who
    /// is still the same dropped socket.
    fn graces_ended(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut leaving = Vec::new();
        while let Some(g) = self.graces.front() {
            if g.ends > now {
                break;
            }
            let Some(g) = self.graces.pop_front() else { break };
            if self.members.get(&g.user).is_some_and(|m| m.grace == Some(g.id) && m.link.is_none()) {
                leaving.push(g.user);
            }
        }
        if !leaving.is_empty() {
            self.depart_all(&leaving, ctx);
        }
    }
}
