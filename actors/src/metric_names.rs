//! Every Prometheus metric the server exports, in one table. A name typed
//! twice as a string literal drifts apart silently (a typo makes a new,
//! undescribed metric); a constant does not, and `/metrics` describes
//! each entry of [`ALL`] so no metric goes out without its help text.

/// How a metric is recorded, which decides its Prometheus `TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only ever grows, which is what lets Prometheus compute rates; names
    /// end in `_total`.
    Counter,
    /// A level that goes up and down (open sockets, queue depth), read as is.
    Gauge,
    /// Durations and sizes, where the distribution matters more than the sum.
    Histogram,
}

/// One exported metric: its name, what it measures, and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricName {
    /// The exported name, the one thing dashboards and alerts depend on.
    pub name: &'static str,
    /// Goes out as `# HELP`, so a scrape explains the metric without the
    /// source.
    pub help: &'static str,
    /// Picks which `describe_*` registers it, so its `# TYPE` is right.
    pub kind: MetricKind,
}

/// Declares each name as a `pub const` and lists them all in [`ALL`], so a
/// name cannot be added without its help text and kind.
macro_rules! metric_names {
    ($($kind:ident $ident:ident = $name:literal, $help:literal;)*) => {
        $(
            // The help text doubles as the doc, so rustdoc and `/metrics` say
            // the same.
            #[doc = $help]
            pub const $ident: &str = $name;
        )*

        /// Every metric above, for describing them all at start-up.
        pub const ALL: &[MetricName] = &[
            $(MetricName { name: $ident, help: $help, kind: MetricKind::$kind },)*
        ];
    };
}

