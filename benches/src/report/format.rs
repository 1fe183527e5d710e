//! How numbers read in the table: thousands separated, rates rounded once
//! they are large, memory in MiB, latencies as one line of percentiles.

use std::collections::BTreeMap;

use crate::{metrics::LatencySummary, procstat::ProcSummary};

/// 12345678 → "12,345,678".
pub(super) fn n(v: u64) -> String {
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

// A float-to-integer `as` saturates, which suits a figure for display; std
// has no checked float conversion.
#[allow(clippy::cast_possible_truncation)]
pub(super) fn rate(v: f64) -> String {
    if v >= 100.0 { n(v.round() as u64) } else { format!("{v:.1}") }
}

pub(super) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(super) fn latency(l: &LatencySummary) -> String {
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

pub(super) fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter().map(|(k, v)| format!("{k}: {}", n(*v))).collect::<Vec<_>>().join(", ")
}

pub(super) fn proc(p: &ProcSummary) -> String {
    let busiest = p
        .busiest_thread
        .as_ref()
        .map(|t| format!("; busiest thread {:?} {:.0}%", t.name, t.cpu_mean_pct))
        .unwrap_or_default();
    format!(
        "pid {}: CPU mean {:.0}% max {:.0}% (of one core), RSS {} → {} (max {}){busiest}",
        p.pid,
        p.cpu_mean_pct,
        p.cpu_max_pct,
        mib(p.rss_start_kib),
        mib(p.rss_end_kib),
        mib(p.rss_max_kib)
    )
}
