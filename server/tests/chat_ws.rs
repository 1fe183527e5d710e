//! Chat over WebSocket: chat-join, fan-out to every subscriber in its own
//! codec (the sender included, with its clientId), nothing for those who
//! did not subscribe or left, passcodes, unknown and foreign rooms, HTTP
//! sends delivered live, the rate limit, `since` replay, and a room deleted
//! under a subscriber. Each case runs on both backends and in both codecs
//! (and, where two clients talk, the other client uses the other codec).

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    TestApp,
    chat::{
        Chat, assert_sent_at, chat_join, chat_message, create_room, expect_chat_error, general_room, history,
        is_presence, join_chat, join_chat_with, join_room, next_chat, next_chat_any, next_chat_or_error, not_system,
        send_http, space_and_room,
    },
    ws::{WsClient, create_space, other, user_join},
};
use metaverse_protocol::{ClientMsg, Codec, ErrorCode, ServerMsg};
use reqwest::StatusCode;
use serde_json::json;

const NO_SUCH_ID: &str = "0190b3c4-0000-7000-8000-000000000000";

/// Asserts that nothing chat-related came before a reply.
#[track_caller]
fn no_chat_in(skipped: &[ServerMsg]) {
    assert!(skipped.iter().all(is_presence), "only presence events may come first: {skipped:?}");
}

/// Connects and joins the space.
async fn enter(app: &TestApp, codec: Codec, space_id: &str, token: &str) -> WsClient {
    let mut c = WsClient::connect(&app.ws, codec).await;
    c.join_ok(space_id, token, None).await;
    c
}

async fn chat_reaches_every_subscriber_in_its_codec(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (_, cyd_token) = app.user("cyd").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    let mut bob = enter(&app, other(codec), &space_id, &bob_token).await;
    let mut cyd = enter(&app, codec, &space_id, &cyd_token).await;
    for c in [&mut ada, &mut bob, &mut cyd] {
        // chat-joined names the room (checked by the helper).
        join_chat(c, &room).await;
    }

    ada.send(&chat_message(&room, "hello, all", Some("a-1"))).await;
    let mut got = Vec::new();
    for c in [&mut ada, &mut bob, &mut cyd] {
        got.push(Chat::from_msg(&next_chat(c).await));
    }
    let sent = &got[0];
    assert_eq!(sent.chatroom_id, room);
    assert_eq!(sent.user_id, ada_id);
    assert_eq!(sent.username, "ada");
    assert_eq!(sent.content, "hello, all");
    assert_eq!(sent.kind, "text");
    assert_eq!(sent.client_id.as_deref(), Some("a-1"), "the sender's copy carries its clientId");
    assert_sent_at(&sent.sent_at);
    assert_eq!(got[1], *sent, "bob (the other codec) gets the same message");
    assert_eq!(got[2], *sent, "cyd gets the same message");

    // From the other codec, an emoji.
    bob.send(&ClientMsg::ChatMessage {
        chatroom_id: room.clone(),
        content: "👋".into(),
        kind: Some("emoji".into()),
        client_id: Some("b-1".into()),
        media_id: None,
    })
    .await;
    let from_bob = Chat::from_msg(&next_chat(&mut bob).await);
    assert_eq!((from_bob.user_id.as_str(), from_bob.kind.as_str()), (bob_id.as_str(), "emoji"));
    assert_eq!(from_bob.client_id.as_deref(), Some("b-1"));
    assert_eq!(Chat::from_msg(&next_chat(&mut ada).await), from_bob);
    assert_eq!(Chat::from_msg(&next_chat(&mut cyd).await), from_bob);

    // A message without a clientId comes without one.
    cyd.send(&chat_message(&room, "no id", None)).await;
    for c in [&mut ada, &mut bob, &mut cyd] {
        let m = Chat::from_msg(&next_chat(c).await);
        assert_eq!((m.content.as_str(), m.client_id), ("no id", None));
    }

    // What was delivered is what history holds.
    let stored: Vec<Chat> = not_system(&history(&app, &ada_token, &room).await).iter().map(Chat::from_json).collect();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1], from_bob);
    assert_eq!(stored[2], *sent);
}

