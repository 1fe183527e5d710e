//! Chat helpers: rooms and history over HTTP, chat-join and chat messages
//! over WebSocket.

use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, ws::WsClient};

/// The keys of a chatroom, as the API shows it.
pub const ROOM_KEYS: &[&str] = &["creatorId", "description", "hasPasscode", "id", "memberCount", "name", "spaceId"];
/// The keys of a message without a clientId.
pub const MESSAGE_KEYS: &[&str] = &["chatroomId", "content", "id", "sentAt", "type", "userId", "username"];

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// The rooms of a space.
pub async fn rooms(app: &TestApp, token: &str, space_id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/chatroom/space/{space_id}"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "list rooms: {body}");
    body["chatrooms"].as_array().expect("chatrooms").clone()
}

/// The id of the space's `general` room.
pub async fn general_room(app: &TestApp, token: &str, space_id: &str) -> String {
    let rooms = rooms(app, token, space_id).await;
    let general = rooms.iter().find(|r| r["name"] == "general").expect("every space has a general room");
    general["id"].as_str().unwrap().to_owned()
}

/// A new space of `dims` tiles made by the token's user, and its
/// `general` room.
pub async fn space_and_room(app: &TestApp, token: &str, dims: &str) -> (String, String) {
    let space = super::ws::create_space(app, token, dims).await;
    let room = general_room(app, token, &space).await;
    (space, room)
}

/// Makes the token's user a member of the space the way clients do: by
/// joining it over WebSocket (then closing the socket).
pub async fn enter_space(app: &TestApp, space_id: &str, token: &str) {
    let mut c = WsClient::connect(&app.ws, Codec::Json).await;
    c.join_ok(space_id, token, None).await;
    c.close_and_wait().await;
}

/// Creates a room and returns it (`chatroom` of the 201 answer).
pub async fn create_room(app: &TestApp, token: &str, space_id: &str, name: &str, passcode: Option<&str>) -> Value {
    let mut body = json!({"name": name, "spaceId": space_id});
    if let Some(p) = passcode {
        body["passcode"] = json!(p);
    }
    let (status, body) = app.post("/api/v1/chatroom/create", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "create room {name}: {body}");
    body["chatroom"].clone()
}

/// Joins a room over HTTP (with a passcode, if given); asserts 200.
pub async fn join_room(app: &TestApp, token: &str, room: &str, passcode: Option<&str>) -> Value {
    let body = passcode.map(|p| json!({ "passcode": p }));
    let (status, body) = app.call(Method::POST, &format!("/api/v1/chatroom/join/{room}"), Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "join room {room}: {body}");
    body["chatroom"].clone()
}

/// Posts a message over HTTP and returns `message` of the 201 answer.
pub async fn send_http(app: &TestApp, token: &str, room: &str, content: &str) -> Value {
    let (status, body) =
        app.post(&format!("/api/v1/chatroom/{room}/send"), Some(token), json!({ "content": content })).await;
    assert_eq!(status, StatusCode::CREATED, "send {content:?}: {body}");
    body["message"].clone()
}

/// One page of history: (status, body).
pub async fn page(app: &TestApp, token: &str, room: &str, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/v1/chatroom/{room}/messages{query}"), Some(token)).await
}

/// All of a room's history, newest first, paged with `limit`. Asserts
/// each page's size and that the cursor ends.
pub async fn history_paged(app: &TestApp, token: &str, room: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let query = match &cursor {
            Some(c) => format!("?limit={limit}&before={c}"),
            None => format!("?limit={limit}"),
        };
        let (status, body) = page(app, token, room, &query).await;
        assert_eq!(status, StatusCode::OK, "history page {query}: {body}");
        let messages = body["messages"].as_array().expect("messages");
        assert!(messages.len() <= limit, "a page holds at most {limit}: got {}", messages.len());
        all.extend(messages.iter().cloned());
        match body["nextCursor"].as_str() {
            Some(c) => {
                assert_eq!(messages.len(), limit, "only the last page is short");
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(body["nextCursor"].is_null(), "nextCursor is a string or null: {body}");
                return all;
            }
        }
    }
    panic!("the history cursor never ended");
}

/// All of a room's history, newest first.
pub async fn history(app: &TestApp, token: &str, room: &str) -> Vec<Value> {
    history_paged(app, token, room, 100).await
}

/// The messages of a history that are not the server's own notices.
pub fn not_system(history: &[Value]) -> Vec<Value> {
    history.iter().filter(|m| m["type"] != "system").cloned().collect()
}

pub fn chat_join(room: &str) -> ClientMsg {
    ClientMsg::ChatJoin { chatroom_id: room.to_owned(), passcode: None, since: None }
}

pub fn chat_message(room: &str, content: &str, client_id: Option<&str>) -> ClientMsg {
    ClientMsg::ChatMessage {
        chatroom_id: room.to_owned(),
        content: content.to_owned(),
        kind: None,
        client_id: client_id.map(str::to_owned),
        media_id: None,
    }
}

