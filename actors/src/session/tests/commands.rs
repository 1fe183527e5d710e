//! Each command reaches the right place: an answer, the space, or an error.

use bytes::Bytes;
use metaverse_protocol::{ClientMsg, Codec, Position, RtcKind};

use super::{
    Fake,
    fake::{Call, GOOD_TOKEN},
    joined, limits, local, start,
};
use crate::session::{Frame, JoinFail, MAX_SIGNAL_BYTES, Refused};

#[tokio::test(start_paused = true)]
async fn heartbeat_is_answered_in_the_frame_s_encoding() {
    local(async {
        let (mut peer, _run) = start(&Fake::default(), limits(), None);
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        let packed = Codec::MsgPack.encode(&ClientMsg::Heartbeat {}).unwrap();
        peer.send_frame(Frame::Binary(Bytes::from(packed)));
        let Some(Frame::Binary(b)) = peer.frame().await else { panic!("expected a MessagePack answer") };
        let answer: serde_json::Value = Codec::MsgPack.decode(&b, usize::MAX).unwrap();
        assert_eq!(answer["type"], "heartbeat");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn commands_before_join_are_not_joined() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = start(&fake, limits(), None);
        peer.send(&ClientMsg::Move { x: 1, y: 1 });
        peer.error("not-joined").await;
        peer.send(&ClientMsg::Leave {});
        peer.error("not-joined").await;
        peer.send(&ClientMsg::RtcSignal { to: "u2".into(), kind: RtcKind::Offer, data: serde_json::Value::Null });
        peer.error("not-joined").await;
        assert!(fake.state().calls.is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn join_passes_the_resume_token_and_forwards_the_space_s_frames() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = start(&fake, limits(), Some(Codec::MsgPack));
        peer.join("s1", GOOD_TOKEN, Some("r-42"));
        let joined = peer.msg().await;
        assert_eq!(
            (joined["type"].as_str(), joined["payload"]["resumeToken"].as_str()),
            (Some("space-joined"), Some("r-42"))
        );
        let spec = fake.state().specs.pop().unwrap();
        assert_eq!((spec.session_id, spec.space_id.as_str(), &*spec.user), (7, "s1", "u1"));
        assert_eq!((spec.username.as_str(), spec.avatar_id.as_deref()), ("ann", Some("fox")));
        assert_eq!(spec.preferred, Some(Position { x: 1, y: 2 }));
        // The subprotocol's codec wins over the frame's, and MessagePack
        // sessions are batched unless they say otherwise.
        assert_eq!((spec.events, spec.batched), (Codec::MsgPack, true));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn join_failures_are_reported_and_bad_tokens_close_after_five() {
    local(async {
        let fake = Fake::with(|s| s.join_fails = Some(JoinFail::Moving(std::time::Duration::from_millis(1500))));
        let (mut peer, _run) = start(&fake, limits(), None);
        peer.join("s1", GOOD_TOKEN, None);
        assert!(peer.error("space-moving").await.contains("1500 ms"));
        peer.join("nowhere", GOOD_TOKEN, None);
        peer.error("unknown-space").await;
        peer.join(&"x".repeat(65), GOOD_TOKEN, None);
        peer.error("unknown-space").await;
        peer.join("s1", "db-down", None);
        peer.error("internal").await;
        for _ in 0..4 {
            peer.join("s1", "forged", None);
            peer.error("unauthorized").await;
        }
        peer.join("s1", super::fake::REVOKED_TOKEN, None);
        assert_eq!(peer.closed().await, 4501);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn moves_reach_the_space_and_refusals_are_told() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        peer.send(&ClientMsg::Move { x: 3, y: 4 });
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        assert_eq!(fake.state().calls, vec![Call::Move(Position { x: 3, y: 4 })]);
        fake.state().move_refused = Some(Refused::Busy);
        peer.send(&ClientMsg::Move { x: 5, y: 6 });
        assert!(peer.error("busy").await.contains("(5, 6)"));
        fake.state().move_refused = Some(Refused::Closed);
        peer.send(&ClientMsg::Move { x: 5, y: 6 });
        peer.error("space-closed").await;
        // The session forgot the space: the next move is refused locally.
        peer.send(&ClientMsg::Move { x: 5, y: 6 });
        peer.error("not-joined").await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn leave_leaves_for_good_and_rejoining_leaves_first() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        peer.join("s2", GOOD_TOKEN, None);
        assert_eq!(peer.msg().await["type"], "space-joined");
        peer.send(&ClientMsg::Leave {});
        peer.send(&ClientMsg::Leave {});
        peer.error("not-joined").await;
        let left = Call::Leave { dropped: false, unsent: vec![] };
        assert_eq!(fake.state().calls, vec![left, Call::Leave { dropped: false, unsent: vec![] }]);
        assert_eq!(fake.state().specs.iter().map(|s| s.space_id.as_str()).collect::<Vec<_>>(), ["s1", "s2"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn rtc_signals_are_checked_then_relayed() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        let signal = |to: &str, data| ClientMsg::RtcSignal { to: to.into(), kind: RtcKind::Offer, data };
        peer.send(&signal("", serde_json::json!({})));
        assert!(peer.error("invalid").await.contains("to:"));
        peer.send(&signal("u2", serde_json::json!("x".repeat(MAX_SIGNAL_BYTES))));
        assert!(peer.error("invalid").await.contains("at most"));
        peer.send(&signal("u2", serde_json::json!({ "sdp": "v=0" })));
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        assert_eq!(fake.state().calls, vec![Call::Signal { to: "u2".into() }]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_socket_hands_its_unsent_frames_back() {
    local(async {
        let fake = Fake::default();
        let (peer, run) = joined(&fake).await;
        // The writer stalls, so the queued frames are still queued when the
        // socket goes away (reading is served first).
        peer.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        fake.offer("{\"n\":1}");
        fake.offer("{\"n\":2}");
        drop(peer);
        run.task.await.unwrap();
        let calls = std::mem::take(&mut fake.state().calls);
        let [Call::Leave { dropped: true, unsent }] = &calls[..] else { panic!("{calls:?}") };
        assert_eq!(unsent, &[Bytes::from_static(b"{\"n\":1}"), Bytes::from_static(b"{\"n\":2}")]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_peer_close_ends_the_session_without_a_close_of_ours() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        peer.send_frame(Frame::Close(4000, "reconnecting".into()));
        assert_eq!(peer.frame().await, None);
        run.task.await.unwrap();
        assert_eq!(fake.state().calls, vec![Call::Leave { dropped: true, unsent: vec![] }]);
    })
    .await;
}

/// A clean close (1000, or 1001 from a closing tab) is a departure, like
/// `leave`; any other close keeps the presence for a resume.
#[tokio::test(start_paused = true)]
async fn a_clean_close_leaves_and_any_other_close_holds_the_presence() {
    for (code, dropped) in [(1000, false), (1001, false), (4000, true), (1005, true)] {
        local(async {
            let fake = Fake::default();
            let (peer, run) = joined(&fake).await;
            peer.send_frame(Frame::Close(code, String::new()));
            run.task.await.unwrap();
            let leaves: Vec<bool> = fake
                .state()
                .calls
                .iter()
                .filter_map(|c| match c {
                    Call::Leave { dropped, .. } => Some(*dropped),
                    _ => None,
                })
                .collect();
            assert_eq!(leaves, vec![dropped], "close {code}");
        })
        .await;
    }
}