/// A member of the space (even of the room, over HTTP) who did not
/// chat-join gets no chat messages, and neither does one outside the room.
async fn only_subscribers_get_messages(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (_, cyd_token) = app.user("cyd").await;
    let (dan_id, dan_token) = app.user("dan").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    let mut bob = enter(&app, other(codec), &space_id, &bob_token).await;
    let mut cyd = enter(&app, codec, &space_id, &cyd_token).await;
    // Bob is a member of the room, but does not subscribe on this socket.
    join_room(&app, &bob_token, &room, None).await;
    join_chat(&mut ada, &room).await;

    ada.send(&chat_message(&room, "m1", Some("1"))).await;
    let m1 = Chat::from_msg(&next_chat(&mut ada).await);
    assert_eq!(m1.content, "m1");

    // Barrier: m1 was fanned out before Bob subscribes, and m2 after; so
    // if Bob's queue held m1, it would come before m2.
    let skipped = join_chat(&mut bob, &room).await;
    no_chat_in(&skipped);
    ada.send(&chat_message(&room, "m2", Some("2"))).await;
    let m2 = Chat::from_msg(&next_chat(&mut ada).await);
    assert_eq!(Chat::from_msg(&next_chat_any(&mut bob).await), m2, "bob's first chat message is m2, not m1");

    // Cyd never joined the room: the next thing she hears of is Dan
    // entering the space, which happened after m1 and m2 went out.
    let mut dan = WsClient::connect(&app.ws, codec).await;
    let d = dan.join_ok(&space_id, &dan_token, None).await;
    // Cyd entered after Ada and Bob, so Dan's arrival is the first event
    // she hears of.
    assert_eq!(cyd.recv().await, user_join(&dan_id, d.spawn), "cyd got no chat messages");
}

