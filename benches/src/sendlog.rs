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

//!
//! Each ring has one writer (its user's bot) and many readers (every peer
//! that sees a move, hundreds per send in a crowded space), so reads take
//! no lock: a slot is two atomic words, checked like a seqlock, and a read
//! never writes to memory the other threads share.

use std::{
    sync::atomic::{
        AtomicU32, AtomicU64,
        Ordering::{Acquire, Relaxed, Release},
        fence,
    },
    time::Instant,
};

/// Set in a slot's time word when the server refused that send.
const REJECTED: u64 = 1 << 63;

/// `seq << 32 | x << 16 | y`, x and y as 16-bit two's complement (the
/// harness sends within maps of at most 1024 tiles a side); 0 is an empty
/// slot, or one being written.
fn pack(seq: u32, x: i16, y: i16) -> u64 {
    (u64::from(seq) << 32) | (u64::from(x.cast_unsigned()) << 16) | u64::from(y.cast_unsigned())
}

/// A position that can be packed; None for one the harness never sends.
fn small(x: i32, y: i32) -> Option<(i16, i16)> {
    Some((i16::try_from(x).ok()?, i16::try_from(y).ok()?))
}

/// One remembered send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    head: u64,
    /// Microseconds since the log's epoch.
    at_us: u64,
    rejected: bool,
}

impl Slot {
    fn at(&self, x: i16, y: i16) -> bool {
        self.head & 0xffff_ffff == pack(0, x, y)
    }
}

/// An observed move matched to its send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub seq: u32,
    pub at_us: u64,
    pub skipped: u32,
}

/// A slot's two words side by side, so a read touches one cache line.
#[derive(Default)]
struct Cell {
    head: AtomicU64,
    /// Send time (µs since the epoch), with `REJECTED`.
    time: AtomicU64,
}

struct Ring {
    cells: Box<[Cell]>,
    /// The next send's number (from 1); written by the owner only.
    next_seq: AtomicU32,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self { cells: (0..capacity).map(|_| Cell::default()).collect(), next_seq: AtomicU32::new(1) }
    }

    fn index(&self, seq: u32) -> usize {
        seq as usize % self.cells.len()
    }

    /// The slot of `seq` while the ring still holds it.
    fn get(&self, seq: u32) -> Option<Slot> {
        let i = self.index(seq);
        let cell = &self.cells[i];
        let head = cell.head.load(Acquire);
        let time = cell.time.load(Relaxed);
        fence(Acquire);
        // Unchanged head: the time word read between belongs to it (the
        // writer empties the head before touching the time).
        let same = cell.head.load(Relaxed) == head;
        (same && head >> 32 == u64::from(seq) && seq != 0).then_some(Slot {
            head,
            at_us: time & !REJECTED,
            rejected: time & REJECTED != 0,
        })
    }

    /// The last send's number (0: none yet).
    fn newest(&self) -> u32 {
        self.next_seq.load(Acquire).wrapping_sub(1)
    }

    /// The oldest number the ring can still hold.
    fn oldest(&self) -> u32 {
        let n = u32::try_from(self.cells.len()).unwrap_or(u32::MAX);
        self.newest().saturating_sub(n - 1).max(1)
    }
}

pub struct SendLog {
    epoch: Instant,
    users: Vec<Ring>,
}

