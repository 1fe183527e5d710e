//! The `connect` section: how fast sockets joined, and what each one cost
//! the server's and the harness's memory.

use serde::Serialize;

use super::{
    Rows,
    format::{mib, n, rate},
};

#[derive(Debug, Default, Serialize)]
pub struct ConnectSummary {
    pub sockets: u32,
    pub joined: u32,
    pub failed: u64,
    pub ramp_seconds: f64,
    /// Joined sockets per second of the ramp.
    pub joins_per_second: f64,
    /// Still open at the end of the hold.
    pub open_at_end: u64,
    pub source_addresses: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_before_kib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_after_kib: Option<u64>,
    /// (RSS after − before) / joined sockets, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_socket_kib: Option<f64>,
    pub harness_rss_per_socket_kib: Option<f64>,
}

impl ConnectSummary {
    pub(super) fn rows(&self, rows: &mut Rows) {
        rows.push((
            "connect",
            format!(
                "{} of {} sockets joined in {:.1} s ({}/s) from {} source addresses; {} open at the end",
                n(self.joined as u64),
                n(self.sockets as u64),
                self.ramp_seconds,
                rate(self.joins_per_second),
                self.source_addresses,
                n(self.open_at_end)
            ),
        ));
        if let (Some(b), Some(a), Some(per)) =
            (self.server_rss_before_kib, self.server_rss_after_kib, self.server_rss_per_socket_kib)
        {
            rows.push(("server RSS", format!("{} → {}: {per:.1} KiB per socket", mib(b), mib(a))));
        }
        if let Some(per) = self.harness_rss_per_socket_kib {
            rows.push(("harness RSS", format!("{per:.1} KiB per socket")));
        }
    }
}
