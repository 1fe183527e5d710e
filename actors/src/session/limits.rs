//! Per-socket abuse limits: the message rate, undecodable frames and failed
//! sign-ins, each with the point past which the socket is closed.

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Consecutive undecodable frames before the socket is closed.
pub const MAX_BAD_FRAMES: u32 = 10;
/// Failed `join` authentications before the socket is closed.
pub const MAX_AUTH_FAILURES: u32 = 5;
/// Full `chat-join` history replays per minute per socket: enough for a
/// client rejoining a few rooms after a reconnect, too few to turn the
/// server into an amplifier (each replay can be hundreds of messages).
pub const REPLAYS_PER_MINUTE: u32 = 4;
/// Rate strikes further apart than this start the count afresh, so a client
/// that only now and then bursts is warned, not closed.
const STRIKE_MEMORY: Duration = Duration::from_secs(5);

/// Per-connection limits, from the server's configuration.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    /// Largest client frame decoded; a larger one is answered with `error`.
    pub max_frame: usize,
    /// A socket silent for this long is closed (4001); pings go out at a
    /// third of it.
    pub idle_timeout: Duration,
    /// A socket that has not authenticated with a valid `join` this long
    /// after connecting is closed (4007), pongs or not.
    pub join_timeout: Duration,
    /// Client messages per second one socket may send, so a single client
    /// cannot flood its space.
    pub rate: NonZeroU32,
    /// Messages allowed at once above `rate`, so a client catching up after a
    /// hiccup is not punished.
    pub burst: NonZeroU32,
}

/// What the rate limiter says about one more message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    Pass,
    /// Over the rate: answer with `error` and drop the message.
    Warn,
    /// Over the rate for too long: close the socket (4003).
    Close,
}

pub(super) struct Guard {
    limiter: DefaultDirectRateLimiter,
    /// History replays (`chat-join` with `since`), counted before the
    /// database is asked.
    replays: DefaultDirectRateLimiter,
    burst: u32,
    rate_strikes: u32,
    last_strike: Instant,
    bad_frames: u32,
    auth_failures: u32,
}

impl Guard {
    pub(super) fn new(limits: &SessionLimits) -> Self {
        Self {
            limiter: RateLimiter::direct(Quota::per_second(limits.rate).allow_burst(limits.burst)),
            replays: RateLimiter::direct(replay_quota()),
            burst: limits.burst.get(),
            rate_strikes: 0,
            last_strike: Instant::now(),
            bad_frames: 0,
            auth_failures: 0,
        }
    }

    pub(super) fn admit(&mut self) -> Admit {
        if self.limiter.check().is_ok() {
            return Admit::Pass;
        }
        if self.last_strike.elapsed() > STRIKE_MEMORY {
            self.rate_strikes = 0;
        }
        self.rate_strikes += 1;
        self.last_strike = Instant::now();
        if self.rate_strikes > 2 * self.burst { Admit::Close } else { Admit::Warn }
    }

    /// Whether one more history replay fits this minute's budget.
    pub(super) fn replay(&mut self) -> bool {
        self.replays.check().is_ok()
    }

    pub(super) fn decoded(&mut self) {
        self.bad_frames = 0;
    }

    /// True when this bad frame is one too many.
    pub(super) fn undecodable(&mut self) -> bool {
        self.bad_frames += 1;
        self.bad_frames >= MAX_BAD_FRAMES
    }

    pub(super) fn signed_in(&mut self) {
        self.auth_failures = 0;
    }

    /// True when this failed sign-in is one too many.
    pub(super) fn sign_in_failed(&mut self) -> bool {
        self.auth_failures += 1;
        self.auth_failures >= MAX_AUTH_FAILURES
    }
}

fn replay_quota() -> Quota {
    let per_minute = NonZeroU32::new(REPLAYS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute)
}