async fn passcode_room_needs_the_passcode(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let space_id = create_space(&app, &ada_token, "10x10").await;
    let vault = create_room(&app, &ada_token, &space_id, "vault", Some("open sesame")).await;
    let vault = vault["id"].as_str().unwrap().to_owned();
    let join_with = |passcode: Option<&str>| ClientMsg::ChatJoin {
        chatroom_id: vault.clone(),
        passcode: passcode.map(str::to_owned),
        since: None,
    };

    let mut ada = enter(&app, other(codec), &space_id, &ada_token).await;
    let mut bob = enter(&app, codec, &space_id, &bob_token).await;
    // The creator is a member: no passcode needed.
    join_chat(&mut ada, &vault).await;

    bob.send(&join_with(None)).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;
    bob.send(&join_with(Some("open says me"))).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;
    bob.send(&join_with(Some(""))).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;
    // Refused: not subscribed, so no sending either.
    bob.send(&chat_message(&vault, "let me in", None)).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;
    let (status, body) = app.get(&format!("/api/v1/chatroom/{vault}/messages"), Some(&bob_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no membership from a refused chat-join: {body}");

    // The right passcode.
    join_chat_with(&mut bob, join_with(Some("open sesame"))).await;
    bob.send(&chat_message(&vault, "inside", Some("b-1"))).await;
    let m = Chat::from_msg(&next_chat(&mut bob).await);
    assert_eq!((m.user_id.as_str(), m.content.as_str()), (bob_id.as_str(), "inside"));
    assert_eq!(Chat::from_msg(&next_chat(&mut ada).await), m);

    // Once a member, a new socket chat-joins without the passcode.
    bob.close_and_wait().await;
    let mut bob = enter(&app, codec, &space_id, &bob_token).await;
    join_chat(&mut bob, &vault).await;
}

async fn sending_needs_a_chat_join_and_valid_content(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    // Not in a space yet.
    let mut bob = WsClient::connect(&app.ws, codec).await;
    bob.send(&chat_message(&room, "hi", None)).await;
    bob.expect_error(ErrorCode::NotJoined).await;
    bob.send(&chat_join(&room)).await;
    bob.expect_error(ErrorCode::NotJoined).await;
    bob.join_ok(&space_id, &bob_token, None).await;

    // In the space, but not chat-joined (to this room, or to no room at all).
    bob.send(&chat_message(&room, "hi", None)).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;
    bob.send(&chat_message(NO_SUCH_ID, "hi", None)).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;

    join_chat(&mut bob, &room).await;
    let long = "a".repeat(2001);
    for bad in ["", "   ", "\n\t", "bell\u{7}", "esc\u{1b}", long.as_str()] {
        bob.send(&chat_message(&room, bad, None)).await;
        expect_chat_error(&mut bob, ErrorCode::Invalid).await;
    }
    for kind in ["system", "shout"] {
        bob.send(&ClientMsg::ChatMessage {
            chatroom_id: room.clone(),
            content: "x".into(),
            kind: Some(kind.into()),
            client_id: None,
            media_id: None,
        })
        .await;
        expect_chat_error(&mut bob, ErrorCode::Invalid).await;
    }
    bob.send(&chat_message(&room, "x", Some(&"c".repeat(65)))).await;
    expect_chat_error(&mut bob, ErrorCode::Invalid).await;

    // Newlines and tabs are fine, and content is delivered verbatim.
    let fine = "<script>x</script>\n\tindented  ";
    bob.send(&chat_message(&room, fine, Some("ok"))).await;
    let m = Chat::from_msg(&next_chat(&mut bob).await);
    assert_eq!((m.content.as_str(), m.client_id.as_deref()), (fine, Some("ok")));
    let stored = not_system(&history(&app, &ada_token, &room).await);
    assert_eq!(stored.len(), 1, "only the valid message was stored: {stored:?}");
    assert_eq!(Chat::from_json(&stored[0]), m);
}

async fn chat_leave_stops_delivery(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    // Not in a space yet.
    let mut bob = WsClient::connect(&app.ws, codec).await;
    bob.send(&ClientMsg::ChatLeave { chatroom_id: room.clone() }).await;
    bob.expect_error(ErrorCode::NotJoined).await;
    bob.join_ok(&space_id, &bob_token, None).await;
    let mut ada = enter(&app, other(codec), &space_id, &ada_token).await;
    join_chat(&mut ada, &room).await;
    join_chat(&mut bob, &room).await;
    // A room never joined.
    bob.send(&ClientMsg::ChatLeave { chatroom_id: NO_SUCH_ID.into() }).await;
    expect_chat_error(&mut bob, ErrorCode::UnknownChatroom).await;

    bob.send(&ClientMsg::ChatLeave { chatroom_id: room.clone() }).await;
    let ((), skipped) = bob
        .recv_until(|m| match m {
            ServerMsg::ChatLeft { chatroom_id } => {
                assert_eq!(*chatroom_id, room);
                Some(())
            }
            _ => None,
        })
        .await;
    no_chat_in(&skipped);
    // Left: leaving again is an unknown room, and sending is refused.
    bob.send(&ClientMsg::ChatLeave { chatroom_id: room.clone() }).await;
    expect_chat_error(&mut bob, ErrorCode::UnknownChatroom).await;
    bob.send(&chat_message(&room, "still here?", None)).await;
    expect_chat_error(&mut bob, ErrorCode::Forbidden).await;

    ada.send(&chat_message(&room, "m1", Some("1"))).await;
    let m1 = Chat::from_msg(&next_chat(&mut ada).await);
    // Barrier: m1 went out before Bob subscribes again, m2 after.
    let skipped = join_chat(&mut bob, &room).await;
    no_chat_in(&skipped);
    ada.send(&chat_message(&room, "m2", Some("2"))).await;
    let m2 = Chat::from_msg(&next_chat(&mut ada).await);
    let next = Chat::from_msg(&next_chat_any(&mut bob).await);
    assert_ne!(next, m1, "bob got a message sent while he was out");
    assert_eq!(next, m2);
}

async fn unknown_and_foreign_rooms_are_unknown(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let here = create_space(&app, &ada_token, "10x10").await;
    let there = create_space(&app, &ada_token, "10x10").await;
    let room_here = general_room(&app, &ada_token, &here).await;
    let room_there = general_room(&app, &ada_token, &there).await;

    let mut ada = enter(&app, codec, &here, &ada_token).await;
    for id in [NO_SUCH_ID.to_owned(), room_there.clone(), "x".repeat(100), String::new()] {
        ada.send(&chat_join(&id)).await;
        expect_chat_error(&mut ada, ErrorCode::UnknownChatroom).await;
    }
    // Ada is a member of the other room, but it is in another space.
    ada.send(&chat_message(&room_there, "across", None)).await;
    expect_chat_error(&mut ada, ErrorCode::Forbidden).await;
    join_chat(&mut ada, &room_here).await;
    let (status, body) = app
        .post(&format!("/api/v1/chatroom/{room_there}/send"), Some(&ada_token), json!({"content": "over there"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    ada.send(&chat_message(&room_here, "here", None)).await;
    let m = Chat::from_msg(&next_chat(&mut ada).await);
    assert_eq!(m.content, "here", "the other space's message is not delivered here");
}

async fn http_sends_arrive_live(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    let mut bob = enter(&app, other(codec), &space_id, &bob_token).await;
    join_chat(&mut ada, &room).await;
    // Bob becomes a member of the room by chat-joining it.
    join_chat(&mut bob, &room).await;

    let (status, body) = app
        .post(
            &format!("/api/v1/chatroom/{room}/send"),
            Some(&ada_token),
            json!({"content": "from http", "clientId": "h-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sent = Chat::from_json(&body["message"]);
    assert_eq!(sent.client_id.as_deref(), Some("h-1"));
    assert_eq!(Chat::from_msg(&next_chat(&mut ada).await), sent, "the sender's socket gets it too");
    assert_eq!(Chat::from_msg(&next_chat(&mut bob).await), sent);

    let from_bob = Chat::from_json(&send_http(&app, &bob_token, &room, "bob over http").await);
    assert_eq!(Chat::from_msg(&next_chat(&mut ada).await), from_bob);
    assert_eq!(Chat::from_msg(&next_chat(&mut bob).await), from_bob);
}

/// `chat_rate` 1 per second with a burst of 2: of three quick messages, one
/// is answered `rate-limited` and not stored.
async fn chat_messages_are_rate_limited(app: TestApp, codec: Codec) {
    let (ada_id, ada_token) = app.user("ada").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;
    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    join_chat(&mut ada, &room).await;

    for i in 0..3 {
        ada.send(&chat_message(&room, &format!("quick {i}"), Some(&format!("q-{i}")))).await;
    }
    let (mut echoed, mut limited) = (Vec::new(), 0);
    for _ in 0..3 {
        match next_chat_or_error(&mut ada).await {
            ServerMsg::Error { code: ErrorCode::RateLimited, message } => {
                assert!(!message.is_empty());
                limited += 1;
            }
            ServerMsg::ChatMessage { user_id, client_id, .. } if user_id == ada_id => echoed.push(client_id.unwrap()),
            other => panic!("expected an echo or rate-limited, got {other:?}"),
        }
    }
    assert_eq!((echoed.len(), limited), (2, 1), "two sent, one refused: {echoed:?}");
    let mut stored: Vec<String> = not_system(&history(&app, &ada_token, &room).await)
        .iter()
        .map(|m| m["clientId"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    echoed.sort();
    assert_eq!(stored, echoed, "exactly the acknowledged messages are stored");
}

/// A client that comes back chat-joins with `since` (the last id it saw)
/// and gets exactly the newer messages, oldest first, after `chat-joined`.
async fn since_replays_exactly_the_newer_messages(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (_, bob_token) = app.user("bob").await;
    let (space_id, room) = space_and_room(&app, &ada_token, "10x10").await;

    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    join_chat(&mut ada, &room).await;
    let mut seen = Vec::new();
    for i in 0..5 {
        ada.send(&chat_message(&room, &format!("e{i}"), Some(&format!("e-{i}")))).await;
        seen.push(Chat::from_msg(&next_chat(&mut ada).await));
    }
    ada.close_and_wait().await;
    // While Ada is away: Bob joins (a system notice) and talks over HTTP.
    let mut bob = enter(&app, other(codec), &space_id, &bob_token).await;
    join_room(&app, &bob_token, &room, None).await;
    for i in 0..3 {
        send_http(&app, &bob_token, &room, &format!("n{i}")).await;
    }

    let since = seen[1].id.clone();
    let mut expected: Vec<Chat> =
        history(&app, &ada_token, &room).await.iter().map(Chat::from_json).filter(|m| m.id > since).collect();
    expected.reverse();
    let contents: Vec<&str> = expected.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["e2", "e3", "e4", "bob joined the room", "n0", "n1", "n2"], "the test's premise");

    let mut ada = enter(&app, codec, &space_id, &ada_token).await;
    let skipped =
        join_chat_with(&mut ada, ClientMsg::ChatJoin { chatroom_id: room.clone(), passcode: None, since: Some(since) })
            .await;
    no_chat_in(&skipped);
    let mut replayed = Vec::new();
    for _ in 0..expected.len() {
        replayed.push(Chat::from_msg(&next_chat_any(&mut ada).await));
    }
    assert_eq!(replayed, expected, "the newer messages, oldest first, as stored");

    // `since` the newest id: nothing to replay. Then a live message is the
    // next thing both hear: no replayed extra, no duplicate.
    let newest = expected.last().unwrap().id.clone();
    let skipped = join_chat_with(
        &mut bob,
        ClientMsg::ChatJoin { chatroom_id: room.clone(), passcode: None, since: Some(newest) },
    )
    .await;
    no_chat_in(&skipped);
    ada.send(&chat_message(&room, "live", Some("live"))).await;
    let live = Chat::from_msg(&next_chat_any(&mut ada).await);
    assert_eq!(live.content, "live", "after the replay, only live messages");
    assert_eq!(Chat::from_msg(&next_chat_any(&mut bob).await), live);
}

ws_cases!(
    chat_reaches_every_subscriber_in_its_codec,
    only_subscribers_get_messages,
    passcode_room_needs_the_passcode,
    sending_needs_a_chat_join_and_valid_content,
    chat_leave_stops_delivery,
    unknown_and_foreign_rooms_are_unknown,
    http_sends_arrive_live,
    since_replays_exactly_the_newer_messages,
);

ws_cases!(@config |cfg: &mut metaverse_server::config::ServeConfig| {
    cfg.chat_rate = 1;
    cfg.chat_burst = 2;
}; chat_messages_are_rate_limited);

/// A room deleted while a socket is subscribed: a message to it is
/// refused (the room is gone; the store is fine) and not stored, and it
/// does not hold up a valid message sent right after it to another room:
/// that one is acknowledged well within the chat deadline (5 s).
async fn a_deleted_room_does_not_hold_up_other_rooms(app: TestApp, codec: Codec) {
    let (_, ada_token) = app.user("ada").await;
    let (bob_id, bob_token) = app.user("bob").await;
    let (space_id, general) = space_and_room(&app, &ada_token, "10x10").await;
    let doomed = create_room(&app, &ada_token, &space_id, "doomed", None).await;
    let doomed = doomed["id"].as_str().unwrap().to_owned();

    let mut bob = enter(&app, codec, &space_id, &bob_token).await;
    join_chat(&mut bob, &general).await;
    join_chat(&mut bob, &doomed).await;
    let (status, body) = app.delete(&format!("/api/v1/chatroom/delete/{doomed}"), Some(&ada_token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let sent = std::time::Instant::now();
    bob.send(&chat_message(&doomed, "into the void", Some("void"))).await;
    bob.send(&chat_message(&general, "still here", Some("fine"))).await;
    let (mut echoed, mut errors) = (None, Vec::new());
    for _ in 0..2 {
        match next_chat_or_error(&mut bob).await {
            ServerMsg::ChatMessage { user_id, client_id, .. } if user_id == bob_id => {
                assert_eq!(client_id.as_deref(), Some("fine"), "only the general message is delivered");
                echoed = Some(sent.elapsed());
            }
            ServerMsg::Error { code, .. } => errors.push((code, sent.elapsed())),
            other => panic!("expected an echo or an error, got {other:?}"),
        }
    }
    let acked_after = echoed.unwrap_or_else(|| panic!("the general message was not acknowledged: {errors:?}"));
    assert!(
        acked_after < std::time::Duration::from_secs(2),
        "the general message waited {acked_after:?} behind the deleted room's (errors: {errors:?})"
    );
    assert_eq!(errors.len(), 1, "the deleted room's message is refused");
    assert!(
        matches!(errors[0].0, ErrorCode::UnknownChatroom | ErrorCode::Forbidden),
        "the room is gone, chat is not unavailable: {errors:?}"
    );
    let stored = not_system(&history(&app, &ada_token, &general).await);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["clientId"], "fine");
}

ws_cases!(a_deleted_room_does_not_hold_up_other_rooms);
