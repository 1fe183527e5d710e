//! The per-request log. tracing-actix-web's own error event logs every 4xx
//! at warn, so anyone sending bad requests could flood the logs at the
//! level operators watch; here a client's mistake is a debug event and
//! only the server's own failures (5xx) are errors.

use actix_web::{
    Error, ResponseError,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The default request span, with our levels for failed requests.
pub struct RequestLog;

impl RootSpanBuilder for RequestLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
        match outcome {
            Ok(response) => {
                if let Some(error) = response.response().error() {
                    log_failure(error.as_response_error(), response.status());
                }
            }
            Err(error) => {
                let error = error.as_response_error();
                log_failure(error, error.status_code());
            }
        }
    }
}

fn log_failure(error: &dyn ResponseError, status: StatusCode) {
    const PREFIX: &str = "Error encountered while processing the incoming HTTP request";
    if status.is_client_error() {
        tracing::debug!(status = status.as_u16(), "{PREFIX}: {error:?}");
    } else {
        tracing::error!(status = status.as_u16(), "{PREFIX}: {error:?}");
    }
}
