//! Messages members send each other through the space: durable chat to a
//! room's subscribers, nearby chat, and WebRTC signals between members
//! who are near each other.

use actix::prelude::*;
use metaverse_protocol::{Codec, ErrorCode, ServerMsg};

use super::{ChatDeliver, ChatSubscribe, ChatUnsubscribe, NearbyChat, Signal, SpaceActor};
use crate::metric_names;
use crate::world::UserId;

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

impl Handler<Signal> for SpaceActor {
    type Result = ();

    fn handle(&mut self, msg: Signal, ctx: &mut Self::Context) {
        if !self.is_current(&msg.from, msg.session_id) {
            return;
        }
        let to = self.members.get_key_value(msg.to.as_str()).map(|(k, _)| k.clone());
        match to {
            Some(to) if to != msg.from && self.proximity.connected(&msg.from, &to) => {
                metrics::counter!(metric_names::RTC_SIGNALS_TOTAL, "result" => "relayed").increment(1);
                let relayed = ServerMsg::RtcSignal { from: msg.from.to_string(), kind: msg.kind, data: msg.data };
                self.send_to(&to, &relayed, ctx);
            }
            _ => {
                metrics::counter!(metric_names::RTC_SIGNALS_TOTAL, "result" => "not-nearby").increment(1);
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