metric_names! {
    // WebSocket sessions and the spaces they join.
    Gauge WS_SESSIONS = "metaverse_ws_sessions", "Open WebSocket sessions";
    Gauge LIVE_SPACES = "metaverse_live_spaces", "Spaces with a running SpaceActor";
    Counter WS_MESSAGES_IN_TOTAL = "metaverse_ws_messages_in_total", "Client messages received, by type";
    Counter WS_MESSAGES_OUT_TOTAL = "metaverse_ws_messages_out_total", "Server messages queued to sockets, by type";
    Counter WS_TICK_FRAMES_TOTAL = "metaverse_ws_tick_frames_total", "Frames queued to sockets by world ticks";
    Counter WS_REFUSED_TOTAL = "metaverse_ws_refused_total", "Connections dropped at accept, by reason: the node's cap, or the address's caps";
    Counter MOVES_REJECTED_TOTAL = "metaverse_moves_rejected_total", "Moves refused, by reason";
    Counter SLOW_CONSUMERS_CLOSED_TOTAL = "metaverse_slow_consumers_closed_total", "Sockets closed because their queue was full";
    Counter POSITIONS_DROPPED_TOTAL = "metaverse_positions_dropped_total", "Last positions not saved because the writer was behind";
    Histogram FANOUT_SECONDS = "metaverse_fanout_seconds", "Time to queue one event to every recipient";
    Counter RTC_SIGNALS_TOTAL = "metaverse_rtc_signals_total", "WebRTC signals, by result (relayed or not nearby)";

    // Chat durability.
    Gauge CHAT_QUEUE = "metaverse_chat_queue", "Chat messages waiting to become durable";
    Histogram CHAT_BATCH_SIZE = "metaverse_chat_batch_size", "Messages per chat write batch";
    Histogram CHAT_WRITE_SECONDS = "metaverse_chat_write_seconds", "Time to make one chat batch durable, retries included";
    Counter CHAT_WRITE_RETRIES_TOTAL = "metaverse_chat_write_retries_total", "Failed chat batch writes that were retried";
    Counter CHAT_REFUSED_TOTAL = "metaverse_chat_refused_total", "Chat messages refused because the queue was full";
    Counter CHAT_FALLBACK_TOTAL = "metaverse_chat_fallback_total", "Chat messages written without Kafka, by reason";

    // The event pipeline (Kafka) and its consumers.
    Gauge EVENTS_BACKLOG = "metaverse_events_backlog", "Event records waiting for Kafka";
    Counter EVENTS_PRODUCED_TOTAL = "metaverse_events_produced_total", "Event records written to Kafka";
    Counter EVENTS_DROPPED_TOTAL = "metaverse_events_dropped_total", "Event records lost, by topic and reason";
    Counter WRITER_RESTARTS_TOTAL = "metaverse_writer_restarts_total", "Writer restarts after a panic, by writer (chat, events, positions, analytics)";
    Histogram KAFKA_PRODUCE_SECONDS = "metaverse_kafka_produce_seconds", "Time of one Kafka produce call";
    Counter KAFKA_PRODUCE_ERRORS_TOTAL = "metaverse_kafka_produce_errors_total", "Failed Kafka produce calls";
    Gauge CONSUMER_LAG = "metaverse_consumer_lag", "High watermark minus the next offset, by topic and partition";
    Counter CONSUMER_RECORDS_TOTAL = "metaverse_consumer_records_total", "Records applied by the consumers, by topic";
    Counter CONSUMER_SKIPPED_TOTAL = "metaverse_consumer_skipped_total", "Records skipped by the consumers, by reason";
    Counter CONSUMER_ERRORS_TOTAL = "metaverse_consumer_errors_total", "Consumer steps that failed and were retried";
    Counter CONSUMER_LOG_RESETS_TOTAL = "metaverse_consumer_log_resets_total", "Partitions consumed again from their beginning after the broker lost their log";

    // Analytics.
    Counter ANALYTICS_JOINS_TOTAL = "metaverse_analytics_joins_total", "Joins folded into analytics";
    Counter ANALYTICS_LEAVES_TOTAL = "metaverse_analytics_leaves_total", "Leaves folded into analytics";
    Counter ANALYTICS_MESSAGES_TOTAL = "metaverse_analytics_messages_total", "Chat messages folded into analytics";
    Counter ANALYTICS_REPEATS_TOTAL = "metaverse_analytics_repeats_total", "Events the log held twice, counted once";
    Histogram ANALYTICS_SESSION_SECONDS = "metaverse_analytics_session_seconds", "Length of finished visits";

    // Cluster mode.
    Gauge CLUSTER_SPACES_OWNED = "metaverse_cluster_spaces_owned", "Cluster mode: space leases this node holds";
    Counter CLUSTER_LEASES_LOST_TOTAL = "metaverse_cluster_leases_lost_total", "Leases lost (lapsed, or found taken), each stopping a space";
    Counter CLUSTER_RELAY_IN_TOTAL = "metaverse_cluster_relay_in_total", "Envelopes received from other nodes";
    Counter CLUSTER_RELAY_PACKETS_TOTAL = "metaverse_cluster_relay_packets_total", "Packets published to other nodes";
    Counter CLUSTER_RELAY_FRAMES_TOTAL = "metaverse_cluster_relay_frames_total", "Frames relayed to sessions on other nodes";
    Counter CLUSTER_RELAY_DROPPED_TOTAL = "metaverse_cluster_relay_dropped_total", "Relay packets or inputs lost (Redis away, peer gone, overload)";
    Counter CLUSTER_RELAY_REFUSED_TOTAL = "metaverse_cluster_relay_refused_total", "Undecodable packets refused";

    // Media uploads.
    Counter MEDIA_UPLOADS_TOTAL = "metaverse_media_uploads_total", "Uploads accepted and stored";
    Counter MEDIA_UPLOAD_BYTES_TOTAL = "metaverse_media_upload_bytes_total", "Bytes stored by accepted uploads (after re-encoding)";
    Gauge MEDIA_UPLOADS_IN_FLIGHT = "metaverse_media_uploads_in_flight", "Uploads being received or processed now";
    Counter MEDIA_REFUSED_TOTAL = "metaverse_media_refused_total", "Uploads refused by their content, by reason (unsupported, invalid)";
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} is listed twice", m.name);
            assert!(m.name.starts_with("metaverse_"), "{} lacks the prefix", m.name);
            assert!(!m.help.is_empty(), "{} has no help text", m.name);
        }
    }

    #[test]
    fn kinds_follow_the_naming_conventions() {
        for m in ALL {
            assert_eq!(m.name.ends_with("_total"), m.kind == MetricKind::Counter, "{}", m.name);
        }
        let hist: Vec<_> = ALL.iter().filter(|m| m.kind == MetricKind::Histogram).map(|m| m.name).collect();
        assert_eq!(
            hist,
            [FANOUT_SECONDS, CHAT_BATCH_SIZE, CHAT_WRITE_SECONDS, KAFKA_PRODUCE_SECONDS, ANALYTICS_SESSION_SECONDS]
        );
    }
}
