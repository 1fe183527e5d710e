//! `TCP_NODELAY` on the pool's PostgreSQL sockets.
//!
//! sqlx 0.9 opens PostgreSQL connections with Nagle's algorithm on and no
//! option to turn it off. A statement larger than the socket's first send
//! (about 16 KiB) then leaves in two writes, and the second waits for
//! PostgreSQL's delayed ACK: 40 ms on Linux, on every large chat batch.
//! Right after each new connection, this finds the process's TCP sockets
//! whose peer is the database server (in `/proc/self/fd`) and sets
//! `TCP_NODELAY` on them: the only handle on sqlx's socket that its API
//! leaves. Setting it on a socket that has it already changes nothing, and
//! a socket to the same server from another pool only gains. A Unix-socket
//! URL (`?host=/var/run/postgresql`) needs none of this.

use std::net::{SocketAddr, ToSocketAddrs};

/// The addresses the database URL's host and port resolve to; empty for a
/// Unix socket or an address that does not resolve (nothing is set then).
pub fn server_addrs(host: &str, port: u16) -> Vec<SocketAddr> {
    if host.starts_with('/') {
        return Vec::new();
    }
    (host.trim_matches(['[', ']']), port).to_socket_addrs().map(Iterator::collect).unwrap_or_default()
}

/// Calls `f` with each socket of this process connected to one of `peers`.
#[cfg(target_os = "linux")]
fn each_socket_to(peers: &[SocketAddr], mut f: impl FnMut(socket2::SockRef<'_>)) {
    use std::os::fd::BorrowedFd;

    if peers.is_empty() {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in dir.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        // SAFETY: the descriptor is only borrowed for a few socket calls; if
        // another thread closed it meanwhile they fail (or, were the number
        // reused, act on a socket only when its peer is the database).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket.peer_addr().ok().and_then(|a| a.as_socket()).is_some_and(|a| peers.contains(&a)) {
            f(socket);
        }
    }
}

/// Sets `TCP_NODELAY` on every socket of this process connected to one of
/// `peers`; returns how many there are.
#[cfg(target_os = "linux")]
pub fn set_on_sockets_to(peers: &[SocketAddr]) -> usize {
    let mut set = 0;
    each_socket_to(peers, |socket| set += usize::from(socket.set_tcp_nodelay(true).is_ok()));
    set
}

/// Elsewhere the sockets keep sqlx's settings.
#[cfg(not(target_os = "linux"))]
pub fn set_on_sockets_to(_: &[SocketAddr]) -> usize {
    0
}

/// How many sockets of this process are connected to one of `peers`, and
/// whether all of them have `TCP_NODELAY` (for tests).
#[cfg(target_os = "linux")]
pub fn sockets_to(peers: &[SocketAddr]) -> (usize, bool) {
    let (mut n, mut all) = (0, true);
    each_socket_to(peers, |socket| {
        n += 1;
        all &= socket.tcp_nodelay().unwrap_or(false);
    });
    (n, all)
}
