//! Prometheus metrics at `/metrics`. One recorder per process (the
//! `metrics` facade is global); servers started in the same process (tests)
//! share it.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use metaverse_actors::metric_names::{ALL, MetricKind};
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
    for m in ALL {
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, m.help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, m.help),
            MetricKind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

pub async fn render(_: crate::http::operator::Operator) -> HttpResponse {
    let body = HANDLE.get().map(|h| h.render()).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    /// Records one sample of every metric in the table through a private
    /// recorder (the global one belongs to the servers under test) and
    /// checks each comes out described, with the type its kind says.
    #[test]
    fn every_metric_in_the_table_is_described_with_its_type() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            for m in ALL {
                match m.kind {
                    MetricKind::Counter => metrics::counter!(m.name).increment(1),
                    MetricKind::Gauge => metrics::gauge!(m.name).set(1.0),
                    MetricKind::Histogram => metrics::histogram!(m.name).record(1.0),
                }
            }
        });
        let text = handle.render();
        for m in ALL {
            assert!(text.contains(&format!("# HELP {} {}\n", m.name, m.help)), "{} undescribed:\n{text}", m.name);
            let kind = match m.kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                // Without buckets the exporter renders histograms as summaries.
                MetricKind::Histogram => "summary",
            };
            assert!(text.contains(&format!("# TYPE {} {kind}\n", m.name)), "{} is not a {kind}:\n{text}", m.name);
        }
    }
}
