//! Uploads where they are used, on SQLite with a local directory and on
//! PostgreSQL with S3: attachments through WebSocket chat, history and
//! Kafka, a user's own avatar, catalogue images served after a restart,
//! and the sweep of objects no row names.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, assert_forbidden,
    chat::{Chat, history, join_chat, next_chat, space_and_room},
    error_code,
    media::{fetch, media_app, picture, until, upload, uploaded},
    ws::WsClient,
};
use image::ImageFormat;
use metaverse_protocol::{ClientMsg, Codec};
use reqwest::StatusCode;
use serde_json::json;

async fn a_picture_travels_through_chat_and_history(backend: Backend) {
    let Some((app, _)) = media_app(backend, |_| {}).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (space, room) = space_and_room(&app, &ada, "10x10").await;
    let mut a = WsClient::connect(&app.ws, Codec::MsgPack).await;
    a.join_ok(&space, &ada, None).await;
    let mut b = WsClient::connect(&app.ws, Codec::Json).await;
    b.join_ok(&space, &bob, None).await;
    join_chat(&mut a, &room).await;
    join_chat(&mut b, &room).await;

    let m = uploaded(&app, &ada, "cat.jpg", picture(120, 80, ImageFormat::Jpeg)).await;
    let media_id = m["id"].as_str().unwrap().to_owned();
    a.send(&ClientMsg::ChatMessage {
        chatroom_id: room.clone(),
        content: String::new(),
        kind: Some("image".into()),
        client_id: Some("c1".into()),
        media_id: Some(media_id.clone()),
    })
    .await;
    let seen = Chat::from_msg(&next_chat(&mut b).await);
    assert_eq!((seen.kind.as_str(), seen.user_id.as_str()), ("image", ada_id.as_str()));
    let att = seen.attachment.clone().expect("an attachment");
    assert_eq!(
        (att.media_id.as_str(), att.content_type.as_str(), att.width),
        (media_id.as_str(), "image/jpeg", Some(120))
    );
    assert_eq!(fetch(&app, att.thumbnail_url.as_deref().unwrap(), &[]).await.status(), StatusCode::OK);

    let stored = history(&app, &bob, &room).await;
    let last = Chat::from_json(stored.iter().find(|h| h["type"] == "image").expect("in history"));
    assert_eq!(last.attachment, Some(att));

    // Bob cannot attach Ada's upload; text cannot carry one.
    let (status, body) = app
        .post(&format!("/api/v1/chatroom/{room}/send"), Some(&bob), json!({"type": "image", "mediaId": media_id}))
        .await;
    assert_forbidden(status, &body);
    let (status, body) = app
        .post(&format!("/api/v1/chatroom/{room}/send"), Some(&ada), json!({"content": "hi", "mediaId": media_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Over HTTP, a document as a file, with a caption.
    let doc = uploaded(&app, &ada, "notes.txt", b"minutes of the meeting\n".to_vec()).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/chatroom/{room}/send"),
            Some(&ada),
            json!({"type": "file", "mediaId": doc["id"], "content": "the minutes"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"]["attachment"]["contentType"], "text/plain; charset=utf-8");
    assert_eq!(Chat::from_msg(&next_chat(&mut a).await).kind, "image", "her own picture first");
    let seen = Chat::from_msg(&next_chat(&mut a).await);
    assert_eq!(seen.attachment.unwrap().name, "notes.txt");
}

/// With Kafka as chat's log: a captionless picture is acknowledged once
/// the log has it, reaches history through the consumer with its
/// attachment, and the analytics fold counts it.
async fn a_picture_goes_through_kafka(backend: Backend) {
    let Some(brokers) = common::kafka_brokers() else { return };
    let Some((app, _)) = media_app(backend, |cfg| {
        common::use_kafka(cfg, &brokers);
    })
    .await
    else {
        return;
    };
    let (_, ada) = app.user("ada").await;
    let (space, room) = space_and_room(&app, &ada, "10x10").await;
    let m = uploaded(&app, &ada, "cat.png", picture(30, 20, ImageFormat::Png)).await;
    let (status, body) = app
        .post(&format!("/api/v1/chatroom/{room}/send"), Some(&ada), json!({"type": "image", "mediaId": m["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["message"]["id"].as_str().unwrap().to_owned();
    let stored = until("the consumer to write the picture to history", || {
        let (app, ada, room, id) = (&app, &ada, &room, &id);
        async move { history(app, ada, room).await.into_iter().find(|h| h["id"] == json!(id)) }
    })
    .await;
    assert_eq!((&stored["content"], &stored["attachment"]), (&json!(""), &body["message"]["attachment"]));
    let path = format!("/api/v1/analytics/spaces/{space}");
    until("analytics to count the attachment", || {
        let (app, ada, path) = (&app, &ada, &path);
        async move {
            let (_, a) = app.get(path, Some(ada)).await;
            (a["totals"]["attachments"] == 1).then_some(())
        }
    })
    .await;
}

/// A crash between removing an upload's row and its object leaves the
/// object behind; the periodic sweep removes it (old enough, named by no
/// row) and keeps every object a row names.
async fn orphaned_objects_are_swept(backend: Backend) {
    let every = std::time::Duration::from_secs(1);
    let Some((app, store)) = media_app(backend, |cfg| cfg.media.media_sweep_every = every).await else { return };
    let (_, ada) = app.user("ada").await;
    let kept = uploaded(&app, &ada, "kept.png", picture(6, 6, ImageFormat::Png)).await;
    let lost = uploaded(&app, &ada, "lost.png", picture(7, 7, ImageFormat::Png)).await;
    let lost_sha = lost["sha256"].as_str().unwrap().to_owned();
    // The crash: the row goes, behind the server's back.
    let db = metaverse_server::db::connect(&app.config.db).await.unwrap();
    assert!(metaverse_schema::store::media::delete(&db, lost["id"].as_str().unwrap()).await.unwrap());
    assert!(store.has(&lost_sha).await, "the orphan is there before the sweep");
    until("the sweep to remove the orphan", || {
        let (store, sha) = (&store, &lost_sha);
        async move { (!store.has(sha).await).then_some(()) }
    })
    .await;
    assert!(store.has(kept["sha256"].as_str().unwrap()).await, "a named object stays");
    assert_eq!(fetch(&app, kept["url"].as_str().unwrap(), &[]).await.status(), StatusCode::OK);
}

/// A user's own picture as avatar: set by `mediaId`, shown by the bulk
/// metadata, kept from deletion while shown, and only one's own image.
async fn a_users_own_picture_as_avatar(backend: Backend) {
    let Some((app, _)) = media_app(backend, |_| {}).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (status, m) = upload(&app, Some(&ada), "me.png", picture(64, 64, ImageFormat::Png), Some("avatar")).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let id = m["id"].as_str().unwrap();
    let (status, body) = app.post("/api/v1/user/metadata", Some(&bob), json!({"mediaId": id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not Bob's upload: {body}");
    let (status, body) = app.post("/api/v1/user/metadata", Some(&ada), json!({"mediaId": id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, bulk) = app.get(&format!("/api/v1/user/metadata/bulk?ids={ada_id}"), None).await;
    assert_eq!(bulk["avatars"][0]["imageUrl"], m["url"], "{bulk}");
    let (_, me) = app.get("/api/v1/user/me", Some(&ada)).await;
    assert_eq!(me["imageUrl"], m["url"]);
    let (status, body) = app.delete(&format!("/api/v1/media/{id}"), Some(&ada), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "in-use"), "{body}");
    let (status, body) = app.post("/api/v1/user/metadata", Some(&ada), json!({"avatarId": id, "mediaId": id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "one of the two: {body}");
}

async fn catalogue_images_from_uploads_survive_a_restart(backend: Backend) {
    let Some((mut app, _)) = media_app(backend, |_| {}).await else { return };
    let (_, admin) = app.admin("root").await;
    let m = uploaded(&app, &admin, "chair.png", picture(32, 32, ImageFormat::Png)).await;
    let id = m["id"].as_str().unwrap();
    let (status, body) = app
        .post("/api/v1/admin/element", Some(&admin), json!({"mediaId": id, "width": 1, "height": 1, "static": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, elements) = app.get("/api/v1/elements", None).await;
    let shown = elements["elements"].as_array().unwrap().iter().any(|e| e["imageUrl"] == m["url"]);
    assert!(shown, "the element shows the upload: {elements}");
    let (status, body) = app.delete(&format!("/api/v1/media/{id}"), Some(&admin), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "in-use"), "{body}");

    app.restart();
    let r = fetch(&app, m["url"].as_str().unwrap(), &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "served after a restart");
    assert_eq!(r.bytes().await.unwrap().len() as u64, m["size"].as_u64().unwrap());
}

configured_on_both_backends!(
    a_picture_travels_through_chat_and_history,
    a_picture_goes_through_kafka,
    a_users_own_picture_as_avatar,
    orphaned_objects_are_swept,
    catalogue_images_from_uploads_survive_a_restart,
);
