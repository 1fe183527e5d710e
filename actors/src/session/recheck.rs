//! Re-checking the sign-in session before a message that speaks for the
//! user (`chat-message`, `rtc-signal`), so a revocation this socket missed
//! (another node, a lagging feed) stops a stolen token within a second.

use std::time::Duration;

use tokio::time::Instant;

use super::{Services, Session};

/// How stale the last check may be before a message that speaks for the
/// user asks the database again: a chat burst costs one query, not one per
/// message.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);

impl<S: Services> Session<S> {
    /// False when the socket's sign-in session was revoked. True when not
    /// joined (the handler answers `not-joined`) or when the check was fresh.
    pub(super) async fn still_signed_in(&mut self) -> bool {
        let Some((sid, _)) = &self.auth else {
            return true;
        };
        if self.checked_at.elapsed() < RECHECK_AFTER {
            return true;
        }
        let active = self.services.still_active(sid).await;
        self.checked_at = Instant::now();
        active
    }
}
