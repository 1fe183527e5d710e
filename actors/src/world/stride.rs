//! The walking-speed budget: how many steps a member may take, refilled over
//! time. Moves are one tile each, so without it a client could cross a space
//! as fast as it can send (60 steps were accepted in half a second); with it,
//! a walk is never faster than a person holding an arrow key.

use std::time::Instant;

/// Steps per second and the burst allowed above that rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WalkSpeed {
    /// Steady rate; the browser client repeats a held key every 130 ms
    /// (about 7.7 steps/s), so the default leaves it room.
    pub per_second: f64,
    /// Steps allowed at once, so taps in quick succession and a burst after
    /// network jitter are not refused.
    pub burst: f64,
}

impl Default for WalkSpeed {
    fn default() -> Self {
        Self { per_second: 10.0, burst: 10.0 }
    }
}

/// One member's budget: a token bucket whose clock is handed in, so the
/// rule stays testable without waiting.
#[derive(Clone, Debug)]
pub struct Stride {
    tokens: f64,
    at: Instant,
}

impl Stride {
    /// A full budget: a member who just arrived may take a burst at once.
    pub fn new(speed: WalkSpeed, now: Instant) -> Self {
        Self { tokens: speed.burst, at: now }
    }

    /// Takes one step from the budget; false when it is spent (the step is
    /// refused and costs nothing).
    pub fn take(&mut self, speed: WalkSpeed, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at);
        self.at = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * speed.per_second).min(speed.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate() {
        let speed = WalkSpeed { per_second: 10.0, burst: 10.0 };
        let t0 = Instant::now();
        let mut s = Stride::new(speed, t0);
        // 60 steps sent in half a second: the burst plus five refilled.
        let taken = (0..60).filter(|i| s.take(speed, t0 + Duration::from_millis(i * 500 / 60))).count();
        assert!((10..=15).contains(&taken), "{taken}");
        assert!(!s.take(speed, t0 + Duration::from_millis(500)));
        // A steady walk at the browser's pace is never refused.
        let mut s = Stride::new(speed, t0);
        assert!((0..1000).all(|i| s.take(speed, t0 + Duration::from_millis(i * 130))));
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let speed = WalkSpeed { per_second: 5.0, burst: 3.0 };
        let t0 = Instant::now();
        let mut s = Stride::new(speed, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| s.take(speed, later)).count(), 3);
    }
}
