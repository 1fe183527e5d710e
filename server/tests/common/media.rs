//! Uploads in tests: a server on local disk (SQLite) or on S3 (PostgreSQL,
//! against the S3-compatible server CI runs), multipart requests, and the
//! test images.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use reqwest::{StatusCode, multipart};
use serde_json::Value;

use super::{Backend, TestApp, services_required};

/// The S3-compatible server (moto in CI): `METAVERSE_TEST_S3_ENDPOINT`, else
/// the port `.ci/run` starts it on.
pub fn s3_endpoint() -> String {
    std::env::var("METAVERSE_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// Where a test's objects live, to look at them behind the server's back.
pub enum Store {
    Dir(std::path::PathBuf),
    S3 { endpoint: String, bucket: String },
}

impl Store {
    /// Whether the object of `sha256` is stored.
    pub async fn has(&self, sha256: &str) -> bool {
        let key = format!("o/{}/{sha256}", &sha256[..2]);
        match self {
            Store::Dir(d) => d.join(key).exists(),
            Store::S3 { endpoint, bucket } => {
                // Listing answers unsigned requests (moto); reading does not.
                let list = format!("{endpoint}/{bucket}?list-type=2&prefix=up/{key}");
                let body = reqwest::get(list).await.expect("S3 reachable").text().await.expect("a listing");
                body.contains(&format!("<Key>up/{key}</Key>"))
            }
        }
    }
}

/// A server with uploads: SQLite on its data directory, or PostgreSQL on a
/// fresh bucket of the S3 server. `None` when that is not available (and
/// not required).
pub async fn media_app(
    backend: Backend,
    tweak: impl FnOnce(&mut metaverse_server::config::ServeConfig),
) -> Option<(TestApp, Store)> {
    match backend {
        Backend::Sqlite => {
            let app = TestApp::start_with(backend, tweak).await?;
            let dir = app.dir.path().join("media");
            Some((app, Store::Dir(dir)))
        }
        Backend::Postgres => {
            let endpoint = s3_endpoint();
            let bucket = format!("t{}", uuid::Uuid::new_v4().simple());
            match reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await {
                Ok(r) if r.status().is_success() => {}
                other if services_required() => {
                    panic!("METAVERSE_REQUIRE_SERVICES=1 but no S3 at {endpoint}: {other:?}")
                }
                _ => {
                    eprintln!("skipped: no S3 server at {endpoint}");
                    return None;
                }
            }
            let (url, ep) = (format!("s3://{bucket}/up"), endpoint.clone());
            let app = TestApp::start_with(backend, move |cfg| {
                cfg.media.media_store = Some(url);
                cfg.media.media_s3_endpoint = Some(ep);
                cfg.media.media_s3_access_key_id = Some("test".into());
                cfg.media.media_s3_secret_access_key = Some("test".into());
                tweak(cfg);
            })
            .await?;
            Some((app, Store::S3 { endpoint, bucket }))
        }
    }
}

/// A `w`×`h` image in `format`.
pub fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbaImage::from_fn(w, h, |x, y| Rgba([x.to_le_bytes()[0], y.to_le_bytes()[0], 120, 255]));
    let img = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
    } else {
        DynamicImage::ImageRgba8(img)
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

/// Uploads `bytes` as `name` (declared `image/png`, whatever they are).
pub async fn upload(
    app: &TestApp,
    token: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
    purpose: Option<&str>,
) -> (StatusCode, Value) {
    let part = multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str("image/png").expect("a mime type");
    // Names as browsers send them: UTF-8 as is.
    let mut form = multipart::Form::new().percent_encode_noop().part("file", part);
    if let Some(p) = purpose {
        form = form.text("purpose", p.to_owned());
    }
    let mut req = app.client.post(app.url("/api/v1/media")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("upload request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Uploads and asserts 201; returns the upload.
pub async fn uploaded(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let (status, body) = upload(app, Some(token), name, bytes, None).await;
    assert_eq!(status, StatusCode::CREATED, "upload {name}: {body}");
    body
}

/// GET on a URL the server handed out, with extra headers.
pub async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("GET")
}

/// Retries `attempt` until it yields, for at most ten seconds.
pub async fn until<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut attempt: impl FnMut() -> F) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within ten seconds");
        // Polling what the server does in its own time (a consumer, a
        // sweep): a short pause between looks, not a guess at how long.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
