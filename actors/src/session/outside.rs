//! What ends a session from outside its socket and its space: the server
//! shutting down, a revoked sign-in and, by the clock, the join deadline
//! or the token's expiry.
//!
//! The session's loop waits on these at every turn, so their futures are
//! made once and kept across turns. Made afresh for every frame, a
//! broadcast receive locks the channel that every session of the process
//! shares (once to wait, once to stop waiting), a `watch` wait does the
//! same on the shutdown signal's notifier, and a sleep goes in and out of
//! the timer wheel: a lock that every move of every session touched.

use tokio::sync::{
    broadcast::{self, error::RecvError},
    watch,
};

use crate::CloseReason;

/// What came from outside.
pub(super) enum Signal {
    Shutdown,
    /// A sign-in was revoked somewhere (or revocations were missed, or the
    /// channel closed), with the receivers to wait for the next.
    Revoked(Receivers, Result<String, RecvError>),
}

/// The shutdown flag and the revocations, as the session got them.
pub(super) struct Receivers {
    pub shutdown: watch::Receiver<bool>,
    pub revoked: broadcast::Receiver<String>,
}

/// The next signal. Revocations stop being waited for once their channel
/// has closed (it then answers at once, for ever).
pub(super) async fn next(mut r: Receivers, revocations_open: bool) -> Signal {
    let got = tokio::select! {
        biased;
        _ = r.shutdown.changed() => return Signal::Shutdown,
        got = r.revoked.recv(), if revocations_open => got,
    };
    Signal::Revoked(r, got)
}

/// Whether revocations can still come after `got`.
pub(super) fn still_open(got: &Result<String, RecvError>) -> bool {
    !matches!(got, Err(RecvError::Closed))
}

/// The deadline that applies now: the join deadline until the socket has
/// joined, then the token's expiry.
pub(super) fn deadline(
    auth: Option<&(String, tokio::time::Instant)>,
    join_by: tokio::time::Instant,
) -> (tokio::time::Instant, CloseReason) {
    match auth {
        Some((_, expires)) => (*expires, CloseReason::TOKEN_EXPIRED),
        None => (join_by, CloseReason::JOIN_TIMEOUT),
    }
}
