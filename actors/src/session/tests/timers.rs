//! Pings, the idle timeout, token expiry, shutdown, revocation and the
//! space's own close (a slow consumer), all on paused time.

use std::time::Duration;

use bytes::Bytes;
use metaverse_protocol::ClientMsg;
use tokio::time::Instant;

use super::{
    Fake,
    fake::{Call, SIGN_IN},
    joined, limits, local, start,
};
use crate::{
    CloseReason,
    session::{Frame, WRITE_TIMEOUT},
};

#[tokio::test(start_paused = true)]
async fn a_silent_socket_is_pinged_then_closed_4001() {
    local(async {
        let mut l = limits();
        l.idle_timeout = Duration::from_secs(3);
        let started = Instant::now();
        let (mut peer, _run) = start(&Fake::default(), l, None);
        let (pings, next) = peer.pings_then().await;
        assert!(matches!(next, Some(Frame::Close(4001, _))), "{next:?}");
        // A ping every second from the start; the close on the first tick
        // past the timeout.
        assert_eq!(pings, 4);
        assert!((Duration::from_secs(4)..Duration::from_millis(4100)).contains(&started.elapsed()));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn any_frame_counts_as_life() {
    local(async {
        let mut l = limits();
        l.idle_timeout = Duration::from_secs(3);
        let started = Instant::now();
        let (mut peer, _run) = start(&Fake::default(), l, None);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        peer.send_frame(Frame::Pong(Bytes::new()));
        assert_eq!(peer.closed().await, 4001);
        assert!(started.elapsed() > Duration::from_millis(5500), "{:?}", started.elapsed());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_closes_4005() {
    local(async {
        let fake = Fake::with(|s| s.expires_in = Some(Duration::from_secs(60)));
        let mut l = limits();
        l.idle_timeout = Duration::from_secs(600);
        let started = Instant::now();
        let (mut peer, _run) = start(&fake, l, None);
        peer.join("s1", super::fake::GOOD_TOKEN, None);
        peer.msg().await;
        assert_eq!(peer.closed().await, 4005);
        assert!((Duration::from_secs(60)..Duration::from_millis(60100)).contains(&started.elapsed()));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_4000_and_holds_the_presence() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        run.shutdown.send_replace(true);
        assert_eq!(peer.closed().await, 4000);
        run.task.await.unwrap();
        assert_eq!(fake.state().calls, vec![Call::Leave { dropped: true, unsent: vec![] }]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn only_its_own_sign_in_s_revocation_closes_4503() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        run.revoked.send("someone-else".into()).unwrap();
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        run.revoked.send(SIGN_IN.into()).unwrap();
        assert_eq!(peer.closed().await, 4503);
    })
    .await;
}

/// The revocation feed going away (its sender dropped) leaves the socket
/// served, and shutdown still closes it: the loop stops waiting on a feed
/// that would answer "closed" at once for ever.
#[tokio::test(start_paused = true)]
async fn a_closed_revocation_feed_leaves_the_socket_served() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        drop(run.revoked);
        for _ in 0..3 {
            peer.send(&ClientMsg::Heartbeat {});
            assert_eq!(peer.msg().await["type"], "heartbeat");
        }
        run.shutdown.send_replace(true);
        assert_eq!(peer.closed().await, 4000);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_gets_the_space_s_last_word_then_4002() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        fake.offer("{\"type\":\"error\",\"payload\":{\"code\":\"busy\",\"message\":\"too slow\"}}");
        fake.state().links.last().unwrap().close(CloseReason::SLOW_CONSUMER);
        peer.error("busy").await;
        assert_eq!(peer.closed().await, 4002);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn space_frames_are_written_in_order() {
    local(async {
        let fake = Fake::default();
        let (mut peer, _run) = joined(&fake).await;
        for frame in ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"] {
            fake.offer(frame);
        }
        for n in 1..=3 {
            assert_eq!(peer.msg().await["n"], n);
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_given_up_after_the_write_timeout() {
    local(async {
        let fake = Fake::default();
        let (peer, run) = joined(&fake).await;
        peer.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        fake.offer("{\"n\":1}");
        fake.offer("{\"n\":2}");
        run.task.await.unwrap();
        // One timeout for the frame; no close is attempted on a socket
        // whose write already timed out.
        assert!((WRITE_TIMEOUT..WRITE_TIMEOUT + Duration::from_millis(100)).contains(&started.elapsed()));
        let calls = std::mem::take(&mut fake.state().calls);
        assert_eq!(calls, vec![Call::Leave { dropped: true, unsent: vec![Bytes::from_static(b"{\"n\":2}")] }]);
        drop(peer);
    })
    .await;
}

/// Replies (here heartbeats) are under the write timeout too, and one that
/// times out ends the session: a client that stops reading but keeps
/// sending cannot park it for a timeout per message.
#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_but_keeps_sending_costs_one_write_timeout() {
    local(async {
        let fake = Fake::default();
        let (peer, run) = joined(&fake).await;
        peer.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        for _ in 0..20 {
            peer.send(&ClientMsg::Heartbeat {});
        }
        run.task.await.unwrap();
        assert!((WRITE_TIMEOUT..WRITE_TIMEOUT + Duration::from_millis(100)).contains(&started.elapsed()));
        drop(peer);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_never_joins_is_closed_4007_whatever_it_sends() {
    local(async {
        let mut l = limits();
        l.join_timeout = Duration::from_secs(10);
        let started = Instant::now();
        let (mut peer, _run) = start(&Fake::default(), l, None);
        // Heartbeats and pongs keep it alive for the idle timer, not for this.
        for _ in 0..4 {
            peer.send(&ClientMsg::Heartbeat {});
            assert_eq!(peer.msg().await["type"], "heartbeat");
            peer.send_frame(Frame::Pong(Bytes::new()));
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        assert_eq!(peer.closed().await, 4007);
        assert!((Duration::from_secs(10)..Duration::from_millis(10100)).contains(&started.elapsed()));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_join_in_time_lifts_the_deadline() {
    local(async {
        let fake = Fake::default();
        let mut l = limits();
        l.join_timeout = Duration::from_secs(10);
        l.idle_timeout = Duration::from_secs(600);
        let (mut peer, _run) = start(&fake, l, None);
        peer.join("s1", super::fake::GOOD_TOKEN, None);
        assert_eq!(peer.msg().await["type"], "space-joined");
        tokio::time::sleep(Duration::from_secs(30)).await;
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat", "still open long after the deadline");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_lagging_revocation_feed_is_checked_against_the_database() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        // More revocations of others than the feed holds, and ours among
        // the ones the socket never sees.
        fake.state().revoked.push(SIGN_IN.into());
        for i in 0..32 {
            let _ = run.revoked.send(format!("someone-{i}"));
        }
        assert_eq!(peer.closed().await, 4503);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_lagging_feed_without_our_revocation_keeps_the_socket() {
    local(async {
        let fake = Fake::default();
        let (mut peer, run) = joined(&fake).await;
        for i in 0..32 {
            let _ = run.revoked.send(format!("someone-{i}"));
        }
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
    })
    .await;
}

/// A revocation the socket never heard of (another node's, say) still stops
/// a chat message or a signal: both re-check the sign-in session first.
#[tokio::test(start_paused = true)]
async fn a_missed_revocation_stops_the_next_chat_message_and_signal() {
    for msg in [
        ClientMsg::ChatMessage {
            chatroom_id: "r1".into(),
            content: "hi".into(),
            kind: None,
            client_id: None,
            media_id: None,
        },
        ClientMsg::RtcSignal { to: "u2".into(), kind: metaverse_protocol::RtcKind::Offer, data: serde_json::json!({}) },
    ] {
        local(async {
            let fake = Fake::default();
            let (mut peer, _run) = joined(&fake).await;
            fake.state().revoked.push(SIGN_IN.into());
            tokio::time::sleep(crate::session::RECHECK_AFTER).await;
            peer.send(&msg);
            assert_eq!(peer.closed().await, 4503);
            assert!(!fake.state().calls.iter().any(|c| matches!(c, Call::Signal { .. })), "the signal went out");
        })
        .await;
    }
}