/// Presence events, which a chat test skips.
pub fn is_presence(m: &ServerMsg) -> bool {
    matches!(m, ServerMsg::UserJoin { .. } | ServerMsg::UserLeft { .. } | ServerMsg::Movement { .. })
}

/// Sends `chat-join` and expects `chat-joined` for the room. Returns what
/// came before it (presence events, chat messages) for assertions;
/// panics on an error.
pub async fn join_chat(c: &mut WsClient, room: &str) -> Vec<ServerMsg> {
    join_chat_with(c, ClientMsg::ChatJoin { chatroom_id: room.to_owned(), passcode: None, since: None }).await
}

/// [`join_chat`] with any `chat-join` message (passcode, since).
pub async fn join_chat_with(c: &mut WsClient, msg: ClientMsg) -> Vec<ServerMsg> {
    let ClientMsg::ChatJoin { chatroom_id, .. } = &msg else { panic!("not a chat-join: {msg:?}") };
    let room = chatroom_id.clone();
    c.send(&msg).await;
    let ((), skipped) = c
        .recv_until(|m| match m {
            ServerMsg::ChatJoined { chatroom_id } => {
                assert_eq!(*chatroom_id, room, "chat-joined names the room");
                Some(())
            }
            ServerMsg::Error { code, message } => panic!("chat-join {room}: error {code:?}: {message}"),
            _ => None,
        })
        .await;
    skipped
}

/// The next chat-message of any kind, skipping presence events; panics on
/// anything else.
pub async fn next_chat_any(c: &mut WsClient) -> ServerMsg {
    loop {
        let m = c.recv().await;
        match &m {
            ServerMsg::ChatMessage { .. } => return m,
            m if is_presence(m) => continue,
            other => panic!("expected a chat-message, got {other:?}"),
        }
    }
}

/// The next chat-message that is not a system notice, skipping presence
/// events and notices; panics on anything else.
pub async fn next_chat(c: &mut WsClient) -> ServerMsg {
    loop {
        let m = next_chat_any(c).await;
        if matches!(&m, ServerMsg::ChatMessage { kind, .. } if kind == "system") {
            continue;
        }
        return m;
    }
}

/// The next chat-message (not a system notice) or error, skipping presence
/// events and notices.
pub async fn next_chat_or_error(c: &mut WsClient) -> ServerMsg {
    loop {
        let m = c.recv().await;
        match &m {
            ServerMsg::ChatMessage { kind, .. } if kind == "system" => continue,
            ServerMsg::ChatMessage { .. } | ServerMsg::Error { .. } => return m,
            m if is_presence(m) => continue,
            other => panic!("expected a chat-message or an error, got {other:?}"),
        }
    }
}

/// The next chat-related answer must be `error` with `code`.
pub async fn expect_chat_error(c: &mut WsClient, code: ErrorCode) -> String {
    match next_chat_or_error(c).await {
        ServerMsg::Error { code: got, message } => {
            assert_eq!(got, code, "error code (message: {message:?})");
            assert!(!message.is_empty(), "an error says why");
            message
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

/// The fields of a chat-message, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chat {
    pub id: String,
    pub chatroom_id: String,
    pub user_id: String,
    pub username: String,
    pub content: String,
    pub kind: String,
    pub sent_at: String,
    pub client_id: Option<String>,
    pub attachment: Option<metaverse_protocol::Attachment>,
}

impl Chat {
    pub fn from_msg(m: &ServerMsg) -> Self {
        match m.clone() {
            ServerMsg::ChatMessage {
                id,
                chatroom_id,
                user_id,
                username,
                content,
                kind,
                sent_at,
                client_id,
                attachment,
            } => Chat {
                id,
                chatroom_id,
                user_id,
                username,
                content,
                kind,
                sent_at,
                client_id,
                attachment: attachment.map(|a| *a),
            },
            other => panic!("expected a chat-message, got {other:?}"),
        }
    }

    /// A message as history or an HTTP send shows it.
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} is a string in {v}")).to_owned();
        Chat {
            id: s("id"),
            chatroom_id: s("chatroomId"),
            user_id: s("userId"),
            username: s("username"),
            content: s("content"),
            kind: s("type"),
            sent_at: s("sentAt"),
            client_id: v["clientId"].as_str().map(str::to_owned),
            attachment: v.get("attachment").map(|a| serde_json::from_value(a.clone()).expect("an attachment")),
        }
    }
}

/// Asserts `sentAt` is an RFC 3339 UTC time.
#[track_caller]
pub fn assert_sent_at(sent_at: &str) {
    let t = chrono::DateTime::parse_from_rfc3339(sent_at).unwrap_or_else(|e| panic!("sentAt {sent_at:?}: {e}"));
    assert_eq!(t.offset().local_minus_utc(), 0, "sentAt is UTC: {sent_at}");
    let age = chrono::Utc::now().signed_duration_since(t);
    assert!(age.num_seconds().abs() < 600, "sentAt {sent_at} is about now");
}
