//! The one error shape of the HTTP API: `{"error": {"code", "message"}}`.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use metaverse_schema::store::{DbErr, errors::is_unavailable};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (e.g. `validation`, `forbidden`).
    pub code: String,
    /// Human-readable explanation, naming the field when one is at fault.
    pub message: String,
    /// With 429: when to try again.
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Sent as `retryAfterMs` and `Retry-After` (429).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// 429 `rate-limited`: try again after `wait`.
    pub fn too_many(wait: std::time::Duration, message: impl Into<String>) -> Self {
        Self { retry_after: Some(wait), ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", message) }
    }

    /// 400 for a bad field; the message names it.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation", format!("{field}: {problem}"))
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        let retry_after_ms = self.retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        if let Some(ms) = retry_after_ms {
            res.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
        }
        res.json(ErrorBody {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message.clone(), retry_after_ms },
        })
    }
}

/// An unreachable database is 503 (clients should retry later), any other
/// database error 500.
impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; retry");
        }
        Self::internal(e)
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError::*;
        match e {
            InvalidToken | Revoked | Reused { .. } => Self::forbidden(e.to_string()),
            Db(db) => db.into(),
            Crypto(_) => Self::internal(e),
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    /// Reports the first failing field, by its JSON (camelCase) name.
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        match fields.first() {
            Some((field, errs)) => {
                let problem = errs
                    .first()
                    .and_then(|e| e.message.as_ref().map(|m| m.to_string()).or(Some(e.code.to_string())))
                    .unwrap_or_else(|| "is invalid".into());
                Self::invalid(&camel_case(field), problem)
            }
            None => Self::bad_request("validation", "invalid input"),
        }
    }
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl From<crate::auth::attempts::TooManyAttempts> for ApiError {
    fn from(e: crate::auth::attempts::TooManyAttempts) -> Self {
        ApiError::too_many(e.0, e.to_string())
    }
}

impl From<crate::auth::hashing::Busy> for ApiError {
    fn from(e: crate::auth::hashing::Busy) -> Self {
        ApiError::new(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_names_are_reported_in_camel_case() {
        assert_eq!(super::camel_case("image_url"), "imageUrl");
        assert_eq!(super::camel_case("name"), "name");
    }
}
