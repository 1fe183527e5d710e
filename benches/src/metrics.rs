//! What a run counts. Each client keeps a local `Tally` (plain integers
//! and latency buffers, no sharing on the hot path) and flushes it into
//! the run's `Shared` counters and HDR histograms about once a second and
//! when it ends.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, up to an hour.
const MAX_US: u64 = 3_600_000_000;
/// Shards of each histogram, so flushing clients rarely wait on each other.
const SHARDS: usize = 16;
/// A client flushes its latency buffers past this many samples.
pub const FLUSH_SAMPLES: usize = 4096;

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Run-wide counters.
        #[derive(Debug, Default)]
        pub struct Counters { $(pub $name: AtomicU64,)* }
        /// One client's unflushed counts.
        #[derive(Clone, Debug, Default)]
        pub struct Counts { $(pub $name: u64,)* }
        /// A snapshot of the counters.
        #[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
        pub struct Totals { $(pub $name: u64,)* }
        impl Counters {
            fn add(&self, c: &Counts) {
                $(if c.$name != 0 { self.$name.fetch_add(c.$name, Relaxed); })*
            }
            fn add_totals(&self, t: &Totals) {
                $(if t.$name != 0 { self.$name.fetch_add(t.$name, Relaxed); })*
            }
            pub fn totals(&self) -> Totals {
                Totals { $($name: self.$name.load(Relaxed),)* }
            }
        }
    };
}

counters!(
    // Sent during the measured window.
    moves_sent,
    // Rejections of moves sent during the window.
    moves_rejected,
    // Rejections that fit no move in flight (the harness lost track).
    moves_rejections_unattributed,
    // Peers' observations of moves sent during the window, matched.
    moves_seen,
    // Sends skipped between two matched observations (coalesced by the
    // server, or lost).
    moves_skipped,
    // What all-in-view delivery would give: accepted moves × (members - 1).
    moves_expected_views,
    // `movement` events that matched no remembered send (events of sends
    // before the window are not counted at all).
    moves_unmatched,
    // Events (after unpacking batches), frames and bytes received during
    // the window.
    events,
    frames,
    bytes,
    // Chat, for messages sent during the window.
    chat_sent,
    chat_acked,
    chat_delivered,
    // Acks of any of our sends still missing when the client stopped.
    chat_unacked,
    // Chat messages from bench users that matched no remembered send.
    chat_unmatched,
    // Events the harness could not decode or does not know.
    unknown_events,
    // Unwindowed, for the progress line.
    live_moves,
    live_events,
    live_acks,
);

/// Which latency a sample belongs to.
#[derive(Clone, Copy, Debug)]
pub enum Lat {
    /// Move sent → seen by a peer.
    Move = 0,
    /// Chat sent → the sender's own copy (ack).
    ChatAck = 1,
    /// Chat sent → delivered to another member.
    ChatDeliver = 2,
    /// TCP connect + WebSocket upgrade.
    Connect = 3,
    /// `join` sent → `space-joined`.
    Join = 4,
}
const LATS: usize = 5;

pub struct Shared {
    pub counters: Counters,
    hists: Vec<Vec<Mutex<Histogram<u64>>>>,
    errors: Mutex<BTreeMap<String, u64>>,
    disconnects: Mutex<BTreeMap<String, u64>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new() -> Self {
        Self {
            counters: Counters::default(),
            hists: (0..LATS).map(|_| (0..SHARDS).map(|_| Mutex::new(histogram())).collect()).collect(),
            errors: Mutex::default(),
            disconnects: Mutex::default(),
        }
    }

    /// Adds a client's tally and empties it.
    pub fn flush(&self, shard: usize, t: &mut Tally) {
        self.counters.add(&t.counts);
        t.counts = Counts::default();
        for (i, buf) in t.lat.iter_mut().enumerate() {
            if buf.is_empty() {
                continue;
            }
            let mut h = lock(&self.hists[i][shard % SHARDS]);
            for &us in buf.iter() {
                h.saturating_record(us.clamp(1, MAX_US));
            }
            buf.clear();
        }
        add_counts(&self.errors, std::mem::take(&mut t.errors));
        add_counts(&self.disconnects, std::mem::take(&mut t.disconnects));
    }

    /// The merged histogram of one latency.
    pub fn histogram(&self, which: Lat) -> Histogram<u64> {
        self.merged(which as usize)
    }

    /// The shards of the `i`-th latency, added up.
    fn merged(&self, i: usize) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.hists[i] {
            all.add(&*lock(shard)).expect("same bounds");
        }
        all
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    pub fn disconnects(&self) -> BTreeMap<String, u64> {
        lock(&self.disconnects).clone()
    }

    pub fn error_count(&self) -> u64 {
        lock(&self.errors).values().sum()
    }

    /// Everything counted, for another process to merge (`--processes`).
    pub fn export(&self) -> Export {
        let latencies = (0..LATS)
            .map(|i| self.merged(i).iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect())
            .collect();
        Export { totals: self.counters.totals(), latencies, errors: self.errors(), disconnects: self.disconnects() }
    }

