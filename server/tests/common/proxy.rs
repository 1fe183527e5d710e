//! A TCP proxy with an off switch, for making a database unreachable while
//! the server runs: `cut` ends every connection and refuses new ones (the
//! database is down, or its host rebooted); `stall` stops forwarding
//! without closing anything (a network partition: packets go nowhere).
//!
//! It runs on a runtime of its own (a thread), so it keeps forwarding while
//! the test's thread blocks (e.g. in `TestApp::start_with`, which connects
//! and migrates through it).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// `cut_after_commit`: the next `COMMIT` goes through, its answer does not.
#[derive(Default)]
struct Trap {
    armed: AtomicBool,
    /// Set just before the COMMIT is forwarded: answers are dropped.
    sprung: AtomicBool,
}

pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    /// Bumped by `cut`: every connection open at that moment ends.
    epoch: watch::Sender<u64>,
    /// While true, no byte is forwarded either way.
    paused: watch::Sender<bool>,
    /// Connections accepted and forwarded so far.
    forwarded: Arc<AtomicU64>,
    trap: Arc<Trap>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `target`.
    pub fn start(target: String) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let (epoch, epoch_rx) = watch::channel(0u64);
        let (paused, paused_rx) = watch::channel(false);
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (d, f) = (down.clone(), forwarded.clone());
        let trap = Arc::new(Trap::default());
        let t = trap.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("proxy listener");
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stop_rx => break,
                        a = listener.accept() => a,
                    };
                    let Ok((client, _)) = accepted else { continue };
                    // Taken before checking `down`, so a cut that lands
                    // right after the check still ends this connection.
                    let mut killed = epoch_rx.clone();
                    killed.mark_unchanged();
                    if d.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    f.fetch_add(1, Ordering::Relaxed);
                    let (target, paused, trap) = (target.clone(), paused_rx.clone(), t.clone());
                    tokio::spawn(async move {
                        let Ok(upstream) = TcpStream::connect(&target).await else { return };
                        pipe(client, upstream, killed, paused, trap).await;
                    });
                }
            });
            // Dropping the runtime drops every connection still open.
        });
        Self { addr, down, epoch, paused, forwarded, trap, stop: Some(stop), thread: Some(thread) }
    }

    /// Arms the commit trap: the next `COMMIT` reaches the database but
    /// its answer does not; [`cut_when_sprung`](Self::cut_when_sprung) then
    /// cuts. A write whose outcome the client cannot know.
    pub fn arm_commit_trap(&self) {
        self.trap.sprung.store(false, Ordering::SeqCst);
        self.trap.armed.store(true, Ordering::SeqCst);
    }

    /// Waits for the armed trap to spring, then cuts (as `cut`).
    pub async fn cut_when_sprung(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.trap.sprung.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "no COMMIT went through the proxy");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // `sprung` is set just before the COMMIT is written upstream; let
        // the database read it before the connection ends.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.cut();
        // Connections after `restore` get their answers again.
        self.trap.sprung.store(false, Ordering::SeqCst);
    }

    /// Ends every open connection and refuses new ones (they are accepted
    /// and closed at once) until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Stops forwarding, both ways, on every connection (new ones too),
    /// without closing any: requests and answers wait, as in a partition.
    pub fn stall(&self) {
        self.paused.send_replace(true);
    }

    /// Undoes `cut` (new connections are forwarded) and `stall` (what
    /// waited goes through).
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.paused.send_replace(false);
    }

    pub fn connections(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn pipe(
    client: TcpStream,
    upstream: TcpStream,
    mut killed: watch::Receiver<u64>,
    paused: watch::Receiver<bool>,
    trap: Arc<Trap>,
) {
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let both = async {
        tokio::join!(
            forward(client_read, upstream_write, paused.clone(), Way::Up(trap.clone())),
            forward(upstream_read, client_write, paused, Way::Down(trap))
        )
    };
    tokio::select! {
        (a, b) = both => drop((a, b)),
        _ = killed.changed() => {}
    }
}

/// Which way bytes go, for the commit trap.
enum Way {
    /// Client to database: springs an armed trap on `COMMIT`.
    Up(Arc<Trap>),
    /// Database to client: drops everything once the trap has sprung.
    Down(Arc<Trap>),
}

/// Copies one direction until EOF or an error, holding still while paused.
/// Returns the halves so they close together when both directions end.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
    way: Way,
) -> (tokio::net::tcp::OwnedReadHalf, tokio::net::tcp::OwnedWriteHalf) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if paused.wait_for(|p| !*p).await.is_err() {
            break;
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            // Paused while waiting to read: go back and hold.
            _ = paused.wait_for(|p| *p) => continue,
        };
        let n = match n {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match &way {
            Way::Up(trap) if trap.armed.load(Ordering::SeqCst) && buf[..n].windows(6).any(|w| w == b"COMMIT") => {
                trap.armed.store(false, Ordering::SeqCst);
                trap.sprung.store(true, Ordering::SeqCst);
            }
            Way::Down(trap) if trap.sprung.load(Ordering::SeqCst) => continue,
            _ => {}
        }
        // Read just before a pause: hold it until the pause ends.
        if paused.wait_for(|p| !*p).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    (from, to)
}

/// `url` with the host and port of its authority replaced by `addr`
/// (`postgres://user:pw@host:5432/db?x` → `postgres://user:pw@ADDR/db?x`).
pub fn via(url: &str, addr: SocketAddr) -> String {
    let start = url.find("://").map(|i| i + 3).expect("a URL with a scheme");
    let end = url[start..].find(['/', '?']).map(|i| start + i).unwrap_or(url.len());
    let authority = &url[start..end];
    let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
    format!("{}{}{}{}", &url[..start], &authority[..host_start], addr, &url[end..])
}

/// The `host:port` a URL's authority names (port 5432 when none is given).
pub fn target(url: &str) -> String {
    let start = url.find("://").map(|i| i + 3).expect("a URL with a scheme");
    let end = url[start..].find(['/', '?']).map(|i| start + i).unwrap_or(url.len());
    let authority = &url[start..end];
    let host = &authority[authority.rfind('@').map(|i| i + 1).unwrap_or(0)..];
    if host.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit())) && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

#[test]
fn urls_are_rewritten() {
    let addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    assert_eq!(via("postgres://postgres@127.0.0.1:5432/mv_x", addr), "postgres://postgres@127.0.0.1:6000/mv_x");
    assert_eq!(via("postgres://u:p@db/x?sslmode=disable", addr), "postgres://u:p@127.0.0.1:6000/x?sslmode=disable");
    assert_eq!(target("postgres://postgres@127.0.0.1:5432/postgres"), "127.0.0.1:5432");
    assert_eq!(target("postgres://u:p@db/x"), "db:5432");
}
