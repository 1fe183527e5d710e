//! The browser client's Content-Security-Policy, and the few headers every
//! response carries.
//!
//! The client holds bearer tokens in script-readable storage, so the policy
//! is the second wall behind "the client only talks to its own origin": even
//! a script that tried to send a token elsewhere could only reach this
//! server's HTTP origin and its WebSocket listener(s).

use actix_web::{http::header, middleware::DefaultHeaders};

/// On every response (API, docs, metrics alike): no MIME sniffing of JSON
/// into HTML, no URLs leaked through `Referer`, no framing (clickjacking).
pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// The page's policy; `ws_sources` are the WebSocket origins it may dial
/// besides its own origin.
pub fn policy(ws_sources: &[String]) -> String {
    let mut connect = String::from("'self'");
    for source in ws_sources {
        connect.push(' ');
        connect.push_str(source);
    }
    format!(
        "default-src 'self'; script-src 'self'; connect-src {connect}; img-src 'self' data: blob:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `ws://` and `wss://` of the page's host at the WebSocket port: where
/// the client dials by default. `host` is the request's (may carry a port);
/// none when it is not a plain host name or address.
pub fn listener_sources(host: &str, ws_port: u16) -> Vec<String> {
    let name = host_without_port(host);
    if name.is_empty() || !name.chars().all(authority_char) {
        return Vec::new();
    }
    vec![format!("ws://{name}:{ws_port}"), format!("wss://{name}:{ws_port}")]
}

/// The origin (`scheme://authority`) of an advertised `ws://`/`wss://` URL,
/// when it is safe to put into the policy.
pub fn url_source(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "ws" && scheme != "wss" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let valid = !authority.is_empty() && authority.chars().all(authority_char);
    valid.then(|| format!("{scheme}://{authority}"))
}

/// Characters of a host, an IPv6 literal or a port: nothing that could end
/// a source expression or the directive (`;`, `'`, spaces, commas).
fn authority_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
}

fn host_without_port(host: &str) -> &str {
    if host.ends_with(']') {
        return host; // "[::1]": an IPv6 literal without a port
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_sources_use_the_page_host_and_the_ws_port() {
        assert_eq!(listener_sources("example.test:3000", 3001), ["ws://example.test:3001", "wss://example.test:3001"]);
        assert_eq!(listener_sources("example.test", 4001), ["ws://example.test:4001", "wss://example.test:4001"]);
        assert_eq!(listener_sources("[::1]:3000", 3001), ["ws://[::1]:3001", "wss://[::1]:3001"]);
        assert_eq!(listener_sources("[::1]", 3001), ["ws://[::1]:3001", "wss://[::1]:3001"]);
        assert!(listener_sources("evil.test; script-src *", 3001).is_empty(), "no directive injection");
        assert!(listener_sources("", 3001).is_empty());
    }

    #[test]
    fn url_sources_keep_scheme_and_authority_only() {
        assert_eq!(url_source("wss://a.test/ws").as_deref(), Some("wss://a.test"));
        assert_eq!(url_source("ws://127.0.0.1:4001").as_deref(), Some("ws://127.0.0.1:4001"));
        assert_eq!(url_source("http://a.test"), None);
        assert_eq!(url_source("ws://a.test;'unsafe-inline'/"), None);
        assert_eq!(url_source("ws:///x"), None);
    }

    #[test]
    fn the_policy_allows_only_self_and_the_given_sockets() {
        let p = policy(&["ws://h:1".into(), "wss://h:1".into()]);
        assert!(p.contains("connect-src 'self' ws://h:1 wss://h:1;"), "{p}");
        for directive in ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
            assert!(p.contains(directive), "{directive} in {p}");
        }
        assert!(!p.contains("unsafe"), "{p}");
    }
}
