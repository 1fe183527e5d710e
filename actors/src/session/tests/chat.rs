//! Chat over the session: rooms of the space, replay, sends on their own
//! task (failures come back in order with the space's frames), nearby.

use metaverse_protocol::{ClientMsg, ErrorCode, ServerMsg};

use super::{
    Fake,
    fake::{Call, Room},
    joined, local,
};
use crate::session::Refusal;

fn rooms() -> Vec<Room> {
    vec![Room { id: "r1".into(), space: "s1".into() }, Room { id: "elsewhere".into(), space: "s9".into() }]
}

fn chat_join(room: &str, since: Option<&str>) -> ClientMsg {
    ClientMsg::ChatJoin { chatroom_id: room.into(), passcode: None, since: since.map(str::to_owned) }
}

fn say(room: &str, content: &str) -> ClientMsg {
    ClientMsg::ChatMessage {
        chatroom_id: room.into(),
        content: content.into(),
        kind: None,
        client_id: Some("c1".into()),
        media_id: None,
    }
}

#[tokio::test(start_paused = true)]
async fn chat_join_subscribes_then_replays_what_was_missed() {
    local(async {
        let old = ServerMsg::ChatMessage {
            id: "m1".into(),
            chatroom_id: "r1".into(),
            user_id: "u2".into(),
            username: "bob".into(),
            content: "earlier".into(),
            kind: "text".into(),
            sent_at: "then".into(),
            client_id: None,
            attachment: None,
        };
        let fake = Fake::with(|s| {
            s.rooms = rooms();
            s.history = vec![old];
        });
        let (mut peer, _run) = joined(&fake).await;
        peer.send(&chat_join("r1", Some("m0")));
        let ack = peer.msg().await;
        assert_eq!((ack["type"].as_str(), ack["payload"]["chatroomId"].as_str()), (Some("chat-joined"), Some("r1")));
        assert_eq!(peer.msg().await["payload"]["content"], "earlier");
        assert_eq!(fake.state().calls, vec![Call::Subscribe("r1".into())]);
        peer.send(&ClientMsg::ChatLeave { chatroom_id: "r1".into() });
        assert_eq!(peer.msg().await["type"], "chat-left");
        peer.send(&ClientMsg::ChatLeave { chatroom_id: "r1".into() });
        peer.error("unknown-chatroom").await;
        assert_eq!(fake.state().calls[1], Call::Unsubscribe("r1".into()));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn chat_join_refuses_other_spaces_rooms_wrong_passcodes_and_stale_sessions() {
    local(async {
        let fake = Fake::with(|s| s.rooms = rooms());
        let (mut peer, _run) = joined(&fake).await;
        peer.send(&chat_join("elsewhere", None));
        assert_eq!(peer.error("unknown-chatroom").await, "no such chatroom in this space");
        peer.send(&chat_join("nope", None));
        assert_eq!(peer.error("unknown-chatroom").await, "no such chatroom in this space");
        peer.send(&ClientMsg::ChatJoin { chatroom_id: "r1".into(), passcode: Some("wrong".into()), since: None });
        peer.error("forbidden").await;
        fake.state().subscribe_refused = true;
        peer.send(&chat_join("r1", None));
        peer.error("space-closed").await;
        // Not subscribed, so not a member here.
        peer.send(&say("r1", "hi"));
        peer.error("forbidden").await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_chat_message_is_sent_as_its_author_and_a_failure_comes_back() {
    local(async {
        let fake = Fake::with(|s| s.rooms = rooms());
        let (mut peer, _run) = joined(&fake).await;
        peer.send(&chat_join("r1", None));
        assert_eq!(peer.msg().await["type"], "chat-joined");
        peer.send(&say("r1", "hello"));
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        {
            let state = fake.state();
            let (room, out) = &state.sent[0];
            assert_eq!((room.as_str(), &*out.user, out.username.as_str()), ("r1", "u1", "ann"));
            assert_eq!((out.content.as_str(), out.kind, out.client_id.as_deref()), ("hello", "text", Some("c1")));
        }
        fake.state().send_fails = Some(Refusal { code: ErrorCode::ChatUnavailable, message: "store down".into() });
        peer.send(&say("r1", "again"));
        assert_eq!(peer.error("chat-unavailable").await, "store down");
        let bad = ClientMsg::ChatMessage {
            chatroom_id: "r1".into(),
            content: "x".into(),
            kind: Some("shout".into()),
            client_id: None,
            media_id: None,
        };
        peer.send(&bad);
        peer.error("invalid").await;
        assert_eq!(fake.state().sent.len(), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nearby_messages_go_to_the_space_unstored() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        peer.send(&say("nearby", "psst"));
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        let calls = std::mem::take(&mut fake.state().calls);
        let [Call::Nearby(ServerMsg::ChatMessage { chatroom_id, content, user_id, .. })] = &calls[..] else {
            panic!("{calls:?}")
        };
        assert_eq!((chatroom_id.as_str(), content.as_str(), user_id.as_str()), ("nearby:s1", "psst", "u1"));
        assert!(fake.state().sent.is_empty());
    })
    .await;
}

/// Each replay may be hundreds of messages: a socket that rejoins a room
/// with `since` in a loop gets a few per minute, then `rate-limited` (still
/// joined, without the replay).
#[tokio::test(start_paused = true)]
async fn history_replays_are_limited_per_socket() {
    local(async {
        let fake = Fake::with(|s| s.rooms = rooms());
        let (mut peer, _run) = joined(&fake).await;
        for _ in 0..crate::session::REPLAYS_PER_MINUTE {
            peer.send(&chat_join("r1", Some("m0")));
            assert_eq!(peer.msg().await["type"], "chat-joined");
        }
        peer.send(&chat_join("r1", Some("m0")));
        assert_eq!(peer.msg().await["type"], "chat-joined");
        assert!(peer.error("rate-limited").await.contains("per minute"));
        // A join without `since` costs nothing from that budget.
        peer.send(&chat_join("r1", None));
        assert_eq!(peer.msg().await["type"], "chat-joined");
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
    })
    .await;
}
