//! When each user sent what: per-user rings of recent sends, written by the
//! user's own client and read by every peer that observes the result, so
//! an observation can be matched to its send time.
//!
//! Moves are matched by position: a peer that sees user X at (x, y) takes
//! the oldest send of X to (x, y) newer than the last send of X it
//! matched. Seen moves arrive in order, so that handles revisited tiles,
//! and a move the server coalesced away (overwritten in the same tick) is
//! simply skipped. A move known to be rejected is never matched.
//!
//! Chat messages are matched by sequence number (carried in `clientId`
//! and in the content).

use std::sync::Mutex;

use std::time::Instant;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// 0: empty slot.
    seq: u32,
    x: i32,
    y: i32,
    rejected: bool,
    /// Microseconds since the log's epoch.
    at_us: u64,
}

/// An observed move matched to its send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub seq: u32,
    pub at_us: u64,
    pub skipped: u32,
}

struct Ring {
    entries: Box<[Entry]>,
    next_seq: u32,
}

pub struct SendLog {
    epoch: Instant,
    users: Vec<Mutex<Ring>>,
}

impl SendLog {
    /// `users` rings of `capacity` sends each (the older ones are
    /// forgotten; observations of them count as unmatched).
    pub fn new(epoch: Instant, users: usize, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let users = (0..users)
            .map(|_| Mutex::new(Ring { entries: vec![Entry::default(); capacity].into(), next_seq: 1 }))
            .collect();
        Self { epoch, users }
    }

    /// The instant `us` microseconds after the epoch.
    pub fn instant(&self, us: u64) -> Instant {
        self.epoch + std::time::Duration::from_micros(us)
    }

    pub fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The user's ring (None for an index out of range: a message that
    /// only looks like ours).
    fn ring(&self, user: u32) -> Option<std::sync::MutexGuard<'_, Ring>> {
        // A panic while holding this lock leaves consistent plain data.
        self.users.get(user as usize).map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a send by `user` (a move to (x, y), or a chat message with
    /// x = y = 0) at `at`; returns its sequence number (from 1).
    pub fn record(&self, user: u32, x: i32, y: i32, at: Instant) -> u32 {
        let at_us = self.micros(at);
        let Some(mut r) = self.ring(user) else { return 0 };
        let seq = r.next_seq;
        r.next_seq = r.next_seq.wrapping_add(1).max(1);
        let n = r.entries.len();
        r.entries[seq as usize % n] = Entry { seq, x, y, rejected: false, at_us };
        seq
    }

    /// Marks a move as rejected so no observation is matched to it;
    /// returns its send time (µs) if still remembered.
    pub fn reject(&self, user: u32, seq: u32) -> Option<u64> {
        let mut r = self.ring(user)?;
        let n = r.entries.len();
        let e = &mut r.entries[seq as usize % n];
        (e.seq == seq).then(|| {
            e.rejected = true;
            e.at_us
        })
    }

    /// The oldest unrejected send of `user` to (x, y) with a sequence
    /// number above `after`: its sequence number, send time (µs), and how
    /// many unrejected sends between `after` and it, sent at or after
    /// `since_us`, were skipped (the server coalesced them, or lost them).
    pub fn match_move(&self, user: u32, x: i32, y: i32, after: u32, since_us: u64) -> Option<Match> {
        let r = self.ring(user)?;
        let hit =
            r.entries.iter().filter(|e| e.seq > after && !e.rejected && e.x == x && e.y == y).min_by_key(|e| e.seq)?;
        // Only count skips when `after` is still in the ring (else the gap
        // is unknown: the first sighting, or a long silence).
        let known = after == 0 || r.entries.iter().any(|e| e.seq == after);
        let skipped = if known && after != 0 {
            let n = r.entries.iter().filter(|e| e.seq > after && e.seq < hit.seq && !e.rejected && e.at_us >= since_us);
            u32::try_from(n.count()).unwrap_or(u32::MAX)
        } else {
            0
        };
        Some(Match { seq: hit.seq, at_us: hit.at_us, skipped })
    }

    /// The newest unrejected send of `user` to (x, y): where a user that
    /// came into view (`view-enter`) stands, so its later moves are
    /// matched from there, not against steps taken out of sight.
    pub fn latest_to(&self, user: u32, x: i32, y: i32) -> Option<u32> {
        let r = self.ring(user)?;
        r.entries.iter().filter(|e| e.seq != 0 && !e.rejected && e.x == x && e.y == y).map(|e| e.seq).max()
    }

    /// Send time (µs) of `user`'s send `seq`, if still remembered.
    pub fn sent_at(&self, user: u32, seq: u32) -> Option<u64> {
        let r = self.ring(user)?;
        let e = r.entries[seq as usize % r.entries.len()];
        (e.seq == seq && seq != 0).then_some(e.at_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn moves_match_in_order_and_skip_rejected_and_coalesced() {
        let t0 = Instant::now();
        let log = SendLog::new(t0, 2, 8);
        let at = |ms| t0 + Duration::from_millis(ms);
        let a = log.record(1, 5, 5, at(10)); // A
        let b = log.record(1, 5, 6, at(20)); // B, coalesced away
        let c = log.record(1, 5, 5, at(30)); // A again
        let d = log.record(1, 6, 5, at(40)); // rejected
        log.reject(1, d);
        assert_eq!((a, b, c, d), (1, 2, 3, 4));
        // A peer sees A, then (B coalesced) A again; never the rejected one.
        assert_eq!(log.match_move(1, 5, 5, 0, 0), Some(Match { seq: 1, at_us: 10_000, skipped: 0 }));
        // B was coalesced away: one skipped.
        assert_eq!(log.match_move(1, 5, 5, 1, 0), Some(Match { seq: 3, at_us: 30_000, skipped: 1 }));
        // Skips before `since` are not counted.
        assert_eq!(log.match_move(1, 5, 5, 1, 25_000), Some(Match { seq: 3, at_us: 30_000, skipped: 0 }));
        assert_eq!(log.match_move(1, 6, 5, 3, 0), None);
        assert_eq!(log.match_move(0, 5, 5, 0, 0), None);
        assert_eq!(log.match_move(9, 5, 5, 0, 0), None);
        assert_eq!(log.sent_at(9, 1), None);
        assert_eq!(log.sent_at(1, 2), Some(20_000));
        // Old sends are forgotten once the ring wraps.
        for i in 0..8 {
            log.record(1, 9, i, at(100));
        }
        assert_eq!(log.sent_at(1, 2), None);
        assert_eq!(log.match_move(1, 5, 5, 0, 0), None);
    }
}
