//! Who may hold a socket: the connection cap (derived from the open-file
//! limit), per-address caps on open and on unauthenticated sockets, and the
//! byte budget a socket may read before it authenticates.
//!
//! An unauthenticated socket costs memory (its buffers, any unfinished
//! frame) and a descriptor while telling us nothing about who holds it, so
//! it gets little of either: a few KiB of input and a short life (the join
//! timeout), and one address may hold only a few at once.

use std::{
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes a socket may send after its upgrade and before a `join` whose token
/// is valid: a join is well under 1 KiB, so this leaves room for retries and
/// heartbeats, and bounds what an unfinished frame can hold.
pub const PRE_JOIN_BYTES: usize = 16 * 1024;
/// Bytes the upgrade request may take (headers and all).
const HANDSHAKE_BYTES: usize = 16 * 1024;
/// `remaining` once the socket authenticated.
const LIFTED: usize = usize::MAX;

/// Caps from the configuration; 0 means no cap.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionCaps {
    /// Sockets from one address (an IPv6 /64 counts as one).
    pub per_ip: u32,
    /// Sockets from one address that have not yet authenticated.
    pub unauthenticated_per_ip: u32,
}

#[derive(Default)]
struct Counts {
    open: u32,
    unauthenticated: u32,
}

/// Every socket's admission, shared by the listener.
pub struct Admission {
    caps: AdmissionCaps,
    by_ip: DashMap<IpAddr, Counts>,
}

/// Why a connection was refused at accept.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address holds its cap of sockets.
    PerIp,
    /// The address holds its cap of sockets that have not authenticated.
    Unauthenticated,
}

impl Admission {
    pub fn new(caps: AdmissionCaps) -> Arc<Self> {
        Arc::new(Self { caps, by_ip: DashMap::new() })
    }

    /// Admits one more socket from `ip`, counted as unauthenticated until
    /// its ticket says otherwise.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = key_of(ip);
        let mut counts = self.by_ip.entry(key).or_default();
        if self.caps.per_ip > 0 && counts.open >= self.caps.per_ip {
            return Err(Refusal::PerIp);
        }
        if self.caps.unauthenticated_per_ip > 0 && counts.unauthenticated >= self.caps.unauthenticated_per_ip {
            return Err(Refusal::Unauthenticated);
        }
        counts.open += 1;
        counts.unauthenticated += 1;
        drop(counts);
        Ok(Ticket {
            admission: self.clone(),
            key,
            authenticated: AtomicBool::new(false),
            budget: Arc::new(AtomicUsize::new(HANDSHAKE_BYTES)),
        })
    }

    fn release(&self, key: IpAddr, unauthenticated: bool) {
        // Removing under the entry's lock, so a concurrent admit of the
        // same address cannot lose its count.
        self.by_ip.remove_if_mut(&key, |_, c| {
            c.open = c.open.saturating_sub(1);
            if unauthenticated {
                c.unauthenticated = c.unauthenticated.saturating_sub(1);
            }
            c.open == 0
        });
    }

    fn authenticated(&self, key: IpAddr) {
        if let Some(mut c) = self.by_ip.get_mut(&key) {
            c.unauthenticated = c.unauthenticated.saturating_sub(1);
        }
    }

    /// Addresses holding sockets now (for tests and metrics).
    pub fn addresses(&self) -> usize {
        self.by_ip.len()
    }
}

/// One admitted socket; dropping it gives its place back.
pub struct Ticket {
    admission: Arc<Admission>,
    key: IpAddr,
    authenticated: AtomicBool,
    budget: Arc<AtomicUsize>,
}

impl Ticket {
    /// The upgrade is done: from now on the socket may read
    /// [`PRE_JOIN_BYTES`] until it authenticates.
    pub fn upgraded(&self) {
        if !self.authenticated.load(Ordering::Relaxed) {
            self.budget.store(PRE_JOIN_BYTES, Ordering::Relaxed);
        }
    }

