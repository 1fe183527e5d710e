//! Latency summaries.

use std::{fmt, time::Duration};

#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// Nearest-rank percentiles of the samples (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        // `as` saturates and the clamp keeps the rank in bounds; std has no
        // checked float-to-integer conversion.
        #[allow(clippy::cast_possible_truncation)]
        let at = |q: f64| samples[(((samples.len() as f64) * q).ceil() as usize).clamp(1, samples.len()) - 1];
        Self { count: samples.len(), p50: at(0.50), p90: at(0.90), p99: at(0.99), max: samples[samples.len() - 1] }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={:.2?} p90={:.2?} p99={:.2?} max={:.2?}",
            self.count, self.p50, self.p90, self.p99, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(Summary::of(&mut []), Summary::default());
    }
}
