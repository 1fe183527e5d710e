//! Media uploads end to end, on SQLite with a local directory and on
//! PostgreSQL with S3 (the S3-compatible server CI starts): the round trip
//! with its serving headers and ranges, deduplication and deletion, and
//! every refusal (each storing nothing). Where uploads are used (chat,
//! avatars, the catalogue) is in `media_uses.rs`.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, assert_forbidden, error_code,
    media::{fetch, media_app, picture, until, upload, uploaded},
};
use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::json;

async fn round_trip_with_caching_and_ranges(backend: Backend) {
    let Some((app, store)) = media_app(backend, |_| {}).await else { return };
    let (_, ada) = app.user("ada").await;
    let m = uploaded(&app, &ada, "../../etc/cat.png", picture(300, 200, ImageFormat::Png)).await;
    for k in ["id", "url", "thumbnailUrl", "contentType", "size", "width", "height", "sha256", "purpose", "createdAt"] {
        assert!(m.get(k).is_some(), "{k} in {m}");
    }
    assert_eq!(
        (m["contentType"].as_str(), m["width"].as_u64(), m["height"].as_u64()),
        (Some("image/png"), Some(300), Some(200))
    );
    assert_eq!(m["purpose"], "chat");
    assert_eq!(m["name"], "cat.png", "only the last path component is kept");
    let sha = m["sha256"].as_str().unwrap();
    assert!(store.has(sha).await, "stored under its sha256");

    let url = m["url"].as_str().unwrap();
    let r = fetch(&app, url, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["etag"], format!("\"{sha}\"").as_str());
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(h["content-disposition"].to_str().unwrap().starts_with("inline"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, m["size"].as_u64().unwrap());
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 300);

    let r = fetch(&app, url, &[("if-none-match", &format!("\"{sha}\""))]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = fetch(&app, url, &[("range", "bytes=0-9")]).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], format!("bytes 0-9/{}", bytes.len()).as_str());
    assert_eq!(r.bytes().await.unwrap(), bytes.slice(0..10));
    let r = fetch(&app, url, &[("range", "bytes=999999999-")]).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], format!("bytes */{}", bytes.len()).as_str());
    let r = fetch(&app, url, &[("if-none-match", &format!("W/\"{sha}\""))]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "a weak tag matches too");
    let head = app.client.head(app.url(url)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], bytes.len().to_string().as_str());

    let r = fetch(&app, m["thumbnailUrl"].as_str().unwrap(), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 171));

    let (status, page) = app.get("/api/v1/media?limit=10", Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["media"][0]["id"], m["id"]);
    // Documents are downloads in a sandbox, under their own (UTF-8) name.
    let pdf = uploaded(&app, &ada, "café menu.pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n".to_vec()).await;
    let r = fetch(&app, pdf["url"].as_str().unwrap(), &[]).await;
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.contains(r#"filename="caf_ menu.pdf""#), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''caf%C3%A9"), "{disposition}");
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
}

async fn same_bytes_are_stored_once_and_removed_with_the_last_upload(backend: Backend) {
    let Some((app, store)) = media_app(backend, |_| {}).await else { return };
    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let bytes = picture(40, 40, ImageFormat::Png);
    let a = uploaded(&app, &ada, "a.png", bytes.clone()).await;
    let b = uploaded(&app, &bob, "b.png", bytes).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha256"], b["sha256"], "the same bytes");
    let sha = a["sha256"].as_str().unwrap();

    let (status, body) = app.delete(&format!("/api/v1/media/{}", a["id"].as_str().unwrap()), Some(&bob), None).await;
    assert_forbidden(status, &body);
    let (status, _) = app.delete(&format!("/api/v1/media/{}", a["id"].as_str().unwrap()), Some(&ada), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&app, a["url"].as_str().unwrap(), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, b["url"].as_str().unwrap(), &[]).await.status(), StatusCode::OK, "Bob's copy stays");
    assert!(store.has(sha).await);
    let (status, _) = app.delete(&format!("/api/v1/media/{}", b["id"].as_str().unwrap()), Some(&bob), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!store.has(sha).await, "the last upload took the object with it");
}

