use std::time::Duration;

/// Tunables of live spaces, from the server's configuration.
#[derive(Clone, Debug)]
pub struct SpaceSettings {
    /// How long a dropped socket's presence is held for a resume.
    pub resume_grace: Duration,
    /// How long an empty space lives before it stops.
    pub idle_stop: Duration,
    /// Most frames kept for a suspended member; past it the member leaves.
    pub replay_limit: usize,
    /// Mailbox bound of a space actor (moves past it are refused as busy).
    pub mailbox: usize,
}

impl Default for SpaceSettings {
    fn default() -> Self {
        Self {
            resume_grace: Duration::from_secs(30),
            idle_stop: Duration::from_secs(30),
            replay_limit: 512,
            mailbox: 4096,
        }
    }
}
