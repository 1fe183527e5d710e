//! The WebSocket upgrade: the browser `Origin` check and subprotocol
//! negotiation.

use std::net::SocketAddr;

use metaverse_protocol::Codec;
use tokio_tungstenite::tungstenite::{
    handshake::server::ErrorResponse,
    http::{HeaderValue, StatusCode, header},
};

pub use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

pub const SUBPROTOCOL_MSGPACK: &str = "metaverse.v1.msgpack";
pub const SUBPROTOCOL_JSON: &str = "metaverse.v1.json";

/// Which browser origins may connect.
#[derive(Clone, Debug)]
pub enum OriginPolicy {
    Any,
    List(Vec<String>),
}

impl OriginPolicy {
    /// `configured` when given, else the HTTP origin (`https` with `tls`;
    /// with `localhost` and `127.0.0.1` both accepted for a loopback
    /// address).
    pub fn new(configured: &[String], http_addr: SocketAddr, tls: bool) -> Self {
        let list: Vec<String> =
            configured.iter().map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect();
        if list.iter().any(|o| o == "*") {
            return OriginPolicy::Any;
        }
        if !list.is_empty() {
            return OriginPolicy::List(list);
        }
        let port = http_addr.port();
        let scheme = if tls { "https" } else { "http" };
        let mut own = vec![format!("{scheme}://{http_addr}")];
        if http_addr.ip().is_loopback() {
            own.push(format!("{scheme}://localhost:{port}"));
            own.push(format!("{scheme}://127.0.0.1:{port}"));
        }
        OriginPolicy::List(own)
    }

    pub fn allows(&self, origin: &str) -> bool {
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/'))),
        }
    }
}

/// The first subprotocol of ours the client offers.
pub fn choose_subprotocol(offered: Option<&str>) -> Option<(&'static str, Codec)> {
    offered?.split(',').map(str::trim).find_map(|p| match p {
        SUBPROTOCOL_MSGPACK => Some((SUBPROTOCOL_MSGPACK, Codec::MsgPack)),
        SUBPROTOCOL_JSON => Some((SUBPROTOCOL_JSON, Codec::Json)),
        _ => None,
    })
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(why.to_owned()));
    *resp.status_mut() = status;
    resp
}

// The error type is tungstenite's `Callback` contract, not ours to shrink.
#[allow(clippy::result_large_err)]
/// Checks the upgrade request; on success returns the response to send and
/// the negotiated codec, if any.
pub fn check(
    policy: &OriginPolicy,
    req: &Request,
    mut resp: Response,
) -> Result<(Response, Option<Codec>), ErrorResponse> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.allows(origin) {
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
        }
    }
    let offered = req.headers().get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok());
    let chosen = choose_subprotocol(offered);
    if let Some((name, _)) = chosen {
        resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(name));
    }
    Ok((resp, chosen.map(|(_, c)| c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_the_http_origin() {
        let p = OriginPolicy::new(&[], "127.0.0.1:3000".parse().unwrap(), false);
        assert!(p.allows("http://127.0.0.1:3000"));
        assert!(p.allows("http://localhost:3000/"));
        assert!(!p.allows("http://evil.example"));
        assert!(!p.allows("http://localhost:3001"));
        assert!(OriginPolicy::new(&["*".into()], "127.0.0.1:3000".parse().unwrap(), false).allows("http://x"));
        let listed = OriginPolicy::new(&["https://app.example".into()], "0.0.0.0:3000".parse().unwrap(), false);
        let tls = OriginPolicy::new(&[], "127.0.0.1:3000".parse().unwrap(), true);
        assert!(tls.allows("https://localhost:3000") && !tls.allows("http://localhost:3000"));
        assert!(listed.allows("https://app.example") && !listed.allows("http://0.0.0.0:3000"));
    }

    #[test]
    fn subprotocols() {
        assert_eq!(choose_subprotocol(Some("foo, metaverse.v1.json")).map(|c| c.1), Some(Codec::Json));
        assert_eq!(choose_subprotocol(Some("metaverse.v1.msgpack")).map(|c| c.1), Some(Codec::MsgPack));
        assert_eq!(choose_subprotocol(Some("foo")), None);
        assert_eq!(choose_subprotocol(None), None);
    }
}
