//! A random walk on the grid: one tile per step, mostly straight on,
//! turning at edges, and steering away from a direction the server just
//! rejected (a wall, an element, someone standing there).

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use rand::{Rng, rngs::StdRng};

const DIRS: [(i32, i32); 4] = [(0, -1), (1, 0), (0, 1), (-1, 0)];
/// Chance of keeping the current direction when it is open.
const KEEP: f64 = 0.75;

pub struct Walker {
    pub pos: (i32, i32),
    size: (i32, i32),
    dir: usize,
    /// The direction refused last, avoided on the next step.
    blocked: Option<usize>,
}

impl Walker {
    pub fn new(pos: (i32, i32), size: (i32, i32), rng: &mut StdRng) -> Self {
        Self { pos, size, dir: rng.gen_range(0..4), blocked: None }
    }

    fn inside(&self, d: usize) -> bool {
        let (x, y) = (self.pos.0 + DIRS[d].0, self.pos.1 + DIRS[d].1);
        x >= 0 && y >= 0 && x < self.size.0 && y < self.size.1
    }

    /// The next tile to step to (assumed accepted until told otherwise).
    pub fn step(&mut self, rng: &mut StdRng) -> (i32, i32) {
        let reverse = (self.dir + 2) % 4;
        let mut open: Vec<usize> = (0..4).filter(|&d| self.inside(d) && Some(d) != self.blocked).collect();
        if open.is_empty() {
            open = (0..4).filter(|&d| self.inside(d)).collect();
        }
        if open.is_empty() {
            // A 1×1 space: nowhere to go; ask anyway and be refused.
            return (self.pos.0 + 1, self.pos.1);
        }
        let d = if open.contains(&self.dir) && rng.gen_bool(KEEP) {
            self.dir
        } else {
            if open.len() > 1 {
                open.retain(|&d| d != reverse);
            }
            open[rng.gen_range(0..open.len())]
        };
        self.dir = d;
        self.blocked = None;
        self.pos = (self.pos.0 + DIRS[d].0, self.pos.1 + DIRS[d].1);
        self.pos
    }

    /// The server refused the last step and says where we stand.
    pub fn rejected(&mut self, x: i32, y: i32) {
        self.blocked = Some(self.dir);
        self.pos = (x, y);
    }
}

/// Moves sent but not known to be accepted, to tell which one a
/// `movement-rejected` refers to. The server takes moves in order and
/// answers only rejections, with the tile it kept: the rejected move is
/// the first in flight whose start tile (assuming the ones before it were
/// accepted) is that tile. A move is in flight for a horizon of about
/// three times the latency seen lately (moves of peers, earlier
/// rejections); older ones are taken as accepted, so a tile passed long
/// ago does not take the blame.
pub struct InFlight {
    confirmed: (i32, i32),
    queue: VecDeque<(u32, (i32, i32), Instant)>,
    horizon: Duration,
    /// Largest latency seen in the current and the previous period.
    latest: (Duration, Duration, Instant),
}

const MIN_HORIZON: Duration = Duration::from_millis(500);
const MAX_HORIZON: Duration = Duration::from_secs(10);
const LATENCY_PERIOD: Duration = Duration::from_secs(2);
const MAX_IN_FLIGHT: usize = 512;

impl InFlight {
    pub fn new(at: (i32, i32)) -> Self {
        let now = Instant::now();
        Self {
            confirmed: at,
            queue: VecDeque::new(),
            horizon: Duration::from_secs(2),
            latest: (Duration::ZERO, Duration::ZERO, now),
        }
    }

    /// A latency seen by this client (a peer's move, or a rejection).
    pub fn latency(&mut self, lat: Duration, now: Instant) {
        let (cur, prev, since) = &mut self.latest;
        if now.duration_since(*since) >= LATENCY_PERIOD {
            *prev = *cur;
            *cur = Duration::ZERO;
            *since = now;
        }
        *cur = (*cur).max(lat);
        self.horizon = ((*cur).max(*prev) * 3 + Duration::from_millis(300)).clamp(MIN_HORIZON, MAX_HORIZON);
    }

