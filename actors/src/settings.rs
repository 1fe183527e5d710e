//! The tunables of live spaces in one plain struct, so the server fills them
//! from its flags and tests shrink them, without either starting a space.

use std::time::Duration;

use crate::world::{ViewWindow, WalkSpeed};

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
    /// World events are sent once per tick (at most one frame per batched
    /// session per tick).
    pub tick: Duration,
    /// The window a session sees moves in, in spaces larger than it.
    pub view: ViewWindow,
    /// A client that asked for no window sees the whole space while it
    /// holds at most this many people, and the `view` window above (back
    /// to the whole space at nine tenths of it, so a crowd at the line
    /// does not flip every client's view at each join and leave).
    pub view_all_up_to: usize,
    /// A tick's batch is split into frames of about this many bytes.
    pub batch_limit: usize,
    /// How fast a member may walk; faster steps get `movement-rejected`.
    pub walk: WalkSpeed,
}

impl Default for SpaceSettings {
    fn default() -> Self {
        Self {
            resume_grace: Duration::from_secs(30),
            idle_stop: Duration::from_secs(30),
            replay_limit: 512,
            mailbox: 4096,
            tick: Duration::from_millis(50),
            view: ViewWindow::default(),
            view_all_up_to: 100,
            batch_limit: 32 * 1024,
            walk: WalkSpeed::default(),
        }
    }
}
