//! The real-time threads: a pool of actix arbiters that both the live
//! spaces and the WebSocket port's sessions are dealt out to, so the
//! real-time path uses every core instead of the main thread alone.
//!
//! Arbiters rather than a work-stealing runtime: a session's future holds
//! per-socket state that is not `Send` (and needs no lock because of it),
//! and a space's mailbox must stay on one thread to keep its order. Each
//! arbiter is a single-threaded tokio runtime with its own I/O driver, so
//! the sockets it serves are polled there and never touch another thread
//! except to hand frames to and from their space.

use actix::dev::ArbiterHandle;
use tokio::net::TcpStream;

/// The arbiters, started once at start-up and living as long as the actix
/// system.
#[derive(Clone, Default)]
pub struct RealtimeThreads {
    arbiters: Vec<ArbiterHandle>,
}

impl RealtimeThreads {
    /// `configured` threads, or one per core when unset; 0 keeps every space
    /// and session on the main thread (the layout before the pool, kept
    /// for comparison and for embedders that want one thread).
    pub fn start(configured: Option<u32>) -> Self {
        let count = match configured {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        };
        tracing::info!(threads = count, "real-time threads");
        Self { arbiters: (0..count).map(|_| actix_rt::Arbiter::new().handle()).collect() }
    }

    /// The arbiters, for the registry to place spaces on.
    pub fn arbiters(&self) -> Vec<ArbiterHandle> {
        self.arbiters.clone()
    }

    /// Whether the main thread serves everything.
    pub fn is_empty(&self) -> bool {
        self.arbiters.is_empty()
    }

    /// Serves an accepted socket on the `n`th thread (cycling), or on the
    /// caller's when there are none. The socket moves as a std socket and
    /// is registered again there, so that thread's own I/O driver polls it
    /// rather than the accepting thread's. `serve` is sent across; the
    /// future it makes runs where it was made and need not be `Send`.
    pub fn serve_socket<F, Fut>(&self, n: usize, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        if self.arbiters.is_empty() {
            actix_rt::spawn(serve(stream));
            return;
        }
        let Ok(stream) = stream.into_std() else { return };
        self.arbiters[n % self.arbiters.len()].spawn_fn(move || {
            if let Ok(stream) = TcpStream::from_std(stream) {
                actix_rt::spawn(serve(stream));
            }
        });
    }

    /// Stops the threads (shutdown, once the spaces and sockets are done),
    /// so an embedder that starts servers one after another, like the
    /// tests, does not keep the old ones' threads.
    pub fn stop(&self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A socket handed over is served on the real-time threads in turn,
    /// and reads there: its readiness reaches the thread it moved to.
    #[actix_rt::test]
    #[allow(clippy::cast_possible_truncation)] // n < 4
    async fn sockets_are_served_on_the_threads_in_turn() {
        let threads = RealtimeThreads::start(Some(2));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut clients = Vec::new();
        for n in 0..4 {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen_tx.clone();
            threads.serve_socket(n, stream, move |mut stream| async move {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.unwrap();
                let thread = std::thread::current().id();
                stream.write_all(&byte).await.unwrap();
                seen.send((n, byte[0], thread)).unwrap();
            });
            client.write_all(&[n as u8]).await.unwrap();
            clients.push(client);
        }
        let mut on = std::collections::HashMap::new();
        for _ in 0..4 {
            let (n, byte, thread) = seen_rx.recv().await.unwrap();
            assert_eq!(byte, n as u8, "each socket read its own byte");
            assert_ne!(thread, std::thread::current().id(), "not on the accepting thread");
            on.insert(n, thread);
        }
        assert_eq!(on[&0], on[&2], "the same thread every second socket");
        assert_ne!(on[&0], on[&1], "the other thread in between");
        for (n, client) in clients.iter_mut().enumerate() {
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte).await.unwrap();
            assert_eq!(byte[0], n as u8, "the echo came back");
        }
        threads.stop();
    }

    #[actix_rt::test]
    async fn none_configured_means_the_callers_thread() {
        let threads = RealtimeThreads::start(Some(0));
        assert!(threads.is_empty());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        threads.serve_socket(0, stream, move |_| async move {
            let _ = tx.send(std::thread::current().id());
        });
        assert_eq!(rx.await.unwrap(), std::thread::current().id());
    }
}