    pub fn sent(&mut self, seq: u32, to: (i32, i32), at: Instant) {
        self.queue.push_back((seq, to, at));
        while let Some(&(_, to, t)) = self.queue.front() {
            if at.duration_since(t) < self.horizon && self.queue.len() <= MAX_IN_FLIGHT {
                break;
            }
            self.confirmed = to;
            self.queue.pop_front();
        }
    }

    /// The sequence number of the rejected move, if one fits.
    pub fn rejected(&mut self, x: i32, y: i32, now: Instant) -> Option<u32> {
        let mut from = self.confirmed;
        let hit = self.queue.iter().position(|&(_, to, _)| {
            let fits = from == (x, y);
            from = to;
            fits
        });
        self.confirmed = (x, y);
        match hit {
            Some(i) => {
                let (seq, _, at) = self.queue[i];
                self.queue.drain(..=i);
                self.latency(now.duration_since(at), now);
                Some(seq)
            }
            None => {
                // Out of step (a move taken as accepted was not, or the
                // horizon was too short): resync, and wait longer.
                self.queue.clear();
                self.horizon = (self.horizon * 2).min(MAX_HORIZON);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn walks_one_tile_at_a_time_inside_the_grid() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut w = Walker::new((0, 0), (5, 3), &mut rng);
        let mut at = w.pos;
        for _ in 0..1000 {
            let next = w.step(&mut rng);
            assert_eq!((next.0 - at.0).abs() + (next.1 - at.1).abs(), 1);
            assert!((0..5).contains(&next.0) && (0..3).contains(&next.1));
            at = next;
        }
    }

    #[test]
    fn steers_away_from_a_rejected_direction() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut w = Walker::new((2, 2), (5, 5), &mut rng);
        for _ in 0..200 {
            let before = w.pos;
            let tried = w.step(&mut rng);
            w.rejected(before.0, before.1);
            let next = w.step(&mut rng);
            assert_ne!(next, tried);
            w.pos = before;
        }
    }

    #[test]
    fn rejections_are_matched_to_the_move_they_refuse() {
        let t = Instant::now();
        let mut f = InFlight::new((5, 5));
        // 1: (5,5)→(5,6) accepted; 2: (5,6)→(5,7) refused; 3: (5,7)→(5,8)
        // sent before the refusal arrived, refused too (too far).
        f.sent(1, (5, 6), t);
        f.sent(2, (5, 7), t);
        f.sent(3, (5, 8), t);
        assert_eq!(f.rejected(5, 6, t), Some(2));
        // The walker stepped back from (5,6) meanwhile.
        f.sent(4, (4, 6), t);
        assert_eq!(f.rejected(5, 6, t), Some(3));
        assert_eq!(f.queue.len(), 1);
        // A refusal that fits nothing resyncs.
        assert_eq!(f.rejected(9, 9, t), None);
        assert!(f.queue.is_empty());
        // Moves older than the horizon are taken as accepted.
        f.sent(5, (9, 8), t);
        f.sent(6, (9, 7), t + MAX_HORIZON);
        assert_eq!(f.rejected(9, 8, t + MAX_HORIZON), Some(6));
    }

    #[test]
    fn the_horizon_follows_latency() {
        let t = Instant::now();
        let mut f = InFlight::new((0, 0));
        f.latency(Duration::from_millis(30), t);
        assert_eq!(f.horizon, MIN_HORIZON);
        // Moves 1-4 a while ago went through; 5 and 6 are in flight.
        for (seq, to) in [(1, (1, 0)), (2, (2, 0)), (3, (2, 1)), (4, (1, 1))] {
            f.sent(seq, to, t);
        }
        let later = t + Duration::from_secs(1);
        f.sent(5, (1, 0), later);
        f.sent(6, (0, 0), later);
        // (1,0) was passed before (move 2 started there); the refusal is 6's.
        assert_eq!(f.rejected(1, 0, later), Some(6));
        f.latency(Duration::from_secs(1), later);
        assert_eq!(f.horizon, Duration::from_millis(3300));
        f.latency(Duration::from_secs(60), later);
        assert_eq!(f.horizon, MAX_HORIZON);
    }
}
