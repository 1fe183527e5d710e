//! The chat sections: live sends, acknowledgements and deliveries, and
//! the check afterwards that acknowledged messages are in the history.

use serde::Serialize;

use super::{
    Rows,
    format::{n, rate},
};
use crate::metrics::Totals;

#[derive(Debug, Default, Serialize)]
pub struct ChatSummary {
    pub sent: u64,
    pub sent_per_second: f64,
    pub acked: u64,
    pub acked_per_second: f64,
    /// Copies delivered to other members.
    pub delivered: u64,
    pub delivered_per_second: f64,
    /// Sends (any time in the run) still without an ack at the end.
    pub unacked: u64,
    pub unmatched: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct HistoryCheck {
    pub rooms: usize,
    /// Acknowledged messages looked for.
    pub acked: usize,
    pub found: usize,
    pub missing: usize,
    pub pages: usize,
    pub seconds: f64,
}

impl ChatSummary {
    pub fn of(t: &Totals, secs: f64) -> Self {
        Self {
            sent: t.chat_sent,
            sent_per_second: t.chat_sent as f64 / secs,
            acked: t.chat_acked,
            acked_per_second: t.chat_acked as f64 / secs,
            delivered: t.chat_delivered,
            delivered_per_second: t.chat_delivered as f64 / secs,
            unacked: t.chat_unacked,
            unmatched: t.chat_unmatched,
        }
    }

    pub(super) fn rows(&self, rows: &mut Rows) {
        rows.push((
            "chat",
            format!(
                "sent {} ({}/s), acked {} ({}/s), delivered {} ({}/s), unacked at end {}, unmatched {}",
                n(self.sent),
                rate(self.sent_per_second),
                n(self.acked),
                rate(self.acked_per_second),
                n(self.delivered),
                rate(self.delivered_per_second),
                n(self.unacked),
                n(self.unmatched)
            ),
        ));
    }
}

impl HistoryCheck {
    pub(super) fn rows(&self, rows: &mut Rows) {
        rows.push((
            "history",
            format!(
                "{} of {} acked messages found in {} rooms ({} missing; {} pages in {:.1} s)",
                n(self.found as u64),
                n(self.acked as u64),
                self.rooms,
                n(self.missing as u64),
                self.pages,
                self.seconds
            ),
        ));
    }
}
