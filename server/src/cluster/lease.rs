//! Shard leases in Redis: one key per live space naming its owner and a
//! fencing token. Every change is one Lua script, so a check and its write
//! are atomic in Redis; no consensus of our own.

use std::time::{Duration, Instant};

use fred::{prelude::*, types::scripts::Script};

/// Takes the lease if nobody holds it; returns whoever holds it after.
/// KEYS: lease, fence. ARGV: owner ("node incarnation"), ttl ms.
/// The token is at least Redis's clock in microseconds, so it still grows
/// if Redis restarts without its data and the counter starts over.
const ACQUIRE: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local t = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])
if t < floor then
  t = floor
  redis.call('SET', KEYS[2], t)
end
local v = ARGV[1] .. ' ' .. string.format('%d', t)
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v
"#;

/// Extends each lease still held as expected: 1 renewed, 0 lost.
/// KEYS: leases. ARGV: ttl ms, then each lease's expected value.
const RENEW: &str = r#"
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i + 1] then
    redis.call('PEXPIRE', k, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"#;

/// Deletes the lease only if it is still ours. KEYS: lease. ARGV: value.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Who holds a lease: the node, the process (a restarted node with the
/// same id is another holder) and the fencing token, which only grows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub incarnation: String,
    pub token: u64,
}

impl Holder {
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(' ');
        let node = parts.next()?.to_owned();
        let incarnation = parts.next()?.to_owned();
        let token = parts.next()?.parse().ok()?;
        Some(Self { node, incarnation, token })
    }

    pub fn value(&self) -> String {
        format!("{} {} {}", self.node, self.incarnation, self.token)
    }
}

/// A lease this process holds.
#[derive(Clone, Debug)]
pub struct Held {
    pub holder: Holder,
    pub acquired: Instant,
    pub acquired_at_ms: i64,
    /// When this process must consider the lease gone: a margin before
    /// Redis would expire it, counted from before the last renewal was sent.
    pub valid_until: Instant,
}

pub struct Leases {
    acquire: Script,
    renew: Script,
    release: Script,
    pub ttl: Duration,
}

impl Leases {
    pub fn new(ttl: Duration) -> Self {
        Self {
            acquire: Script::from_lua(ACQUIRE),
            renew: Script::from_lua(RENEW),
            release: Script::from_lua(RELEASE),
            ttl,
        }
    }

    /// How long before Redis's expiry this process stops acting as owner.
    pub fn margin(&self) -> Duration {
        (self.ttl / 5).max(Duration::from_millis(200)).min(self.ttl / 2)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    pub async fn acquire(
        &self,
        redis: &Client,
        lease_key: &str,
        fence_key: &str,
        owner: &str,
    ) -> Result<Holder, Error> {
        let value: String = self
            .acquire
            .evalsha_with_reload(redis, vec![lease_key, fence_key], vec![owner.to_owned(), self.ttl_ms().to_string()])
            .await?;
        Holder::parse(&value).ok_or_else(|| Error::new(ErrorKind::Parse, format!("bad lease value {value:?}")))
    }

    pub async fn renew(&self, redis: &Client, keys: Vec<String>, values: Vec<String>) -> Result<Vec<bool>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(values.len() + 1);
        args.push(self.ttl_ms().to_string());
        args.extend(values);
        let out: Vec<i64> = self.renew.evalsha_with_reload(redis, keys, args).await?;
        Ok(out.into_iter().map(|v| v == 1).collect())
    }

    pub async fn release(&self, redis: &Client, lease_key: &str, value: &str) -> Result<bool, Error> {
        let n: i64 = self.release.evalsha_with_reload(redis, vec![lease_key], vec![value.to_owned()]).await?;
        Ok(n == 1)
    }

    /// The time a lease was renewed through: `sent` is when the request left.
    pub fn valid_from(&self, sent: Instant) -> Instant {
        sent + self.ttl - self.margin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_parse_and_print() {
        let h = Holder { node: "node-1".into(), incarnation: "ab12".into(), token: 42 };
        assert_eq!(Holder::parse(&h.value()), Some(h));
        assert_eq!(Holder::parse("node-1 ab12"), None);
        assert_eq!(Holder::parse("node-1 ab12 x"), None);
    }

    #[test]
    fn the_margin_keeps_local_expiry_before_redis_expiry() {
        for secs in [1, 2, 10, 60] {
            let l = Leases::new(Duration::from_secs(secs));
            assert!(l.margin() > Duration::ZERO && l.margin() <= l.ttl / 2);
        }
    }
}
