//! Per-user quotas on what costs the server memory or storage: spaces
//! owned, and live spaces woken. Without them one socket kept 300 spaces of
//! 1024×1024 live (each stays up for `--space-idle` after its last member
//! leaves), adding 148 MiB.

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use crate::config::AbuseLimits;

pub struct Quotas {
    /// Spaces one non-admin user may own; 0: no cap.
    pub max_spaces_per_user: u32,
    /// Space starts per user, when capped.
    space_starts: Option<DefaultKeyedRateLimiter<String>>,
}

impl Quotas {
    pub fn new(limits: &AbuseLimits) -> Self {
        let space_starts =
            NonZeroU32::new(limits.space_starts_per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self { max_spaces_per_user: limits.max_spaces_per_user, space_starts }
    }

    /// Counts one space woken by `user`; `Err(wait)` when the user woke
    /// too many in the last minute.
    pub fn start_space(&self, user: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.space_starts else {
            return Ok(());
        };
        limiter.check_key(&user.to_owned()).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Drops the state of users whose budgets are full again.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.space_starts {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeConfig;

    #[test]
    fn space_starts_are_counted_per_user() {
        let mut limits = ServeConfig::defaults().limits;
        limits.space_starts_per_minute = 2;
        let q = Quotas::new(&limits);
        assert!(q.start_space("ada").is_ok() && q.start_space("ada").is_ok());
        let wait = q.start_space("ada").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(q.start_space("bob").is_ok());
        limits.space_starts_per_minute = 0;
        let open = Quotas::new(&limits);
        assert!((0..100).all(|_| open.start_space("ada").is_ok()));
    }
}
