//! The run's report: a human table on stdout, or JSON with `--json`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::{
    metrics::{LatencySummary, Totals},
    procstat::ProcSummary,
    setup::UserCounts,
};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// One line saying what ran.
    pub title: String,
    pub params: Value,
    pub setup: SetupSummary,
    /// Length of the measured window, seconds.
    pub window_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moves: Option<MoveSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub move_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_ack_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_deliver_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_latency: Option<LatencySummary>,
    /// `error` messages received, by code (and the harness's own decode
    /// problems, marked "(harness)").
    pub errors: BTreeMap<String, u64>,
    /// Connections the server closed or lost before the end, by close code.
    pub disconnects: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ProcSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness: Option<ProcSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineSummary>,
    /// The server while `connect` ramped up (`server` is the hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ramp: Option<ProcSummary>,
    pub notes: Vec<String>,
}

/// The whole machine's CPU over the window (percent of one core).
#[derive(Debug, Default, Serialize)]
pub struct MachineSummary {
    pub cores: usize,
    pub cpu_busy_mean_pct: f64,
    pub cpu_busy_max_pct: f64,
    /// Busy minus the server and the harness (with --server-pid).
    pub others_mean_pct: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct SetupSummary {
    pub users: usize,
    pub user_counts: UserCounts,
    pub spaces: usize,
    pub setup_seconds: f64,
    pub joined: u32,
    pub join_failures: BTreeMap<String, u64>,
    pub join_seconds: f64,
    pub open_file_limit: u64,
}

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
}

