//! Prometheus metrics at `/metrics`. One recorder per process (the
//! `metrics` facade is global); servers started in the same process (tests)
//! share it.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first call; later calls return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                    &[0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0],
                )
                .expect("static bucket list")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours
            // renders nothing, which the metrics test would show.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("metaverse_ws_sessions", "Open WebSocket sessions");
    describe_gauge!("metaverse_live_spaces", "Spaces with a running SpaceActor");
    describe_counter!("metaverse_ws_messages_in_total", "Client messages received, by type");
    describe_counter!("metaverse_ws_messages_out_total", "Server messages queued to sockets, by type");
    describe_counter!("metaverse_moves_rejected_total", "Moves refused, by reason");
    describe_counter!("metaverse_slow_consumers_closed_total", "Sockets closed because their queue was full");
    describe_counter!("metaverse_positions_dropped_total", "Last positions not saved because the writer was behind");
    describe_histogram!("metaverse_fanout_seconds", "Time to queue one event to every recipient");
    describe_gauge!("metaverse_chat_queue", "Chat messages waiting to become durable");
    describe_histogram!("metaverse_chat_batch_size", "Messages per chat write batch");
    describe_histogram!("metaverse_chat_write_seconds", "Time to make one chat batch durable, retries included");
    describe_counter!("metaverse_chat_write_retries_total", "Failed chat batch writes that were retried");
    describe_counter!("metaverse_chat_refused_total", "Chat messages refused because the queue was full");
    describe_gauge!("metaverse_cluster_spaces_owned", "Cluster mode: space leases this node holds");
    describe_counter!(
        "metaverse_cluster_leases_lost_total",
        "Leases lost (lapsed, or found taken), each stopping a space"
    );
    describe_counter!("metaverse_cluster_relay_in_total", "Envelopes received from other nodes");
    describe_counter!("metaverse_cluster_relay_packets_total", "Packets published to other nodes");
    describe_counter!("metaverse_cluster_relay_frames_total", "Frames relayed to sessions on other nodes");
    describe_counter!(
        "metaverse_cluster_relay_dropped_total",
        "Relay packets or inputs lost (Redis away, peer gone, overload)"
    );
    describe_counter!("metaverse_cluster_relay_refused_total", "Undecodable packets refused");
}

pub async fn render() -> HttpResponse {
    let body = HANDLE.get().map(|h| h.render()).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}
