//! The admin catalogue (elements, avatars, maps), its public listings and
//! the demo content.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestApp, assert_forbidden, assert_invalid, error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn element_body(w: Value, h: Value) -> Value {
    json!({"imageUrl": "https://cdn.example/e.png", "width": w, "height": h, "static": false})
}

async fn create_element(app: &TestApp, token: &str, body: Value) -> String {
    let (status, resp) = app.post("/api/v1/admin/element", Some(token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} -> {resp}");
    resp["id"].as_str().expect("id").to_owned()
}

async fn list(app: &TestApp, what: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/{what}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body[what].as_array().unwrap_or_else(|| panic!("{what} is a list: {body}")).clone()
}

fn find<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("{id} is not listed in {items:?}"))
}

// -------------------------------------------------------------- listings

async fn fresh_catalogue_is_public_and_empty(app: TestApp) {
    for what in ["avatars", "elements", "maps"] {
        assert_eq!(list(&app, what).await, Vec::<Value>::new(), "{what}");
    }
}

// -------------------------------------------------------------- elements

async fn admin_creates_element_listed_in_elements(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let id = create_element(
        &app,
        &admin,
        json!({"imageUrl": "https://cdn.example/table.png", "width": 2, "height": 1, "static": true}),
    )
    .await;
    let elements = list(&app, "elements").await;
    assert_eq!(elements.len(), 1);
    assert_eq!(
        find(&elements, &id),
        &json!({"id": id, "imageUrl": "https://cdn.example/table.png", "width": 2, "height": 1, "static": true, "privateArea": false})
    );
}

async fn element_accepts_numeric_strings_lowercase_alias_and_string_static(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let id = create_element(
        &app,
        &admin,
        json!({"imageurl": "/assets/rug.png", "width": "2", "height": "3", "static": "true"}),
    )
    .await;
    let elements = list(&app, "elements").await;
    assert_eq!(
        find(&elements, &id),
        &json!({"id": id, "imageUrl": "/assets/rug.png", "width": 2, "height": 3, "static": true, "privateArea": false})
    );
    let id = create_element(
        &app,
        &admin,
        json!({"imageUrl": "/assets/chair.png", "width": 1, "height": "1", "static": "false"}),
    )
    .await;
    assert_eq!(find(&list(&app, "elements").await, &id)["static"], json!(false));
}

async fn element_accepts_maximum_size(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let id = create_element(&app, &admin, element_body(json!(1024), json!(1024))).await;
    let elements = list(&app, "elements").await;
    assert_eq!(find(&elements, &id)["width"], 1024);
}