    /// Adds what another process counted. Its values are bounded as this
    /// process's own samples are, so a garbled export cannot panic.
    pub fn absorb(&self, e: &Export) {
        self.counters.add_totals(&e.totals);
        for (i, samples) in e.latencies.iter().take(LATS).enumerate() {
            let mut h = lock(&self.hists[i][0]);
            for &(us, count) in samples {
                h.saturating_record_n(us.clamp(1, MAX_US), count);
            }
        }
        add_counts(&self.errors, e.errors.iter().map(|(k, v)| (k.clone(), *v)));
        add_counts(&self.disconnects, e.disconnects.iter().map(|(k, v)| (k.clone(), *v)));
    }
}

/// Adds counts by name (errors, disconnects) into a shared tally.
fn add_counts(into: &Mutex<BTreeMap<String, u64>>, counts: impl IntoIterator<Item = (String, u64)>) {
    let mut counts = counts.into_iter().peekable();
    if counts.peek().is_none() {
        return;
    }
    let mut m = lock(into);
    for (k, v) in counts {
        *m.entry(k).or_default() += v;
    }
}

/// A process's counters, latency histograms (value in µs, count) and
/// error tallies, as one line of JSON between harness processes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Export {
    pub totals: Totals,
    pub latencies: Vec<Vec<(u64, u64)>>,
    pub errors: BTreeMap<String, u64>,
    pub disconnects: BTreeMap<String, u64>,
}

/// One client's unflushed measurements.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: Counts,
    lat: [Vec<u64>; LATS],
    errors: BTreeMap<String, u64>,
    disconnects: BTreeMap<String, u64>,
}

impl Tally {
    pub fn latency(&mut self, which: Lat, us: u64) {
        self.lat[which as usize].push(us);
    }

    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    pub fn disconnect(&mut self, why: String) {
        *self.disconnects.entry(why).or_default() += 1;
    }

    /// Whether the latency buffers are due for a flush.
    pub fn full(&self) -> bool {
        self.lat.iter().any(|b| b.len() >= FLUSH_SAMPLES)
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_flush_into_shared_counters_and_histograms() {
        let shared = Shared::new();
        let mut a = Tally::default();
        a.counts.moves_sent = 3;
        a.error("rate-limited");
        for us in 1..=1000 {
            a.latency(Lat::Move, us * 1000);
        }
        shared.flush(0, &mut a);
        let mut b = Tally::default();
        b.counts.moves_sent = 2;
        b.error("rate-limited");
        b.disconnect("close 4002".into());
        b.latency(Lat::Move, 5_000_000);
        shared.flush(7, &mut b);
        assert_eq!(shared.counters.totals().moves_sent, 5);
        assert_eq!(a.counts.moves_sent, 0);
        let s = LatencySummary::of(&shared.histogram(Lat::Move));
        assert_eq!(s.count, 1001);
        assert!((s.p50_ms - 500.0).abs() < 2.5, "{s:?}");
        assert!((s.max_ms - 5000.0).abs() < 25.0, "{s:?}");
        assert_eq!(shared.errors()["rate-limited"], 2);
        assert_eq!(shared.disconnects()["close 4002"], 1);
        assert_eq!(LatencySummary::of(&shared.histogram(Lat::ChatAck)).count, 0);
    }

    #[test]
    fn an_export_merges_into_another_process_as_if_counted_there() {
        let (a, b, whole) = (Shared::new(), Shared::new(), Shared::new());
        for (shared, from, errors) in [(&a, 1, "rate-limited"), (&b, 501, "not-in-room")] {
            let mut t = Tally::default();
            t.counts.moves_seen = 500;
            t.error(errors);
            for ms in from..from + 500 {
                t.latency(Lat::Move, ms * 1000);
            }
            let mut copy =
                Tally { counts: t.counts.clone(), lat: t.lat.clone(), errors: t.errors.clone(), ..Default::default() };
            shared.flush(0, &mut t);
            whole.flush(1, &mut copy);
        }
        let json = serde_json::to_string(&b.export()).expect("serialises");
        a.absorb(&serde_json::from_str(&json).expect("parses"));
        let (merged, direct) = (a.histogram(Lat::Move), whole.histogram(Lat::Move));
        assert_eq!(merged.len(), 1000);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.value_at_quantile(q), direct.value_at_quantile(q), "quantile {q}");
        }
        assert_eq!(a.counters.totals().moves_seen, 1000);
        assert_eq!(a.errors(), whole.errors());
        let garbled = Export { latencies: vec![vec![(0, 1), (u64::MAX, 1)]; LATS + 3], ..Default::default() };
        a.absorb(&garbled);
        assert_eq!(a.histogram(Lat::Join).len(), 2, "out-of-range values are clamped, extra kinds ignored");
    }
}
