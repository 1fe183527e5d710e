//! `GET /api/v1/rtc/config`: the ICE servers browsers use for proximity
//! calls. TURN credentials follow the TURN REST convention (coturn's
//! `use-auth-secret`): username `<expiry>:<userId>`, password
//! base64(HMAC-SHA1(secret, username)), so the TURN server checks them
//! without asking us, and they expire on their own.

use actix_web::{HttpResponse, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde::Serialize;
use utoipa::ToSchema;

use super::{error::ApiError, extract::AuthUser};
use crate::state::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceConfig {
    pub stun: Vec<String>,
    pub turn: Vec<String>,
    pub secret: Option<String>,
    pub ttl_secs: u64,
}

impl IceConfig {
    /// Checks and sorts the configured URLs.
    pub fn new(urls: &[String], secret: Option<String>, ttl_secs: u64) -> Result<Self, String> {
        let (mut stun, mut turn) = (Vec::new(), Vec::new());
        for u in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
            if u.len() > 512 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("--ice-servers: {u:?} is not a URL"));
            }
            match u.split_once(':').map(|(scheme, rest)| (scheme, rest.is_empty())) {
                Some(("stun" | "stuns", false)) => stun.push(u.to_owned()),
                Some(("turn" | "turns", false)) => turn.push(u.to_owned()),
                _ => return Err(format!("--ice-servers: {u:?} must start with stun:, stuns:, turn: or turns:")),
            }
        }
        if let Some(s) = &secret
            && s.is_empty()
        {
            return Err("--turn-secret: empty".into());
        }
        Ok(Self { stun, turn, secret, ttl_secs })
    }
}

#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RtcConfig {
    /// As `RTCPeerConnection`'s `iceServers` expects them.
    pub ice_servers: Vec<IceServer>,
    /// Seconds the TURN credentials stay valid (0 when there are none).
    pub ttl: u64,
}

/// TURN REST credentials for `user` valid until `expires` (Unix seconds).
pub fn turn_credentials(secret: &str, user: &str, expires: u64) -> (String, String) {
    let username = format!("{expires}:{user}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    (username, STANDARD.encode(mac.finalize().into_bytes()))
}

pub fn rtc_config(cfg: &IceConfig, user: &str, now_secs: u64) -> RtcConfig {
    let mut ice_servers = Vec::new();
    if !cfg.stun.is_empty() {
        ice_servers.push(IceServer { urls: cfg.stun.clone(), username: None, credential: None });
    }
    let mut ttl = 0;
    if !cfg.turn.is_empty() {
        match &cfg.secret {
            Some(secret) => {
                let (username, credential) = turn_credentials(secret, user, now_secs + cfg.ttl_secs);
                ice_servers.push(IceServer {
                    urls: cfg.turn.clone(),
                    username: Some(username),
                    credential: Some(credential),
                });
                ttl = cfg.ttl_secs;
            }
            // A TURN server that needs no credentials (or takes the ones
            // embedded in its URL).
            None => ice_servers.push(IceServer { urls: cfg.turn.clone(), username: None, credential: None }),
        }
    }
    RtcConfig { ice_servers, ttl }
}

/// ICE servers for WebRTC calls, with fresh TURN credentials.
#[utoipa::path(get, path = "/api/v1/rtc/config", tag = "rtc", security(("bearer" = [])),
    responses((status = 200, body = RtcConfig), (status = 403)))]
pub async fn config(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(rtc_config(
        &state.ice,
        &caller.0.user_id,
        now,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_sorted() {
        let urls = ["stun:s.example:3478".to_owned(), " turn:t.example:3478?transport=udp".to_owned(), String::new()];
        let c = IceConfig::new(&urls, None, 3600).unwrap();
        assert_eq!(c.stun, vec!["stun:s.example:3478"]);
        assert_eq!(c.turn, vec!["turn:t.example:3478?transport=udp"]);
        assert!(IceConfig::new(&["http://x".into()], None, 1).is_err());
        assert!(IceConfig::new(&["stun:".into()], None, 1).is_err());
        assert!(IceConfig::new(&["stun:a b".into()], None, 1).is_err());
        assert!(IceConfig::new(&[], Some(String::new()), 1).is_err());
    }

    #[test]
    fn turn_credentials_follow_the_rest_convention() {
        // HMAC-SHA1("secret", "1700000000:u1"), checked with
        // `printf %s 1700000000:u1 | openssl dgst -sha1 -hmac secret -binary | base64`.
        let (user, pass) = turn_credentials("secret", "u1", 1_700_000_000);
        assert_eq!(user, "1700000000:u1");
        assert_eq!(pass, "nHzZnCmm4aatc14e91U9AY8VNQM=");
        let c = IceConfig::new(&["stun:s:1".into(), "turn:t:1".into()], Some("secret".into()), 600).unwrap();
        let r = rtc_config(&c, "u1", 1_700_000_000 - 600);
        assert_eq!(r.ttl, 600);
        assert_eq!(r.ice_servers[1].username.as_deref(), Some("1700000000:u1"));
        assert_eq!(r.ice_servers[1].credential.as_deref(), Some("nHzZnCmm4aatc14e91U9AY8VNQM="));
        let none = IceConfig::new(&[], None, 600).unwrap();
        assert!(rtc_config(&none, "u1", 0).ice_servers.is_empty());
    }
}
