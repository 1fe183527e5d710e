//! Health, readiness, OpenAPI, unknown routes and body limits.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, error_code};
use reqwest::StatusCode;
use serde_json::json;

async fn health_and_ready(app: TestApp) {
    let (status, body) = app.get("/health", None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = app.get("/ready", None).await;
    assert_eq!((status, body["database"].as_str()), (StatusCode::OK, Some("ok")));
}

async fn unknown_route_is_json_404(app: TestApp) {
    let (status, body) = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
}

async fn openapi_documents_every_route(app: TestApp) {
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/signup",
        "/api/v1/signin",
        "/api/v1/token/refresh",
        "/api/v1/user/metadata",
        "/api/v1/user/metadata/bulk",
        "/api/v1/avatars",
        "/api/v1/elements",
        "/api/v1/maps",
        "/api/v1/space",
        "/api/v1/space/all",
        "/api/v1/space/{spaceId}",
        "/api/v1/space/element",
        "/api/v1/space/element/{id}",
        "/api/v1/admin/element",
        "/api/v1/admin/element/{elementId}",
        "/api/v1/admin/avatar",
        "/api/v1/admin/map",
        "/api/v1/space/{spaceId}/route",
        "/api/v1/space/{spaceId}/presence",
        "/health",
        "/ready",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    // Two types of one name would share one component, and one route would
    // be documented with the other's body.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SpaceSummary"]["properties"]["id"].is_object(), "the /space/all item");
    assert!(schemas["SpaceActivity"]["properties"]["spaceId"].is_object(), "the analytics overview item");
    let ui = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"), "the UI page is served");
}

async fn oversized_body_is_413(app: TestApp) {
    let big = "x".repeat(app.config.max_body_bytes + 1);
    let (status, body) = app.post("/api/v1/signup", None, json!({"username": big, "password": "password123"})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "payload-too-large");
}

async fn malformed_json_is_400(app: TestApp) {
    let resp = app
        .client
        .post(app.url("/api/v1/signin"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "malformed-json");
}

async fn non_object_body_is_400(app: TestApp) {
    // serde would take the fields as an array in order; the API takes objects.
    let (status, body) = app.post("/api/v1/signup", None, json!(["alice", "password123"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "malformed-json");
    let (status, _) = app.get("/api/v1/user/metadata/bulk?ids=[alice]", None).await;
    assert_eq!(status, StatusCode::OK, "no user was created");
}

/// Without cluster mode this node serves every space: `route` names it,
/// `presence` asks the live space, `/cluster/node` says it is alone; bad
/// inputs get the usual errors.
async fn route_and_presence_on_a_single_node(app: TestApp) {
    let (_, token) = app.user("ada").await;
    let space = common::ws::create_space(&app, &token, "10x10").await;
    let (status, route) = app.get(&format!("/api/v1/space/{space}/route"), None).await;
    assert_eq!(status, StatusCode::OK, "{route}");
    assert_eq!(route["nodeId"], "local");
    let port = app.ws.rsplit(':').next().unwrap();
    assert_eq!(route["url"], format!("ws://127.0.0.1:{port}"));
    // The URL never comes from the request's Host, which the caller picks.
    let spoofed = app
        .client
        .get(app.url(&format!("/api/v1/space/{space}/route")))
        .header("Host", "evil.example:9")
        .send()
        .await
        .unwrap();
    let spoofed: serde_json::Value = spoofed.json().await.unwrap();
    assert_eq!(spoofed["url"], format!("ws://127.0.0.1:{port}"), "{spoofed}");
    let (status, body) = app.get("/api/v1/space/no-such-space/route", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);

    let (status, p) = app.get(&format!("/api/v1/space/{space}/presence"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["users"], json!([]), "nobody is in a space that is not live");
    let mut ws = common::ws::WsClient::connect(&app.ws, metaverse_protocol::Codec::Json).await;
    let joined = ws.join_ok(&space, &token, None).await;
    let (_, p) = app.get(&format!("/api/v1/space/{space}/presence"), Some(&token)).await;
    assert_eq!(p["users"][0]["userId"], joined.user_id.as_str());
    assert_eq!(
        (p["users"][0]["x"].as_i64(), p["users"][0]["y"].as_i64()),
        (Some(joined.spawn.x.into()), Some(joined.spawn.y.into()))
    );
    let (status, body) = app.get(&format!("/api/v1/space/{space}/presence"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "presence needs a token: {body}");
    let (status, body) = app.get("/api/v1/space/no-such-space/presence", Some(&token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, node) = app.admin_get("/cluster/node").await;
    assert_eq!((status, node["cluster"].as_bool()), (StatusCode::OK, Some(false)));
}

/// Live positions are for the space's members: a signed-in stranger gets
/// 403 until they have joined the space.
async fn presence_is_for_members_only(app: TestApp) {
    let (_, ada) = app.user("ada").await;
    let (_, eve) = app.user("eve").await;
    let space = common::ws::create_space(&app, &ada, "10x10").await;
    let mut ws = common::ws::WsClient::connect(&app.ws, metaverse_protocol::Codec::Json).await;
    ws.join_ok(&space, &ada, None).await;
    let path = format!("/api/v1/space/{space}/presence");
    let (status, body) = app.get(&path, Some(&eve)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a stranger reads positions: {body}");
    assert!(body.get("users").is_none(), "{body}");
    let mut eve_ws = common::ws::WsClient::connect(&app.ws, metaverse_protocol::Codec::Json).await;
    eve_ws.join_ok(&space, &eve, None).await;
    let (status, body) = app.get(&path, Some(&eve)).await;
    assert_eq!(status, StatusCode::OK, "a member reads presence: {body}");
    assert_eq!(body["users"].as_array().map(Vec::len), Some(2), "{body}");
}

on_both_backends!(
    presence_is_for_members_only,
    route_and_presence_on_a_single_node,
    non_object_body_is_400,
    health_and_ready,
    unknown_route_is_json_404,
    openapi_documents_every_route,
    oversized_body_is_413,
    malformed_json_is_400,
);

/// Operator endpoints live on their own listener: the public port answers
/// 404 for them, and with `--admin-token` the operator listener wants it.
#[tokio::test]
async fn operator_endpoints_are_off_the_public_port_and_behind_the_token() {
    let app = TestApp::start_with(common::Backend::Sqlite, |cfg| cfg.admin_token = Some("s3cret-operator".into()))
        .await
        .expect("sqlite always runs");
    assert_ne!(app.admin, app.base);
    for path in ["/metrics", "/cluster/node"] {
        let (status, _) = app.get(path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} on the public port");
        let (status, body) = app.admin_get(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without the token: {body}");
        let wrong = app.client.get(format!("{}{path}", app.admin)).bearer_auth("s3cret-operatoR").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let right = app.client.get(format!("{}{path}", app.admin)).bearer_auth("s3cret-operator").send().await.unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{path} with the token");
    }
}
