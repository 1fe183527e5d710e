//! Operator endpoints: `/metrics` and `/cluster/*`. They tell whoever asks
//! which spaces are live and how busy the node is, so they are served on
//! their own listener (`--admin-addr`, loopback by default), optionally
//! behind a bearer token (`--admin-token`); only `--admin-on-http-port`
//! puts them on the public port.

use std::{future::Future, pin::Pin, sync::Arc};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode, web};
use subtle::ConstantTimeEq;

use super::{cluster, error::ApiError};

/// The bearer token operator endpoints require (app data); none: open to
/// whoever reaches the listener.
#[derive(Clone)]
pub struct AdminToken(pub Option<Arc<str>>);

/// A caller allowed on operator endpoints.
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let want = req.app_data::<AdminToken>().and_then(|t| t.0.clone());
        let given = super::extract::bearer(req);
        Box::pin(async move {
            match want {
                None => Ok(Operator),
                // Compared in constant time: the token is a password.
                Some(want) if given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(want.as_bytes()))) => Ok(Operator),
                Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "operator token required")),
            }
        })
    }
}

/// Registers the operator endpoints.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(crate::metrics::render)).route("/cluster/node", web::get().to(cluster::node));
}