impl SendLog {
    /// `users` rings of `capacity` sends each (the older ones are
    /// forgotten; observations of them count as unmatched).
    pub fn new(epoch: Instant, users: usize, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { epoch, users: (0..users).map(|_| Ring::new(capacity)).collect() }
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
    fn ring(&self, user: u32) -> Option<&Ring> {
        self.users.get(user as usize)
    }

    /// Records a send by `user` (a move to (x, y), or a chat message with
    /// x = y = 0) at `at`; returns its sequence number (from 1). Only the
    /// user's own bot calls this.
    pub fn record(&self, user: u32, x: i32, y: i32, at: Instant) -> u32 {
        let at_us = self.micros(at) & !REJECTED;
        let Some(r) = self.ring(user) else { return 0 };
        let seq = r.next_seq.load(Relaxed);
        let (x, y) = small(x, y).unwrap_or((i16::MAX, i16::MAX));
        let cell = &r.cells[r.index(seq)];
        cell.head.store(0, Relaxed);
        fence(Release);
        cell.time.store(at_us, Relaxed);
        cell.head.store(pack(seq, x, y), Release);
        r.next_seq.store(seq.wrapping_add(1).max(1), Release);
        seq
    }

    /// Marks a move as rejected so no observation is matched to it;
    /// returns its send time (µs) if still remembered. Only the user's own
    /// bot calls this.
    pub fn reject(&self, user: u32, seq: u32) -> Option<u64> {
        let r = self.ring(user)?;
        let slot = r.get(seq)?;
        r.cells[r.index(seq)].time.fetch_or(REJECTED, Release);
        Some(slot.at_us)
    }

    /// The oldest unrejected send of `user` to (x, y) with a sequence
    /// number above `after`: its sequence number, send time (µs), and how
    /// many unrejected sends between `after` and it, sent at or after
    /// `since_us`, were skipped (the server coalesced them, or lost them).
    ///
    /// Every peer calls this for every move it sees, so it walks only the
    /// sends after `after` (usually one or two), not the whole ring.
    pub fn match_move(&self, user: u32, x: i32, y: i32, after: u32, since_us: u64) -> Option<Match> {
        let r = self.ring(user)?;
        let (x, y) = small(x, y)?;
        // Only count skips when `after` is still in the ring (else the gap
        // is unknown: the first sighting, or a long silence).
        let known = r.get(after).is_some();
        let mut skipped = 0;
        for seq in after.saturating_add(1).max(r.oldest())..=r.newest() {
            let Some(slot) = r.get(seq).filter(|s| !s.rejected) else { continue };
            if slot.at(x, y) {
                return Some(Match { seq, at_us: slot.at_us, skipped: if known { skipped } else { 0 } });
            }
            skipped += u32::from(slot.at_us >= since_us);
        }
        None
    }

    /// The newest unrejected send of `user` to (x, y): where a user that
    /// came into view (`view-enter`) stands, so its later moves are
    /// matched from there, not against steps taken out of sight.
    pub fn latest_to(&self, user: u32, x: i32, y: i32) -> Option<u32> {
        let r = self.ring(user)?;
        let (x, y) = small(x, y)?;
        (r.oldest()..=r.newest()).rev().find(|&seq| r.get(seq).is_some_and(|s| !s.rejected && s.at(x, y)))
    }

    /// Send time (µs) of `user`'s send `seq`, if still remembered.
    pub fn sent_at(&self, user: u32, seq: u32) -> Option<u64> {
        Some(self.ring(user)?.get(seq)?.at_us)
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

    /// The whole-ring scan `match_move` replaced: the definition it must
    /// keep answering.
    fn scan_all(log: &SendLog, user: u32, x: i32, y: i32, after: u32, since_us: u64) -> Option<Match> {
        let r = log.ring(user)?;
        let all: Vec<(u32, Slot)> = (1..=r.newest()).filter_map(|seq| Some((seq, r.get(seq)?))).collect();
        let (x16, y16) = small(x, y)?;
        let (seq, hit) = all.iter().filter(|(q, s)| *q > after && !s.rejected && s.at(x16, y16)).min_by_key(|e| e.0)?;
        let known = after != 0 && all.iter().any(|(q, _)| *q == after);
        let n = all.iter().filter(|(q, s)| *q > after && q < seq && !s.rejected && s.at_us >= since_us);
        let skipped = if known { u32::try_from(n.count()).unwrap() } else { 0 };
        Some(Match { seq: *seq, at_us: hit.at_us, skipped })
    }

    #[test]
    fn matching_from_the_last_match_answers_like_scanning_the_whole_ring() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(16);
        let log = SendLog::new(t0, 1, 8);
        for step in 0..2_000u64 {
            let seq = log.record(0, rng.gen_range(0..3), rng.gen_range(0..3), t0 + Duration::from_millis(step));
            if rng.gen_bool(0.2) {
                log.reject(0, seq);
            }
            for _ in 0..4 {
                let (x, y) = (rng.gen_range(0..3), rng.gen_range(0..3));
                let after = seq.saturating_sub(rng.gen_range(0..12));
                let since = step.saturating_sub(rng.gen_range(0..6)) * 1000;
                assert_eq!(log.match_move(0, x, y, after, since), scan_all(&log, 0, x, y, after, since), "{step}");
            }
        }
    }

    /// Readers racing the writer never see a slot torn between two sends:
    /// every answer pairs a send's number with its own time and place.
    #[test]
    fn readers_racing_the_writer_see_whole_sends() {
        let t0 = Instant::now();
        let log = std::sync::Arc::new(SendLog::new(t0, 1, 16));
        let place = |seq: u32| ((seq % 7).cast_signed(), (seq % 5).cast_signed());
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for seq in 1..=300_000u32 {
                    let (x, y) = place(seq);
                    assert_eq!(log.record(0, x, y, t0 + Duration::from_micros(u64::from(seq))), seq);
                }
            })
        };
        let mut checked = 0u64;
        while !writer.is_finished() {
            let newest = log.ring(0).unwrap().newest();
            for back in 0..20 {
                let seq = newest.saturating_sub(back);
                if let Some(at) = log.sent_at(0, seq) {
                    assert_eq!(at, u64::from(seq));
                    checked += 1;
                }
                let (x, y) = place(seq);
                if let Some(m) = log.match_move(0, x, y, seq.saturating_sub(8), 0) {
                    assert_eq!((m.at_us, place(m.seq)), (u64::from(m.seq), (x, y)));
                }
            }
        }
        writer.join().unwrap();
        assert!(checked > 0);
    }
}
