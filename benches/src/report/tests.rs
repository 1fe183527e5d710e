//! The report pinned on fixed inputs: its table and JSON are read by
//! people and tools comparing runs, so they change only on purpose.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{format::n, *};
use crate::{metrics::LatencySummary, procstat::ProcSummary, setup::UserCounts};

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
        busiest_thread: None,
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
        setup: full_setup(),
        window_seconds: 30.0,
        moves: Some(full_moves()),
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
        connect: Some(full_connect()),
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

fn full_setup() -> SetupSummary {
    SetupSummary {
        users: 1000,
        user_counts: UserCounts { created: 600, signed_in: 300, cached: 100 },
        spaces: 10,
        setup_seconds: 12.34,
        joined: 998,
        join_failures: BTreeMap::from([("connect timed out".into(), 2)]),
        join_seconds: 3.21,
        open_file_limit: 65_536,
    }
}

fn full_moves() -> MoveSummary {
    MoveSummary {
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
    }
}

fn full_connect() -> ConnectSummary {
    ConnectSummary {
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
    }
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
        (full(), include_str!("../../testdata/report-full.txt"), include_str!("../../testdata/report-full.json")),
        (sparse(), include_str!("../../testdata/report-sparse.txt"), include_str!("../../testdata/report-sparse.json")),
    ];
    for (report, table, json) in cases {
        assert_eq!(report.render(), table);
        assert_eq!(format!("{}\n", serde_json::to_string_pretty(&report).unwrap()), json);
    }
}

#[test]
fn the_busiest_thread_is_named_when_known() {
    let mut p = proc_of(7);
    p.busiest_thread = Some(crate::procstat::ThreadShare { name: "actix-rt|system:0".into(), cpu_mean_pct: 81.4 });
    let line = super::format::proc(&p);
    assert!(line.ends_with("; busiest thread \"actix-rt|system:0\" 81%"), "{line}");
    assert!(!super::format::proc(&proc_of(7)).contains("busiest"));
}