async fn element_rejects_invalid_fields(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let ok = element_body(json!(1), json!(1));
    let with = |field: &str, value: Value| {
        let mut b = ok.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases = [
        (with("width", json!(0)), "width"),
        (with("width", json!(1025)), "width"),
        (with("width", json!(-1)), "width"),
        (with("height", json!(0)), "height"),
        (with("height", json!(1025)), "height"),
        (with("imageUrl", json!("javascript:alert(1)")), "imageUrl"),
        (with("imageUrl", json!("data:image/png;base64,AAAA")), "imageUrl"),
        (with("imageUrl", json!("")), "imageUrl"),
        (without("imageUrl"), "imageUrl"),
        (without("width"), "width"),
        (without("height"), "height"),
        (without("static"), "static"),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post("/api/v1/admin/element", Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        assert_eq!(error_code(&resp), "validation", "{body} -> {resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: the message should name {field:?}: {message:?}");
    }
    assert!(list(&app, "elements").await.is_empty(), "nothing was created");
}

async fn element_rejects_wrong_json_types(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    for body in [
        element_body(json!("abc"), json!(1)),
        element_body(json!(1.5), json!(1)),
        element_body(json!([1]), json!(1)),
        element_body(json!(1), json!(null)),
        json!({"imageUrl": "/e.png", "width": 1, "height": 1, "static": "yes"}),
        json!({"imageUrl": 5, "width": 1, "height": 1, "static": true}),
    ] {
        let (status, resp) = app.post("/api/v1/admin/element", Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        error_code(&resp);
    }
    assert!(list(&app, "elements").await.is_empty(), "nothing was created");
}

async fn element_non_numeric_width_names_the_field(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (status, body) = app.post("/api/v1/admin/element", Some(&admin), element_body(json!("abc"), json!(1))).await;
    assert_invalid(status, &body, "width");
}

async fn update_element_changes_image_url(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let id = create_element(&app, &admin, element_body(json!(2), json!(2))).await;
    let (status, body) = app
        .put(&format!("/api/v1/admin/element/{id}"), Some(&admin), json!({"imageUrl": "https://cdn.example/new.png"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        find(&list(&app, "elements").await, &id),
        &json!({"id": id, "imageUrl": "https://cdn.example/new.png", "width": 2, "height": 2, "static": false, "privateArea": false}),
        "only the image changed"
    );
    // The lower-case spelling works too.
    let (status, body) =
        app.put(&format!("/api/v1/admin/element/{id}"), Some(&admin), json!({"imageurl": "/assets/newer.png"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(find(&list(&app, "elements").await, &id)["imageUrl"], "/assets/newer.png");
}

async fn update_element_unknown_id_is_400(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (status, body) = app
        .put("/api/v1/admin/element/no-such-element", Some(&admin), json!({"imageUrl": "https://cdn.example/new.png"}))
        .await;
    assert_invalid(status, &body, "elementId");
}

async fn update_element_rejects_bad_image_url(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let id = create_element(&app, &admin, element_body(json!(1), json!(1))).await;
    for bad in [json!({"imageUrl": "javascript:alert(1)"}), json!({})] {
        let (status, body) = app.put(&format!("/api/v1/admin/element/{id}"), Some(&admin), bad).await;
        assert_invalid(status, &body, "imageUrl");
    }
    assert_eq!(find(&list(&app, "elements").await, &id)["imageUrl"], "https://cdn.example/e.png", "unchanged");
}

// --------------------------------------------------------------- avatars

async fn admin_creates_avatar_listed_in_avatars(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (status, body) = app
        .post("/api/v1/admin/avatar", Some(&admin), json!({"imageUrl": "https://cdn.example/fox.png", "name": "Fox"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["avatarId"].as_str().expect("avatarId").to_owned();
    let avatars = list(&app, "avatars").await;
    assert_eq!(avatars.len(), 1);
    assert_eq!(find(&avatars, &id), &json!({"id": id, "imageUrl": "https://cdn.example/fox.png", "name": "Fox"}));
}

async fn avatar_accepts_lowercase_imageurl(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (status, body) =
        app.post("/api/v1/admin/avatar", Some(&admin), json!({"imageurl": "/assets/robo.png", "name": "Robo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["avatarId"].as_str().unwrap();
    assert_eq!(find(&list(&app, "avatars").await, id)["imageUrl"], "/assets/robo.png");
}

async fn avatar_rejects_invalid_fields(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let cases = [
        (json!({"imageUrl": "javascript:alert(1)", "name": "X"}), "imageUrl"),
        (json!({"name": "X"}), "imageUrl"),
        (json!({"imageUrl": "/a.png"}), "name"),
        (json!({"imageUrl": "/a.png", "name": ""}), "name"),
        (json!({"imageUrl": "/a.png", "name": "   "}), "name"),
        (json!({"imageUrl": "/a.png", "name": "n".repeat(65)}), "name"),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post("/api/v1/admin/avatar", Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {resp}");
    }
    assert!(list(&app, "avatars").await.is_empty(), "nothing was created");
}

// ------------------------------------------------------------------ maps

async fn admin_creates_map_listed_in_maps(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let table = create_element(&app, &admin, element_body(json!(2), json!(1))).await;
    let (status, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({
                "thumbnail": "https://cdn.example/office.png",
                "dimensions": "20x10",
                "name": "Office",
                "defaultElements": [
                    {"elementId": table, "x": 0, "y": 0},
                    {"elementId": table, "x": 18, "y": 9},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let maps = list(&app, "maps").await;
    assert_eq!(maps.len(), 1);
    assert_eq!(
        find(&maps, &id),
        &json!({"id": id, "name": "Office", "dimensions": "20x10", "thumbnail": "https://cdn.example/office.png"})
    );
}

async fn map_accepts_lowercase_defaultelements_and_numeric_strings(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = create_element(&app, &admin, element_body(json!(1), json!(1))).await;
    let (status, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({
                "thumbnail": "/assets/maps/small.png",
                "dimensions": "5x5",
                "name": "Small",
                "defaultelements": [{"elementId": chair, "x": "4", "y": "4"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map_id = body["id"].as_str().unwrap().to_owned();

    // The element really is part of the map: a space made from it has it.
    let (_, user) = app.user("user").await;
    let (status, body) = app.post("/api/v1/space", Some(&user), json!({"name": "Mine", "mapId": map_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space_id = body["spaceId"].as_str().unwrap();
    let (_, space) = app.get(&format!("/api/v1/space/{space_id}"), None).await;
    let placed = space["elements"].as_array().expect("elements");
    assert_eq!(placed.len(), 1, "{space}");
    assert_eq!((&placed[0]["element"]["id"], &placed[0]["x"], &placed[0]["y"]), (&json!(chair), &json!(4), &json!(4)));
}

async fn map_without_default_elements_is_ok(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (status, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({"thumbnail": "/t.png", "dimensions": "1024x1", "name": "Corridor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let maps = list(&app, "maps").await;
    assert_eq!(maps[0]["dimensions"], "1024x1");
}

async fn map_rejects_bad_dimensions(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    for dims in ["0x10", "10x0", "10", "1025x5", "5x1025", "axb", "-1x5", ""] {
        let (status, body) = app
            .post(
                "/api/v1/admin/map",
                Some(&admin),
                json!({"thumbnail": "/t.png", "dimensions": dims, "name": "Bad", "defaultElements": []}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{dims:?}: {body}");
        assert_invalid(status, &body, "dimensions");
    }
    assert!(list(&app, "maps").await.is_empty(), "nothing was created");
}

async fn map_rejects_missing_and_invalid_fields(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let cases = [
        (json!({"dimensions": "5x5", "name": "M"}), "thumbnail"),
        (json!({"thumbnail": "/t.png", "name": "M"}), "dimensions"),
        (json!({"thumbnail": "/t.png", "dimensions": "5x5"}), "name"),
        (json!({"thumbnail": "javascript:alert(1)", "dimensions": "5x5", "name": "M"}), "thumbnail"),
        (json!({"thumbnail": "/t.png", "dimensions": "5x5", "name": ""}), "name"),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post("/api/v1/admin/map", Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {resp}");
    }
    assert!(list(&app, "maps").await.is_empty(), "nothing was created");
}

async fn map_rejects_unknown_default_element(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let known = create_element(&app, &admin, element_body(json!(1), json!(1))).await;
    let (status, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({
                "thumbnail": "/t.png",
                "dimensions": "10x10",
                "name": "M",
                "defaultElements": [
                    {"elementId": known, "x": 0, "y": 0},
                    {"elementId": "no-such-element", "x": 1, "y": 1},
                ],
            }),
        )
        .await;
    assert_invalid(status, &body, "elementId");
    assert!(list(&app, "maps").await.is_empty(), "nothing was created");
}

async fn map_rejects_default_element_outside_the_map(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let wide = create_element(&app, &admin, element_body(json!(2), json!(1))).await;
    let tall = create_element(&app, &admin, element_body(json!(1), json!(3))).await;
    for (element, x, y) in [
        (&wide, 9, 0), // sticks out on the right
        (&tall, 0, 8), // sticks out at the bottom
        (&wide, 10, 0),
        (&wide, 0, 10),
        (&wide, -1, 0),
        (&wide, 0, -1),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/admin/map",
                Some(&admin),
                json!({
                    "thumbnail": "/t.png",
                    "dimensions": "10x10",
                    "name": "M",
                    "defaultElements": [{"elementId": element, "x": x, "y": y}],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "({x}, {y}): {body}");
        assert_invalid(status, &body, "defaultElements");
    }
    assert!(list(&app, "maps").await.is_empty(), "nothing was created");
}

// ------------------------------------------------------------ admin only

async fn admin_routes_refuse_users_and_anonymous_callers(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (_, user) = app.user("user").await;
    let element = create_element(&app, &admin, element_body(json!(1), json!(1))).await;
    let routes = [
        (reqwest::Method::POST, "/api/v1/admin/element".to_owned(), element_body(json!(1), json!(1))),
        (reqwest::Method::PUT, format!("/api/v1/admin/element/{element}"), json!({"imageUrl": "/changed.png"})),
        (reqwest::Method::POST, "/api/v1/admin/avatar".to_owned(), json!({"imageUrl": "/a.png", "name": "A"})),
        (
            reqwest::Method::POST,
            "/api/v1/admin/map".to_owned(),
            json!({"thumbnail": "/t.png", "dimensions": "5x5", "name": "M", "defaultElements": []}),
        ),
    ];
    for (method, path, body) in routes {
        for token in [Some(user.as_str()), None, Some("garbage")] {
            let (status, resp) = app.call(method.clone(), &path, token, Some(body.clone())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with {token:?}: {resp}");
            assert_forbidden(status, &resp);
        }
    }
    // Nothing changed.
    assert_eq!(list(&app, "elements").await.len(), 1);
    assert_eq!(find(&list(&app, "elements").await, &element)["imageUrl"], "https://cdn.example/e.png");
    assert!(list(&app, "avatars").await.is_empty());
    assert!(list(&app, "maps").await.is_empty());
}

// ---------------------------------------------------------- demo content

async fn demo_content_has_a_lobby_with_elements(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.no_demo = false).await else {
        return;
    };
    assert!(!list(&app, "avatars").await.is_empty(), "demo avatars");
    let elements = list(&app, "elements").await;
    assert!(!elements.is_empty(), "demo elements");
    let maps = list(&app, "maps").await;
    let lobby = maps.iter().find(|m| m["name"] == "Lobby").unwrap_or_else(|| panic!("no Lobby in {maps:?}"));
    assert_eq!(lobby["dimensions"], "40x30");
    assert!(lobby["thumbnail"].is_string());

    let (_, user) = app.user("visitor").await;
    let (status, body) =
        app.post("/api/v1/space", Some(&user), json!({"name": "My lobby", "mapId": lobby["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space_id = body["spaceId"].as_str().unwrap();
    let (status, space) = app.get(&format!("/api/v1/space/{space_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{space}");
    assert_eq!(space["dimensions"], "40x30");
    let placed = space["elements"].as_array().expect("elements");
    assert!(!placed.is_empty(), "the Lobby's elements were copied");
    assert!(placed.iter().any(|p| p["element"]["static"] == true), "some copied elements are static");
    assert!(placed.iter().any(|p| p["element"]["static"] == false), "some copied elements are walkable");
    for p in placed {
        let e = &p["element"];
        let (x, y) = (p["x"].as_i64().unwrap(), p["y"].as_i64().unwrap());
        let (w, h) = (e["width"].as_i64().unwrap(), e["height"].as_i64().unwrap());
        assert!(x >= 0 && y >= 0 && x + w <= 40 && y + h <= 30, "{p} fits in the Lobby");
        assert!(elements.iter().any(|k| k == e), "{e} is a listed element, as listed");
    }
}

async fn demo_content_is_not_seeded_twice(backend: Backend) {
    let Some(mut app) = TestApp::start_with(backend, |c| c.no_demo = false).await else {
        return;
    };
    let before =
        (list(&app, "avatars").await.len(), list(&app, "elements").await.len(), list(&app, "maps").await.len());
    app.restart();
    let after = (list(&app, "avatars").await.len(), list(&app, "elements").await.len(), list(&app, "maps").await.len());
    assert_eq!(before, after);
}

configured_on_both_backends!(demo_content_has_a_lobby_with_elements, demo_content_is_not_seeded_twice,);

on_both_backends!(
    fresh_catalogue_is_public_and_empty,
    admin_creates_element_listed_in_elements,
    element_accepts_numeric_strings_lowercase_alias_and_string_static,
    element_accepts_maximum_size,
    element_rejects_invalid_fields,
    element_rejects_wrong_json_types,
    element_non_numeric_width_names_the_field,
    update_element_changes_image_url,
    update_element_unknown_id_is_400,
    update_element_rejects_bad_image_url,
    admin_creates_avatar_listed_in_avatars,
    avatar_accepts_lowercase_imageurl,
    avatar_rejects_invalid_fields,
    admin_creates_map_listed_in_maps,
    map_accepts_lowercase_defaultelements_and_numeric_strings,
    map_without_default_elements_is_ok,
    map_rejects_bad_dimensions,
    map_rejects_missing_and_invalid_fields,
    map_rejects_unknown_default_element,
    map_rejects_default_element_outside_the_map,
    admin_routes_refuse_users_and_anonymous_callers,
);
