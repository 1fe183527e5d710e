//! The moves section: what was sent and refused, and how many peers saw
//! each accepted move.

use serde::Serialize;

use super::{
    Rows,
    format::{n, rate},
};
use crate::metrics::Totals;

#[derive(Debug, Default, Serialize)]
pub struct MoveSummary {
    pub sent: u64,
    pub sent_per_second: f64,
    /// Sent minus rejected.
    pub accepted: u64,
    pub rejected: u64,
    /// Peer observations of measured moves.
    pub seen: u64,
    /// Sends skipped between two observations of the same user: coalesced
    /// by the server (a later move in the same frame), or lost.
    pub skipped: u64,
    /// Accepted × (members − 1): what every peer seeing every move gives.
    pub expected_all_in_view: u64,
    /// expected − seen − skipped: moves a peer never heard of at all
    /// (outside its area of interest, or lost).
    pub unseen: u64,
    /// seen / expected: 1 when everyone is in view and nothing is lost;
    /// lower with an area of interest, or coalescing above the tick rate.
    pub delivery_ratio: f64,
    /// `movement` events matching no remembered send.
    pub unmatched: u64,
    /// Rejections that fit no move in flight (the harness lost track of
    /// its position; it resyncs from the rejection).
    pub rejections_unattributed: u64,
}

impl MoveSummary {
    pub fn of(t: &Totals, secs: f64) -> Self {
        let accepted = t.moves_sent.saturating_sub(t.moves_rejected);
        Self {
            sent: t.moves_sent,
            sent_per_second: t.moves_sent as f64 / secs,
            accepted,
            rejected: t.moves_rejected,
            seen: t.moves_seen,
            skipped: t.moves_skipped,
            expected_all_in_view: t.moves_expected_views,
            unseen: t.moves_expected_views.saturating_sub(t.moves_seen + t.moves_skipped),
            delivery_ratio: if t.moves_expected_views > 0 {
                t.moves_seen as f64 / t.moves_expected_views as f64
            } else {
                0.0
            },
            unmatched: t.moves_unmatched,
            rejections_unattributed: t.moves_rejections_unattributed,
        }
    }

    pub(super) fn rows(&self, rows: &mut Rows) {
        let pct = if self.sent > 0 { self.rejected as f64 * 100.0 / self.sent as f64 } else { 0.0 };
        rows.push((
            "moves",
            format!(
                "sent {} ({}/s), accepted {}, rejected {} ({pct:.1}%){}",
                n(self.sent),
                rate(self.sent_per_second),
                n(self.accepted),
                n(self.rejected),
                if self.rejections_unattributed > 0 {
                    format!(", {} rejections fit no move in flight", n(self.rejections_unattributed))
                } else {
                    String::new()
                }
            ),
        ));
        rows.push((
            "delivery",
            format!(
                "{} peer observations of {} if all in view ({:.2}%); {} skipped (coalesced or lost), {} never seen, {} unmatched",
                n(self.seen),
                n(self.expected_all_in_view),
                self.delivery_ratio * 100.0,
                n(self.skipped),
                n(self.unseen),
                n(self.unmatched)
            ),
        ));
    }
}
