//! What a bot does with what it receives: every event is matched to the
//! send it came from (a peer's move, its own or a peer's chat message) so
//! delivery and latency are measured per send, inside the window only.

use std::{
    borrow::Cow,
    time::{Duration, Instant},
};

use super::Bot;
use crate::{
    metrics::Lat,
    wire::{Event, In, for_each_event},
};

impl Bot {
    /// Handles one frame; returns whether the tally is due for a flush.
    pub(super) fn on_frame(&mut self, m: tokio_tungstenite::tungstenite::Message) -> bool {
        let now = Instant::now();
        let now_us = self.ctx.moves.micros(now);
        let counted = self.in_window(now_us);
        let binary = m.is_binary();
        let data = m.into_data();
        let n = for_each_event(&data, binary, |e| self.on_event(e, now_us));
        // The walker's horizon follows the worst latency of the frame.
        if self.frame_latency > 0 {
            self.in_flight.latency(Duration::from_micros(std::mem::take(&mut self.frame_latency)), now);
        }
        self.tally.counts.live_events += n as u64;
        if counted {
            self.tally.counts.frames += 1;
            self.tally.counts.bytes += data.len() as u64;
            self.tally.counts.events += n as u64;
        }
        self.tally.full()
    }

    fn on_event(&mut self, e: Event<'_>, now_us: u64) {
        let msg = match e {
            Event::Msg(m) => m,
            Event::Moved { user_id, x, y } => return self.on_movement(user_id, x, y, now_us),
            Event::Unknown(kind) => {
                self.tally.counts.unknown_events += 1;
                self.tally.error(&format!("(harness) unknown event: {kind}"));
                return;
            }
        };
        match msg {
            In::Movement { user_id, x, y } => self.on_movement(user_id.as_bytes(), x, y, now_us),
            In::ViewEnter { user_id, x, y } => self.on_view_enter(&user_id, x, y),
            In::MovementRejected { x, y } => self.on_rejected(x, y, now_us),
            In::ChatMessage { id, client_id, content, .. } => self.on_chat(id, client_id, &content, now_us),
            In::Error { code, .. } => self.tally.error(&code),
            _ => {}
        }
    }

    fn on_movement(&mut self, user_id: &[u8], x: i32, y: i32, now_us: u64) {
        let Some(peer) = self.go.ids.get(user_id) else { return };
        let local = peer.wrapping_sub(self.base) as usize;
        if peer == self.idx || local >= self.seen.len() {
            return;
        }
        match self.ctx.moves.match_move(peer, x, y, self.seen[local], self.win.0) {
            Some(m) => {
                self.seen[local] = m.seq;
                let lat = now_us.saturating_sub(m.at_us);
                self.frame_latency = self.frame_latency.max(lat);
                if self.in_window(m.at_us) {
                    self.tally.counts.moves_seen += 1;
                    self.tally.counts.moves_skipped += m.skipped as u64;
                    self.tally.latency(Lat::Move, lat);
                }
            }
            None => {
                if self.in_window(now_us) {
                    self.tally.counts.moves_unmatched += 1;
                }
            }
        }
    }

    /// Steps taken out of view were never sent to us: resync.
    fn on_view_enter(&mut self, user_id: &str, x: i32, y: i32) {
        let Some(peer) = self.go.ids.get(user_id.as_bytes()) else { return };
        let local = peer.wrapping_sub(self.base) as usize;
        if local < self.seen.len()
            && let Some(seq) = self.ctx.moves.latest_to(peer, x, y)
        {
            self.seen[local] = seq;
        }
    }

    fn on_rejected(&mut self, x: i32, y: i32, now_us: u64) {
        self.walker.rejected(x, y);
        // Counted in the window of the refused send when known.
        let now = self.ctx.moves.instant(now_us);
        let sent = self.in_flight.rejected(x, y, now).and_then(|seq| self.ctx.moves.reject(self.idx, seq));
        if sent.is_none() {
            self.tally.counts.moves_rejections_unattributed += 1;
        }
        if self.in_window(sent.unwrap_or(now_us)) {
            self.tally.counts.moves_rejected += 1;
            self.window_rejected += 1;
        }
    }

    /// Our own message back is its ack; anyone else's is a delivery.
    fn on_chat(&mut self, id: Cow<'_, str>, client_id: Option<Cow<'_, str>>, content: &str, now_us: u64) {
        let tag = client_id.as_deref().unwrap_or_else(|| content.split(' ').next().unwrap_or_default());
        let Some((run, from, seq)) = parse_tag(tag) else { return };
        if run != self.go.run {
            return;
        }
        let sent = self.ctx.chats.sent_at(from, seq);
        if from == self.idx {
            if self.pending.remove(&seq) {
                self.acked.push(id.into_owned());
                self.tally.counts.live_acks += 1;
                if let Some(sent_us) = sent.filter(|&s| self.in_window(s)) {
                    self.tally.counts.chat_acked += 1;
                    self.tally.latency(Lat::ChatAck, now_us.saturating_sub(sent_us));
                }
            }
        } else {
            match sent {
                Some(sent_us) if self.in_window(sent_us) => {
                    self.tally.counts.chat_delivered += 1;
                    self.tally.latency(Lat::ChatDeliver, now_us.saturating_sub(sent_us));
                }
                Some(_) => {}
                None => self.tally.counts.chat_unmatched += 1,
            }
        }
    }
}

/// `b<run hex>.<bot>.<seq>` → (run, bot, seq).
fn parse_tag(tag: &str) -> Option<(u32, u32, u32)> {
    let mut it = tag.strip_prefix('b')?.split('.');
    let run = u32::from_str_radix(it.next()?, 16).ok()?;
    let from = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    Some((run, from, seq))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_round_trip() {
        assert_eq!(super::parse_tag("bff.12.3"), Some((255, 12, 3)));
        assert_eq!(super::parse_tag("hello"), None);
        assert_eq!(super::parse_tag("b1.2"), None);
    }
}
