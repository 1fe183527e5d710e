//! Limits on wrong guesses: passwords per account and per client address,
//! passcodes per room. Without them a 3-digit passcode fell in 12 s and
//! 400 wrong passwords were tried at 66/s. Only failures count, so people
//! who type their secret right are never slowed; a key that failed too
//! often is refused (429 `rate-limited` with `retryAfterMs`) until its
//! budget refills, before any argon2 work is spent on it.
//!
//! An unknown username is limited exactly like a known one, so the answer
//! does not tell which names exist.

use std::{
    hash::Hash,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

/// Refused until the key's budget refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many wrong attempts; retry in {} ms", .0.as_millis())]
pub struct TooManyAttempts(pub Duration);

/// Failures allowed at once per key, and how fast the budget refills.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub burst: u32,
    pub per_minute: u32,
}

/// Wrong sign-ins per account: ten, then one more every six seconds.
pub const ACCOUNT: Budget = Budget { burst: 10, per_minute: 10 };
/// Wrong sign-ins per client address, over all accounts it tries.
pub const ADDRESS: Budget = Budget { burst: 50, per_minute: 50 };
/// Wrong passcodes per room, over everyone who tries it.
pub const ROOM: Budget = Budget { burst: 10, per_minute: 10 };

/// Counts failures per key and refuses keys that ran out.
pub struct Attempts<K: Hash + Eq + Clone> {
    failures: DefaultKeyedRateLimiter<K>,
    blocked: DashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> Attempts<K> {
    /// A counter allowing `budget` failures per key.
    pub fn new(budget: Budget) -> Self {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        // The failure that uses up the budget is the one that blocks: the
        // limiter holds one cell fewer, so `burst` failures are allowed
        // and the attempt after them is refused.
        let quota = Quota::per_minute(nz(budget.per_minute)).allow_burst(nz(budget.burst.saturating_sub(1)));
        Self { failures: RateLimiter::keyed(quota), blocked: DashMap::new() }
    }

    /// Refuses a key that failed too often, with the time until it may
    /// try again.
    pub fn check(&self, key: &K) -> Result<(), TooManyAttempts> {
        let now = Instant::now();
        match self.blocked.get(key).map(|until| *until) {
            Some(until) if until > now => Err(TooManyAttempts(until - now)),
            Some(_) => {
                self.blocked.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts one failure; past the budget the key is refused until a
    /// failure would be allowed again.
    pub fn failed(&self, key: &K) {
        if let Err(not_until) = self.failures.check_key(key) {
            let wait = not_until.wait_time_from(self.failures.clock().now());
            self.blocked.insert(key.clone(), Instant::now() + wait);
        }
    }

    /// Drops state for keys whose budgets are full again (memory bound).
    pub fn forget_idle(&self) {
        self.failures.retain_recent();
        let now = Instant::now();
        self.blocked.retain(|_, until| *until > now);
    }
}

/// Every guess counter of the server, shared by HTTP and WebSocket paths.
pub struct Guards {
    /// Wrong sign-ins by username (lowercased).
    pub accounts: Attempts<String>,
    /// Wrong sign-ins by client address.
    pub addresses: Attempts<std::net::IpAddr>,
    /// Wrong passcodes by chatroom id.
    pub rooms: Attempts<String>,
}

impl Default for Guards {
    fn default() -> Self {
        Self { accounts: Attempts::new(ACCOUNT), addresses: Attempts::new(ADDRESS), rooms: Attempts::new(ROOM) }
    }
}

impl Guards {
    /// Drops the state of keys that are quiet again.
    pub fn forget_idle(&self) {
        self.accounts.forget_idle();
        self.addresses.forget_idle();
        self.rooms.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_past_the_burst_blocks_the_key_and_no_other() {
        let a: Attempts<String> = Attempts::new(Budget { burst: 3, per_minute: 3 });
        let (key, other) = ("ada".to_owned(), "bob".to_owned());
        for _ in 0..2 {
            assert!(a.check(&key).is_ok());
            a.failed(&key);
        }
        assert!(a.check(&key).is_ok(), "the third attempt is within the budget");
        a.failed(&key);
        let Err(TooManyAttempts(wait)) = a.check(&key) else { panic!("the fourth attempt is refused") };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(a.check(&other).is_ok(), "other keys are not affected");
    }
}
