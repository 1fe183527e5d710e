//! The session driven over in-memory channels, with a fake of the server's
//! services and a fake space, on paused time.

mod chat;
mod commands;
mod fake;
mod limits;
mod peer;
mod timers;

use std::{future::Future, num::NonZeroU32, time::Duration};

use metaverse_protocol::Codec;
use tokio::{
    sync::{broadcast, watch},
    task::{JoinHandle, LocalSet},
};

use super::{SessionLimits, SessionSetup, serve};
use fake::Fake;
use peer::{Peer, pipe};

/// Runs a test body where the session (and its chat sends) can spawn
/// local tasks, as on the server's actix runtime.
async fn local<F: Future>(f: F) -> F::Output {
    LocalSet::new().run_until(f).await
}

fn limits() -> SessionLimits {
    SessionLimits {
        max_frame: 64 * 1024,
        idle_timeout: Duration::from_secs(30),
        join_timeout: Duration::from_secs(3600),
        rate: NonZeroU32::new(1000).unwrap(),
        burst: NonZeroU32::new(1000).unwrap(),
    }
}

/// What the server holds of a running session (dropping the shutdown
/// sender would close it).
struct Running {
    shutdown: watch::Sender<bool>,
    revoked: broadcast::Sender<String>,
    task: JoinHandle<()>,
}

fn start(fake: &Fake, limits: SessionLimits, negotiated: Option<Codec>) -> (Peer, Running) {
    let (io, peer) = pipe();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (revoked, revoked_rx) = broadcast::channel(8);
    let setup =
        SessionSetup { id: 7, services: fake.clone(), limits, negotiated, shutdown: shutdown_rx, revoked: revoked_rx };
    let task = tokio::task::spawn_local(serve(io, setup));
    (peer, Running { shutdown, revoked, task })
}

/// A session on default limits, already joined to space `s1` as `u1`.
async fn joined(fake: &Fake) -> (Peer, Running) {
    let (mut peer, run) = start(fake, limits(), None);
    peer.join("s1", fake::GOOD_TOKEN, None);
    assert_eq!(peer.msg().await["type"], "space-joined");
    (peer, run)
}
