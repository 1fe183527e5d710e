//! The events section: what the server sent, in events, frames and bytes.

use serde::Serialize;

use super::{
    Rows,
    format::{n, rate},
};
use crate::metrics::Totals;

#[derive(Debug, Default, Serialize)]
pub struct EventSummary {
    /// Server events received (a batch counts its events).
    pub received: u64,
    pub per_second: f64,
    pub frames: u64,
    pub frames_per_second: f64,
    pub bytes_per_second: f64,
    pub unknown: u64,
}

impl EventSummary {
    pub fn of(t: &Totals, secs: f64) -> Self {
        Self {
            received: t.events,
            per_second: t.events as f64 / secs,
            frames: t.frames,
            frames_per_second: t.frames as f64 / secs,
            bytes_per_second: t.bytes as f64 / secs,
            unknown: t.unknown_events,
        }
    }

    pub(super) fn rows(&self, rows: &mut Rows) {
        rows.push((
            "events",
            format!(
                "{} received ({}/s) in {} frames ({}/s), {:.1} MB/s{}",
                n(self.received),
                rate(self.per_second),
                n(self.frames),
                rate(self.frames_per_second),
                self.bytes_per_second / 1e6,
                if self.unknown > 0 { format!(", {} unknown", n(self.unknown)) } else { String::new() }
            ),
        ));
    }
}