/// 12345678 → "12,345,678".
fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate(v: f64) -> String {
    if v >= 100.0 { n(v.round() as u64) } else { format!("{v:.1}") }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn latency(l: &LatencySummary) -> String {
    if l.count == 0 {
        return "no samples".into();
    }
    format!(
        "n={}  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2} (ms)",
        n(l.count),
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        l.mean_ms
    )
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter().map(|(k, v)| format!("{k}: {}", n(*v))).collect::<Vec<_>>().join(", ")
}

fn proc(p: &ProcSummary) -> String {
    format!(
        "pid {}: CPU mean {:.0}% max {:.0}% (of one core), RSS {} → {} (max {})",
        p.pid,
        p.cpu_mean_pct,
        p.cpu_max_pct,
        mib(p.rss_start_kib),
        mib(p.rss_end_kib),
        mib(p.rss_max_kib)
    )
}

impl Report {
    /// The human table.
    pub fn render(&self) -> String {
        let mut rows: Vec<(&str, String)> = Vec::new();
        let s = &self.setup;
        let uc = &s.user_counts;
        rows.push((
            "setup",
            format!(
                "{} users ({} signed up, {} signed in, {} cached), {} spaces, in {:.1} s",
                n(s.users as u64),
                uc.created,
                uc.signed_in,
                uc.cached,
                s.spaces,
                s.setup_seconds
            ),
        ));
        rows.push((
            "joined",
            format!("{} in {:.1} s; failures: {}", n(s.joined as u64), s.join_seconds, counts(&s.join_failures)),
        ));
        if let Some(c) = &self.connect {
            rows.push((
                "connect",
                format!(
                    "{} of {} sockets joined in {:.1} s ({}/s) from {} source addresses; {} open at the end",
                    n(c.joined as u64),
                    n(c.sockets as u64),
                    c.ramp_seconds,
                    rate(c.joins_per_second),
                    c.source_addresses,
                    n(c.open_at_end)
                ),
            ));
            if let (Some(b), Some(a), Some(per)) =
                (c.server_rss_before_kib, c.server_rss_after_kib, c.server_rss_per_socket_kib)
            {
                rows.push(("server RSS", format!("{} → {}: {per:.1} KiB per socket", mib(b), mib(a))));
            }
            if let Some(per) = c.harness_rss_per_socket_kib {
                rows.push(("harness RSS", format!("{per:.1} KiB per socket")));
            }
        }
        if let Some(l) = &self.connect_latency {
            rows.push(("connect", latency(l)));
        }
        if let Some(l) = &self.join_latency {
            rows.push(("join", latency(l)));
        }
        if let Some(m) = &self.moves {
            let pct = if m.sent > 0 { m.rejected as f64 * 100.0 / m.sent as f64 } else { 0.0 };
            rows.push((
                "moves",
                format!(
                    "sent {} ({}/s), accepted {}, rejected {} ({pct:.1}%){}",
                    n(m.sent),
                    rate(m.sent_per_second),
                    n(m.accepted),
                    n(m.rejected),
                    if m.rejections_unattributed > 0 {
                        format!(", {} rejections fit no move in flight", n(m.rejections_unattributed))
                    } else {
                        String::new()
                    }
                ),
            ));
            rows.push((
                "delivery",
                format!(
                    "{} peer observations of {} if all in view ({:.2}%); {} skipped (coalesced or lost), {} never seen, {} unmatched",
                    n(m.seen),
                    n(m.expected_all_in_view),
                    m.delivery_ratio * 100.0,
                    n(m.skipped),
                    n(m.unseen),
                    n(m.unmatched)
                ),
            ));
        }
        if let Some(l) = &self.move_latency {
            rows.push(("move→seen", latency(l)));
        }
        if let Some(e) = &self.events {
            rows.push((
                "events",
                format!(
                    "{} received ({}/s) in {} frames ({}/s), {:.1} MB/s{}",
                    n(e.received),
                    rate(e.per_second),
                    n(e.frames),
                    rate(e.frames_per_second),
                    e.bytes_per_second / 1e6,
                    if e.unknown > 0 { format!(", {} unknown", n(e.unknown)) } else { String::new() }
                ),
            ));
        }
        if let Some(c) = &self.chat {
            rows.push((
                "chat",
                format!(
                    "sent {} ({}/s), acked {} ({}/s), delivered {} ({}/s), unacked at end {}, unmatched {}",
                    n(c.sent),
                    rate(c.sent_per_second),
                    n(c.acked),
                    rate(c.acked_per_second),
                    n(c.delivered),
                    rate(c.delivered_per_second),
                    n(c.unacked),
                    n(c.unmatched)
                ),
            ));
        }
        if let Some(l) = &self.chat_ack_latency {
            rows.push(("send→ack", latency(l)));
        }
        if let Some(l) = &self.chat_deliver_latency {
            rows.push(("send→deliver", latency(l)));
        }
        if let Some(h) = &self.history {
            rows.push((
                "history",
                format!(
                    "{} of {} acked messages found in {} rooms ({} missing; {} pages in {:.1} s)",
                    n(h.found as u64),
                    n(h.acked as u64),
                    h.rooms,
                    n(h.missing as u64),
                    h.pages,
                    h.seconds
                ),
            ));
        }
        rows.push(("errors", counts(&self.errors)));
        rows.push(("disconnects", counts(&self.disconnects)));
        if let Some(p) = &self.server_ramp {
            rows.push(("server ramp", proc(p)));
        }
        if let Some(p) = &self.server {
            rows.push(("server", proc(p)));
        }
        if let Some(p) = &self.harness {
            rows.push(("harness", proc(p)));
        }
        if let Some(m) = &self.machine {
            rows.push((
                "machine",
                format!(
                    "{} cores, CPU busy mean {:.0}% max {:.0}% (of one core){}",
                    m.cores,
                    m.cpu_busy_mean_pct,
                    m.cpu_busy_max_pct,
                    m.others_mean_pct.map(|o| format!(", other processes {o:.0}%")).unwrap_or_default()
                ),
            ));
        }
        for note in &self.notes {
            rows.push(("note", note.clone()));
        }
        let mut out = format!("{}\n", self.title);
        for (k, v) in rows {
            out.push_str(&format!("  {k:<13} {v}\n"));
        }
        out
    }

    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            print!("{}", self.render());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_table() {
        assert_eq!(n(0), "0");
        assert_eq!(n(999), "999");
        assert_eq!(n(1000), "1,000");
        assert_eq!(n(12_345_678), "12,345,678");
        let r = Report { title: "walk".into(), ..Default::default() };
        let text = r.render();
        assert!(text.starts_with("walk\n") && text.contains("errors        none"), "{text}");
        let v: Value = serde_json::to_value(&r).unwrap();
        assert!(v.get("moves").is_none() && v["errors"].is_object());
    }

    fn lat(count: u64, base: f64) -> LatencySummary {
        LatencySummary {
            count,
            mean_ms: base * 1.5,
            p50_ms: base,
            p90_ms: base * 2.0,
            p99_ms: base * 4.25,
            p999_ms: base * 8.125,
            max_ms: base * 16.0,
        }
    }

    fn proc_of(pid: u32) -> ProcSummary {
        ProcSummary {
            pid,
            samples: 30,
            cpu_mean_pct: 87.5,
            cpu_max_pct: 143.49,
            rss_start_kib: 10_240,
            rss_end_kib: 524_800,
            rss_max_kib: 530_000,
        }
    }

    /// Every section present, with values that take every branch of the
    /// formatting (thousands, rates above and below 100, optional tails).
    fn full() -> Report {
        let mut report = Report {
            scenario: "mixed",
            title: "mixed: 1000 users in 10 spaces".into(),
            params: serde_json::json!({"users": 1000, "codec": "msgpack"}),
            setup: SetupSummary {
                users: 1000,
                user_counts: UserCounts { created: 600, signed_in: 300, cached: 100 },
                spaces: 10,
                setup_seconds: 12.34,
                joined: 998,
                join_failures: BTreeMap::from([("connect timed out".into(), 2)]),
                join_seconds: 3.21,
                open_file_limit: 65_536,
            },
            window_seconds: 30.0,
            moves: Some(MoveSummary {
                sent: 150_000,
                sent_per_second: 5000.4,
                accepted: 149_000,
                rejected: 1000,
                seen: 14_000_000,
                skipped: 12_345,
                expected_all_in_view: 14_751_000,
                unseen: 738_655,
                delivery_ratio: 0.949_088,
                unmatched: 7,
                rejections_unattributed: 3,
            }),
            move_latency: Some(lat(14_000_000, 1.234)),
            events: Some(EventSummary {
                received: 15_000_000,
                per_second: 500_000.5,
                frames: 450_000,
                frames_per_second: 15_000.0,
                bytes_per_second: 123_456_789.0,
                unknown: 1234,
            }),
            chat: Some(ChatSummary {
                sent: 3000,
                sent_per_second: 99.95,
                acked: 2990,
                acked_per_second: 99.6,
                delivered: 296_010,
                delivered_per_second: 9867.0,
                unacked: 10,
                unmatched: 1,
            }),
            chat_ack_latency: Some(lat(2990, 3.5)),
            chat_deliver_latency: Some(lat(0, 0.0)),
            history: Some(HistoryCheck { rooms: 10, acked: 2990, found: 2989, missing: 1, pages: 31, seconds: 0.456 }),
            connect: Some(ConnectSummary {
                sockets: 20_000,
                joined: 19_990,
                failed: 10,
                ramp_seconds: 40.05,
                joins_per_second: 499.1,
                open_at_end: 19_985,
                source_addresses: 2,
                server_rss_before_kib: Some(20_480),
                server_rss_after_kib: Some(1_048_576),
                server_rss_per_socket_kib: Some(51.43),
                harness_rss_per_socket_kib: Some(12.06),
            }),
            connect_latency: Some(lat(19_990, 0.5)),
            join_latency: Some(lat(19_990, 2.0)),
            errors: BTreeMap::from([("rate-limited".into(), 1500), ("(harness) unknown event: x".into(), 1)]),
            disconnects: BTreeMap::from([("close 1006".into(), 5)]),
            server: Some(proc_of(4242)),
            harness: Some(proc_of(4343)),
            machine: Some(MachineSummary {
                cores: 8,
                cpu_busy_mean_pct: 412.5,
                cpu_busy_max_pct: 700.2,
                others_mean_pct: Some(12.4),
            }),
            server_ramp: Some(proc_of(4242)),
            notes: vec!["first note".into(), "second note".into()],
        };
        report.params["threads"] = 8.into();
        report
    }

    /// Sections present but small: rates under 100, no optional tails.
    fn sparse() -> Report {
        Report {
            scenario: "walk",
            title: "walk: 2 users".into(),
            moves: Some(MoveSummary { sent: 0, sent_per_second: 0.0, ..Default::default() }),
            events: Some(EventSummary {
                received: 12,
                per_second: 99.94,
                frames: 3,
                frames_per_second: 0.25,
                ..Default::default()
            }),
            connect: Some(ConnectSummary {
                sockets: 2,
                joined: 1,
                failed: 1,
                ramp_seconds: 0.5,
                joins_per_second: 2.0,
                open_at_end: 1,
                source_addresses: 1,
                server_rss_before_kib: Some(100),
                server_rss_after_kib: None,
                server_rss_per_socket_kib: None,
                harness_rss_per_socket_kib: None,
            }),
            machine: Some(MachineSummary {
                cores: 2,
                cpu_busy_mean_pct: 0.4,
                cpu_busy_max_pct: 1.6,
                others_mean_pct: None,
            }),
            ..Default::default()
        }
    }

    /// The printed report and its JSON must not change by accident: other
    /// tools and past runs' records are compared against them.
    #[test]
    fn table_and_json_match_the_golden_files() {
        let cases = [
            (full(), include_str!("../testdata/report-full.txt"), include_str!("../testdata/report-full.json")),
            (sparse(), include_str!("../testdata/report-sparse.txt"), include_str!("../testdata/report-sparse.json")),
        ];
        for (report, table, json) in cases {
            assert_eq!(report.render(), table);
            assert_eq!(format!("{}\n", serde_json::to_string_pretty(&report).unwrap()), json);
        }
    }
}