async fn every_refusal_stores_nothing(backend: Backend) {
    let Some((app, store)) = media_app(backend, |cfg| {
        cfg.media.media_max_bytes = 64 * 1024;
        cfg.media.media_quota_files = 2;
    })
    .await
    else {
        return;
    };
    let (_, ada) = app.user("ada").await;
    let png = picture(64, 64, ImageFormat::Png);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "wrong magic",
            vec![0xff, 0xfe, 0x00, 0x81, 0x9c, 0x10],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "an executable",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        ("svg", b"<svg onload='alert(1)'/>".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        ("truncated", png[..png.len() / 2].to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-media"),
        ("a bomb", bomb(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-media"),
        ("too large", vec![b'a'; 70 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
    ];
    for (what, bytes, status, code) in cases {
        let (got, body) = upload(&app, Some(&ada), "x.png", bytes, None).await;
        assert_eq!((got, error_code(&body)), (status, code), "{what}: {body}");
    }
    let (status, body) = upload(&app, None, "x.png", png.clone(), None).await;
    assert_forbidden(status, &body);
    let (status, body) = upload(&app, Some(&ada), "x.txt", b"plain words".to_vec(), Some("avatar")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "an avatar must be an image: {body}");
    let (status, body) = upload(&app, Some(&ada), "x.png", png.clone(), Some("wallpaper")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, page) = app.get("/api/v1/media", Some(&ada)).await;
    assert_eq!(page["media"], json!([]), "nothing recorded");

    // The quota: two files, then 429.
    let first = uploaded(&app, &ada, "1.png", png).await;
    uploaded(&app, &ada, "2.png", picture(8, 8, ImageFormat::Png)).await;
    let (status, body) = upload(&app, Some(&ada), "3.png", picture(9, 9, ImageFormat::Png), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::TOO_MANY_REQUESTS, "quota-exceeded"), "{body}");
    assert!(store.has(first["sha256"].as_str().unwrap()).await);
}

/// A client that starts an upload and never finishes it holds one of the
/// `--media-uploads-in-flight` slots; with all of them held, uploads get
/// 503 `busy` (instead of more bodies piling up in memory), and a slot
/// comes back when that client goes away.
async fn uploads_in_flight_are_bounded(backend: Backend) {
    let Some((app, _)) = media_app(backend, |cfg| {
        cfg.media.media_uploads_in_flight = 1;
        cfg.media.media_uploads_per_minute = 100_000;
    })
    .await
    else {
        return;
    };
    let (_, ada) = app.user("ada").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stalled = stall(&addr, &ada).await;
    // The stalled upload takes the slot once its token is checked. Until
    // then other uploads get through, and one of them may hold the slot at
    // that moment, so the stalled one is refused: then stall again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let busy = loop {
        let (status, body) = upload(&app, Some(&ada), "b.png", picture(4, 4, ImageFormat::Png), None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break error_code(&body).to_owned();
        }
        // Answered (refused) or closed: it holds no slot.
        let mut answer = [0u8; 64];
        if stalled.try_read(&mut answer).is_ok() {
            stalled = stall(&addr, &ada).await;
        }
        assert!(std::time::Instant::now() < deadline, "the stalled upload never held the slot");
        tokio::task::yield_now().await;
    };
    assert_eq!(busy, "busy");
    drop(stalled);
    until("an upload once the slot is free", || async {
        let (status, _) = upload(&app, Some(&ada), "c.png", picture(5, 5, ImageFormat::Png), None).await;
        (status == StatusCode::CREATED).then_some(())
    })
    .await;
}

/// Starts an upload that never finishes: the head and a little of the body.
async fn stall(addr: &str, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/media HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XB\r\nContent-Length: 100000\r\n\r\n\
         --XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\npartial"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// A real PNG whose header claims 60,000 × 60,000 pixels.
fn bomb() -> Vec<u8> {
    let mut b = picture(1, 1, ImageFormat::Png);
    b[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    b[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    b
}

configured_on_both_backends!(
    round_trip_with_caching_and_ranges,
    same_bytes_are_stored_once_and_removed_with_the_last_upload,
    every_refusal_stores_nothing,
    uploads_in_flight_are_bounded,
);
