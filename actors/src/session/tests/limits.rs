//! The rate limit and the bad-frame count close abusive sockets.

use std::num::NonZeroU32;

use bytes::Bytes;
use metaverse_protocol::ClientMsg;

use super::{Fake, limits, local, start};
use crate::session::{Frame, MAX_BAD_FRAMES};

#[tokio::test(start_paused = true)]
async fn past_the_burst_messages_are_refused_then_the_socket_closes_4003() {
    local(async {
        let burst = 2;
        let mut l = limits();
        l.rate = NonZeroU32::new(1).unwrap();
        l.burst = NonZeroU32::new(burst).unwrap();
        let (mut peer, _run) = start(&Fake::default(), l, None);
        for _ in 0..burst {
            peer.send(&ClientMsg::Heartbeat {});
            assert_eq!(peer.msg().await["type"], "heartbeat");
        }
        // Twice the burst in strikes is answered; one more closes.
        for _ in 0..2 * burst {
            peer.send(&ClientMsg::Heartbeat {});
            peer.error("rate-limited").await;
        }
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.closed().await, 4003);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn undecodable_frames_are_answered_until_too_many_close_4502() {
    local(async {
        let (mut peer, run) = start(&Fake::default(), limits(), None);
        for _ in 1..MAX_BAD_FRAMES {
            peer.send_text("not json");
            peer.error("malformed").await;
        }
        peer.send_text("{\"type\":\"teleport\",\"payload\":{}}");
        assert_eq!(peer.closed().await, 4502);
        run.task.await.unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_good_frame_resets_the_bad_frame_count() {
    local(async {
        let (mut peer, _run) = start(&Fake::default(), limits(), None);
        for _ in 1..MAX_BAD_FRAMES {
            peer.send_frame(super::Peer::raw(b"\x01"));
            peer.msg().await;
        }
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
        for _ in 1..MAX_BAD_FRAMES {
            peer.send_text("[]");
            peer.error("malformed").await;
        }
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_oversized_frame_is_refused_not_fatal() {
    local(async {
        let mut l = limits();
        l.max_frame = 64;
        let (mut peer, _run) = start(&Fake::default(), l, None);
        peer.send_text(&format!("{{\"type\":\"heartbeat\",\"payload\":{{\"pad\":\"{}\"}}}}", "x".repeat(100)));
        peer.error("too-large").await;
        peer.send(&ClientMsg::Heartbeat {});
        assert_eq!(peer.msg().await["type"], "heartbeat");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_ping_flood_counts_against_the_rate_and_closes_4003() {
    local(async {
        let mut l = limits();
        l.rate = NonZeroU32::new(1).unwrap();
        l.burst = NonZeroU32::new(2).unwrap();
        let (mut peer, _run) = start(&Fake::default(), l, None);
        for _ in 0..16 {
            peer.send_frame(Frame::Ping(Bytes::new()));
        }
        assert_eq!(peer.closed().await, 4003);
    })
    .await;
}
