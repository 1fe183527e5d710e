//! Chatrooms over HTTP: every chatroom route of docs/PROTOCOL.md with its success
//! and each listed error, the content rules of a send, history paging, the
//! per-user, per-room rate limit, and history across a restart. Each case
//! runs on SQLite and, when DATABASE_URL names one, on PostgreSQL.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Backend, TestApp, assert_forbidden, assert_invalid,
    chat::{
        Chat, MESSAGE_KEYS, ROOM_KEYS, assert_sent_at, chat_message, create_room, enter_space, history, history_paged,
        join_chat, join_room, keys, next_chat, not_system, page, rooms, send_http, space_and_room,
    },
    error_code,
    ws::{WsClient, create_space},
};
use metaverse_protocol::Codec;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A small limit, so the tests show the setting is honoured.
const MAX_LEN: usize = 100;

/// A server whose chat limit is `MAX_LEN` and whose rate limit stays out
/// of the way (it has its own test).
async fn start(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |cfg| {
        cfg.chat_max_length = u32::try_from(MAX_LEN).unwrap();
        cfg.chat_rate = 10_000;
        cfg.chat_burst = 10_000;
    })
    .await
}

const NO_SUCH_ID: &str = "0190b3c4-0000-7000-8000-000000000000";

async fn list_rooms_of_a_space(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let space_id = create_space(&app, &ada, "10x10").await;
    let path = format!("/api/v1/chatroom/space/{space_id}");

    let (status, body) = app.get(&path, Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["chatrooms"]);
    let list = body["chatrooms"].as_array().unwrap();
    assert_eq!(list.len(), 1, "a new space has its general room only: {body}");
    let general = &list[0];
    assert_eq!(keys(general), ROOM_KEYS, "{general}");
    assert!(general["id"].as_str().is_some_and(|s| !s.is_empty()), "{general}");
    assert_eq!(general["name"], "general");
    assert_eq!(general["spaceId"], json!(space_id));
    assert_eq!(general["creatorId"], json!(ada_id), "the space's creator made it");
    assert_eq!(general["hasPasscode"], false);
    assert_eq!(general["memberCount"], 1, "the creator is a member");
    assert!(general["description"].is_null(), "{general}");
    let general_id = general["id"].as_str().unwrap().to_owned();

    // A passcode room is listed with hasPasscode; the passcode is not shown.
    let vault = create_room(&app, &ada, &space_id, "vault", Some("open sesame")).await;
    enter_space(&app, &space_id, &bob).await;
    join_room(&app, &bob, &general_id, None).await;
    let list = rooms(&app, &ada, &space_id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let listed_general = list.iter().find(|r| r["id"] == json!(general_id)).expect("general listed");
    assert_eq!(listed_general["memberCount"], 2, "bob joined: {listed_general}");
    let listed_vault = list.iter().find(|r| r["id"] == vault["id"]).expect("vault listed");
    assert_eq!(keys(listed_vault), ROOM_KEYS, "{listed_vault}");
    assert_eq!(listed_vault["hasPasscode"], true);
    assert_eq!(listed_vault["memberCount"], 1);
    assert!(!listed_vault.to_string().contains("open sesame"), "the passcode is never shown");

    // Another space's rooms are not mixed in.
    let other = create_space(&app, &ada, "5x5").await;
    assert_eq!(rooms(&app, &ada, &other).await.len(), 1);
    assert_eq!(rooms(&app, &ada, &space_id).await.len(), 2);

    // Errors.
    let (status, body) = app.get(&format!("/api/v1/chatroom/space/{NO_SUCH_ID}"), Some(&ada)).await;
    assert_invalid(status, &body, "spaceId");
    let (status, body) = app.get("/api/v1/chatroom/space/nope", Some(&ada)).await;
    assert_invalid(status, &body, "spaceId");
    let (status, body) = app.get(&path, None).await;
    assert_forbidden(status, &body);
    let (status, body) = app.get(&path, Some("not-a-token")).await;
    assert_forbidden(status, &body);
}

async fn create_a_room(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let space_id = create_space(&app, &ada, "10x10").await;

    let (status, body) = app
        .post(
            "/api/v1/chatroom/create",
            Some(&ada),
            json!({"name": "lounge", "spaceId": space_id, "description": "sofas"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(keys(&body), ["chatroom"]);
    let lounge = &body["chatroom"];
    assert_eq!(keys(lounge), ROOM_KEYS, "{lounge}");
    assert_eq!(lounge["name"], "lounge");
    assert_eq!(lounge["description"], "sofas");
    assert_eq!(lounge["spaceId"], json!(space_id));
    assert_eq!(lounge["creatorId"], json!(ada_id));
    assert_eq!(lounge["hasPasscode"], false);
    assert_eq!(lounge["memberCount"], 1, "the creator joins the room");
    let listed = rooms(&app, &ada, &space_id).await;
    let found = listed.iter().find(|r| r["id"] == lounge["id"]).expect("the new room is listed");
    assert_eq!(found, lounge, "listed as created");
    // The creator is a member: history is open to them.
    let (status, body) = page(&app, &ada, lounge["id"].as_str().unwrap(), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The old platform's `roomid` for the space, and a passcode.
    let (status, body) = app
        .post("/api/v1/chatroom/create", Some(&ada), json!({"name": "den", "roomid": space_id, "passcode": "pw-0"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["chatroom"]["spaceId"], json!(space_id));
    assert_eq!(body["chatroom"]["hasPasscode"], true);

    // A name of 64 characters is the longest.
    let longest = "n".repeat(64);
    let room = create_room(&app, &ada, &space_id, &longest, None).await;
    assert_eq!(room["name"], json!(longest));

    // 400s.
    let create = |body: Value| app.post("/api/v1/chatroom/create", Some(&ada), body);
    let (status, body) = create(json!({ "spaceId": space_id })).await;
    assert_invalid(status, &body, "name");
    let (status, body) = create(json!({"name": "", "spaceId": space_id})).await;
    assert_invalid(status, &body, "name");
    let (status, body) = create(json!({"name": "n".repeat(65), "spaceId": space_id})).await;
    assert_invalid(status, &body, "name");
    let (status, body) = create(json!({"name": "x"})).await;
    assert_invalid(status, &body, "spaceId");
    let (status, body) = create(json!({"name": "x", "spaceId": NO_SUCH_ID})).await;
    assert_invalid(status, &body, "spaceId");
    let (status, body) = create(json!({"name": "x", "roomid": "nope"})).await;
    assert_invalid(status, &body, "spaceId");

    // 403: not a member of the space, or no token.
    let (status, body) =
        app.post("/api/v1/chatroom/create", Some(&bob), json!({"name": "bobs", "spaceId": space_id})).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post("/api/v1/chatroom/create", None, json!({"name": "x", "spaceId": space_id})).await;
    assert_forbidden(status, &body);
    assert_eq!(rooms(&app, &ada, &space_id).await.len(), 4, "general, lounge, den, the long name; no more");

    // Joining the space over WebSocket makes Bob a member.
    enter_space(&app, &space_id, &bob).await;
    let bobs = create_room(&app, &bob, &space_id, "bobs", None).await;
    assert_eq!(bobs["creatorId"], json!(bob_id));
    assert_eq!(bobs["memberCount"], 1);
}

async fn join_a_room(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (_, cyd) = app.user("cyd").await;
    let (space_id, general) = space_and_room(&app, &ada, "10x10").await;
    let vault = create_room(&app, &ada, &space_id, "vault", Some("open sesame")).await;
    let vault = vault["id"].as_str().unwrap().to_owned();
    enter_space(&app, &space_id, &bob).await;
    let join_path = |room: &str| format!("/api/v1/chatroom/join/{room}");

    // Not a room member yet: no history.
    let (status, body) = page(&app, &bob, &general, "").await;
    assert_forbidden(status, &body);

    // A POST without a body joins a room without a passcode.
    let (status, body) = app.call(Method::POST, &join_path(&general), Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chatroom"]["id"], json!(general));
    assert_eq!(body["chatroom"]["memberCount"], 2, "{body}");
    let (status, body) = page(&app, &bob, &general, "").await;
    assert_eq!(status, StatusCode::OK, "a member reads history: {body}");
    // Joining again changes nothing.
    let again = join_room(&app, &bob, &general, None).await;
    assert_eq!(again["memberCount"], 2, "{again}");
    // An empty object body works too.
    let (status, body) = app.post(&join_path(&general), Some(&bob), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The passcode room: missing or wrong passcode is 403.
    let (status, body) = app.call(Method::POST, &join_path(&vault), Some(&bob), None).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&join_path(&vault), Some(&bob), json!({})).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&join_path(&vault), Some(&bob), json!({"passcode": "open says me"})).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&join_path(&vault), Some(&bob), json!({"passcode": ""})).await;
    assert_forbidden(status, &body);
    let (status, body) = page(&app, &bob, &vault, "").await;
    assert_forbidden(status, &body);
    // The right one works.
    let joined = join_room(&app, &bob, &vault, Some("open sesame")).await;
    assert_eq!(joined["id"], json!(vault));
    assert_eq!(joined["memberCount"], 2);
    assert_eq!(joined["hasPasscode"], true);
    let (status, body) = page(&app, &bob, &vault, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // 400: no such room.
    let (status, body) = app.call(Method::POST, &join_path(NO_SUCH_ID), Some(&bob), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);
    // 403: not a member of the room's space, even with the passcode.
    let (status, body) = app.call(Method::POST, &join_path(&general), Some(&cyd), None).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&join_path(&vault), Some(&cyd), json!({"passcode": "open sesame"})).await;
    assert_forbidden(status, &body);
    // 403: no token.
    let (status, body) = app.call(Method::POST, &join_path(&general), None, None).await;
    assert_forbidden(status, &body);
    let listed = rooms(&app, &ada, &space_id).await;
    let counts: Vec<_> = listed.iter().map(|r| r["memberCount"].clone()).collect();
    assert_eq!(counts, [json!(2), json!(2)], "refused joins added nobody: {listed:?}");
}

async fn update_and_delete_a_room(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (_, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let (_, cyd) = app.user("cyd").await;
    let space_id = create_space(&app, &ada, "10x10").await;
    enter_space(&app, &space_id, &bob).await;
    enter_space(&app, &space_id, &cyd).await;
    let room = create_room(&app, &bob, &space_id, "bobs", None).await;
    let room = room["id"].as_str().unwrap().to_owned();
    let update = |token: Option<&str>, id: &str, body: Value| {
        let (token, path) = (token.map(str::to_owned), format!("/api/v1/chatroom/update/{id}"));
        let app = &app;
        async move { app.put(&path, token.as_deref(), body).await }
    };

    // The room's creator.
    let (status, body) = update(Some(&bob), &room, json!({"name": "bob's den", "description": "cosy"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body["chatroom"]), ROOM_KEYS, "{body}");
    assert_eq!(body["chatroom"]["name"], "bob's den");
    assert_eq!(body["chatroom"]["description"], "cosy");
    assert_eq!(body["chatroom"]["creatorId"], json!(bob_id), "the creator stays");
    // The space's creator.
    let (status, body) = update(Some(&ada), &room, json!({"passcode": "pw-1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chatroom"]["hasPasscode"], true);
    assert_eq!(body["chatroom"]["name"], "bob's den", "only the passcode changed");
    let (status, body) = app.post(&format!("/api/v1/chatroom/join/{room}"), Some(&cyd), json!({})).await;
    assert_forbidden(status, &body);
    // `""` removes the passcode: Cyd joins without one.
    let (status, body) = update(Some(&bob), &room, json!({"passcode": ""})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chatroom"]["hasPasscode"], false);
    let listed = rooms(&app, &ada, &space_id).await;
    assert_eq!(listed.iter().find(|r| r["id"] == json!(room)).unwrap()["hasPasscode"], false);
    join_room(&app, &cyd, &room, None).await;

    // Another user (a member of the space and of the room) may not.
    let (status, body) = update(Some(&cyd), &room, json!({"name": "cyd's now"})).await;
    assert_forbidden(status, &body);
    let (status, body) = update(None, &room, json!({"name": "anon"})).await;
    assert_forbidden(status, &body);
    let (status, body) = update(Some(&bob), NO_SUCH_ID, json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);
    let (status, body) = update(Some(&bob), &room, json!({"name": "n".repeat(65)})).await;
    assert_invalid(status, &body, "name");
    let listed = rooms(&app, &ada, &space_id).await;
    assert_eq!(listed.iter().find(|r| r["id"] == json!(room)).unwrap()["name"], "bob's den", "refused updates");

    // Delete: not by another user, nor anonymously; 400 for no such room.
    send_http(&app, &bob, &room, "history to go with it").await;
    let delete = |token: Option<&str>, id: &str| {
        let (token, path) = (token.map(str::to_owned), format!("/api/v1/chatroom/delete/{id}"));
        let app = &app;
        async move { app.delete(&path, token.as_deref(), None).await }
    };
    let (status, body) = delete(Some(&cyd), &room).await;
    assert_forbidden(status, &body);
    let (status, body) = delete(None, &room).await;
    assert_forbidden(status, &body);
    let (status, body) = delete(Some(&bob), NO_SUCH_ID).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);
    // The creator deletes it, history and all.
    let (status, body) = delete(Some(&bob), &room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(rooms(&app, &ada, &space_id).await.iter().all(|r| r["id"] != json!(room)), "gone from the list");
    let (status, body) = page(&app, &bob, &room, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "history of a deleted room: {body}");
    let (status, body) = app.post(&format!("/api/v1/chatroom/join/{room}"), Some(&cyd), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = delete(Some(&bob), &room).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "deleted twice: {body}");

    // The space's creator may delete a room someone else made.
    let other = create_room(&app, &cyd, &space_id, "cyds", None).await;
    let (status, body) = delete(Some(&ada), other["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(rooms(&app, &ada, &space_id).await.len(), 1, "general is left");
}

async fn history_is_for_members_newest_first_and_pages(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (bob_id, bob) = app.user("bob").await;
    let (_, cyd) = app.user("cyd").await;
    let (_, dan) = app.user("dan").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;
    enter_space(&app, &space_id, &bob).await;
    join_room(&app, &bob, &room, None).await;
    enter_space(&app, &space_id, &cyd).await;

    let mut sent = Vec::new();
    for i in 0..25 {
        let token = if i % 3 == 0 { &bob } else { &ada };
        sent.push(send_http(&app, token, &room, &format!("m{i:02}")).await);
    }

    // Every page size walks the whole history once, newest first.
    for limit in [1, 7, 25, 26, 100] {
        let all = history_paged(&app, &ada, &room, limit).await;
        assert_eq!(all.len(), 26, "25 messages and bob's join notice (limit {limit})");
        let ids: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "no message twice (limit {limit})");
        let texts: Vec<Value> = not_system(&all);
        let expected: Vec<Value> = sent.iter().rev().cloned().collect();
        assert_eq!(texts, expected, "every message once, newest first, as sent (limit {limit})");
        assert_eq!(all.last().unwrap()["type"], "system", "the join notice is the oldest");
    }
    let (status, body) = page(&app, &ada, &room, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["messages", "nextCursor"]);
    assert_eq!(body["messages"].as_array().unwrap().len(), 26, "the default page holds 50");
    assert!(body["nextCursor"].is_null());
    let newest = &body["messages"][0];
    assert_eq!(keys(newest), MESSAGE_KEYS, "{newest}");
    assert_eq!(newest["content"], "m24");
    assert_eq!(newest["userId"], json!(bob_id), "m24 is bob's");
    assert_eq!(newest["username"], "bob");
    assert_eq!(body["messages"][1]["userId"], json!(ada_id), "m23 is ada's");
    assert_eq!(body["messages"][1]["username"], "ada");
    assert_eq!(newest["chatroomId"], json!(room));
    assert_eq!(newest["type"], "text");
    assert_sent_at(newest["sentAt"].as_str().unwrap());
    // An empty cursor is the first page.
    let (status, body) = page(&app, &bob, &room, "?before=&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"][0]["content"], "m24");

    // 400: a bad limit or cursor, or no such room.
    for bad in ["0", "101", "abc", "-1", "1.5"] {
        let (status, body) = page(&app, &ada, &room, &format!("?limit={bad}")).await;
        assert_invalid(status, &body, "limit");
    }
    for bad in ["***", "%25%25%25", "not%20a%20cursor"] {
        let (status, body) = page(&app, &ada, &room, &format!("?before={bad}")).await;
        assert_invalid(status, &body, "before");
    }
    let (status, body) = page(&app, &ada, NO_SUCH_ID, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);
    // 403: a member of the space who did not join the room, a stranger, no token.
    let (status, body) = page(&app, &cyd, &room, "").await;
    assert_forbidden(status, &body);
    let (status, body) = page(&app, &dan, &room, "").await;
    assert_forbidden(status, &body);
    let (status, body) = app.get(&format!("/api/v1/chatroom/{room}/messages"), None).await;
    assert_forbidden(status, &body);
}

async fn send_checks_content_and_stores_it_verbatim(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let (ada_id, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (_, cyd) = app.user("cyd").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;
    let path = format!("/api/v1/chatroom/{room}/send");
    let send = |body: Value| app.post(&path, Some(&ada), body);

    let (status, body) = send(json!({"content": "hello"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(keys(&body), ["message"]);
    let m = &body["message"];
    assert_eq!(keys(m), MESSAGE_KEYS, "{m}");
    assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(m["chatroomId"], json!(room));
    assert_eq!(m["userId"], json!(ada_id));
    assert_eq!(m["username"], "ada");
    assert_eq!(m["content"], "hello");
    assert_eq!(m["type"], "text", "text is the default");
    assert_sent_at(m["sentAt"].as_str().unwrap());
    let (status, body) = send(json!({"content": "🎉", "type": "emoji"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"]["type"], "emoji");
    let (status, body) = send(json!({"content": "with an id", "type": "text", "clientId": "c-42"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"]["clientId"], "c-42");

    // Stored and returned verbatim: markup, padding, newlines and tabs,
    // the longest content (in characters, after trimming).
    let verbatim = [
        "<script>x</script>".to_owned(),
        "&lt;b&gt; \"quoted\" 'single' \\ backslash".to_owned(),
        "  padded  ".to_owned(),
        "line one\nline two\tcolumn".to_owned(),
        "a".repeat(MAX_LEN),
        "é".repeat(MAX_LEN),
        format!("  {}  ", "b".repeat(MAX_LEN)),
    ];
    for content in &verbatim {
        let (status, body) = send(json!({ "content": content })).await;
        assert_eq!(status, StatusCode::CREATED, "{content:?}: {body}");
        assert_eq!(body["message"]["content"], json!(content), "the answer holds it verbatim");
    }

    // 400s.
    for bad in ["", " ", "   \n\t  ", "bell\u{7}", "nul\u{0}", "\u{1b}[31mred", "del\u{7f}"] {
        let (status, body) = send(json!({ "content": bad })).await;
        assert_invalid(status, &body, "content");
    }
    let (status, body) = send(json!({ "content": "a".repeat(MAX_LEN + 1) })).await;
    assert_invalid(status, &body, "content");
    let (status, body) = send(json!({ "content": "é".repeat(MAX_LEN + 1) })).await;
    assert_invalid(status, &body, "content");
    let (status, body) = send(json!({})).await;
    assert_invalid(status, &body, "content");
    let (status, body) = send(json!({"content": "I am the server", "type": "system"})).await;
    assert_invalid(status, &body, "type");
    let (status, body) = send(json!({"content": "x", "type": "shout"})).await;
    assert_invalid(status, &body, "type");
    let (status, body) = send(json!({"content": "x", "clientId": "c".repeat(65)})).await;
    assert_invalid(status, &body, "clientId");
    let (status, body) =
        app.post(&format!("/api/v1/chatroom/{NO_SUCH_ID}/send"), Some(&ada), json!({"content": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);

    // 403: a member of the space outside the room, a stranger, no token.
    enter_space(&app, &space_id, &bob).await;
    let (status, body) = app.post(&path, Some(&bob), json!({"content": "let me in"})).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&path, Some(&cyd), json!({"content": "let me in"})).await;
    assert_forbidden(status, &body);
    let (status, body) = app.post(&path, None, json!({"content": "let me in"})).await;
    assert_forbidden(status, &body);

    // History holds exactly what was accepted, byte for byte.
    let all = history(&app, &ada, &room).await;
    let contents: Vec<&str> = all.iter().rev().map(|m| m["content"].as_str().unwrap()).collect();
    let mut expected = vec!["hello", "🎉", "with an id"];
    expected.extend(verbatim.iter().map(String::as_str));
    assert_eq!(contents, expected, "nothing refused was stored; nothing was changed");
    assert_eq!(all[all.len() - 3]["clientId"], "c-42", "the clientId is stored");
}

/// `chat_rate` 1 per second with a burst of 2: the third quick send in a
/// room is refused with 429, per user and per room.
async fn sends_are_rate_limited_per_user_and_room(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |cfg| {
        cfg.chat_rate = 1;
        cfg.chat_burst = 2;
    })
    .await
    else {
        return;
    };
    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;
    let lounge = create_room(&app, &ada, &space_id, "lounge", None).await;
    let lounge = lounge["id"].as_str().unwrap().to_owned();
    enter_space(&app, &space_id, &bob).await;
    join_room(&app, &bob, &room, None).await;
    let path = format!("/api/v1/chatroom/{room}/send");

    send_http(&app, &ada, &room, "one").await;
    send_http(&app, &ada, &room, "two").await;
    let (status, body) = app.post(&path, Some(&ada), json!({"content": "three"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_code(&body), "rate-limited");
    // Someone else in the room, and Ada in another room, are not limited.
    send_http(&app, &bob, &room, "bob's").await;
    send_http(&app, &ada, &lounge, "elsewhere").await;

    let texts: Vec<String> = not_system(&history(&app, &ada, &room).await)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["bob's", "two", "one"], "the refused message was not stored");
}

/// History, including a WebSocket message with its clientId, is the same
/// after a restart; sending works again.
async fn history_survives_a_restart(backend: Backend) {
    let Some(mut app) = start(backend).await else { return };
    let (_, ada) = app.user("ada").await;
    let (_, bob) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada, "10x10").await;
    enter_space(&app, &space_id, &bob).await;
    join_room(&app, &bob, &room, None).await;
    for i in 0..3 {
        send_http(&app, if i == 1 { &bob } else { &ada }, &room, &format!("before restart {i}")).await;
    }
    let mut ws = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ws.join_ok(&space_id, &ada, None).await;
    join_chat(&mut ws, &room).await;
    ws.send(&chat_message(&room, "over the socket", Some("ws-1"))).await;
    let echo = Chat::from_msg(&next_chat(&mut ws).await);
    assert_eq!(echo.client_id.as_deref(), Some("ws-1"));
    ws.close_and_wait().await;
    let before = history(&app, &ada, &room).await;
    assert_eq!(not_system(&before).len(), 4);

    app.restart();

    let after = history(&app, &bob, &room).await;
    assert_eq!(after, before, "the same history, ids and all");
    assert_eq!(Chat::from_json(&after[0]), echo, "the WebSocket message as it was delivered");
    let new = send_http(&app, &ada, &room, "after restart").await;
    let again = history(&app, &ada, &room).await;
    assert_eq!(again[0], new);
    assert_eq!(&again[1..], &before[..]);
}

configured_on_both_backends!(
    list_rooms_of_a_space,
    create_a_room,
    join_a_room,
    update_and_delete_a_room,
    history_is_for_members_newest_first_and_pages,
    send_checks_content_and_stores_it_verbatim,
    sends_are_rate_limited_per_user_and_room,
    history_survives_a_restart,
);
