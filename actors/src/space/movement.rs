//! Steps and what they change: the grid check, the tick log, the area of
//! interest, and proximity (nearby sets, groups, hang-ups of parted pairs).

use std::time::Instant;

use actix::prelude::*;
use metaverse_protocol::{RtcKind, ServerMsg};

use super::{Move, SetStatic, SpaceActor};
use crate::metric_names;
use crate::world::proximity::Update;

impl SpaceActor {
    /// Tells everyone whose nearby set or group changed, and hangs up the
    /// calls of pairs that parted.
    pub(super) fn announce(&mut self, update: Update, ctx: &mut Context<Self>) {
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
}

impl Handler<Move> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: Move, ctx: &mut Self::Context) {
        // One member lookup per move: the current-session check and the
        // walking-speed budget share it.
        let Some(member) = self.members.get_mut(&msg.user) else { return };
        if member.session_id != msg.session_id || member.link.is_none() {
            return;
        }
        let Some(before) = self.world.position(&msg.user) else { return };
        if !member.stride.take(self.settings.walk, Instant::now()) {
            metrics::counter!(metric_names::MOVES_REJECTED_TOTAL, "reason" => "too-fast").increment(1);
            self.send_to(&msg.user, &ServerMsg::MovementRejected { x: before.x, y: before.y }, ctx);
            return;
        }
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
                metrics::counter!(metric_names::MOVES_REJECTED_TOTAL, "reason" => reason.as_str()).increment(1);
                if let Some(p) = self.world.position(&msg.user) {
                    self.send_to(&msg.user, &ServerMsg::MovementRejected { x: p.x, y: p.y }, ctx);
                }
            }
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
