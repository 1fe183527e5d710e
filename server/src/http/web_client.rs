//! The browser client, embedded in the binary (`server/web/`) and served
//! at `/`, so a fresh `cargo run --release` needs no other server and no
//! network. `index.html` is told where the WebSocket listens, and its
//! Content-Security-Policy lets it reach exactly that and its own origin.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use rust_embed::RustEmbed;

use super::{csp, error::ApiError};
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

const WS_META: &str = r#"<meta name="metaverse-ws" content="">"#;

/// The file's hash, plus what was filled into it (`variant`).
fn etag(file: &rust_embed::EmbeddedFile, variant: &str) -> String {
    let hash = file.metadata.sha256_hash();
    format!("\"{}{variant}\"", hash[..12].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn serve(
    req: &HttpRequest,
    path: &str,
    filled: Option<(Vec<u8>, String)>,
    policy: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(file) = Assets::get(path) else {
        return Err(ApiError::not_found(format!("no route for GET /{path}")));
    };
    let (body, variant) = match filled {
        Some((body, variant)) => (Some(body), variant),
        None => (None, String::new()),
    };
    let tag = etag(&file, &variant);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    // Revalidated on every load: a new binary must not leave old scripts
    // in browser caches.
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag))
        .insert_header(("x-content-type-options", "nosniff"));
    if let Some(policy) = policy {
        res.insert_header((header::CONTENT_SECURITY_POLICY, policy));
    }
    if fresh {
        return Ok(res.finish());
    }
    let mime = file.metadata.mimetype();
    let mime = if mime == "application/javascript" { "text/javascript; charset=utf-8" } else { mime };
    let mime = if mime.starts_with("text/") && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    Ok(res.content_type(mime).body(body.unwrap_or_else(|| file.data.into_owned())))
}

/// The client's page, told to dial `/ws` on its own origin: one port and
/// one TLS certificate for the whole client, through any proxy that passes
/// WebSocket upgrades.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let page = Assets::get("index.html").ok_or_else(|| ApiError::not_found("the web client is not built in"))?;
    let html = String::from_utf8_lossy(&page.data).into_owned();
    let (html, variant) = (html.replace(WS_META, r#"<meta name="metaverse-ws" content="/ws">"#), "-ws".to_owned());
    let policy = content_policy(&req, &state).await;
    serve(&req, "index.html", Some((html.into_bytes(), variant)), Some(policy))
}

/// The page may dial the WebSocket listener on the host it was loaded
/// from and, in cluster mode, every node's advertised URL (the `route`
/// endpoint sends it there). Nodes that join later are not covered; the
/// client then falls back to the default address, which relays.
async fn content_policy(req: &HttpRequest, state: &AppState) -> String {
    let (host, scheme) = {
        let info = req.connection_info();
        (info.host().to_owned(), info.scheme().to_owned())
    };
    let port = state.ws_port.get().copied().or_else(|| default_ws_port(&host, &scheme));
    let mut sources = port.map(|p| csp::listener_sources(&host, p)).unwrap_or_default();
    if let Some(cluster) = &state.cluster {
        for source in cluster.ws_urls().await.iter().filter_map(|u| csp::url_source(u)) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }
    csp::policy(&sources)
}

/// Before the listener is bound the client guesses HTTP port + 1.
fn default_ws_port(host: &str, scheme: &str) -> Option<u16> {
    let port = match host.rsplit_once(':') {
        Some((_, p)) if !p.ends_with(']') => p.parse::<u16>().ok()?,
        _ if scheme == "https" => 443,
        _ => 80,
    };
    port.checked_add(1)
}

/// Any other file of the client (scripts, styles, images).
pub async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    if path.is_empty() || path == "index.html" {
        return Err(ApiError::not_found("no route for GET /index.html; the client is at /"));
    }
    serve(&req, &path, None, None)
}
