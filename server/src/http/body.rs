//! The JSON body extractor of the API.
//!
//! actix-web's own `Json` reports a wrong type as serde's bare message,
//! which does not say which field was wrong. This one decodes through
//! `serde_path_to_error`, so a failure names its path
//! (`defaultElements[0].x: expected a whole number`), and it accepts only a
//! JSON object at the top (serde would also take an array of the fields in
//! order). Bodies over the limit are refused with 413 before decoding.

use std::{future::Future, pin::Pin, time::Duration};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode, web};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Decodes one JSON object into `T`, naming the failing field.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => {
            return Err(ApiError::bad_request("malformed-json", "the body is empty; send a JSON object"));
        }
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::bad_request("malformed-json", "the body must be a JSON object"));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            if path == "." || path.is_empty() {
                // Missing fields are reported at the top; serde names them.
                ApiError::bad_request("validation", inner.to_string())
            } else {
                ApiError::invalid(&path, strip_position(&inner.to_string()))
            }
        } else {
            ApiError::bad_request("malformed-json", inner.to_string())
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request("malformed-json", e.to_string()))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// How long a request body may take to arrive (app data; 10 s when unset).
/// Without it a client trickling a body a byte at a time holds a worker's
/// connection and buffer for as long as it likes.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole request body, read within the size limit and the body timeout.
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        let limit = req.app_data::<BodyTimeout>().map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
        Box::pin(async move {
            let read = tokio::time::timeout(limit, bytes).await.map_err(|_| {
                let why = format!("the request body did not arrive within {} s", limit.as_secs_f32());
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request-timeout", why)
            })?;
            read.map(RawBody).map_err(|e| {
                let status = e.as_response_error().status_code();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "payload-too-large", e.to_string())
                } else {
                    ApiError::bad_request("malformed-json", e.to_string())
                }
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = RawBody::from_request(req, payload);
        Box::pin(async move { decode(&body.await?.0).map(Json) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(deserialize_with = "crate::http::input::int")]
        x: i32,
    }

    fn err(body: &str) -> ApiError {
        decode::<Outer>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = err(r#"{"name": 5, "items": []}"#);
        assert_eq!((e.status.as_u16(), e.code), (400, "validation"));
        assert!(e.message.starts_with("name: invalid type"), "{}", e.message);
        let e = err(r#"{"name": "a", "items": [{"x": 1}, {"x": "abc"}]}"#);
        assert!(e.message.starts_with("items[1].x: expected a whole number"), "{}", e.message);
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn missing_fields_and_non_objects() {
        let e = err(r#"{"name": "a"}"#);
        assert!(e.message.contains("missing field `items`"), "{}", e.message);
        assert_eq!(err(r#"["a", []]"#).code, "malformed-json");
        assert_eq!(err("").code, "malformed-json");
        assert_eq!(err(r#"{"name": "#).code, "malformed-json");
        assert_eq!(err(r#"{"name": "a", "items": []} trailing"#).code, "malformed-json");
        assert!(decode::<Outer>(br#" {"name": "a", "items": [{"x": "7"}]} "#).is_ok());
    }
}
