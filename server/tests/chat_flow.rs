//! Chat end to end: rooms over HTTP, live delivery over WebSocket in both
//! codecs (the sender included, with its clientId), HTTP sends delivered
//! live, and history.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, ws::WsClient};
use metaverse_protocol::{ClientMsg, Codec, ServerMsg};
use serde_json::json;

async fn general_room(app: &TestApp, token: &str, space_id: &str) -> String {
    let (status, body) = app.get(&format!("/api/v1/chatroom/space/{space_id}"), Some(token)).await;
    assert!(status.is_success(), "{body}");
    let rooms = body["chatrooms"].as_array().unwrap();
    let general = rooms.iter().find(|r| r["name"] == "general").expect("every space has a general room");
    general["id"].as_str().unwrap().to_owned()
}

async fn chat_reaches_every_member_and_history(app: TestApp) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (_, body) = app.post("/api/v1/space", Some(&ada_token), json!({"name": "s", "dimensions": "10x10"})).await;
    let space_id = body["spaceId"].as_str().unwrap().to_owned();
    let room = general_room(&app, &ada_token, &space_id).await;

    let mut ada = WsClient::connect(&app.ws, Codec::MsgPack).await;
    ada.join(&space_id, &ada_token).await;
    let mut bob = WsClient::connect(&app.ws, Codec::Json).await;
    bob.join(&space_id, &bob_token).await;
    for c in [&mut ada, &mut bob] {
        c.send(&ClientMsg::ChatJoin { chatroom_id: room.clone(), passcode: None, since: None }).await;
        c.recv_until(|m| matches!(m, ServerMsg::ChatJoined { .. }).then_some(())).await;
    }

    bob.send(&ClientMsg::ChatMessage {
        chatroom_id: room.clone(),
        content: "hello <b>ada</b>".into(),
        kind: None,
        client_id: Some("c-1".into()),
        media_id: None,
    })
    .await;
    for c in [&mut ada, &mut bob] {
        let (msg, _) = c
            .recv_until(|m| match m {
                ServerMsg::ChatMessage { user_id, content, kind, client_id, .. }
                    if *user_id == bob_id && kind != "system" =>
                {
                    Some((content.clone(), kind.clone(), client_id.clone()))
                }
                _ => None,
            })
            .await;
        assert_eq!(msg, ("hello <b>ada</b>".to_owned(), "text".to_owned(), Some("c-1".to_owned())));
    }

    // An HTTP send is delivered live too.
    let (status, sent) = app
        .post(
            &format!("/api/v1/chatroom/{room}/send"),
            Some(&ada_token),
            json!({"content": "from http", "type": "emoji"}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{sent}");
    let (id, _) = bob
        .recv_until(|m| match m {
            ServerMsg::ChatMessage { id, content, .. } if content == "from http" => Some(id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(sent["message"]["id"].as_str(), Some(id.as_str()));

    let (status, page) = app.get(&format!("/api/v1/chatroom/{room}/messages?limit=2"), Some(&bob_token)).await;
    assert!(status.is_success(), "{page}");
    let contents: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["from http", "hello <b>ada</b>"], "newest first");
    let cursor = page["nextCursor"].as_str().expect("more pages: the join notices");
    let (_, older) = app.get(&format!("/api/v1/chatroom/{room}/messages?before={cursor}"), Some(&bob_token)).await;
    let kinds: Vec<&str> = older["messages"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["system"], "bob's join notice");
    assert!(older["nextCursor"].is_null());
}

on_both_backends!(chat_reaches_every_member_and_history);