    /// A valid token arrived: the socket no longer counts as
    /// unauthenticated and its input is bounded by the frame limits only.
    pub fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::Relaxed) {
            self.budget.store(LIFTED, Ordering::Relaxed);
            self.admission.authenticated(self.key);
        }
    }

    /// The stream, reading within this ticket's budget.
    pub fn meter<S>(&self, inner: S) -> Metered<S> {
        Metered { inner, budget: self.budget.clone() }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.key, !self.authenticated.load(Ordering::Relaxed));
    }
}

/// Sockets are counted per address; an IPv6 host usually owns a whole /64,
/// so that is what one address means there.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A stream whose reads stop at its ticket's byte budget: past it the read
/// fails and the connection is dropped.
pub struct Metered<S> {
    inner: S,
    budget: Arc<AtomicUsize>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let remaining = self.budget.load(Ordering::Relaxed);
        if remaining == LIFTED {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        if remaining == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "sent too much before joining")));
        }
        let mut limited = buf.take(remaining);
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        let n = limited.filled().len();
        // SAFETY: the inner read initialised these `n` bytes of `buf`'s
        // unfilled part through `limited`, which views the same memory.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        // A concurrent lift (LIFTED) must not be overwritten.
        let _ = self.budget.compare_exchange(remaining, remaining - n, Ordering::Relaxed, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The open-file limit, raised to its hard limit first (every socket is a
/// descriptor); `None` when it cannot be read.
pub fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(lim.rlim_max);
        }
    }
    Some(lim.rlim_cur)
}

/// The default WebSocket connection cap for an open-file limit: what is
/// left after a reserve for HTTP connections, the database pool, logs and
/// the like (an eighth of the limit, at least 256).
pub fn connection_cap(nofile: u64) -> u32 {
    let reserve = (nofile / 8).max(256);
    u32::try_from(nofile.saturating_sub(reserve)).unwrap_or(u32::MAX).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_per_address_and_for_the_unauthenticated() {
        let a = Admission::new(AdmissionCaps { per_ip: 3, unauthenticated_per_ip: 2 });
        let t1 = a.admit(ip("10.0.0.1")).unwrap();
        let _t2 = a.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit(ip("10.0.0.1")).err(), Some(Refusal::Unauthenticated));
        // Another address is unaffected.
        let other = a.admit(ip("10.0.0.2")).unwrap();
        t1.authenticated();
        let _t3 = a.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit(ip("10.0.0.1")).err(), Some(Refusal::PerIp));
        drop(t1);
        assert!(a.admit(ip("10.0.0.1")).is_err(), "two unauthenticated still held");
        drop(other);
        assert_eq!(a.addresses(), 1);
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address() {
        let a = Admission::new(AdmissionCaps { per_ip: 1, unauthenticated_per_ip: 0 });
        let _t = a.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(a.admit(ip("2001:db8:1:2:ffff::9")).err(), Some(Refusal::PerIp));
        assert!(a.admit(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = a.admit(ip("192.0.2.1")).unwrap();
        assert!(a.admit(ip("::ffff:192.0.2.1")).is_err(), "a mapped address is the IPv4 one");
    }

    #[test]
    fn the_cap_leaves_a_reserve() {
        assert_eq!(connection_cap(1024), 768);
        assert_eq!(connection_cap(20_000), 17_500);
        assert_eq!(connection_cap(100), 16);
    }

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_lifted() {
        let a = Admission::new(AdmissionCaps { per_ip: 0, unauthenticated_per_ip: 0 });
        let t = a.admit(ip("10.0.0.1")).unwrap();
        t.upgraded();
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut metered = t.meter(server);
        tokio::io::AsyncWriteExt::write_all(&mut client, &vec![0u8; PRE_JOIN_BYTES + 10]).await.unwrap();
        let mut got = vec![0u8; PRE_JOIN_BYTES];
        metered.read_exact(&mut got).await.unwrap();
        let err = metered.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        t.authenticated();
        let mut rest = [0u8; 10];
        metered.read_exact(&mut rest).await.unwrap();
    }
}
