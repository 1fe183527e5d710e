//! Spaces, the elements placed in them, and users' avatar choices.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, assert_forbidden, assert_invalid, error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Creates an element as `admin` and returns its id.
async fn element(app: &TestApp, admin: &str, width: i32, height: i32, is_static: bool) -> String {
    let (status, body) = app
        .post(
            "/api/v1/admin/element",
            Some(admin),
            json!({
                "imageUrl": format!("https://cdn.example/{width}x{height}.png"),
                "width": width,
                "height": height,
                "static": is_static,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Creates an avatar as `admin` and returns its id.
async fn avatar(app: &TestApp, admin: &str, name: &str) -> String {
    let (status, body) = app
        .post("/api/v1/admin/avatar", Some(admin), json!({"imageUrl": format!("/assets/{name}.png"), "name": name}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["avatarId"].as_str().unwrap().to_owned()
}

/// Creates a blank space as `token` and returns its id.
async fn space(app: &TestApp, token: &str, name: &str, dimensions: &str) -> String {
    let (status, body) = app.post("/api/v1/space", Some(token), json!({"name": name, "dimensions": dimensions})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["spaceId"].as_str().unwrap().to_owned()
}

async fn get_space(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/space/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn place(
    app: &TestApp,
    token: &str,
    space_id: &str,
    element_id: &str,
    x: Value,
    y: Value,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/space/element",
        Some(token),
        json!({"spaceId": space_id, "elementId": element_id, "x": x, "y": y}),
    )
    .await
}

fn placed_ids(space: &Value) -> Vec<&str> {
    space["elements"].as_array().expect("elements").iter().map(|p| p["id"].as_str().unwrap()).collect()
}

// ------------------------------------------------------------- creation

async fn create_space_with_dimensions(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) =
        app.post("/api/v1/space", Some(&token), json!({"name": "Studio", "dimensions": "100x200"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["spaceId"].as_str().expect("spaceId");
    let space = get_space(&app, id).await;
    assert_eq!(
        space,
        json!({"id": id, "name": "Studio", "dimensions": "100x200", "proximityRadius": 3, "elements": []})
    );
}

async fn create_space_from_map_copies_size_and_elements(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let table = element(&app, &admin, 2, 1, true).await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (status, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({
                "thumbnail": "/assets/maps/cafe.png",
                "dimensions": "12x8",
                "name": "Cafe",
                "defaultElements": [
                    {"elementId": table, "x": 3, "y": 2},
                    {"elementId": chair, "x": 2, "y": 2},
                    {"elementId": chair, "x": 5, "y": 2},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map_id = body["id"].as_str().unwrap().to_owned();

    let (_, token) = app.user("alice").await;
    let (status, body) = app.post("/api/v1/space", Some(&token), json!({"name": "My cafe", "mapId": map_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space = get_space(&app, body["spaceId"].as_str().unwrap()).await;
    assert_eq!(space["dimensions"], "12x8");
    assert_eq!(space["name"], "My cafe");
    let mut copied: Vec<(String, i64, i64, bool)> = space["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["element"]["id"].as_str().unwrap().to_owned(),
                p["x"].as_i64().unwrap(),
                p["y"].as_i64().unwrap(),
                p["element"]["static"].as_bool().unwrap(),
            )
        })
        .collect();
    copied.sort();
    let mut expected = vec![(table.clone(), 3, 2, true), (chair.clone(), 2, 2, false), (chair.clone(), 5, 2, false)];
    expected.sort();
    assert_eq!(copied, expected);
}

async fn create_space_from_map_ignores_given_dimensions(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (_, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({"thumbnail": "/t.png", "dimensions": "7x9", "name": "M", "defaultElements": []}),
        )
        .await;
    let map_id = body["id"].as_str().unwrap();
    let (_, token) = app.user("alice").await;
    let (status, body) =
        app.post("/api/v1/space", Some(&token), json!({"name": "S", "mapId": map_id, "dimensions": "100x100"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space = get_space(&app, body["spaceId"].as_str().unwrap()).await;
    assert_eq!(space["dimensions"], "7x9", "the map's size is used");
}

async fn create_space_without_dimensions_or_map_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) = app.post("/api/v1/space", Some(&token), json!({"name": "Nowhere"})).await;
    assert_invalid(status, &body, "dimensions");
}

async fn create_space_with_bad_dimensions_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    for dims in ["0x10", "10x0", "10", "1025x5", "5x1025", "ax5", "-5x5", ""] {
        let (status, body) = app.post("/api/v1/space", Some(&token), json!({"name": "S", "dimensions": dims})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{dims:?}: {body}");
        assert_invalid(status, &body, "dimensions");
    }
    let (_, list) = app.get("/api/v1/space/all", Some(&token)).await;
    assert_eq!(list["spaces"], json!([]), "nothing was created");
}

async fn create_space_with_unknown_map_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) = app.post("/api/v1/space", Some(&token), json!({"name": "S", "mapId": "no-such-map"})).await;
    assert_invalid(status, &body, "mapId");
}

async fn create_space_with_bad_name_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    for name in [json!(""), json!("   "), json!("n".repeat(65))] {
        let (status, body) =
            app.post("/api/v1/space", Some(&token), json!({"name": name, "dimensions": "10x10"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_invalid(status, &body, "name");
    }
    let (status, body) = app.post("/api/v1/space", Some(&token), json!({"dimensions": "10x10"})).await;
    assert_invalid(status, &body, "name");
    // 64 characters is fine.
    space(&app, &token, &"n".repeat(64), "10x10").await;
}

async fn create_space_without_token_is_403(app: TestApp) {
    let (status, body) = app.post("/api/v1/space", None, json!({"name": "S", "dimensions": "10x10"})).await;
    assert_forbidden(status, &body);
}

// ----------------------------------------------------------- listing

async fn space_all_lists_only_the_callers_spaces(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let (_, body) = app
        .post(
            "/api/v1/admin/map",
            Some(&admin),
            json!({"thumbnail": "/assets/maps/park.png", "dimensions": "6x4", "name": "Park"}),
        )
        .await;
    let map_id = body["id"].as_str().unwrap().to_owned();

    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let blank = space(&app, &alice, "Blank", "10x20").await;
    let (_, body) = app.post("/api/v1/space", Some(&alice), json!({"name": "From map", "mapId": map_id})).await;
    let from_map = body["spaceId"].as_str().unwrap().to_owned();
    let bobs = space(&app, &bob, "Bob's", "5x5").await;

    let (status, body) = app.get("/api/v1/space/all", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut spaces = body["spaces"].as_array().expect("spaces").clone();
    spaces.sort_by_key(|s| s["name"].as_str().unwrap().to_owned());
    assert_eq!(spaces.len(), 2, "{body}");
    assert_eq!(
        (&spaces[0]["id"], &spaces[0]["name"], &spaces[0]["dimensions"]),
        (&json!(blank), &json!("Blank"), &json!("10x20"))
    );
    assert!(spaces[0].as_object().unwrap().contains_key("thumbnail"), "{}", spaces[0]);
    assert_eq!(
        spaces[1],
        json!({"id": from_map, "name": "From map", "dimensions": "6x4", "thumbnail": "/assets/maps/park.png"})
    );

    let (_, body) = app.get("/api/v1/space/all", Some(&bob)).await;
    let ids: Vec<_> = body["spaces"].as_array().unwrap().iter().map(|s| s["id"].clone()).collect();
    assert_eq!(ids, vec![json!(bobs)]);
}

async fn space_all_is_empty_for_a_new_user(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) = app.get("/api/v1/space/all", Some(&token)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"spaces": []})));
}

async fn space_all_without_token_is_403(app: TestApp) {
    let (status, body) = app.get("/api/v1/space/all", None).await;
    assert_forbidden(status, &body);
}

// ------------------------------------------------------------ get, delete

async fn get_space_is_public_and_shows_placed_elements(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let table = element(&app, &admin, 2, 1, true).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    let (status, body) = place(&app, &token, &id, &table, json!(3), json!(4)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let placed = body["id"].as_str().unwrap();

    let (status, space) = app.get(&format!("/api/v1/space/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "no token needed: {space}");
    assert_eq!(
        space,
        json!({
            "id": id,
            "name": "Room",
            "dimensions": "10x10",
            "proximityRadius": 3,
            "elements": [{
                "id": placed,
                "element": {
                    "id": table,
                    "imageUrl": "https://cdn.example/2x1.png",
                    "width": 2,
                    "height": 1,
                    "static": true,
                    "privateArea": false,
                },
                "x": 3,
                "y": 4,
            }],
        })
    );
}

async fn get_unknown_space_is_400(app: TestApp) {
    let (status, body) = app.get("/api/v1/space/no-such-space", None).await;
    assert_invalid(status, &body, "spaceId");
}

async fn creator_deletes_space(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Doomed", "10x10").await;
    let (status, _) = place(&app, &token, &id, &chair, json!(0), json!(0)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.delete(&format!("/api/v1/space/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(&format!("/api/v1/space/{id}"), None).await;
    assert_invalid(status, &body, "spaceId");
    let (_, list) = app.get("/api/v1/space/all", Some(&token)).await;
    assert_eq!(list["spaces"], json!([]));
    // A second delete finds nothing.
    let (status, body) = app.delete(&format!("/api/v1/space/{id}"), Some(&token), None).await;
    assert_invalid(status, &body, "spaceId");
}

async fn other_user_cannot_delete_space(app: TestApp) {
    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let id = space(&app, &alice, "Alice's", "10x10").await;
    let (status, body) = app.delete(&format!("/api/v1/space/{id}"), Some(&bob), None).await;
    assert_forbidden(status, &body);
    let (status, body) = app.delete(&format!("/api/v1/space/{id}"), None, None).await;
    assert_forbidden(status, &body);
    get_space(&app, &id).await;
}

async fn delete_unknown_space_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) = app.delete("/api/v1/space/no-such-space", Some(&token), None).await;
    assert_invalid(status, &body, "spaceId");
}

// -------------------------------------------------------- space elements

async fn creator_places_element(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let rug = element(&app, &admin, 3, 2, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    // The far corner: exactly fits.
    let (status, body) = place(&app, &token, &id, &rug, json!(7), json!(8)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let placed = body["id"].as_str().expect("id").to_owned();
    let space = get_space(&app, &id).await;
    assert_eq!(placed_ids(&space), vec![placed.as_str()]);
    assert_eq!((&space["elements"][0]["x"], &space["elements"][0]["y"]), (&json!(7), &json!(8)));
}

async fn place_element_accepts_numeric_strings(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    let (status, body) = place(&app, &token, &id, &chair, json!("2"), json!("5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let space = get_space(&app, &id).await;
    assert_eq!((&space["elements"][0]["x"], &space["elements"][0]["y"]), (&json!(2), &json!(5)));
}

async fn other_user_cannot_place_element(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let id = space(&app, &alice, "Alice's", "10x10").await;
    let (status, body) = place(&app, &bob, &id, &chair, json!(1), json!(1)).await;
    assert_forbidden(status, &body);
    let (status, body) =
        app.post("/api/v1/space/element", None, json!({"spaceId": id, "elementId": chair, "x": 1, "y": 1})).await;
    assert_forbidden(status, &body);
    assert!(placed_ids(&get_space(&app, &id).await).is_empty());
}

async fn place_element_with_unknown_ids_is_400(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    let (status, body) = place(&app, &token, &id, "no-such-element", json!(1), json!(1)).await;
    assert_invalid(status, &body, "elementId");
    let (status, body) = place(&app, &token, "no-such-space", &chair, json!(1), json!(1)).await;
    assert_invalid(status, &body, "spaceId");
    assert!(placed_ids(&get_space(&app, &id).await).is_empty());
}

async fn place_element_outside_the_space_is_400(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let table = element(&app, &admin, 2, 1, true).await;
    let shelf = element(&app, &admin, 1, 3, true).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    for (element, x, y) in [
        (&chair, 10, 0),
        (&chair, 0, 10),
        (&chair, 100, 100),
        (&chair, -1, 0),
        (&chair, 0, -1),
        (&table, 9, 0), // sticks out on the right
        (&shelf, 0, 8), // sticks out at the bottom
    ] {
        let (status, body) = place(&app, &token, &id, element, json!(x), json!(y)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "({x}, {y}): {body}");
        error_code(&body);
    }
    assert!(placed_ids(&get_space(&app, &id).await).is_empty());
}

async fn place_element_with_bad_coordinates_is_400(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    for (x, y) in [(json!("abc"), json!(1)), (json!(1.5), json!(1)), (json!(null), json!(1)), (json!(1), json!([1]))] {
        let (status, body) = place(&app, &token, &id, &chair, x.clone(), y.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "({x}, {y}): {body}");
        error_code(&body);
    }
}

async fn delete_element_by_body_and_by_path(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, token) = app.user("alice").await;
    let id = space(&app, &token, "Room", "10x10").await;
    let (_, a) = place(&app, &token, &id, &chair, json!(1), json!(1)).await;
    let (_, b) = place(&app, &token, &id, &chair, json!(2), json!(2)).await;
    let (_, c) = place(&app, &token, &id, &chair, json!(3), json!(3)).await;
    let (a, b, c) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap(), c["id"].as_str().unwrap());

    let (status, body) = app.delete("/api/v1/space/element", Some(&token), Some(json!({"id": a}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut left = placed_ids(&get_space(&app, &id).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    left.sort();
    let mut expected = vec![b.to_owned(), c.to_owned()];
    expected.sort();
    assert_eq!(left, expected);

    let (status, body) = app.delete(&format!("/api/v1/space/element/{b}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(placed_ids(&get_space(&app, &id).await), vec![c]);
}

async fn other_user_cannot_delete_element(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let chair = element(&app, &admin, 1, 1, false).await;
    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let id = space(&app, &alice, "Alice's", "10x10").await;
    let (_, body) = place(&app, &alice, &id, &chair, json!(1), json!(1)).await;
    let placed = body["id"].as_str().unwrap();

    let (status, body) = app.delete("/api/v1/space/element", Some(&bob), Some(json!({"id": placed}))).await;
    assert_forbidden(status, &body);
    let (status, body) = app.delete(&format!("/api/v1/space/element/{placed}"), Some(&bob), None).await;
    assert_forbidden(status, &body);
    let (status, body) = app.delete(&format!("/api/v1/space/element/{placed}"), None, None).await;
    assert_forbidden(status, &body);
    assert_eq!(placed_ids(&get_space(&app, &id).await), vec![placed]);
}

async fn delete_unknown_element_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) =
        app.delete("/api/v1/space/element", Some(&token), Some(json!({"id": "no-such-element"}))).await;
    assert_invalid(status, &body, "id");
    let (status, body) = app.delete("/api/v1/space/element/no-such-element", Some(&token), None).await;
    assert_invalid(status, &body, "id");
}

// -------------------------------------------------------- user metadata

async fn set_avatar_shows_in_bulk_metadata(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let fox = avatar(&app, &admin, "fox").await;
    let (alice_id, alice) = app.user("alice").await;
    let (status, body) = app.post("/api/v1/user/metadata", Some(&alice), json!({"avatarId": fox})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.get(&format!("/api/v1/user/metadata/bulk?ids=%5B{alice_id}%5D"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"avatars": [{"userId": alice_id, "avatarId": fox, "imageUrl": "/assets/fox.png"}]}));
}

/// `GET /user/me` names the caller and its role, and the avatar once chosen.
async fn me_names_the_caller_and_its_role(app: TestApp) {
    let (admin_id, admin) = app.admin("admin").await;
    let fox = avatar(&app, &admin, "fox").await;
    let (alice_id, alice) = app.user("alice").await;
    let (status, body) = app.get("/api/v1/user/me", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"userId": alice_id, "username": "alice", "role": "user", "avatarId": null, "imageUrl": null})
    );
    app.post("/api/v1/user/metadata", Some(&alice), json!({"avatarId": fox})).await;
    let (_, body) = app.get("/api/v1/user/me", Some(&alice)).await;
    assert_eq!((&body["avatarId"], &body["imageUrl"]), (&json!(fox), &json!("/assets/fox.png")));
    let (_, body) = app.get("/api/v1/user/me", Some(&admin)).await;
    assert_eq!((&body["userId"], &body["role"]), (&json!(admin_id), &json!("admin")));
    let (status, body) = app.get("/api/v1/user/me", None).await;
    assert_forbidden(status, &body);
}

async fn changing_avatar_replaces_the_old_one(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let fox = avatar(&app, &admin, "fox").await;
    let robo = avatar(&app, &admin, "robo").await;
    let (alice_id, alice) = app.user("alice").await;
    for id in [&fox, &robo] {
        let (status, _) = app.post("/api/v1/user/metadata", Some(&alice), json!({"avatarId": id})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, body) = app.get(&format!("/api/v1/user/metadata/bulk?ids={alice_id}"), None).await;
    assert_eq!(body["avatars"][0]["avatarId"], json!(robo));
    assert_eq!(body["avatars"][0]["imageUrl"], "/assets/robo.png");
}

async fn set_unknown_avatar_is_400(app: TestApp) {
    let (_, token) = app.user("alice").await;
    let (status, body) = app.post("/api/v1/user/metadata", Some(&token), json!({"avatarId": "no-such-avatar"})).await;
    assert_invalid(status, &body, "avatarId");
}

async fn set_avatar_without_token_is_403(app: TestApp) {
    let (_, admin) = app.admin("admin").await;
    let fox = avatar(&app, &admin, "fox").await;
    let (status, body) = app.post("/api/v1/user/metadata", None, json!({"avatarId": fox})).await;
    assert_forbidden(status, &body);
}

/// Sets up three users, two with avatars; returns their ids and the
/// avatars' ids.
async fn users_with_avatars(app: &TestApp) -> ([String; 3], [String; 2]) {
    let (_, admin) = app.admin("admin").await;
    let fox = avatar(app, &admin, "fox").await;
    let robo = avatar(app, &admin, "robo").await;
    let (a, a_token) = app.user("alice").await;
    let (b, b_token) = app.user("bob").await;
    let (c, _) = app.user("carol").await;
    for (token, id) in [(&a_token, &fox), (&b_token, &robo)] {
        let (status, body) = app.post("/api/v1/user/metadata", Some(token), json!({"avatarId": id})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    ([a, b, c], [fox, robo])
}

fn sorted_avatars(body: &Value) -> Vec<Value> {
    let mut list = body["avatars"].as_array().unwrap_or_else(|| panic!("avatars is a list: {body}")).clone();
    list.sort_by_key(|a| a["userId"].as_str().unwrap().to_owned());
    list
}

async fn bulk_metadata_accepts_both_id_forms(app: TestApp) {
    let ([a, b, _], [fox, robo]) = users_with_avatars(&app).await;
    let mut expected = vec![
        json!({"userId": a, "avatarId": fox, "imageUrl": "/assets/fox.png"}),
        json!({"userId": b, "avatarId": robo, "imageUrl": "/assets/robo.png"}),
    ];
    expected.sort_by_key(|a| a["userId"].as_str().unwrap().to_owned());

    // Raw brackets, as old clients send them.
    let resp = app.client.get(app.url(&format!("/api/v1/user/metadata/bulk?ids=[{a},{b}]"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(sorted_avatars(&body), expected, "[a,b]");

    // Encoded by the client library.
    for ids in [format!("[{a},{b}]"), format!("{a},{b}"), format!("[\"{a}\",\"{b}\"]")] {
        let resp = app.client.get(app.url("/api/v1/user/metadata/bulk")).query(&[("ids", &ids)]).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{ids}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(sorted_avatars(&body), expected, "{ids}");
    }
}

async fn bulk_metadata_shows_users_without_avatar_as_null(app: TestApp) {
    let ([_, _, c], _) = users_with_avatars(&app).await;
    let (status, body) = app.get(&format!("/api/v1/user/metadata/bulk?ids=%5B{c}%5D"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let avatars = body["avatars"].as_array().unwrap();
    assert_eq!(avatars.len(), 1, "{body}");
    assert_eq!(avatars[0]["userId"], json!(c));
    assert!(avatars[0]["avatarId"].is_null(), "{body}");
    assert!(avatars[0]["imageUrl"].is_null(), "{body}");
}

async fn bulk_metadata_never_leaks_password_hashes(app: TestApp) {
    let (ids, _) = users_with_avatars(&app).await;
    let (status, body) = app.get(&format!("/api/v1/user/metadata/bulk?ids={}", ids.join(",")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["avatars"].as_array().unwrap().len(), 3, "{body}");
    assert!(!body.to_string().contains("$argon2"), "{body}");
}

async fn bulk_metadata_with_bad_ids_is_400(app: TestApp) {
    let (status, body) = app.get("/api/v1/user/metadata/bulk", None).await;
    assert_invalid(status, &body, "ids");
    let resp = app.client.get(app.url("/api/v1/user/metadata/bulk?ids=[a,b")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_invalid(StatusCode::BAD_REQUEST, &body, "ids");
    let (status, body) = app.get("/api/v1/user/metadata/bulk?ids=a%2Cb%5D", None).await;
    assert_invalid(status, &body, "ids");
}

on_both_backends!(
    me_names_the_caller_and_its_role,
    create_space_with_dimensions,
    create_space_from_map_copies_size_and_elements,
    create_space_from_map_ignores_given_dimensions,
    create_space_without_dimensions_or_map_is_400,
    create_space_with_bad_dimensions_is_400,
    create_space_with_unknown_map_is_400,
    create_space_with_bad_name_is_400,
    create_space_without_token_is_403,
    space_all_lists_only_the_callers_spaces,
    space_all_is_empty_for_a_new_user,
    space_all_without_token_is_403,
    get_space_is_public_and_shows_placed_elements,
    get_unknown_space_is_400,
    creator_deletes_space,
    other_user_cannot_delete_space,
    delete_unknown_space_is_400,
    creator_places_element,
    place_element_accepts_numeric_strings,
    other_user_cannot_place_element,
    place_element_with_unknown_ids_is_400,
    place_element_outside_the_space_is_400,
    place_element_with_bad_coordinates_is_400,
    delete_element_by_body_and_by_path,
    other_user_cannot_delete_element,
    delete_unknown_element_is_400,
    set_avatar_shows_in_bulk_metadata,
    changing_avatar_replaces_the_old_one,
    set_unknown_avatar_is_400,
    set_avatar_without_token_is_403,
    bulk_metadata_accepts_both_id_forms,
    bulk_metadata_shows_users_without_avatar_as_null,
    bulk_metadata_never_leaks_password_hashes,
    bulk_metadata_with_bad_ids_is_400,
);
